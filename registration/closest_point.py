"""Closest-point structures of a surface, built once per surface and passed to every registration.

Both structures answer the same question: for each query point (mm, in the surface's frame) and
its outward direction, which surface point is the closest among those facing the same way, its
normal, and at what squared distance. Facing matters on a bone shell: a point digitised on the
outer table has an outward normal opposite to the inner table's, so the inner table is never
offered to it.

- ``ClosestPointField``: a precomputed closest-vertex field over the surface's bounding volume,
  one per direction bin (fourteen cones around the cube's face and corner axes), made with an
  exact Euclidean feature transform (scipy.ndimage.distance_transform_edt) of the voxels holding
  vertices; a query is an O(1) lookup followed by a greedy descent along the mesh edges to the
  locally closest vertex (Numba). This is the fast path.
  The walk's vertex is then refined onto its triangles: the exact closest point of the
  triangles around it, with the normal interpolated there.
- ``KdTreeClosestPoints``: scipy's cKDTree with a scan of the k nearest vertices; the fallback
  for point surfaces without triangles (the answer is a vertex and its normal).
"""

import logging
import math
from dataclasses import dataclass
from typing import Protocol

import numba
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from registration.exceptions import RegistrationError
from registration.mesh import (
    as_triangles,
    as_unit_normals,
    vertex_adjacency,
    vertex_triangles,
)
from registration.transforms import as_points

logger = logging.getLogger(__name__)

# Fourteen direction bins: the axes of the cube's faces and corners. Every direction is within
# BIN_COVER_RAD (36.1 deg, the angle from an edge-centre-like direction to its nearest bin axis)
# of one of them (test_closest_point checks it).
BIN_AXES = np.array(
    [[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [0, 0, -1.0]]
    + [[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)]
)
BIN_AXES /= np.linalg.norm(BIN_AXES, axis=1, keepdims=True)
N_BINS = len(BIN_AXES)
BIN_COVER_RAD = math.radians(36.2)
MAX_WALK_STEPS = 256
MAX_FIELD_CELLS = 60_000_000


@dataclass(frozen=True)
class SurfaceMatches:
    """The closest facing surface point of each query point (surface frame, mm).

    ``points_mm`` (N, 3) and unit ``normals`` (N, 3) at those points, ``sq_dists_mm2`` (N,)
    squared distances, ``vertices`` (N,) the mesh vertex nearest to each match (a good hint for
    the next query of a point that moved a little); where no facing point exists, ``found`` is
    False, the distance infinite, the point and normal NaN and the vertex -1.
    """

    points_mm: np.ndarray
    normals: np.ndarray
    sq_dists_mm2: np.ndarray
    found: np.ndarray
    vertices: np.ndarray


class ClosestPointIndex(Protocol):
    """What a registration needs from a surface: its vertices (mm, surface frame), the largest
    angle between a query direction and a surface normal that still counts as facing, and the
    closest facing surface point of each query."""

    vertices_mm: np.ndarray
    max_normal_angle_rad: float

    def closest(
        self,
        points_mm: np.ndarray,
        directions: np.ndarray | None,
        hints: np.ndarray | None = None,
    ) -> SurfaceMatches:
        """Closest surface point facing each point's unit outward ``direction`` (None: any).

        ``hints`` (N,) are vertices near the answers (``SurfaceMatches.vertices`` of a previous
        query of nearly the same points, -1 for none); a structure may use them to start its
        search (a greedy search may then settle in another local minimum for a rare point)."""
        ...


@dataclass(frozen=True)
class FieldSettings:
    """Grid of the closest-point field: ``spacing_mm`` voxel size, ``margin_mm`` how far beyond
    the surface's bounding box queries are answered from the grid (farther points are clamped
    to the grid and then refined by the walk), ``max_normal_angle_rad`` the largest angle between
    a query direction and a vertex normal that can still be a correspondence."""

    spacing_mm: float = 3.0
    margin_mm: float = 30.0
    max_normal_angle_rad: float = math.radians(60.0)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.spacing_mm) and self.spacing_mm > 0.0):
            raise RegistrationError(f"spacing_mm must be > 0 mm; got {self.spacing_mm}")
        if not (math.isfinite(self.margin_mm) and self.margin_mm >= 0.0):
            raise RegistrationError(f"margin_mm must be >= 0 mm; got {self.margin_mm}")
        if not 0.0 < self.max_normal_angle_rad <= math.pi:
            raise RegistrationError(
                f"max_normal_angle_rad must be in (0, pi]; got {self.max_normal_angle_rad}"
            )


