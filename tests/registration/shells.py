"""Small two-table bone shells built in numpy for the surface-registration tests.

An icosphere whose radius varies smoothly with direction (an egg with bumps, so that no rotation
maps it onto itself), as an outer table and an inner table ``thickness_mm`` inside it, like the
two tables of a skull. Vertex normals point out of the bone: outwards on the outer table, towards
the centre on the inner table.
"""

from dataclasses import dataclass

import numpy as np

from registration.mesh import sample_on_triangles, vertex_normals


@dataclass(frozen=True)
class Shell:
    vertices_mm: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    n_outer: int  # vertices [0, n_outer) are the outer table


def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    t = (1.0 + 5.0**0.5) / 2.0
    vertices = [
        [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
        [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
    ]  # fmt: skip
    faces = [
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
        [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
        [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ]  # fmt: skip
    points = np.array(vertices, dtype=np.float64)
    triangles = np.array(faces, dtype=np.int64)
    for _ in range(subdivisions):
        edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
        edges.sort(axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        midpoints = len(points) + inverse.reshape(3, -1).T  # (F, 3): mid of edges 01, 12, 20
        points = np.concatenate([points, points[unique].mean(axis=1)])
        a, b, c = triangles.T
        ab, bc, ca = midpoints.T
        triangles = np.concatenate(
            [np.stack(x, axis=1) for x in ([a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca])]
        )
    return points / np.linalg.norm(points, axis=1, keepdims=True), triangles


def _radius(directions: np.ndarray) -> np.ndarray:
    """Egg-shaped radius (mm) with a few bumps: no symmetry for ICP to slide along."""
    x, y, z = directions.T
    scale = 1.0 / np.sqrt((x / 1.0) ** 2 + (y / 0.85) ** 2 + (z / 0.75) ** 2)
    bumps = (
        0.08 * np.exp(-((x - 0.9) ** 2 + (y - 0.1) ** 2 + (z + 0.2) ** 2) / 0.05)
        - 0.06 * np.exp(-((x - 0.8) ** 2 + (y + 0.4) ** 2 + (z - 0.1) ** 2) / 0.04)
        + 0.03 * np.sin(4 * x + 1) * np.sin(5 * y) * np.sin(3 * z + 0.5)
        + 0.01 * np.sin(9 * x) * np.sin(8 * y + 1) * np.sin(10 * z)
    )
    return 60.0 * scale * (1.0 + bumps)


def make_shell(subdivisions: int = 5, thickness_mm: float = 6.0) -> Shell:
    """Outer and inner table of an egg-shaped bone shell (about 120 x 100 x 90 mm)."""
    directions, triangles = _icosphere(subdivisions)
    radius = _radius(directions)[:, None]
    outer = directions * radius
    inner = directions * (radius - thickness_mm)
    vertices = np.concatenate([outer, inner])
    n = len(directions)
    # The inner table's winding is reversed: its normals point out of the bone, to the centre.
    all_triangles = np.concatenate([triangles, triangles[:, ::-1] + n])
    return Shell(vertices, vertex_normals(vertices, all_triangles), all_triangles, n)


def sample_patch(
    shell: Shell, count: int, centre_direction, radius_mm: float, noise_mm: float, seed: int
) -> np.ndarray:
    """Points spread uniformly by area on the outer table within ``radius_mm`` of the point
    in ``centre_direction``, with Gaussian noise of ``noise_mm`` per axis."""
    rng = np.random.default_rng(seed)
    outer_triangles = shell.triangles[: len(shell.triangles) // 2]
    corners = shell.vertices_mm[outer_triangles]
    direction = np.asarray(centre_direction, dtype=np.float64)
    direction /= np.linalg.norm(direction)
    centre = direction * _radius(direction[None])[0]
    chosen = np.linalg.norm(corners.mean(axis=1) - centre, axis=1) < radius_mm
    points = sample_on_triangles(corners[chosen], count, rng)
    return points + rng.normal(0.0, noise_mm, points.shape)
