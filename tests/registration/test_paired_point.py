"""Paired-point registration: exact recovery, invariances, weights, reflections, rejected input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points
from registration.transforms import apply_transform, make_rigid, transform_difference

# Exact data: recovered to round-off. Tolerances in mm and rad.
EXACT_MM = 1e-8
EXACT_RAD = 1e-8


@st.composite
def rigid_transforms(draw) -> np.ndarray:
    rotvec = draw(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3))
    translation = draw(st.lists(st.floats(-300.0, 300.0), min_size=3, max_size=3))
    return make_rigid(Rotation.from_rotvec(rotvec).as_matrix(), translation)


@st.composite
def point_sets(draw, min_size: int = 3, max_size: int = 40) -> np.ndarray:
    """Well-spread points in a 200 mm box (at least 1 mm away from any common line)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(seed)
    points = rng.uniform(-100.0, 100.0, (n, 3))
    centred = points - points.mean(axis=0)
    spread = np.linalg.svd(centred, compute_uv=False)
    if spread[1] < 1.0:
        points[0] += [0.0, 0.0, 50.0]
        points[1] += [50.0, 0.0, 0.0]
    return points


@settings(max_examples=200, deadline=None)
@given(point_sets(), rigid_transforms())
def test_noise_free_transform_is_recovered_exactly(moving, fixed_from_moving):
    fixed = apply_transform(fixed_from_moving, moving)
    result = register_paired_points(fixed, moving)
    difference = transform_difference(result.fixed_from_moving, fixed_from_moving)
    assert difference.rotation_rad < EXACT_RAD
    assert difference.translation_mm < EXACT_MM * 100
    assert result.fre_rms_mm < EXACT_MM * 100
    assert np.all(result.residuals_mm < EXACT_MM * 100)


@settings(max_examples=100, deadline=None)
@given(point_sets(), rigid_transforms(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_point_order(moving, fixed_from_moving, random):
    noise = np.random.default_rng(random.randint(0, 2**31)).normal(0.0, 0.5, moving.shape)
    fixed = apply_transform(fixed_from_moving, moving) + noise
    order = list(range(len(moving)))
    random.shuffle(order)
    straight = register_paired_points(fixed, moving)
    shuffled = register_paired_points(fixed[order], moving[order])
    np.testing.assert_allclose(shuffled.fixed_from_moving, straight.fixed_from_moving, atol=1e-9)
    np.testing.assert_allclose(shuffled.residuals_mm, straight.residuals_mm[order], atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(point_sets(min_size=6), rigid_transforms(), st.floats(0.01, 100.0))
def test_zero_weight_equals_dropping_the_pair_and_scale_does_not_matter(
    moving, fixed_from_moving, scale
):
    rng = np.random.default_rng(len(moving))
    fixed = apply_transform(fixed_from_moving, moving) + rng.normal(0.0, 0.5, moving.shape)
    fixed[0] += [30.0, -20.0, 10.0]  # an outlier the weights switch off
    weights = np.ones(len(moving))
    weights[0] = 0.0
    weighted = register_paired_points(fixed, moving, weights * scale)
    dropped = register_paired_points(fixed[1:], moving[1:])
    np.testing.assert_allclose(weighted.fixed_from_moving, dropped.fixed_from_moving, atol=1e-9)
    assert weighted.fre_rms_mm == pytest.approx(dropped.fre_rms_mm, rel=1e-9, abs=1e-12)


def test_integer_weights_equal_repeated_pairs():
    rng = np.random.default_rng(3)
    moving = rng.uniform(-50, 50, (5, 3))
    fixed = moving + rng.normal(0, 1.0, moving.shape)
    weights = np.array([1.0, 2.0, 3.0, 1.0, 1.0])
    repeated = np.repeat(np.arange(5), weights.astype(int))
    weighted = register_paired_points(fixed, moving, weights)
    duplicated = register_paired_points(fixed[repeated], moving[repeated])
    np.testing.assert_allclose(weighted.fixed_from_moving, duplicated.fixed_from_moving, atol=1e-12)
    assert weighted.fre_rms_mm == pytest.approx(duplicated.fre_rms_mm, rel=1e-12)


def test_fre_is_rms_of_residuals_and_residuals_are_distances():
    rng = np.random.default_rng(7)
    moving = rng.uniform(-50, 50, (8, 3))
    fixed = moving + rng.normal(0, 1.0, moving.shape)
    result = register_paired_points(fixed, moving)
    mapped = apply_transform(result.fixed_from_moving, moving)
    np.testing.assert_allclose(result.residuals_mm, np.linalg.norm(mapped - fixed, axis=1))
    assert result.fre_rms_mm == pytest.approx(np.sqrt(np.mean(result.residuals_mm**2)))


def test_mirrored_points_give_a_rotation_not_a_reflection():
    """A naive SVD solution is the reflection diag(1, 1, -1) here (zero error, det -1)."""
    moving = np.array([[10.0, 0, 5], [0, 10, -5], [-10, 0, 5], [0, -10, -5], [3, 4, 20]])
    fixed = moving * [1.0, 1.0, -1.0]
    result = register_paired_points(fixed, moving)
    rotation = result.fixed_from_moving[:3, :3]
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert result.fre_rms_mm > 1.0  # a rotation cannot fit a mirror image


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_three_noisy_coplanar_points_never_give_a_reflection(seed):
    rng = np.random.default_rng(seed)
    moving = rng.uniform(-20, 20, (3, 3))
    fixed = moving + rng.normal(0, 8.0, moving.shape)  # heavy noise flips orientation at times
    rotation = register_paired_points(fixed, moving).fixed_from_moving[:3, :3]
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-9)


def test_accepts_lists_and_returns_float64_4x4():
    points = [[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]]
    result = register_paired_points(points, points)
    assert result.fixed_from_moving.shape == (4, 4)
    assert result.fixed_from_moving.dtype == np.float64
    np.testing.assert_allclose(result.fixed_from_moving, np.eye(4), atol=1e-12)


def _square() -> np.ndarray:
    return np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]])


