"""Closest-point structures: the field's answers against brute force, facing, rejected input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from registration.closest_point import (
    BIN_AXES,
    BIN_COVER_RAD,
    ClosestPointField,
    FieldSettings,
    KdTreeClosestPoints,
)
from registration.exceptions import RegistrationError
from tests.registration.shells import make_shell, sample_patch

FOREHEAD = (1.0, 0.2, 0.3)


@pytest.fixture(scope="module")
def shell():
    return make_shell()


@pytest.fixture(scope="module")
def field(shell):
    return ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles)


def _segment_distances(p, a, b):
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=-1) / np.sum(ab * ab, axis=-1), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def _brute_force_on_triangles(shell, points):
    """Exact distance to the mesh: for every triangle that can hold the closest point, the
    distance to its plane when the foot falls inside it, else to its nearest edge."""
    vertices, triangles = shell.vertices_mm, shell.triangles
    edges = vertices[triangles] - vertices[np.roll(triangles, 1, axis=1)]
    longest_edge = np.linalg.norm(edges, axis=2).max()
    vertex_distance, _ = cKDTree(vertices).query(points)
    centroids = cKDTree(vertices[triangles].mean(axis=1))
    out = np.empty(len(points))
    for i, p in enumerate(points):
        near = centroids.query_ball_point(p, vertex_distance[i] + longest_edge)
        a, b, c = (vertices[triangles[near, k]] for k in range(3))
        normal = np.cross(b - a, c - a)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        height = np.sum((p - a) * normal, axis=1)
        foot = p - height[:, None] * normal
        inside = np.ones(len(near), dtype=bool)
        for u, v in ((a, b), (b, c), (c, a)):
            inside &= np.sum(np.cross(v - u, foot - u) * normal, axis=1) >= 0.0
        edge = np.minimum.reduce([_segment_distances(p, u, v) for u, v in ((a, b), (b, c), (c, a))])
        out[i] = np.min(np.where(inside, np.abs(height), edge))
    return out


def test_every_direction_is_within_the_bin_cover():
    directions = np.random.default_rng(0).normal(size=(100_000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    nearest = np.max(directions @ BIN_AXES.T, axis=1)
    assert np.all(nearest >= np.cos(BIN_COVER_RAD))


def test_unoriented_query_is_the_exact_closest_surface_point(field, shell):
    rng = np.random.default_rng(0)
    points = rng.uniform(-90.0, 90.0, (300, 3))
    matches = field.closest(points, None)
    reference = _brute_force_on_triangles(shell, points)
    distances = np.sqrt(matches.sq_dists_mm2)
    assert matches.found.all()
    # Exact unless the greedy walk stops in a local minimum (far from the surface only).
    assert np.all(distances >= reference - 1e-9)
    assert np.mean(np.abs(distances - reference) < 1e-9) > 0.95


def test_near_surface_queries_land_on_the_outer_table_with_its_normal(field, shell):
    points = sample_patch(shell, 500, FOREHEAD, 50.0, 0.5, 1)
    outward = points / np.linalg.norm(points, axis=1, keepdims=True)
    matches = field.closest(points, outward)
    reference = _brute_force_on_triangles(shell, points)
    np.testing.assert_allclose(np.sqrt(matches.sq_dists_mm2), reference, atol=1e-9)
    radial = np.linalg.norm(matches.points_mm, axis=1)
    outer_radius = np.linalg.norm(points, axis=1)
    assert np.all(np.abs(radial - outer_radius) < 3.0)  # not the inner table, 6 mm deeper
    assert np.all(np.sum(matches.normals * outward, axis=1) > 0.8)
    np.testing.assert_allclose(np.linalg.norm(matches.normals, axis=1), 1.0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(6.5, 25.0), st.integers(0, 1000))
def test_points_inside_the_shell_still_find_the_outer_table(field, shell, depth_mm, seed):
    """Below the inner table (closer to it than to the outer one), an outward-facing query
    gets the outer table: the inner table faces the other way."""
    points = sample_patch(shell, 50, FOREHEAD, 40.0, 0.0, seed)
    outward = points / np.linalg.norm(points, axis=1, keepdims=True)
    matches = field.closest(points - depth_mm * outward, outward)
    assert np.all(np.sum(matches.normals * outward, axis=1) > 0.5)
    to_outer, _ = cKDTree(shell.vertices_mm[: shell.n_outer]).query(matches.points_mm)
    to_inner, _ = cKDTree(shell.vertices_mm[shell.n_outer :]).query(matches.points_mm)
    assert np.all(to_outer < to_inner)


def test_field_agrees_with_kdtree_fallback_near_the_surface(field, shell):
    points = sample_patch(shell, 400, FOREHEAD, 50.0, 0.3, 2)
    outward = points / np.linalg.norm(points, axis=1, keepdims=True)
    tree = KdTreeClosestPoints(shell.vertices_mm, shell.normals)
    by_field = field.closest(points, outward)
    by_tree = tree.closest(points, outward)
    # The tree answers with vertices (~2 mm apart on this shell), the field with exact points.
    assert np.all(by_field.sq_dists_mm2 <= by_tree.sq_dists_mm2 + 1e-9)
    assert np.max(np.linalg.norm(by_field.points_mm - by_tree.points_mm, axis=1)) < 2.5


def test_hints_from_a_previous_query_give_the_same_matches(field, shell):
    points = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.3, 4)
    outward = points / np.linalg.norm(points, axis=1, keepdims=True)
    first = field.closest(points, outward)
    moved = points + np.array([0.2, -0.1, 0.1])  # as between two ICP iterations
    cold = field.closest(moved, outward)
    warm = field.closest(moved, outward, first.vertices)
    same = np.isclose(cold.sq_dists_mm2, warm.sq_dists_mm2, rtol=0, atol=1e-12)
    assert np.mean(same) > 0.99
    assert np.all(first.vertices >= 0)


def test_hints_of_wrong_shape_are_rejected(field):
    with pytest.raises(RegistrationError, match="hints must have shape"):
        field.closest(np.zeros((4, 3)), np.ones((4, 3)), np.zeros(3, dtype=int))


def test_points_far_outside_the_grid_are_answered(field):
    matches = field.closest(np.array([[500.0, 0.0, 0.0], [0.0, -400.0, 300.0]]), None)
    assert matches.found.all()
    assert np.all(np.sqrt(matches.sq_dists_mm2) > 300.0)


def test_query_direction_shape_must_match(field):
    with pytest.raises(RegistrationError, match="directions must have the shape"):
        field.closest(np.zeros((4, 3)), np.ones((3, 3)))


def test_field_too_large_is_rejected(shell):
    with pytest.raises(RegistrationError, match="too large"):
        ClosestPointField(
            shell.vertices_mm,
            shell.normals,
            shell.triangles,
            FieldSettings(spacing_mm=0.05),
        )


def test_triangles_out_of_range_are_rejected(shell):
    with pytest.raises(RegistrationError, match="only 20484 vertices"):
        ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles + 5)


def test_zero_normals_are_rejected(shell):
    normals = shell.normals.copy()
    normals[7] = 0.0
    with pytest.raises(RegistrationError, match="1 zero-length rows"):
        ClosestPointField(shell.vertices_mm, normals, shell.triangles)


def test_non_positive_spacing_is_rejected():
    with pytest.raises(RegistrationError, match="spacing_mm must be > 0"):
        FieldSettings(spacing_mm=0.0)


def test_normal_angle_out_of_range_is_rejected():
    with pytest.raises(RegistrationError, match="max_normal_angle_rad"):
        FieldSettings(max_normal_angle_rad=4.0)


def test_kdtree_k_must_be_positive(shell):
    with pytest.raises(RegistrationError, match="k must be >= 1"):
        KdTreeClosestPoints(shell.vertices_mm, shell.normals, math.radians(60), k=0)
