"""Digitising points: the dwell mean and its measured standard error; finding the dwells (still
periods) of a tip stream, on known streams, random ones and a real tracker recording."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registration.digitize import (
    StillnessDetector,
    StillnessSettings,
    digitize,
    find_still_periods,
    tips_in_reference_mm,
)
from registration.exceptions import RegistrationError
from registration.transforms import make_rigid, rotation_from_vector


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
    with pytest.raises(RegistrationError, match="1 tracked samples during the dwell"):
        digitize("F3", np.array([[1.0, 2.0, 3.0], [np.nan] * 3]))


def test_rejects_samples_of_the_wrong_shape():
    with pytest.raises(RegistrationError, match=r"shape \(n, 3\)"):
        digitize("F4", np.zeros((5, 2)))


RATE_HZ = 50.0


def _stream(segments, rng, noise_mm=0.05):
    """Concatenate segments ('still', point, seconds) and ('move', start, end, seconds) sampled at
    RATE_HZ with isotropic Gaussian noise; returns times (F,) and tips (F, 3)."""
    tips = []
    for segment in segments:
        if segment[0] == "still":
            _, point, seconds = segment
            tips += [np.asarray(point, float)] * round(seconds * RATE_HZ)
        else:
            _, start, end, seconds = segment
            for f in np.linspace(0.0, 1.0, round(seconds * RATE_HZ), endpoint=False)[1:]:
                tips.append((1 - f) * np.asarray(start, float) + f * np.asarray(end, float))
    tips = np.array(tips) + rng.normal(0.0, noise_mm / math.sqrt(3.0), (len(tips), 3))
    return np.arange(len(tips)) / RATE_HZ, tips


def test_two_dwells_are_found_and_a_short_pause_is_not():
    rng = np.random.default_rng(1)
    a, b, c = [0.0, 0.0, 0.0], [40.0, 0.0, 0.0], [40.0, 30.0, 0.0]
    times, tips = _stream(
        [
            ("still", a, 1.5),
            ("move", a, b, 0.8),
            ("still", b, 1.2),
            ("move", b, c, 0.8),
            ("still", c, 0.6),
            ("move", c, a, 0.8),
        ],
        rng,
    )
    periods = find_still_periods(times, tips, StillnessSettings(0.3, 1.0))
    assert len(periods) == 2
    first, second = periods
    np.testing.assert_allclose(first.point.point_mm, a, atol=0.03)
    np.testing.assert_allclose(second.point.point_mm, b, atol=0.03)
    # The first dwell is frames 0..74; the second starts where the tip settled on b.
    assert first.first == 0 and 74 <= first.last <= 76
    b_frames = np.flatnonzero(np.linalg.norm(tips - b, axis=1) < 0.5)
    assert abs(second.first - b_frames[0]) <= 2 and abs(second.last - b_frames[-1]) <= 2
    assert second.description == (
        f"frames {second.first}-{second.last} ({second.start_s:.3f}-{second.end_s:.3f} s)"
    )


def test_lost_samples_inside_a_dwell_do_not_split_it_and_are_counted():
    rng = np.random.default_rng(2)
    times, tips = _stream(
        [("still", [5.0, 5.0, 5.0], 2.0), ("move", [5, 5, 5], [60, 5, 5], 1)], rng
    )
    tips[30:45] = np.nan
    periods = find_still_periods(times, tips)
    assert len(periods) == 1
    assert periods[0].point.n_lost == 15
    assert periods[0].point.n_samples == periods[0].last - periods[0].first + 1 - 15


def test_a_slow_drift_is_not_still():
    """Moving at 2 mm/s, a 1 s window spreads 2 / sqrt(12) = 0.58 mm RMS > 0.3 mm: never still."""
    times = np.arange(500) / RATE_HZ
    tips = np.outer(times * 2.0, [1.0, 0.0, 0.0])
    assert find_still_periods(times, tips, StillnessSettings(0.3, 1.0)) == ()


def test_noise_above_the_threshold_is_not_still():
    rng = np.random.default_rng(3)
    times, tips = _stream([("still", [0.0, 0.0, 0.0], 5.0)], rng, noise_mm=0.5)
    assert find_still_periods(times, tips, StillnessSettings(0.3, 1.0)) == ()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dwells=st.lists(st.floats(0.2, 3.0), min_size=1, max_size=6),
    noise_mm=st.floats(0.0, 0.2),
)
def test_every_long_enough_dwell_is_found_once_in_order(seed, dwells, noise_mm):
    """Dwells at points 20 mm apart joined by 0.5 s moves: exactly those lasting at least still_s
    (with a frame of margin either way) are found, in order, each mean within 4 standard errors."""
    rng = np.random.default_rng(seed)
    points = np.cumsum(rng.normal(size=(len(dwells), 3)), axis=0)
    points = (
        20.0
        * points
        / np.linalg.norm(points, axis=1, keepdims=True).clip(1e-9)
        * np.arange(1, len(dwells) + 1)[:, None]
    )
    segments = []
    for index, (point, seconds) in enumerate(zip(points, dwells, strict=True)):
        if index:
            segments.append(("move", points[index - 1], point, 0.5))
        segments.append(("still", point, seconds))
    times, tips = _stream(segments, rng, noise_mm)
    periods = find_still_periods(times, tips, StillnessSettings(0.3, 1.0))
    long_enough = [i for i, s in enumerate(dwells) if s >= 1.0 + 2.0 / RATE_HZ]
    ambiguous = [i for i, s in enumerate(dwells) if abs(s - 1.0) <= 2.0 / RATE_HZ]
    found = [int(np.argmin(np.linalg.norm(points - p.point.point_mm, axis=1))) for p in periods]
    assert found == sorted(found)
    assert set(long_enough) <= set(found) <= set(long_enough) | set(ambiguous)
    for period, index in zip(periods, found, strict=True):
        error = np.linalg.norm(period.point.point_mm - points[index])
        assert error <= 4.0 * max(period.point.standard_error_mm, 1e-9) + 1e-9


def test_pushing_samples_one_by_one_gives_the_batch_answer():
    rng = np.random.default_rng(4)
    times, tips = _stream(
        [("still", [0, 0, 0], 1.3), ("move", [0, 0, 0], [0, 20, 0], 0.5), ("still", [0, 20, 0], 2)],
        rng,
    )
    detector = StillnessDetector(StillnessSettings(0.3, 1.0))
    live = [detector.push(i, t, tip) for i, (t, tip) in enumerate(zip(times, tips, strict=True))]
    live = [p for p in [*live, detector.finish()] if p is not None]
    batch = find_still_periods(times, tips, StillnessSettings(0.3, 1.0))
    assert [(p.first, p.last) for p in live] == [(p.first, p.last) for p in batch]
    for a, b in zip(live, batch, strict=True):
        np.testing.assert_array_equal(a.point.point_mm, b.point.point_mm)


def test_the_detector_says_how_long_the_tip_has_been_held_so_far():
    """What a live prompt shows: the open still window's start and length, growing while the
    tip stays, back to the new window's once it moves on."""
    rng = np.random.default_rng(5)
    times, tips = _stream(
        [("still", [0, 0, 0], 1.5), ("move", [0, 0, 0], [0, 20, 0], 0.5), ("still", [0, 20, 0], 1)],
        rng,
    )
    detector = StillnessDetector(StillnessSettings(0.3, 1.0))
    assert detector.held_s == 0.0 and detector.held_since is None
    held = []
    for i, (t, tip) in enumerate(zip(times, tips, strict=True)):
        detector.push(i, t, tip)
        held.append((detector.held_since, detector.held_s))
    first_still = round(1.5 * RATE_HZ) - 1
    assert held[first_still] == (0, pytest.approx(times[first_still]))
    assert held[-1][1] == pytest.approx(1.0, abs=0.1)  # the second dwell, 1 s so far
    assert held[-1][0] > first_still


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_stillness_settings_refuse_non_positive_values(value):
    with pytest.raises(RegistrationError, match="still_mm must be a number > 0"):
        StillnessSettings(still_mm=value)
    with pytest.raises(RegistrationError, match="still_s must be a number > 0"):
        StillnessSettings(still_s=value)


def test_times_that_go_back_are_refused():
    with pytest.raises(RegistrationError, match="never decrease"):
        find_still_periods(np.array([0.0, 1.0, 0.5]), np.zeros((3, 3)))


def test_tips_in_reference_follow_the_chain_and_mark_lost_frames():
    rng = np.random.default_rng(5)
    tip = np.array([0.0, 0.0, -150.0])
    stylus = np.array(
        [
            make_rigid(rotation_from_vector(rng.normal(size=3)), rng.normal(size=3) * 100)
            for _ in range(4)
        ]
    )
    reference = np.array(
        [
            make_rigid(rotation_from_vector(rng.normal(size=3)), rng.normal(size=3) * 100)
            for _ in range(4)
        ]
    )
    reference[2] = np.nan
    tips = tips_in_reference_mm(stylus, reference, tip)
    for f in (0, 1, 3):
        expected = np.linalg.inv(reference[f]) @ stylus[f] @ np.append(tip, 1.0)
        np.testing.assert_allclose(tips[f], expected[:3], atol=1e-9)
    assert np.all(np.isnan(tips[2]))
