"""Triangle-mesh helpers the closest-point field needs: checked arrays, vertex normals and the
triangles around each vertex; and area-uniform sampling of points on triangles (a simulated
stylus sweep).

A mesh is ``vertices`` ``(V, 3)`` float64 in mm and ``triangles`` ``(F, 3)`` int vertex indices.
"""

import math
from dataclasses import dataclass

import numba
import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_points


def as_triangles(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """Return ``triangles`` as a C-contiguous ``(F, 3)`` int64 array of valid vertex indices."""
    array = np.asarray(triangles)
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
        raise RegistrationError(f"triangles must have shape (F, 3) with F >= 1; got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise RegistrationError(f"triangles must hold integer vertex indices; got {array.dtype}")
    if array.min() < 0 or array.max() >= n_vertices:
        raise RegistrationError(
            f"triangles refer to vertices {array.min()}..{array.max()}, but there are only "
            f"{n_vertices} vertices"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def as_unit_normals(normals: np.ndarray, count: int, name: str = "normals") -> np.ndarray:
    """Return ``(count, 3)`` normals scaled to unit length; raise on zero or non-finite rows."""
    array = as_points(normals, name)
    if array.shape[0] != count:
        raise RegistrationError(
            f"{name} must have one row per point ({count}); got {array.shape[0]}"
        )
    lengths = np.linalg.norm(array, axis=1)
    if not np.all(lengths > 1e-12):
        raise RegistrationError(
            f"{name} has {int(np.sum(~(lengths > 1e-12)))} zero-length rows: every point needs a "
            "direction"
        )
    return np.ascontiguousarray(array / lengths[:, None])


# Triangles whose corners turn by less than this sine are treated as segments (no plane).
MIN_CORNER_SINE = 1e-6


def proper_triangles(vertices_mm: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Mask ``(F,)`` of the triangles that span a plane: True unless two corners coincide or the
    three are (within MIN_CORNER_SINE) on a line. A degenerate triangle has no normal and no
    interior, and closest-point formulas divide by its area; every point of it also lies on an
    edge of its proper neighbours, so dropping it loses nothing of the surface."""
    return _proper_kernel(
        np.ascontiguousarray(vertices_mm, dtype=np.float64),
        np.ascontiguousarray(triangles, dtype=np.int64),
        MIN_CORNER_SINE,
    )


@numba.njit(cache=True)
def _proper_kernel(vertices, triangles, min_sine):
    """|ab x ac| > min_sine |ab| |ac| for each triangle (a, b, c), in one pass."""
    out = np.empty(triangles.shape[0], dtype=np.bool_)
    for f in range(triangles.shape[0]):
        a, b, c = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        abx, aby = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1]
        abz = vertices[b, 2] - vertices[a, 2]
        acx, acy = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1]
        acz = vertices[c, 2] - vertices[a, 2]
        cx, cy, cz = aby * acz - abz * acy, abz * acx - abx * acz, abx * acy - aby * acx
        twice_area = math.sqrt(cx * cx + cy * cy + cz * cz)
        ab = math.sqrt(abx * abx + aby * aby + abz * abz)
        ac = math.sqrt(acx * acx + acy * acy + acz * acz)
        out[f] = twice_area > min_sine * ab * ac
    return out


def vertex_normals(vertices_mm: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)``, oriented by the triangles' winding
    (counter-clockwise seen from outside gives outward normals). Unused vertices get NaN."""
    vertices = as_points(vertices_mm, "vertices_mm", 3)
    faces = as_triangles(triangles, len(vertices))
    corners = vertices[faces]
    # The cross product's length is twice the area: summing it weights each face by its area.
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return normals / lengths


@numba.njit(cache=True, nogil=True)
def _incidence_kernel(triangles: np.ndarray, n_vertices: int):
    counts = np.zeros(n_vertices + 1, dtype=np.int64)
    for f in range(triangles.shape[0]):
        for c in range(3):
            counts[triangles[f, c] + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    faces = np.empty(start[-1], dtype=np.int64)
    for f in range(triangles.shape[0]):
        for c in range(3):
            v = triangles[f, c]
            faces[fill[v]] = f
            fill[v] += 1
    return start, faces


@dataclass(frozen=True)
class VertexTriangles:
    """The triangles around every vertex, in compressed rows: the triangles with vertex v as a
    corner are ``triangles[start[v]:start[v + 1]]``."""

    start: np.ndarray
    triangles: np.ndarray


def vertex_triangles(triangles: np.ndarray, n_vertices: int) -> VertexTriangles:
    """The indices of the triangles around every vertex."""
    start, faces = _incidence_kernel(as_triangles(triangles, n_vertices), n_vertices)
    return VertexTriangles(start, faces)


def sample_on_triangles(corners_mm: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points spread uniformly by area over the triangles given by their ``(F, 3, 3)``
    corners (mm): see ``barycentric_samples``."""
    picked, u, v = barycentric_samples(corners_mm, count, rng)
    corners = np.asarray(corners_mm, dtype=np.float64)[picked]
    return (
        corners[:, 0]
        + u[:, None] * (corners[:, 1] - corners[:, 0])
        + v[:, None] * (corners[:, 2] - corners[:, 0])
    )


def barycentric_samples(
    corners_mm: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where ``count`` points spread uniformly by area over the triangles of ``(F, 3, 3)``
    corners (mm) fall: the triangle of each (F indices) and its barycentric weights u, v of the
    second and third corners. A triangle is picked with probability proportional to its area,
    then a point in it from two uniform barycentric coordinates, reflected back into the
    triangle when they sum past 1 (Turk 1990, "Generating random points in triangles", Graphics
    Gems)."""
    corners = np.asarray(corners_mm, dtype=np.float64)
    if corners.ndim != 3 or corners.shape[1:] != (3, 3) or corners.shape[0] == 0:
        raise RegistrationError(
            f"corners_mm must have shape (F, 3, 3), F >= 1; got {corners.shape}"
        )
    areas = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    if not areas.sum() > 0.0:
        raise RegistrationError("the triangles have no area to sample points on")
    picked = rng.choice(len(corners), count, p=areas / areas.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1.0
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    return picked, u, v
