"""Scored guidance exercises: pivot calibration, fiducial registration, surface registration and
targeting, each a pipeline of explicit steps (acquire, digitise, register, estimate errors,
navigate, score) run by a thin runner that writes the recording, ``run.json`` and the report."""