def _bin_membership(normals: np.ndarray, max_normal_angle_rad: float) -> np.ndarray:
    """Bit b of entry v is set when vertex v can be compatible with a direction in bin b."""
    cone = min(math.pi, BIN_COVER_RAD + max_normal_angle_rad)
    inside = normals @ BIN_AXES.T >= math.cos(cone) - 1e-12
    bits = inside.astype(np.uint16) << np.arange(N_BINS, dtype=np.uint16)
    return bits.sum(axis=1, dtype=np.uint16)


@numba.njit(cache=True)
def _bin_of(dx: float, dy: float, dz: float, axes: np.ndarray) -> int:
    """The bin whose axis is closest to the direction (dx, dy, dz)."""
    best, best_dot = 0, -np.inf
    for b in range(axes.shape[0]):
        dot = axes[b, 0] * dx + axes[b, 1] * dy + axes[b, 2] * dz
        if dot > best_dot:
            best, best_dot = b, dot
    return best


@numba.njit(cache=True, inline="always")
def _walk(qx, qy, qz, start, bit, vertices, membership, adj_start, adj):
    """Greedy descent along mesh edges from ``start`` to a vertex (in the bin) closest to q."""
    best = start
    dx = vertices[best, 0] - qx
    dy = vertices[best, 1] - qy
    dz = vertices[best, 2] - qz
    best_d2 = dx * dx + dy * dy + dz * dz
    for _ in range(MAX_WALK_STEPS):
        current = best
        for k in range(adj_start[current], adj_start[current + 1]):
            u = adj[k]
            if membership[u] & bit == 0:
                continue
            dx = vertices[u, 0] - qx
            dy = vertices[u, 1] - qy
            dz = vertices[u, 2] - qz
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < best_d2:
                best, best_d2 = u, d2
        if best == current:
            break
    return best, best_d2


@numba.njit(cache=True, inline="always")
def _closest_on_triangle(qx, qy, qz, vertices, a, b, c):
    """Closest point of triangle (a, b, c) to q as barycentric weights (wa, wb, wc).

    The Voronoi-region test of Ericson 2005, Real-Time Collision Detection, section 5.1.5.
    """
    abx, aby, abz = (
        vertices[b, 0] - vertices[a, 0],
        vertices[b, 1] - vertices[a, 1],
        vertices[b, 2] - vertices[a, 2],
    )
    acx, acy, acz = (
        vertices[c, 0] - vertices[a, 0],
        vertices[c, 1] - vertices[a, 1],
        vertices[c, 2] - vertices[a, 2],
    )
    apx, apy, apz = qx - vertices[a, 0], qy - vertices[a, 1], qz - vertices[a, 2]
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return 1.0, 0.0, 0.0
    bpx, bpy, bpz = qx - vertices[b, 0], qy - vertices[b, 1], qz - vertices[b, 2]
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return 0.0, 1.0, 0.0
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3)
        return 1.0 - v, v, 0.0
    cpx, cpy, cpz = qx - vertices[c, 0], qy - vertices[c, 1], qz - vertices[c, 2]
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return 0.0, 0.0, 1.0
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        w = d2 / (d2 - d6)
        return 1.0 - w, 0.0, w
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return 0.0, 1.0 - w, w
    denominator = 1.0 / (va + vb + vc)
    v = vb * denominator
    w = vc * denominator
    return 1.0 - v - w, v, w


@numba.njit(cache=True, inline="always")
def _refine_on_triangles(qx, qy, qz, vertex, vertices, normals, triangles, tri_start, tri_of, out):
    """Closest point to q on the triangles around ``vertex``; writes point, interpolated unit
    normal into ``out[0:3]``, ``out[3:6]`` and returns the squared distance."""
    best = np.inf
    for k in range(tri_start[vertex], tri_start[vertex + 1]):
        f = tri_of[k]
        a, b, c = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        wa, wb, wc = _closest_on_triangle(qx, qy, qz, vertices, a, b, c)
        px = wa * vertices[a, 0] + wb * vertices[b, 0] + wc * vertices[c, 0]
        py = wa * vertices[a, 1] + wb * vertices[b, 1] + wc * vertices[c, 1]
        pz = wa * vertices[a, 2] + wb * vertices[b, 2] + wc * vertices[c, 2]
        d2 = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
        if d2 < best:
            best = d2
            out[0], out[1], out[2] = px, py, pz
            for axis in range(3):
                out[3 + axis] = (
                    wa * normals[a, axis] + wb * normals[b, axis] + wc * normals[c, axis]
                )
    length = math.sqrt(out[3] ** 2 + out[4] ** 2 + out[5] ** 2)
    if length > 0.0:
        for axis in range(3):
            out[3 + axis] /= length
    else:  # opposite normals cancelled (a knife edge): the vertex normal will do
        for axis in range(3):
            out[3 + axis] = normals[vertex, axis]
    return best


