"""The error model of a digitised point: the noise model's prediction of the tip error, checked
against the simulated tracker it describes; the variance of a dwell mean; FLE from FRE."""

import math

import numpy as np
import pytest

from devices.noise import OpticalNoise
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from guidance.navigator import tip_in_reference_mm
from registration.error_model import (
    fle_from_fre,
    mean_variance_factor,
    tip_in_reference_error_rms_mm,
    tool_point_error_rms_mm,
)
from registration.exceptions import RegistrationError
from registration.transforms import apply_transform, invert_rigid, make_rigid


def test_a_point_at_the_marker_centroid_has_the_translation_error_only():
    """At the centroid Fitzpatrick eq. 46 reduces to FLE / sqrt(N)."""
    markers = BUILTIN_TOOLS["reference"].markers_mm
    error = tool_point_error_rms_mm(markers, 0.25, markers.mean(axis=0))
    assert error[0] == pytest.approx(0.25 / math.sqrt(len(markers)), rel=1e-12)


class StillStylus:
    """A motion: the stylus held still, its tip on ``point_mm``, beside a still reference."""

    duration_s = 50.0

    def __init__(self, tracker_from_reference: np.ndarray, point_mm: np.ndarray) -> None:
        tip = BUILTIN_TOOLS["stylus"].tip_mm
        self.poses = {
            "stylus": make_rigid(np.eye(3), point_mm - tip),
            "reference": tracker_from_reference,
        }

    def __call__(self, t_s: float) -> dict[str, np.ndarray]:
        return self.poses


def test_predicted_tip_error_matches_the_simulated_tracker():
    """Hold a stylus still 150 mm from the reference for 3000 frames of the simulated tracker at
    0.25 mm marker jitter: the RMS error of the tip in the reference frame agrees with the model
    within 7 % (3000 samples of a 3D error give the RMS to about 2 %; the model is first order)."""
    stylus_tool, reference_tool = BUILTIN_TOOLS["stylus"], BUILTIN_TOOLS["reference"]
    tracker_from_reference = make_rigid(np.eye(3), [0.0, 0.0, -1400.0])
    point = np.array([150.0, 0.0, -1400.0])
    tracker = SimulatedTracker(
        StillStylus(tracker_from_reference, point),
        {"stylus": stylus_tool, "reference": reference_tool},
        OpticalNoise(0.25),
        seed=4,
    )
    with tracker:
        tips = np.array([tip_in_reference_mm(frame, stylus_tool.tip_mm) for frame in tracker])
    truth = apply_transform(invert_rigid(tracker_from_reference), point)
    measured = math.sqrt(np.mean(np.sum((tips - truth) ** 2, axis=1)))
    predicted = tip_in_reference_error_rms_mm(
        stylus_tool.markers_mm, stylus_tool.tip_mm, reference_tool.markers_mm, truth, 0.25
    )
    assert len(tips) >= 3000
    assert measured == pytest.approx(predicted, rel=0.07)


def test_mean_of_independent_samples_has_variance_one_over_n():
    assert mean_variance_factor(60, 1 / 60, 0.0) == pytest.approx(1 / 60, rel=1e-12)


def test_mean_of_a_frozen_process_keeps_all_its_variance():
    assert mean_variance_factor(60, 1 / 60, 1e9) == pytest.approx(1.0, rel=1e-6)


def test_mean_variance_factor_matches_a_simulated_gauss_markov_process():
    """20000 dwells of 60 samples of an AR(1) process with tau = 0.5 s at 60 Hz: the variance of
    the dwell means agrees with the formula within 5 % (sampling error about 1 %)."""
    rng = np.random.default_rng(8)
    a = math.exp(-(1 / 60) / 0.5)
    values = rng.standard_normal(20000)
    means = np.zeros(20000)
    for _ in range(60):
        means += values
        values = a * values + math.sqrt(1 - a * a) * rng.standard_normal(20000)
    means /= 60
    assert np.var(means) == pytest.approx(mean_variance_factor(60, 1 / 60, 0.5), rel=0.05)


def test_fle_from_fre_inverts_the_expected_fre():
    assert fle_from_fre(math.sqrt(1 - 2 / 8) * 0.3, 8) == pytest.approx(0.3, rel=1e-12)


def test_fle_from_fre_rejects_fewer_than_three_fiducials():
    with pytest.raises(RegistrationError, match="at least 3 fiducials"):
        fle_from_fre(0.1, 2)


def test_mean_variance_factor_rejects_an_empty_dwell():
    with pytest.raises(RegistrationError, match="at least 1 sample"):
        mean_variance_factor(0, 1 / 60, 0.0)
