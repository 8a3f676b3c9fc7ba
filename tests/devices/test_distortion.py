"""A camera's trueness as a smooth random field: its RMS, its length scale, its repeatability."""

import math

import numpy as np
import pytest

from devices.exceptions import ConfigurationError
from devices.noise import OpticalNoise, VolumeDistortion


def test_the_field_has_its_rms_over_the_volume():
    """Averaged over 200 fields and 500 points each, the RMS is the setting within 5 %."""
    settings = VolumeDistortion(rms_mm=0.25, length_scale_mm=200.0)
    rng = np.random.default_rng(0)
    squares = []
    for _ in range(200):
        points = rng.uniform(-500.0, 500.0, (500, 3)) + np.array([0.0, 0.0, -1500.0])
        squares.append(np.mean(np.sum(settings.field(rng).displacement_mm(points) ** 2, axis=1)))
    assert math.sqrt(np.mean(squares)) == pytest.approx(0.25, rel=0.05)


def test_points_a_length_scale_apart_correlate_by_exp_minus_one_half():
    """The covariance of the field at two points d apart is exp(-d^2 / 2 L^2) of its variance."""
    settings = VolumeDistortion(rms_mm=1.0, length_scale_mm=100.0, modes=64)
    rng = np.random.default_rng(1)
    pairs = {0.0: [], 100.0: [], 300.0: []}
    for _ in range(2000):
        field = settings.field(rng)
        origin = rng.uniform(-300.0, 300.0, 3)
        for distance, products in pairs.items():
            a, b = field.displacement_mm(np.array([origin, origin + np.array([distance, 0, 0])]))
            products.append(a @ b)
    variance = np.mean(pairs[0.0])
    assert variance == pytest.approx(1.0, rel=0.1)
    assert np.mean(pairs[100.0]) / variance == pytest.approx(math.exp(-0.5), abs=0.07)
    assert abs(np.mean(pairs[300.0]) / variance) < 0.07


def test_a_field_is_the_same_whenever_a_point_comes_back():
    field = VolumeDistortion().field(np.random.default_rng(2))
    point = np.array([[10.0, -20.0, -1400.0]])
    np.testing.assert_array_equal(field.displacement_mm(point), field.displacement_mm(point))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rms_mm": -0.1}, "rms_mm must be a finite number >= 0"),
        ({"length_scale_mm": 0.0}, "length_scale_mm must be > 0"),
        ({"modes": 0}, "modes must be >= 1"),
    ],
)
def test_bad_distortion_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        VolumeDistortion(**kwargs)


def test_bad_drift_settings_are_refused():
    with pytest.raises(ConfigurationError, match="drift_rms_mm must be a finite number >= 0"):
        OpticalNoise(drift_rms_mm=-1.0)
    with pytest.raises(ConfigurationError, match="drift_correlation_s must be > 0"):
        OpticalNoise(drift_correlation_s=0.0)


class _Still:
    """A tool held still 1.4 m in front of the camera for 60 s."""

    duration_s = 60.0

    def __call__(self, t_s):
        pose = np.eye(4)
        pose[:3, 3] = [20.0, -10.0, -1400.0]
        return {"reference": pose}


def _positions(noise, seed=0):
    from devices.simulated import SimulatedTracker
    from devices.tools import BUILTIN_TOOLS

    tracker = SimulatedTracker(
        _Still(), {"reference": BUILTIN_TOOLS["reference"]}, noise, 50.0, seed
    )
    with tracker:
        return np.array([frame.poses["reference"].tracker_from_tool[:3, 3] for frame in tracker])


def test_a_still_tool_in_a_distorted_volume_is_seen_steadily_off_its_place():
    positions = _positions(OpticalNoise(marker_jitter_rms_mm=0.0, distortion=VolumeDistortion()))
    np.testing.assert_allclose(
        positions, np.broadcast_to(positions[0], positions.shape), atol=1e-12
    )
    offset = np.linalg.norm(positions[0] - [20.0, -10.0, -1400.0])
    assert 1e-3 < offset < 1.0


def test_drift_wanders_slowly_with_its_rms():
    """Drift alone (0.1 mm per marker, 3 s): frames 20 ms apart differ by a few percent of the
    wander, and over 60 s the tool's position spreads about as much as its markers' mean drift
    (0.1 / sqrt(4) mm RMS for 4 markers), within the sampling error of 20 correlation times."""
    noise = OpticalNoise(marker_jitter_rms_mm=0.0, drift_rms_mm=0.1, drift_correlation_s=3.0)
    positions = _positions(noise)
    spread = np.sqrt(np.mean(np.sum((positions - positions.mean(axis=0)) ** 2, axis=1)))
    steps = np.sqrt(np.mean(np.sum(np.diff(positions, axis=0) ** 2, axis=1)))
    assert steps < 0.15 * spread
    assert spread == pytest.approx(0.1 / 2.0, rel=0.5)


def test_without_drift_or_distortion_the_noise_is_what_it_was():
    """The new sources draw from streams of their own: switched off, jitter is unchanged."""
    plain = _positions(OpticalNoise(marker_jitter_rms_mm=0.25), seed=3)
    with_zero_drift = _positions(OpticalNoise(marker_jitter_rms_mm=0.25, drift_rms_mm=0.0), seed=3)
    np.testing.assert_array_equal(plain, with_zero_drift)