@numba.njit(cache=True)
def _field_query(
    points,
    directions,
    origin,
    spacing,
    shape,
    lut,
    vertices,
    normals,
    membership,
    adj_start,
    adj,
    triangles,
    tri_start,
    tri_of,
    axes,
    hints,
    hint_radius2,
):
    n = points.shape[0]
    closest = np.full((n, 3), np.nan)
    closest_normals = np.full((n, 3), np.nan)
    sq_dists = np.full(n, np.inf)
    found = np.zeros(n, dtype=np.bool_)
    nearest = np.full(n, -1, dtype=np.int64)
    oriented = directions.shape[0] == n
    hinted = hints.shape[0] == n
    nx, ny, nz = shape[0], shape[1], shape[2]
    scratch = np.empty(6)
    for i in range(n):
        qx, qy, qz = points[i, 0], points[i, 1], points[i, 2]
        if not (math.isfinite(qx) and math.isfinite(qy) and math.isfinite(qz)):
            continue
        ix = min(max(math.floor((qx - origin[0]) / spacing), 0), nx - 1)
        iy = min(max(math.floor((qy - origin[1]) / spacing), 0), ny - 1)
        iz = min(max(math.floor((qz - origin[2]) / spacing), 0), nz - 1)
        cell = (ix * ny + iy) * nz + iz
        first, last = 0, axes.shape[0]
        if oriented:
            first = _bin_of(directions[i, 0], directions[i, 1], directions[i, 2], axes)
            last = first + 1
        for b in range(first, last):
            start = lut[b, cell]
            if hinted and oriented and hints[i] >= 0 and membership[hints[i]] & (1 << b) != 0:
                h = hints[i]
                dh = (
                    (vertices[h, 0] - qx) ** 2
                    + (vertices[h, 1] - qy) ** 2
                    + (vertices[h, 2] - qz) ** 2
                )
                if dh < hint_radius2:
                    start = h
            if start < 0:
                continue
            v, _ = _walk(
                qx,
                qy,
                qz,
                start,
                np.uint16(1 << b),
                vertices,
                membership,
                adj_start,
                adj,
            )
            d2 = _refine_on_triangles(
                qx, qy, qz, v, vertices, normals, triangles, tri_start, tri_of, scratch
            )
            if d2 < sq_dists[i]:
                sq_dists[i] = d2
                found[i] = True
                nearest[i] = v
                for axis in range(3):
                    closest[i, axis] = scratch[axis]
                    closest_normals[i, axis] = scratch[3 + axis]
    return closest, closest_normals, sq_dists, found, nearest


class ClosestPointField:
    """Closest facing vertex of any point near a triangle mesh in O(1) plus a short walk.

    Built once per surface (``vertices_mm`` (V, 3), outward unit ``normals`` (V, 3), ``triangles``
    (F, 3)); memory is fourteen int32 grids of the padded bounding box at
    ``settings.spacing_mm``.
    """

    def __init__(
        self,
        vertices_mm: np.ndarray,
        normals: np.ndarray,
        triangles: np.ndarray,
        settings: FieldSettings | None = None,
    ) -> None:
        settings = settings or FieldSettings()
        self.vertices_mm = as_points(vertices_mm, "vertices_mm", 3)
        self.normals = as_unit_normals(normals, len(self.vertices_mm), "normals")
        self.max_normal_angle_rad = settings.max_normal_angle_rad
        self._triangles = as_triangles(triangles, len(self.vertices_mm))
        adjacency = vertex_adjacency(self._triangles, len(self.vertices_mm))
        self._adj_start, self._adj = adjacency.start, adjacency.neighbours
        incidence = vertex_triangles(self._triangles, len(self.vertices_mm))
        self._tri_start, self._tri_of = incidence.start, incidence.neighbours
        self._membership = _bin_membership(self.normals, settings.max_normal_angle_rad)
        spacing = settings.spacing_mm
        self._origin = self.vertices_mm.min(axis=0) - settings.margin_mm
        top = self.vertices_mm.max(axis=0) + settings.margin_mm
        shape = np.floor((top - self._origin) / spacing).astype(np.int64) + 1
        if int(np.prod(shape)) > MAX_FIELD_CELLS:
            raise RegistrationError(
                f"a closest-point field of {tuple(shape)} voxels at {spacing} mm is too large "
                f"(limit {MAX_FIELD_CELLS}); use a larger spacing_mm or a smaller margin_mm"
            )
        self._spacing = float(spacing)
        self._shape = shape
        cells = np.floor((self.vertices_mm - self._origin) / spacing).astype(np.int64)
        cells = np.minimum(cells, shape - 1)
        flat = (cells[:, 0] * shape[1] + cells[:, 1]) * shape[2] + cells[:, 2]
        self._lut = np.full((N_BINS, int(np.prod(shape))), -1, dtype=np.int32)
        for b in range(N_BINS):
            members = np.flatnonzero(self._membership & (1 << b))
            if members.size == 0:
                continue
            seeds = np.full(int(np.prod(shape)), -1, dtype=np.int32)
            seeds[flat[members]] = members
            nearest = ndimage.distance_transform_edt(
                (seeds < 0).reshape(tuple(shape)),
                return_distances=False,
                return_indices=True,
            )
            flat_nearest = (nearest[0] * shape[1] + nearest[1]) * shape[2] + nearest[2]
            self._lut[b] = seeds[flat_nearest.ravel()]
        logger.debug("closest-point field %s voxels at %.2f mm", tuple(shape), spacing)

    def closest(
        self,
        points_mm: np.ndarray,
        directions: np.ndarray | None,
        hints: np.ndarray | None = None,
    ) -> SurfaceMatches:
        """See ``ClosestPointIndex.closest``: the walk's vertex refined onto its triangles. The
        walk starts at the hint when it is within two voxels of the point (one or two steps
        instead of a few)."""
        points = as_points(points_mm, "points_mm", check_finite=False)
        unit = _as_directions(directions, points.shape)
        start_at = _NO_HINTS if hints is None else np.ascontiguousarray(hints, dtype=np.int64)
        if start_at.shape not in ((0,), (len(points),)):
            raise RegistrationError(f"hints must have shape ({len(points)},); got {start_at.shape}")
        return SurfaceMatches(
            *_field_query(
                points,
                unit,
                self._origin,
                self._spacing,
                self._shape,
                self._lut,
                self.vertices_mm,
                self.normals,
                self._membership,
                self._adj_start,
                self._adj,
                self._triangles,
                self._tri_start,
                self._tri_of,
                BIN_AXES,
                start_at,
                (2.0 * self._spacing) ** 2,
            )
        )


