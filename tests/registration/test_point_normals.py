"""Patch normals: exact on planes and spheres, on the side their hints vote for, and the same
as an independent NumPy plane fit (np.linalg.eigh per window) on random patches."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration import point_normals
from registration.exceptions import RegistrationError
from registration.point_normals import (
    MIN_WINDOW_POINTS,
    away_from,
    estimate_patch_normals,
    smallest_eigenvector,
)

# Windows whose two smallest eigenvalues are closer than this fraction of the patch's squared
# extent are left out of the comparison with NumPy: their plane is ill-conditioned in float64.
WELL_SEPARATED = 1e-4
ANGLE_TOL = 1e-9  # rad, between our normal and NumPy's


def _oriented(normal: np.ndarray, through: np.ndarray, outward_from: np.ndarray) -> np.ndarray:
    return normal if normal @ (through - outward_from) >= 0.0 else -normal


def _sin_angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.cross(a, b)))


def numpy_reference(points, outward_from, window_mm):
    """Yield (point indices, expected unit normal) for every window (the 2x2x2 hash cells of
    half the window around the cell corner nearest to its points; 4x4x4 when those hold fewer
    than MIN_WINDOW_POINTS points) whose plane is well conditioned, from np.linalg.eigh of the
    covariance of the window's points (or of the whole patch, for windows of fewer than
    MIN_WINDOW_POINTS points even then)."""
    extent2 = float(np.max(np.ptp(points, axis=0))) ** 2
    per_mm = 2.0 / window_mm  # cells per mm, halved as the kernel does past MAX_HASH_CELLS
    while np.prod(np.floor(np.ptp(points, axis=0) * per_mm) + 5.0) > point_normals.MAX_HASH_CELLS:
        per_mm *= 0.5
    scaled = (points - points.min(axis=0)) * per_mm
    cells = scaled.astype(np.int64)
    corners = (scaled + 0.5).astype(np.int64)
    values, vectors = np.linalg.eigh(np.cov(points.T, bias=True))
    centroid = points.mean(axis=0)
    fallback = _oriented(vectors[:, 0], centroid, outward_from)
    fallback_ok = values[1] - values[0] > WELL_SEPARATED * extent2
    for corner in np.unique(corners, axis=0):
        members = np.flatnonzero(np.all(corners == corner, axis=1))
        window = points[np.all((cells == corner) | (cells == corner - 1), axis=1)]
        if len(window) < MIN_WINDOW_POINTS:
            window = points[np.all((cells >= corner - 2) & (cells <= corner + 1), axis=1)]
        if len(window) < MIN_WINDOW_POINTS:
            if fallback_ok:
                yield members, fallback
            continue
        values, vectors = np.linalg.eigh(np.cov(window.T, bias=True))
        mean = window.mean(axis=0)
        side = vectors[:, 0] @ (mean - outward_from)
        clear_side = abs(side) > 1e-6 * np.linalg.norm(mean - outward_from)
        if values[1] - values[0] > WELL_SEPARATED * extent2 and clear_side:
            yield members, _oriented(vectors[:, 0], mean, outward_from)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(10, 600),
    radius_mm=st.floats(20.0, 300.0),
    cap_rad=st.floats(0.1, 1.5),
    noise_mm=st.floats(0.0, 1.0),
    offset_mm=st.floats(0.0, 1e4),
    window_mm=st.floats(3.0, 60.0),
)
def test_normals_match_a_numpy_plane_fit_per_window(
    seed, count, radius_mm, cap_rad, noise_mm, offset_mm, window_mm
):
    rng = np.random.default_rng(seed)
    z = rng.uniform(math.cos(cap_rad), 1.0, count)
    azimuth = rng.uniform(0.0, 2.0 * math.pi, count)
    ring = np.sqrt(1.0 - z * z)
    directions = np.column_stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z])
    centre = offset_mm * Rotation.random(random_state=rng).apply([1.0, 0.0, 0.0])
    rotation = Rotation.random(random_state=rng).as_matrix()
    points = radius_mm * directions @ rotation.T + centre + rng.normal(0.0, noise_mm, (count, 3))
    normals = estimate_patch_normals(points, away_from(points, centre), window_mm)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    compared = 0
    for members, expected in numpy_reference(points, centre, window_mm):
        for normal in normals[members]:
            assert _sin_angle(normal, expected) <= ANGLE_TOL
            assert normal @ expected > 0.0
        compared += len(members)
    assert compared > 0 or count < 2 * MIN_WINDOW_POINTS


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.integers(0, 1000))
def test_plane_normals_are_exact_and_point_away(rotvec, seed):
    rng = np.random.default_rng(seed)
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    flat = np.column_stack([rng.uniform(-40, 40, (300, 2)), np.zeros(300)])
    points = flat @ rotation.T + [10.0, 20.0, 30.0]
    normal = rotation[:, 2]
    behind = np.array([10.0, 20.0, 30.0]) - 100.0 * normal
    normals = estimate_patch_normals(points, away_from(points, behind))
    np.testing.assert_allclose(normals, np.tile(normal, (300, 1)), atol=1e-6)


def test_sphere_normals_are_radial_within_the_window_curvature():
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(2000, 3))
    directions[:, 2] = np.abs(directions[:, 2])  # a hemisphere
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = 80.0 * directions
    normals = estimate_patch_normals(points, points, window_mm=15.0)
    angles = np.degrees(np.arccos(np.clip(np.sum(normals * directions, axis=1), -1, 1)))
    # A 15 mm window (cells of 7.5 mm, 2x2x2 block) on an 80 mm sphere: under ~8 deg off radial.
    assert np.percentile(angles, 99) < 8.0


def test_a_sparse_window_widens_before_falling_back_to_the_patch_plane():
    """300 points on a hemisphere of 50 mm with 15 mm windows: windows at the rim hold fewer
    than MIN_WINDOW_POINTS points; taken twice as wide they still fit the sphere there, where
    the plane of the whole patch is up to 90 deg off."""
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(300, 3))
    directions[:, 2] = np.abs(directions[:, 2])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = 50.0 * directions + rng.normal(0.0, 0.3, (300, 3))
    normals = estimate_patch_normals(points, points, window_mm=15.0)
    angles = np.degrees(np.arccos(np.clip(np.sum(normals * directions, axis=1), -1, 1)))
    assert np.mean(angles > 30.0) <= 0.01


def test_sparse_points_fall_back_to_the_patch_plane():
    points = np.array([[0.0, 0, 0], [100, 0, 0], [0, 100, 0], [100, 100, 1], [50, 50, 0.5]])
    normals = estimate_patch_normals(points, away_from(points, [50.0, 50.0, -100.0]))
    assert np.all(normals[:, 2] > 0.99)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 2.0 * math.pi), st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_a_line_neighbourhood_falls_back_to_the_patch_plane(heading, rotvec):
    # A dense row of points, far (>= 200 mm) from a sparse square that makes the patch's plane.
    along = np.array([math.cos(heading), math.sin(heading), 0.0])
    row = np.outer(np.linspace(0.0, 10.0, 30), along) + np.array([3.1, 7.3, 0.0])
    square = np.array([[300.0, 0, 0], [300, 300, 0], [0, 300, 0], [200, 200, 0]])
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    origin = np.array([40.0, -20.0, 70.0])
    points = np.vstack([row, square]) @ rotation.T + origin
    normals = estimate_patch_normals(points, np.tile(rotation[:, 2], (34, 1)))
    np.testing.assert_allclose(normals, np.tile(rotation[:, 2], (34, 1)), atol=1e-9)


def test_far_from_the_origin_the_plane_is_as_exact_as_near_it():
    rng = np.random.default_rng(3)
    flat = np.column_stack([rng.uniform(-30, 30, (400, 2)), np.zeros(400)])
    far = np.array([1e6, -2e6, 5e5])  # mm: tracker-like coordinates, and then some
    normals = estimate_patch_normals(flat + far, away_from(flat + far, far - [0.0, 0.0, 10.0]))
    np.testing.assert_allclose(normals, np.tile([0.0, 0.0, 1.0], (400, 1)), atol=1e-9)


def test_a_tiny_window_on_a_huge_patch_is_coarsened_to_at_most_max_hash_cells():
    rng = np.random.default_rng(4)
    flat = np.column_stack([rng.uniform(0, 1e5, (200, 2)), np.zeros(200)])
    # 0.01 mm windows over 100 m: (1e5 * 2 / 0.01)^2 = 4e14 cells of hash, over MAX_HASH_CELLS
    # (a MemoryError if not coarsened).
    normals = estimate_patch_normals(flat, away_from(flat, [0.0, 0.0, -1.0]), window_mm=0.01)
    np.testing.assert_allclose(normals, np.tile([0.0, 0.0, 1.0], (200, 1)), atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-6.0, 6.0))
def test_smallest_eigenvector_matches_numpy(seed, log_scale):
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(3, 3)) * 10.0**log_scale
    matrix = root @ root.T
    x, y, z, *values = smallest_eigenvector(*matrix[np.triu_indices(3)])
    expected_values, expected_vectors = np.linalg.eigh(matrix)
    scale = expected_values[2]
    np.testing.assert_allclose(values, expected_values, rtol=0, atol=1e-12 * scale)
    vector = np.array([x, y, z])
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-14)
    # The residual |A v - lambda v| is small for any matrix; the direction itself only where the
    # smallest eigenvalue is isolated.
    assert np.linalg.norm(matrix @ vector - values[0] * vector) <= 1e-10 * scale
    gap = expected_values[1] - expected_values[0]
    if gap > 1e-3 * scale:
        assert _sin_angle(vector, expected_vectors[:, 0]) <= 1e-12 * scale / gap


def test_smallest_eigenvector_of_a_diagonal_matrix():
    x, y, z, smallest, middle, largest = smallest_eigenvector(3.0, 0.0, 0.0, 1.0, 0.0, 2.0)
    np.testing.assert_allclose(np.abs([x, y, z]), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose([smallest, middle, largest], [1.0, 2.0, 3.0], atol=1e-12)


def test_smallest_eigenvector_of_a_double_smallest_eigenvalue_is_orthogonal_to_the_largest():
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    matrix = np.eye(3) + 4.0 * np.outer(axis, axis)  # eigenvalues 1, 1, 5
    x, y, z, smallest, middle, largest = smallest_eigenvector(*matrix[np.triu_indices(3)])
    np.testing.assert_allclose([smallest, middle, largest], [1.0, 1.0, 5.0], atol=1e-12)
    assert np.linalg.norm([x, y, z]) == pytest.approx(1.0, abs=1e-14)
    assert abs(np.dot([x, y, z], axis)) < 1e-7


def test_smallest_eigenvector_of_a_multiple_of_the_identity():
    assert smallest_eigenvector(2.0, 0.0, 0.0, 2.0, 0.0, 2.0) == (1.0, 0.0, 0.0, 2.0, 2.0, 2.0)


def test_collinear_patch_is_rejected():
    line = np.outer(np.linspace(0, 10, 20), [1.0, 2.0, 3.0])
    with pytest.raises(RegistrationError, match="line"):
        estimate_patch_normals(line, line)


def test_a_single_spot_is_rejected():
    with pytest.raises(RegistrationError, match="one spot"):
        estimate_patch_normals(np.tile([5.0, 6.0, 7.0], (10, 1)), np.ones((10, 3)))


def test_non_positive_window_is_rejected():
    with pytest.raises(RegistrationError, match="window_mm must be > 0"):
        estimate_patch_normals(np.eye(3) * 10, np.eye(3), window_mm=0.0)


def test_nan_point_is_rejected():
    points = np.eye(3) * 10
    points[1, 2] = np.nan
    with pytest.raises(RegistrationError, match="points_mm contains NaN"):
        estimate_patch_normals(points, np.ones((3, 3)))


def test_nan_hint_is_rejected():
    hints = np.eye(3)
    hints[2, 1] = np.nan
    with pytest.raises(RegistrationError, match="outward_hints contains NaN"):
        estimate_patch_normals(np.eye(3) * 10, hints)


def test_hints_of_wrong_shape_are_rejected():
    with pytest.raises(RegistrationError, match="one direction per point"):
        estimate_patch_normals(np.eye(3) * 10, np.zeros(3))


def test_centre_of_wrong_size_is_rejected():
    with pytest.raises(RegistrationError, match="one point of 3 coordinates"):
        away_from(np.eye(3) * 10, np.zeros(2))


def test_more_points_than_the_row_numbers_hold_are_rejected(monkeypatch):
    monkeypatch.setattr(point_normals, "MAX_PATCH_POINTS", 10)
    with pytest.raises(RegistrationError, match="at most 10 are supported"):
        estimate_patch_normals(np.random.default_rng(0).normal(size=(11, 3)), np.ones((11, 3)))


def test_points_spanning_more_than_float64_are_rejected():
    points = np.array([[-1e308, 0.0, 0.0], [1e308, 0.0, 0.0], [0.0, 1e308, 0.0]])
    with pytest.raises(RegistrationError, match="spans more than float64"):
        estimate_patch_normals(points, np.ones((3, 3)))


def test_a_normal_outside_its_hint_cone_is_replaced_by_the_hint():
    """A thin wall: windows span both faces, whose hints cancel in the vote, so about half the
    normals point the wrong way; with hints known to be within 45 deg of the normal (a stylus
    axis), those points take their hint."""
    rng = np.random.default_rng(5)
    side = rng.integers(0, 2, 400) * 2 - 1  # left or right face of a 4 mm wide wall
    points = np.column_stack([2.0 * side, rng.uniform(-30, 30, 400), rng.uniform(0, 15, 400)])
    truth = np.column_stack([side, np.zeros(400), np.zeros(400)]).astype(float)
    tilt = Rotation.from_rotvec(np.radians(20.0) * np.array([0.0, 0.0, 1.0])).as_matrix()
    hints = truth @ tilt.T  # 20 deg off the true normal
    loose = estimate_patch_normals(points, hints, window_mm=20.0)
    bounded = estimate_patch_normals(points, hints, 20.0, math.radians(45.0))
    assert np.mean(np.sum(loose * truth, axis=1) < 0.0) > 0.3
    assert np.all(np.sum(bounded * hints, axis=1) >= math.cos(math.radians(45.0)) - 1e-12)
    assert np.mean(np.sum(bounded * truth, axis=1) > math.cos(math.radians(25.0))) > 0.95


def test_the_default_window_follows_the_point_spacing():
    """On a sphere of 20 mm radius, a dense sweep gets a small window (normals within a few
    degrees of radial) where a fixed 20 mm window would bend them by the curvature."""
    rng = np.random.default_rng(6)
    directions = rng.normal(size=(5000, 3))
    directions[:, 2] = np.abs(directions[:, 2])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = 20.0 * directions
    fixed = estimate_patch_normals(points, points, window_mm=20.0)
    adaptive = estimate_patch_normals(points, points)

    def p90(normals):
        return np.percentile(
            np.degrees(np.arccos(np.clip(np.sum(normals * directions, 1), -1, 1))), 90
        )

    assert p90(adaptive) < 5.0 < p90(fixed)


def test_a_hint_cone_beyond_a_right_angle_is_rejected():
    with pytest.raises(RegistrationError, match="hint_cone_rad"):
        estimate_patch_normals(np.eye(3) * 10, np.eye(3), None, math.pi)
