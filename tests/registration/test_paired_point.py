"""Paired-point registration: exact recovery, agreement with an SVD solution, invariances,
weights, reflections, the closed form's fallback, rejected input."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.paired_point import (
    HORN_GAP_TOL,
    _adjugate4,
    _horn_quaternion,
    register_paired_points,
    register_paired_points_stack,
)
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


def _svd_reference(fixed, moving, weights=None):
    """Weighted Arun/Umeyama in plain numpy (numpy's LAPACK SVD), independent of the solver under
    test: (fixed_from_moving, singular values of the cross-covariance, sign of the correction).
    """
    w = np.ones(len(fixed)) if weights is None else np.asarray(weights, dtype=float)
    centre_f = w @ fixed / w.sum()
    centre_m = w @ moving / w.sum()
    covariance = ((moving - centre_m) * w[:, None]).T @ (fixed - centre_f)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    return make_rigid(rotation, centre_f - rotation @ centre_m), singular, sign


def _weighted_sum_of_squares(fixed_from_moving, fixed, moving, weights=None):
    w = np.ones(len(fixed)) if weights is None else np.asarray(weights, dtype=float)
    return float(w @ np.sum((apply_transform(fixed_from_moving, moving) - fixed) ** 2, axis=1))


@st.composite
def noisy_problems(draw, mirrored: bool = False):
    """(fixed, moving, weights or None): a rigid motion of random points plus 0-10 mm of noise.

    ``mirrored``: fixed points are a noisy mirror image of moving points laid out on a plane, on a
    nearly flat slab, or on a ring around a rod (two equal small spreads: mirrored, the best
    rotation about the rod is not unique) - where a rotation and a reflection compete.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(3, 40))
    moving = rng.uniform(-100.0, 100.0, (n, 3))
    if mirrored:
        layout = draw(st.sampled_from(["plane", "slab", "ring"]))
        if layout == "ring":  # n points on a ring of radius 30 mm, 2 on its axis 100 mm away
            angles = 2.0 * np.pi * np.arange(n) / n + rng.uniform(0.0, 2.0 * np.pi)
            ring = np.column_stack([np.zeros(n), 30.0 * np.cos(angles), 30.0 * np.sin(angles)])
            moving = np.vstack([ring, [[-100.0, 0.0, 0.0], [100.0, 0.0, 0.0]]])
            n += 2
        else:
            moving[:, 2] *= draw(st.sampled_from([0.0, 1e-9] if layout == "plane" else [1e-3, 0.1]))
    fixed = apply_transform(draw(rigid_transforms()), moving)
    if mirrored:
        fixed = fixed * [1.0, 1.0, -1.0]
    fixed += rng.normal(0.0, draw(st.sampled_from([0.0, 1e-6, 0.01, 1.0, 10.0])), moving.shape)
    weights = rng.uniform(0.1, 3.0, n) if draw(st.booleans()) else None
    return fixed, moving, weights


# Agreement with the SVD solution when the rotation is well determined: 1e-9 in rotation entries
# and in mm of translation.
AGREE = 1e-9