def test_fewer_than_three_points_are_rejected():
    with pytest.raises(RegistrationError, match="at least 3"):
        register_paired_points(_square()[:2], _square()[:2])


def test_mismatched_lengths_are_rejected():
    with pytest.raises(RegistrationError, match="4 fixed and 3 moving"):
        register_paired_points(_square(), _square()[:3])


def test_wrong_shape_is_rejected():
    with pytest.raises(RegistrationError, match=r"\(N, 3\)"):
        register_paired_points(np.zeros((4, 2)), np.zeros((4, 2)))


def test_nan_in_fixed_is_rejected():
    fixed = _square()
    fixed[2, 1] = np.nan
    with pytest.raises(RegistrationError, match="fixed_mm contains NaN"):
        register_paired_points(fixed, _square())


def test_infinity_in_moving_is_rejected():
    moving = _square()
    moving[1, 0] = np.inf
    with pytest.raises(RegistrationError, match="moving_mm contains NaN or infinite"):
        register_paired_points(_square(), moving)


def test_coincident_points_are_rejected():
    same = np.tile([5.0, 6.0, 7.0], (4, 1))
    with pytest.raises(RegistrationError, match="same place"):
        register_paired_points(same, same)


def test_collinear_points_are_rejected():
    line = np.outer(np.arange(5.0), [1.0, 2.0, 3.0])
    with pytest.raises(RegistrationError, match="one line"):
        register_paired_points(line + 1.0, line)


def test_collinear_fixed_points_are_rejected():
    line = np.outer(np.arange(5.0), [1.0, 2.0, 3.0])
    moving = line + np.random.default_rng(0).normal(0, 1.0, line.shape)
    with pytest.raises(RegistrationError, match="one line"):
        register_paired_points(line, moving)


def test_negative_weight_is_rejected():
    with pytest.raises(RegistrationError, match="weights must be finite and >= 0"):
        register_paired_points(_square(), _square(), [1.0, -1.0, 1.0, 1.0])


def test_fewer_than_three_positive_weights_are_rejected():
    with pytest.raises(RegistrationError, match="at least 3 of them > 0"):
        register_paired_points(_square(), _square(), [1.0, 1.0, 0.0, 0.0])


def test_weights_of_wrong_length_are_rejected():
    with pytest.raises(RegistrationError, match=r"shape \(4,\).*\(3,\)"):
        register_paired_points(_square(), _square(), [1.0, 1.0, 1.0])
