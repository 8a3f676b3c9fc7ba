"""Scored guidance exercises: pivot calibration, fiducial registration, surface registration and
targeting, each a pipeline of explicit steps (acquire, digitise, register, estimate errors,
navigate, score) run by a thin runner that writes the recording, ``run.json`` and the report."""

# The names the command line offers, here so that it can list them without importing the
# exercises (``runner.EXERCISES`` maps them to their modules; ``errors`` defines the sources).
EXERCISES = ("pivot", "fiducials", "surface", "targeting")
SOURCES = (
    "tracker_jitter",
    "tracker_drift",
    "tracker_trueness",
    "pivot_calibration",
    "ct_localisation",
    "tip_placement",
    "skin_shift",
)