@settings(max_examples=300, deadline=None)
@given(noisy_problems())
def test_agrees_with_an_independent_svd_solution(problem):
    fixed, moving, weights = problem
    reference, singular, sign = _svd_reference(fixed, moving, weights)
    # Well-conditioned: the two largest eigenvalues of Horn's matrix are apart by at least 1e-3
    # of the largest (their gap is 2 (s2 + sign s3)).
    largest = singular[0] + singular[1] + sign * singular[2]
    assume(singular[1] > 1e-6 * singular[0])
    assume(2.0 * (singular[1] + sign * singular[2]) > 1e-3 * largest)
    result = register_paired_points(fixed, moving, weights)
    estimate = result.fixed_from_moving
    np.testing.assert_allclose(estimate[:3, :3], reference[:3, :3], rtol=0, atol=AGREE)
    np.testing.assert_allclose(estimate[:3, 3], reference[:3, 3], rtol=0, atol=AGREE)
    np.testing.assert_array_equal(estimate[3], [0.0, 0.0, 0.0, 1.0])
    total = len(fixed) if weights is None else weights.sum()
    fre = np.sqrt(_weighted_sum_of_squares(estimate, fixed, moving, weights) / total)
    assert result.fre_rms_mm == pytest.approx(fre, rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(noisy_problems(mirrored=True))
def test_planar_and_near_mirrored_layouts_give_an_optimal_rotation(problem):
    """Where the optimum is (nearly) not unique the rotations may differ, but both are proper
    rotations with the same, smallest, weighted sum of squares."""
    fixed, moving, weights = problem
    reference, _, _ = _svd_reference(fixed, moving, weights)
    estimate = register_paired_points(fixed, moving, weights).fixed_from_moving
    rotation = estimate[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), rtol=0, atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
    ours = _weighted_sum_of_squares(estimate, fixed, moving, weights)
    best = _weighted_sum_of_squares(reference, fixed, moving, weights)
    w = np.ones(len(fixed)) if weights is None else weights
    spread = w @ (
        np.sum((fixed - fixed.mean(0)) ** 2, 1) + np.sum((moving - moving.mean(0)) ** 2, 1)
    )
    assert ours == pytest.approx(best, rel=1e-9, abs=1e-9 * spread)


def test_isotropic_mirrored_layout_takes_the_svd_path_and_is_optimal():
    """The 8 corners of a cube and their mirror image: the best rotations form a family (the
    largest eigenvalue of Horn's matrix is triple), the closed form declines and the SVD answers."""
    moving = np.array(
        [[x, y, z] for x in (-10.0, 10.0) for y in (-10.0, 10.0) for z in (-10.0, 10.0)]
    )
    fixed = moving * [1.0, 1.0, -1.0] + [5.0, 6.0, 7.0]
    moving_centred, fixed_centred = moving - moving.mean(axis=0), fixed - fixed.mean(axis=0)
    covariance = moving_centred.T @ fixed_centred
    scale = 2.0 / (np.sum(moving_centred**2) + np.sum(fixed_centred**2))  # as the kernel scales
    assert not _horn_quaternion(*(covariance * scale).ravel())[4]
    result = register_paired_points(fixed, moving)
    rotation = result.fixed_from_moving[:3, :3]
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
    reference, _, _ = _svd_reference(fixed, moving)
    best = _weighted_sum_of_squares(reference, fixed, moving)
    assert _weighted_sum_of_squares(result.fixed_from_moving, fixed, moving) == pytest.approx(
        best, rel=1e-12
    )


@pytest.mark.parametrize(
    ("singular", "well_conditioned"),
    [
        ((1.0, 0.5, 0.2), True),  # three spread axes
        ((1.0, 0.3, 0.0), True),  # planar
        ((1.0, 0.3, -0.29), True),  # mirrored, gap 0.02 of the largest eigenvalue
        ((1.0, 0.3, -0.3 + 1e-7), False),  # mirrored, gap 2e-7: nearly repeated eigenvalue
        ((1.0, 1e-9, 0.0), False),  # nearly collinear
        ((1.0, 1.0, -1.0), False),  # isotropic mirror image: triple eigenvalue
    ],
)
def test_closed_form_declines_a_nearly_repeated_largest_eigenvalue(singular, well_conditioned):
    """S = diag(s) R^T is the cross-covariance of moving points spread as diag(s) and their
    images under R (a mirror image where s3 < 0). Horn's matrix then has the eigenvalues
    s1 + s2 + s3 > s1 - s2 - s3, ...: the gap between the two largest is 2 (s2 + s3)."""
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    covariance = np.diag(singular) @ rotation.T
    covariance /= np.sum(np.abs(singular))  # largest eigenvalue at most 1, as the kernel scales
    *quaternion, accepted = _horn_quaternion(*covariance.ravel())
    assert accepted == well_conditioned
    assert 2.0 * (singular[1] + singular[2]) / sum(singular) > HORN_GAP_TOL or not accepted
    if accepted:
        # R itself is the best rotation (for a mirror image too: Umeyama's correction undoes it).
        np.testing.assert_allclose(
            Rotation.from_quat(quaternion, scalar_first=True).as_matrix(), rotation, atol=1e-12
        )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1.0, 1e-6, 1e6]))
