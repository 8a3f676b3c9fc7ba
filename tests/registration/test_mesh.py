"""Mesh helpers: vertex normals, adjacency, triangle incidence, rejected input."""

import numpy as np
import pytest

from registration.exceptions import RegistrationError
from registration.mesh import as_triangles, vertex_adjacency, vertex_normals, vertex_triangles
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


def test_adjacency_is_symmetric_and_incidence_complete():
    shell = make_shell(subdivisions=2)
    n = len(shell.vertices_mm)
    adjacency = vertex_adjacency(shell.triangles, n)
    incidence = vertex_triangles(shell.triangles, n)
    for v in range(0, n, 37):
        neighbours = set(adjacency.neighbours[adjacency.start[v] : adjacency.start[v + 1]])
        for u in neighbours:
            assert v in set(adjacency.neighbours[adjacency.start[u] : adjacency.start[u + 1]])
        faces = incidence.neighbours[incidence.start[v] : incidence.start[v + 1]]
        assert set(faces) == set(np.flatnonzero((shell.triangles == v).any(axis=1)))


def test_float_triangles_are_rejected():
    with pytest.raises(RegistrationError, match="integer vertex indices"):
        as_triangles(np.zeros((2, 3)), 3)


def test_triangles_of_wrong_shape_are_rejected():
    with pytest.raises(RegistrationError, match=r"\(F, 3\)"):
        as_triangles(np.zeros((2, 4), dtype=int), 3)
