"""Patch normals: exact on planes and spheres, oriented away from the given point."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.point_normals import estimate_patch_normals, smallest_eigenvector


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.integers(0, 1000))
def test_plane_normals_are_exact_and_point_away(rotvec, seed):
    rng = np.random.default_rng(seed)
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    flat = np.column_stack([rng.uniform(-40, 40, (300, 2)), np.zeros(300)])
    points = flat @ rotation.T + [10.0, 20.0, 30.0]
    normal = rotation[:, 2]
    behind = np.array([10.0, 20.0, 30.0]) - 100.0 * normal
    normals = estimate_patch_normals(points, behind)
    np.testing.assert_allclose(normals, np.tile(normal, (300, 1)), atol=1e-6)


def test_sphere_normals_are_radial_within_the_window_curvature():
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(2000, 3))
    directions[:, 2] = np.abs(directions[:, 2])  # a hemisphere
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = 80.0 * directions
    normals = estimate_patch_normals(points, np.zeros(3), window_mm=15.0)
    angles = np.degrees(np.arccos(np.clip(np.sum(normals * directions, axis=1), -1, 1)))
    # A 15 mm window (cells of 5 mm, 3x3x3 block) on an 80 mm sphere: under ~8 deg off radial.
    assert np.percentile(angles, 99) < 8.0


def test_sparse_points_fall_back_to_the_patch_plane():
    points = np.array([[0.0, 0, 0], [100, 0, 0], [0, 100, 0], [100, 100, 1], [50, 50, 0.5]])
    normals = estimate_patch_normals(points, np.array([50.0, 50.0, -100.0]))
    assert np.all(normals[:, 2] > 0.99)


def test_smallest_eigenvector_of_a_diagonal_matrix():
    vector, ratio = smallest_eigenvector(3.0, 0.0, 0.0, 1.0, 0.0, 2.0)
    np.testing.assert_allclose(np.abs(vector), [0.0, 1.0, 0.0], atol=1e-12)
    assert ratio == pytest.approx(0.5)


def test_collinear_patch_is_rejected():
    line = np.outer(np.linspace(0, 10, 20), [1.0, 2.0, 3.0])
    with pytest.raises(RegistrationError, match="line"):
        estimate_patch_normals(line, np.zeros(3))


def test_non_positive_window_is_rejected():
    with pytest.raises(RegistrationError, match="window_mm must be > 0"):
        estimate_patch_normals(np.eye(3) * 10, np.zeros(3), window_mm=0.0)