def test_adjugate_and_determinant_of_a_symmetric_4x4(seed, scale):
    """A adj(A) = det(A) I, for random symmetric matrices (of rank 4 or less)."""
    rng = np.random.default_rng(seed)
    half = rng.normal(0.0, scale, (4, 4))
    matrix = half + half.T
    if seed % 3 == 0:
        vectors = rng.normal(0.0, 1.0, (4, 2))
        matrix = scale * vectors @ vectors.T  # rank 2: adjugate 0
    upper = matrix[np.triu_indices(4)]
    det, *entries = _adjugate4(*upper)
    adjugate = np.zeros((4, 4))
    adjugate[np.triu_indices(4)] = entries
    adjugate = adjugate + np.triu(adjugate, 1).T
    size = np.abs(matrix).max()
    assert det == pytest.approx(np.linalg.det(matrix), abs=1e-12 * size**4)
    np.testing.assert_allclose(matrix @ adjugate, det * np.eye(4), rtol=0, atol=1e-12 * size**4)


def test_nearly_collinear_points_are_registered():
    """0.01 mm off a 100 mm line is not collinear: the SVD path takes it (the closed form
    declines) and recovers noise-free data to 1e-6 rad and mm."""
    line = np.outer(np.linspace(-50.0, 50.0, 6), [1.0, 2.0, 2.0]) / 3.0
    offsets = np.array(
        [[0.0, 0, 0], [0.01, -0.01, 0.0], [0, 0.01, -0.01], [0, 0, 0], [-0.01, 0, 0.01], [0, 0, 0]]
    )
    moving = line + offsets
    truth = make_rigid(Rotation.from_rotvec([0.4, -1.0, 2.0]).as_matrix(), [10.0, -20.0, 30.0])
    result = register_paired_points(apply_transform(truth, moving), moving)
    difference = transform_difference(result.fixed_from_moving, truth)
    assert difference.rotation_rad < 1e-6
    assert difference.translation_mm < 1e-6


def test_unit_weights_equal_no_weights():
    rng = np.random.default_rng(11)
    moving = rng.uniform(-50, 50, (7, 3))
    fixed = moving + rng.normal(0, 1.0, moving.shape)
    weighted = register_paired_points(fixed, moving, np.ones(7))
    plain = register_paired_points(fixed, moving)
    np.testing.assert_allclose(weighted.fixed_from_moving, plain.fixed_from_moving, atol=1e-14)
    np.testing.assert_allclose(weighted.residuals_mm, plain.residuals_mm, atol=1e-13)


def test_a_far_pair_of_zero_weight_costs_no_accuracy():
    """A pair switched off by its weight may lie anywhere, here 1 km away and first in the list."""
    rng = np.random.default_rng(5)
    moving = rng.uniform(-50, 50, (12, 3))
    fixed = moving @ Rotation.from_rotvec([0.2, 0.1, -0.3]).as_matrix().T + [4.0, 5.0, 6.0]
    fixed += rng.normal(0, 0.5, moving.shape)
    fixed[0] = moving[0] = [1e6, -1e6, 1e6]
    weights = np.ones(12)
    weights[0] = 0.0
    weighted = register_paired_points(fixed, moving, weights)
    reference, _, _ = _svd_reference(fixed[1:], moving[1:])
    np.testing.assert_allclose(weighted.fixed_from_moving, reference, rtol=0, atol=AGREE)


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


def test_nan_in_moving_is_rejected():
    moving = _square()
    moving[3, 2] = np.nan
    with pytest.raises(RegistrationError, match="moving_mm contains NaN"):
        register_paired_points(_square(), moving)


def test_infinity_in_fixed_is_rejected():
    fixed = _square()
    fixed[0, 0] = -np.inf
    with pytest.raises(RegistrationError, match="fixed_mm contains NaN or infinite"):
        register_paired_points(fixed, _square())


def test_nan_in_a_zero_weight_pair_is_rejected():
    fixed = np.vstack([_square(), [[1.0, 2.0, 3.0]]])
    moving = fixed.copy()
    moving[4, 1] = np.nan
    with pytest.raises(RegistrationError, match="moving_mm contains NaN"):
        register_paired_points(fixed, moving, [1.0, 1.0, 1.0, 1.0, 0.0])


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