_NO_HINTS = np.empty(0, dtype=np.int64)


def _as_directions(directions: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Query directions as a C-contiguous float64 array (empty for None)."""
    if directions is None:
        return np.empty((0, 3))
    unit = np.ascontiguousarray(directions, dtype=np.float64)
    if unit.shape != shape:
        raise RegistrationError(
            f"directions must have the shape of the points {shape}; got {unit.shape}"
        )
    return unit


class KdTreeClosestPoints:
    """Closest facing vertex by a k-nearest scan in a cKDTree of the vertices (no triangles
    needed). Exact when one of the ``k`` nearest vertices faces the query direction within
    ``max_normal_angle_rad``; otherwise it returns the nearest vertex (which a registration then
    rejects for its normal)."""

    def __init__(
        self,
        vertices_mm: np.ndarray,
        normals: np.ndarray,
        max_normal_angle_rad: float = math.radians(60.0),
        k: int = 16,
    ) -> None:
        self.vertices_mm = as_points(vertices_mm, "vertices_mm", 3)
        self.normals = as_unit_normals(normals, len(self.vertices_mm), "normals")
        if not 0.0 < max_normal_angle_rad <= math.pi:
            raise RegistrationError(
                f"max_normal_angle_rad must be in (0, pi]; got {max_normal_angle_rad}"
            )
        if k < 1:
            raise RegistrationError(f"k must be >= 1; got {k}")
        self.max_normal_angle_rad = max_normal_angle_rad
        self._k = min(k, len(self.vertices_mm))
        self._tree = cKDTree(self.vertices_mm)

    def closest(
        self,
        points_mm: np.ndarray,
        directions: np.ndarray | None,
        hints: np.ndarray | None = None,
    ) -> SurfaceMatches:
        """See ``ClosestPointIndex.closest``: the closest facing vertex and its normal (hints are
        not needed by a tree)."""
        points = as_points(points_mm, "points_mm")
        unit = _as_directions(directions, points.shape)
        if directions is None:
            distances, indices = self._tree.query(points, k=1)
            return self._matches(indices, distances)
        distances, indices = self._tree.query(points, k=self._k)
        distances = distances.reshape(len(points), self._k)
        indices = indices.reshape(len(points), self._k)
        facing = (
            np.einsum("nkj,nj->nk", self.normals[indices], unit)
            >= math.cos(self.max_normal_angle_rad) - 1e-12
        )
        choice = np.where(facing.any(axis=1), np.argmax(facing, axis=1), 0)
        rows = np.arange(len(points))
        return self._matches(indices[rows, choice], distances[rows, choice])

    def _matches(self, indices: np.ndarray, distances: np.ndarray) -> SurfaceMatches:
        return SurfaceMatches(
            self.vertices_mm[indices],
            self.normals[indices],
            distances**2,
            np.ones(len(indices), dtype=bool),
            indices.astype(np.int64),
        )
