"""Mesh helpers: vertex normals, triangle incidence, rejected input."""

import numpy as np
import pytest

from registration.exceptions import RegistrationError
from registration.mesh import (
    as_triangles,
    sample_on_triangles,
    vertex_normals,
    vertex_triangles,
)
from tests.registration.shells import make_shell


def test_shell_normals_point_out_of_the_bone():
    shell = make_shell(subdivisions=3)
    radial = shell.vertices_mm / np.linalg.norm(shell.vertices_mm, axis=1, keepdims=True)
    outer = np.sum(shell.normals[: shell.n_outer] * radial[: shell.n_outer], axis=1)
    inner = np.sum(shell.normals[shell.n_outer :] * radial[shell.n_outer :], axis=1)
    assert np.all(outer > 0.8)
    assert np.all(inner < -0.8)


def test_normals_of_a_single_triangle():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    normals = vertex_normals(vertices, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(normals, np.tile([0.0, 0.0, 1.0], (3, 1)))


def test_incidence_lists_every_triangle_of_a_vertex():
    shell = make_shell(subdivisions=2)
    n = len(shell.vertices_mm)
    incidence = vertex_triangles(shell.triangles, n)
    for v in range(0, n, 37):
        faces = incidence.triangles[incidence.start[v] : incidence.start[v + 1]]
        assert set(faces) == set(np.flatnonzero((shell.triangles == v).any(axis=1)))


def test_float_triangles_are_rejected():
    with pytest.raises(RegistrationError, match="integer vertex indices"):
        as_triangles(np.zeros((2, 3)), 3)


def test_triangles_of_wrong_shape_are_rejected():
    with pytest.raises(RegistrationError, match=r"\(F, 3\)"):
        as_triangles(np.zeros((2, 4), dtype=int), 3)


# Two triangles in the plane z = 5: the second has three times the area of the first.
TWO_TRIANGLES = np.array(
    [
        [[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [0.0, 1.0, 5.0]],
        [[10.0, 0.0, 5.0], [13.0, 0.0, 5.0], [10.0, 1.0, 5.0]],
    ]
)


def test_sampled_points_lie_inside_their_triangles():
    points = sample_on_triangles(TWO_TRIANGLES, 2000, np.random.default_rng(0))
    np.testing.assert_allclose(points[:, 2], 5.0)
    first = points[:, 0] < 5.0
    # Inside x >= x0, y >= 0 and under the hypotenuse of each right triangle.
    assert np.all(points[:, 1] >= 0.0)
    assert np.all(points[first, 0] + points[first, 1] <= 1.0 + 1e-12)
    assert np.all((points[~first, 0] - 10.0) / 3.0 + points[~first, 1] <= 1.0 + 1e-12)


def test_sampling_is_uniform_by_area():
    points = sample_on_triangles(TWO_TRIANGLES, 20000, np.random.default_rng(1))
    # Expected share of the small triangle 1/4; binomial sigma 0.003, tolerance 0.015.
    assert np.mean(points[:, 0] < 5.0) == pytest.approx(0.25, abs=0.015)
    # Uniform in a triangle: the mean is its centroid (sigma ~0.004 mm, tolerance 0.02 mm).
    small = points[points[:, 0] < 5.0]
    np.testing.assert_allclose(small[:, :2].mean(axis=0), [1 / 3, 1 / 3], atol=0.02)


def test_sampling_triangles_without_area_is_an_error():
    flat = np.zeros((1, 3, 3))
    with pytest.raises(RegistrationError, match="no area"):
        sample_on_triangles(flat, 5, np.random.default_rng(0))
