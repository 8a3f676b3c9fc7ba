"""Digitising a point: the dwell mean, its measured standard error, and the noise model's
prediction, checked against the simulated tracker they describe."""

import math

import numpy as np
import pytest

from devices.noise import OpticalNoise
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from guidance.digitize import (
    digitize,
    fle_from_fre,
    mean_variance_factor,
    tip_in_reference_error_rms_mm,
    tool_point_error_rms_mm,
)
from guidance.exceptions import GuidanceError
from guidance.navigator import tip_in_reference_mm
from registration.transforms import apply_transform, invert_rigid, make_rigid
from scenes.motions import StylusGeometry, Touch, TouchMotion, TouchSettings


def test_mean_scatter_and_standard_error_of_a_known_dwell():
    samples = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -2.0, 0.0]])
    point = digitize("F1", samples + np.array([10.0, 20.0, 30.0]))
    np.testing.assert_allclose(point.point_mm, [10.0, 20.0, 30.0], atol=1e-12)
    assert point.scatter_rms_mm == pytest.approx(math.sqrt(10.0 / 4.0), abs=1e-12)
    assert point.standard_error_mm == pytest.approx(math.sqrt(10.0 / 12.0), abs=1e-12)
    assert (point.n_samples, point.n_lost) == (4, 0)
    # Sample covariance diag(2/3, 8/3, 0) (n - 1 = 3), over n = 4 for the mean.
    np.testing.assert_allclose(point.covariance_mm2, np.diag([2.0, 8.0, 0.0]) / 12.0, atol=1e-12)


def test_covariance_of_the_mean_matches_the_actual_errors_of_anisotropic_dwells():
    """2000 dwells of 60 samples with per-axis deviations 0.1, 0.3, 0.6 mm along tilted axes: the
    mean reported covariance and the covariance of the means agree within 10% of the largest
    variance (the Monte-Carlo covariance has ~3% relative error)."""
    rng = np.random.default_rng(6)
    axes = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    factor = axes @ np.diag([0.1, 0.3, 0.6])
    reported, means = [], []
    for _ in range(2000):
        point = digitize("F", rng.standard_normal((60, 3)) @ factor.T)
        reported.append(point.covariance_mm2)
        means.append(point.point_mm)
    actual = np.cov(np.array(means).T)
    np.testing.assert_allclose(np.mean(reported, axis=0), actual, atol=0.1 * 0.6**2 / 60)
    np.testing.assert_allclose(
        np.mean(reported, axis=0), factor @ factor.T / 60, atol=0.1 * 0.6**2 / 60
    )


def test_lost_frames_are_counted_and_left_out():
    samples = np.array([[1.0, 1.0, 1.0], [np.nan] * 3, [3.0, 3.0, 3.0], [np.nan] * 3])
    point = digitize("F2", samples)
    np.testing.assert_allclose(point.point_mm, [2.0, 2.0, 2.0], atol=1e-12)
    assert (point.n_samples, point.n_lost) == (2, 2)


def test_standard_error_matches_the_actual_error_of_the_mean():
    """Over 2000 dwells of 60 Gaussian samples (0.4 mm per axis), the RMS of the reported standard
    error and the RMS distance of the mean from the truth agree within 5 %."""
    rng = np.random.default_rng(5)
    reported, actual = [], []
    for _ in range(2000):
        point = digitize("F", rng.normal(0.0, 0.4, (60, 3)))
        reported.append(point.standard_error_mm)
        actual.append(np.linalg.norm(point.point_mm))
    ratio = math.sqrt(np.mean(np.square(reported)) / np.mean(np.square(actual)))
    assert ratio == pytest.approx(1.0, abs=0.05)


def test_rejects_a_dwell_with_fewer_than_two_tracked_samples():
    with pytest.raises(GuidanceError, match="1 tracked samples during the dwell"):
        digitize("F3", np.array([[1.0, 2.0, 3.0], [np.nan] * 3]))


def test_rejects_samples_of_the_wrong_shape():
    with pytest.raises(GuidanceError, match=r"shape \(n, 3\)"):
        digitize("F4", np.zeros((5, 2)))


def test_a_point_at_the_marker_centroid_has_the_translation_error_only():
    """At the centroid Fitzpatrick eq. 46 reduces to FLE / sqrt(N)."""
    markers = BUILTIN_TOOLS["reference"].markers_mm
    error = tool_point_error_rms_mm(markers, 0.25, markers.mean(axis=0))
    assert error[0] == pytest.approx(0.25 / math.sqrt(len(markers)), rel=1e-12)


def test_predicted_tip_error_matches_the_simulated_tracker():
    """Hold a stylus still 150 mm from the reference for 3000 frames of the simulated tracker at
    0.25 mm marker jitter: the RMS error of the tip in the reference frame agrees with the model
    within 7 % (3000 samples of a 3D error give the RMS to about 2 %; the model is first order)."""
    stylus_tool, reference_tool = BUILTIN_TOOLS["stylus"], BUILTIN_TOOLS["reference"]
    tracker_from_reference = make_rigid(np.eye(3), [0.0, 0.0, -1400.0])
    point = np.array([150.0, 0.0, -1400.0])
    motion = TouchMotion(
        touches=(Touch("P", point, np.array([0.0, 0.0, 1.0])),),
        tracker_from_reference=tracker_from_reference,
        stylus=StylusGeometry.from_markers(stylus_tool.markers_mm, stylus_tool.tip_mm),
        centre_mm=np.array([0.0, 0.0, -1400.0]),
        settings=TouchSettings(approach_s=0.01, dwell_s=50.0, pivot_rad=0.0),
    )
    tracker = SimulatedTracker(
        motion, {"stylus": stylus_tool, "reference": reference_tool}, OpticalNoise(0.25), seed=4
    )
    dwell = motion.dwells[0]
    with tracker:
        tips = np.array(
            [
                tip_in_reference_mm(frame, stylus_tool.tip_mm)
                for frame in tracker
                if dwell.start_s <= frame.timestamp <= dwell.end_s
            ]
        )
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
    with pytest.raises(GuidanceError, match="at least 3 fiducials"):
        fle_from_fre(0.1, 2)


def test_mean_variance_factor_rejects_an_empty_dwell():
    with pytest.raises(GuidanceError, match="at least 1 sample"):
        mean_variance_factor(0, 1 / 60, 0.0)