def test_nan_weight_is_rejected():
    with pytest.raises(RegistrationError, match="weights must be finite"):
        register_paired_points(_square(), _square(), [1.0, np.nan, 1.0, 1.0])


def test_infinite_weight_is_rejected():
    with pytest.raises(RegistrationError, match="weights must be finite"):
        register_paired_points(_square(), _square(), [1.0, 1.0, np.inf, 1.0])


def test_coincident_fixed_points_are_rejected():
    moving = _square()
    with pytest.raises(RegistrationError, match="same place"):
        register_paired_points(np.tile([5.0, 6.0, 7.0], (4, 1)), moving)


def test_weights_of_wrong_length_are_rejected():
    with pytest.raises(RegistrationError, match=r"shape \(4,\).*\(3,\)"):
        register_paired_points(_square(), _square(), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("coordinate", [1.7e308, -1e200, 1e160])
def test_coordinates_whose_products_overflow_are_rejected(coordinate):
    """1.8e308 read from a file was a LinAlgError from inside the kernel's SVD."""
    fixed = np.array([[0.0, 0, 0], [80, 0, 0], [0, 70, 0], [0, 0, 60]])
    moving = fixed.copy()
    moving[3, 0] = coordinate
    with pytest.raises(RegistrationError, match="1e75 mm"):
        register_paired_points(fixed, moving)
    with pytest.raises(RegistrationError, match="1e75 mm"):
        register_paired_points(moving, fixed)


@settings(max_examples=100, deadline=None)
@given(point_sets(min_size=3, max_size=8), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_a_stack_of_registrations_is_each_registration_bit_for_bit(moving, count, seed):
    """The stacked kernel (a simulated tracker's re-fit of a block of frames) gives exactly what
    one call per registration gives, on the pairs each one uses."""
    rng = np.random.default_rng(seed)
    n = len(moving)
    fixed = np.array(
        [
            apply_transform(make_rigid(Rotation.random(random_state=rng).as_matrix(), t), moving)
            + rng.normal(0.0, 0.3, (n, 3))
            for t in rng.uniform(-500.0, 500.0, (count, 3))
        ]
    )
    used = np.ones((count, n), dtype=bool)
    for row in used:
        row[rng.choice(n, rng.integers(0, n - 2), replace=False)] = False
    matrices, fre = register_paired_points_stack(fixed, moving, used)
    for k in range(count):
        one = register_paired_points(fixed[k][used[k]], moving[used[k]])
        np.testing.assert_array_equal(matrices[k], one.fixed_from_moving)
        assert fre[k] == one.fre_rms_mm


def test_a_stack_names_the_registration_that_fails():
    moving = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    fixed = np.array([moving, moving])
    fixed[1, :, 1:] = 0.0  # all on the x axis: collinear
    with pytest.raises(RegistrationError, match="registration 1: the points lie on one line"):
        register_paired_points_stack(fixed, moving)
    with pytest.raises(RegistrationError, match="registration 0 uses fewer than 3 pairs"):
        register_paired_points_stack(fixed, moving, np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool))
    with pytest.raises(RegistrationError, match=r"shape \(K, 4, 3\)"):
        register_paired_points_stack(fixed[:, :3], moving)


def test_a_stack_takes_the_svd_path_where_one_registration_does():
    """A cube and its mirror image (the closed form declines, see above) amid ordinary frames:
    the stack gives what one call gives, bit for bit, on every frame."""
    moving = np.array(
        [[x, y, z] for x in (-10.0, 10.0) for y in (-10.0, 10.0) for z in (-10.0, 10.0)]
    )
    turned = make_rigid(Rotation.from_rotvec([0.3, -0.2, 0.1]).as_matrix(), [1.0, 2.0, 3.0])
    fixed = np.array(
        [apply_transform(turned, moving), moving * [1.0, 1.0, -1.0] + [5.0, 6.0, 7.0], moving]
    )
    matrices, fre = register_paired_points_stack(fixed, moving)
    for k in range(3):
        one = register_paired_points(fixed[k], moving)
        np.testing.assert_array_equal(matrices[k], one.fixed_from_moving)
        assert fre[k] == one.fre_rms_mm
