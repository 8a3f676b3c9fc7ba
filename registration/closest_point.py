"""The closest-point field of a surface, built once per surface and passed to every registration.

What ICP asks of a surface, for a query point (mm, surface frame) and its outward direction: the
tangent plane at the closest surface point facing the same way, as a signed distance (positive
outside) and the outward normal. Facing matters on a bone shell: a point digitised on the outer
table has an outward normal opposite to the inner table's, so the inner table is never offered
to it.

The field answers in O(1) per point, from two grids:

- **the band**: near the surface (within ``band_radius_mm``), nodes every ``band_spacing_mm``
  hold the tangent plane at their exact closest surface point (closest vertex by splatting the
  vertices onto the nodes, then the exact closest point of the triangles around it, Ericson
  2005, section 5.1.5). A query takes the plane of its nearest node: exact for a flat surface,
  off by about curvature x (distance to the node)^2 / 2 on a curved one (on the benchmark's
  skull at 1 mm nodes, points within 0.75 mm of the surface: 0.001 mm median, 0.007 mm at the
  99th percentile, 0.03 mm at worst, against the exact distance to the mesh). Nodes live in
  8x8x8 bricks, stored only where the surface passes. A query is answered here when that node
  faces its direction; otherwise (a thin bone whose other table is closer, a fold) it goes to
  the coarse grid, which knows about facing. (Blending the eight nodes around a query
  trilinearly makes the field continuous but costs 2.5x more per query, for no gain in
  registration accuracy.)
- **the coarse grid**: farther out (up to ``margin_mm`` beyond the bounding box, clamped beyond),
  one closest-vertex lookup per direction bin (fourteen cones around the cube's face and corner
  axes, each holding the vertices that can face a direction in it), made with an exact Euclidean
  feature transform (scipy.ndimage.distance_transform_edt) of the voxels holding vertices. The
  answer is the tangent plane at that vertex: a few millimetres off the true closest point, which
  is all the first steps of a registration from afar need; they bring the points into the band.
"""

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np
from scipy import ndimage

from registration.exceptions import RegistrationError
from registration.mesh import as_triangles, as_unit_normals, proper_triangles, vertex_triangles
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
MAX_FIELD_CELLS = 60_000_000
BRICK = 8  # nodes per brick edge (a power of two: node >> 3 is its brick, node & 7 its place)
MAX_BAND_NODES = 80_000_000

# Where a query was answered (TangentPlanes.source).
NOT_FOUND = 0
FROM_BAND = 1
FROM_COARSE = 2


@dataclass(frozen=True)
class FieldSettings:
    """Grids of the closest-point field (mm, rad).

    Coarse grid: ``spacing_mm`` voxel size, ``margin_mm`` how far beyond the surface's bounding
    box it reaches (farther points are clamped to it). Band: nodes every ``band_spacing_mm`` up to
    ``band_radius_mm`` from the surface. ``max_normal_angle_rad``: the largest angle between a
    query direction and a surface normal that still counts as facing.
    """

    spacing_mm: float = 4.0
    margin_mm: float = 30.0
    band_spacing_mm: float = 1.0
    band_radius_mm: float = 2.5
    max_normal_angle_rad: float = math.radians(60.0)

    def __post_init__(self) -> None:
        for name in ("spacing_mm", "band_spacing_mm", "band_radius_mm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise RegistrationError(f"{name} must be > 0 mm; got {value}")
        if not (math.isfinite(self.margin_mm) and self.margin_mm >= 0.0):
            raise RegistrationError(f"margin_mm must be >= 0 mm; got {self.margin_mm}")
        if self.band_radius_mm < self.band_spacing_mm:
            raise RegistrationError(
                f"band_radius_mm ({self.band_radius_mm}) must be at least band_spacing_mm "
                f"({self.band_spacing_mm}): points near the surface need their nearest node in it"
            )
        if not 0.0 < self.max_normal_angle_rad <= math.pi:
            raise RegistrationError(
                f"max_normal_angle_rad must be in (0, pi]; got {self.max_normal_angle_rad}"
            )


class FieldArrays(NamedTuple):
    """The field's grids as plain arrays, for the Numba kernels (see the module docstring).

    Coarse grid: ``coarse_origin`` (3,) mm, ``coarse_spacing`` mm, ``coarse_shape`` (3,) voxels,
    ``lut`` (bins, voxels) closest vertex per bin (-1: none). Mesh: ``vertices``, ``normals``.
    Band: ``band_origin`` (3,) mm of node 0, ``band_spacing`` mm, ``brick_of`` brick number of
    each 8x8x8 block of nodes (-1: none), ``planes`` (bricks x 512, 4) float32 unit normal and
    signed distance (mm) of each node to its tangent plane (NaN: farther than the band); node
    (x, y, z) of brick b is row 512 b + 64 (x % 8) + 8 (y % 8) + z % 8.
    """

    coarse_origin: np.ndarray
    coarse_spacing: float
    coarse_shape: np.ndarray
    lut: np.ndarray
    vertices: np.ndarray
    normals: np.ndarray
    band_origin: np.ndarray
    band_spacing: float
    brick_of: np.ndarray
    planes: np.ndarray
    axes: np.ndarray


@dataclass(frozen=True)
class TangentPlanes:
    """Each query's tangent plane at its closest facing surface point (surface frame).

    ``residuals_mm`` (N,) signed distance from the query to the plane (positive outside),
    ``normals`` (N, 3) unit outward normals, ``source`` (N,) FROM_BAND, FROM_COARSE or
    NOT_FOUND (no facing point within reach: residual and normal NaN).
    """

    residuals_mm: np.ndarray
    normals: np.ndarray
    source: np.ndarray


def _bin_membership(normals: np.ndarray, max_normal_angle_rad: float) -> np.ndarray:
    """Bit b of entry v is set when vertex v can be compatible with a direction in bin b."""
    cone = min(math.pi, BIN_COVER_RAD + max_normal_angle_rad)
    inside = normals @ BIN_AXES.T >= math.cos(cone) - 1e-12
    bits = inside.astype(np.uint16) << np.arange(N_BINS, dtype=np.uint16)
    return bits.sum(axis=1, dtype=np.uint16)


@numba.njit(cache=True, inline="always")
def _bin_of(dx: float, dy: float, dz: float, axes: np.ndarray) -> int:
    """The bin whose axis is closest to the direction (dx, dy, dz)."""
    best, best_dot = 0, -np.inf
    for b in range(axes.shape[0]):
        dot = axes[b, 0] * dx + axes[b, 1] * dy + axes[b, 2] * dz
        if dot > best_dot:
            best, best_dot = b, dot
    return best


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


@numba.njit(cache=True)
def _longest_edge(vertices, triangles) -> float:
    """Length (mm) of the mesh's longest edge."""
    longest = 0.0
    for f in range(triangles.shape[0]):
        for k in range(3):
            a, b = triangles[f, k], triangles[f, (k + 1) % 3]
            d2 = (
                (vertices[a, 0] - vertices[b, 0]) ** 2
                + (vertices[a, 1] - vertices[b, 1]) ** 2
                + (vertices[a, 2] - vertices[b, 2]) ** 2
            )
            longest = max(longest, d2)
    return math.sqrt(longest)


@numba.njit(cache=True, inline="always")
def _node_range(u: float, r: float, count: int) -> tuple[int, int]:
    """Node indices i (0 <= i < count) with |i - u| <= r, as range bounds."""
    return max(math.ceil(u - r), 0), min(math.floor(u + r), count - 1) + 1


@numba.njit(cache=True)
def _mark_bricks(vertices, origin, spacing, reach, brick_shape):
    """Number the bricks holding a node within ``reach`` mm of a vertex (-1 elsewhere)."""
    brick_of = np.full((brick_shape[0], brick_shape[1], brick_shape[2]), -1, dtype=np.int32)
    count = 0
    r = reach / spacing
    for v in range(vertices.shape[0]):
        x0, x1 = _node_range((vertices[v, 0] - origin[0]) / spacing, r, brick_shape[0] * BRICK)
        y0, y1 = _node_range((vertices[v, 1] - origin[1]) / spacing, r, brick_shape[1] * BRICK)
        z0, z1 = _node_range((vertices[v, 2] - origin[2]) / spacing, r, brick_shape[2] * BRICK)
        for bx in range(x0 >> 3, ((x1 - 1) >> 3) + 1):
            for by in range(y0 >> 3, ((y1 - 1) >> 3) + 1):
                for bz in range(z0 >> 3, ((z1 - 1) >> 3) + 1):
                    if brick_of[bx, by, bz] < 0:
                        brick_of[bx, by, bz] = count
                        count += 1
    return brick_of, count


@numba.njit(cache=True)
def _splat_closest_vertices(vertices, used, origin, spacing, reach, brick_of, n_bricks):
    """For every band node, the closest of the ``used`` vertices (indices) within ``reach`` mm
    (-1: none), found by visiting the nodes of a ball around each vertex."""
    per_brick = BRICK * BRICK * BRICK
    best_d2 = np.full(n_bricks * per_brick, (reach / spacing) ** 2)
    best = np.full(n_bricks * per_brick, -1, dtype=np.int32)
    nx, ny, nz = brick_of.shape[0] * BRICK, brick_of.shape[1] * BRICK, brick_of.shape[2] * BRICK
    r = reach / spacing
    for v in used:
        ux = (vertices[v, 0] - origin[0]) / spacing
        uy = (vertices[v, 1] - origin[1]) / spacing
        uz = (vertices[v, 2] - origin[2]) / spacing
        x0, x1 = _node_range(ux, r, nx)
        for ix in range(x0, x1):
            dx2 = (ix - ux) ** 2
            y0, y1 = _node_range(uy, math.sqrt(max(r * r - dx2, 0.0)), ny)
            for iy in range(y0, y1):
                dxy2 = dx2 + (iy - uy) ** 2
                z0, z1 = _node_range(uz, math.sqrt(max(r * r - dxy2, 0.0)), nz)
                for iz in range(z0, z1):
                    d2 = dxy2 + (iz - uz) ** 2  # in node spacings squared
                    brick = brick_of[ix >> 3, iy >> 3, iz >> 3]
                    slot = brick * per_brick + (((ix & 7) * BRICK + (iy & 7)) * BRICK + (iz & 7))
                    if d2 < best_d2[slot]:
                        best_d2[slot] = d2
                        best[slot] = v
    return best


@numba.njit(cache=True)
def _band_planes(
    closest_vertex,
    brick_of,
    origin,
    spacing,
    radius,
    vertices,
    normals,
    triangles,
    tri_start,
    tri_of,
):
    """Tangent plane (unit normal, signed distance of the node) of each band node at its exact
    closest point: on the triangles around its closest vertex, the normal interpolated there.
    Nodes farther than ``radius`` mm from the surface are NaN."""
    n_bricks = closest_vertex.shape[0] // (BRICK * BRICK * BRICK)
    planes = np.full((n_bricks, BRICK, BRICK, BRICK, 4), np.nan, dtype=np.float32)
    corner = np.empty((n_bricks, 3), dtype=np.int64)
    for bx in range(brick_of.shape[0]):
        for by in range(brick_of.shape[1]):
            for bz in range(brick_of.shape[2]):
                b = brick_of[bx, by, bz]
                if b >= 0:
                    corner[b, 0], corner[b, 1], corner[b, 2] = bx * BRICK, by * BRICK, bz * BRICK
    for slot in range(closest_vertex.shape[0]):
        vertex = closest_vertex[slot]
        if vertex < 0:
            continue
        b = slot // (BRICK * BRICK * BRICK)
        lx, ly, lz = (slot // (BRICK * BRICK)) % BRICK, (slot // BRICK) % BRICK, slot % BRICK
        qx = origin[0] + (corner[b, 0] + lx) * spacing
        qy = origin[1] + (corner[b, 1] + ly) * spacing
        qz = origin[2] + (corner[b, 2] + lz) * spacing
        best = np.inf
        px = py = pz = nx = ny = nz = 0.0
        for k in range(tri_start[vertex], tri_start[vertex + 1]):
            f = tri_of[k]
            ia, ib, ic = triangles[f, 0], triangles[f, 1], triangles[f, 2]
            wa, wb, wc = _closest_on_triangle(qx, qy, qz, vertices, ia, ib, ic)
            cx = wa * vertices[ia, 0] + wb * vertices[ib, 0] + wc * vertices[ic, 0]
            cy = wa * vertices[ia, 1] + wb * vertices[ib, 1] + wc * vertices[ic, 1]
            cz = wa * vertices[ia, 2] + wb * vertices[ib, 2] + wc * vertices[ic, 2]
            d2 = (cx - qx) ** 2 + (cy - qy) ** 2 + (cz - qz) ** 2
            if d2 < best:
                best = d2
                px, py, pz = cx, cy, cz
                nx = wa * normals[ia, 0] + wb * normals[ib, 0] + wc * normals[ic, 0]
                ny = wa * normals[ia, 1] + wb * normals[ib, 1] + wc * normals[ic, 1]
                nz = wa * normals[ia, 2] + wb * normals[ib, 2] + wc * normals[ic, 2]
        length = math.sqrt(nx * nx + ny * ny + nz * nz)
        if best > radius * radius or length < 1e-6:  # beyond the band, or a knife edge
            continue
        nx, ny, nz = nx / length, ny / length, nz / length
        plane = planes[b, lx, ly, lz]
        plane[0], plane[1], plane[2] = nx, ny, nz
        plane[3] = nx * (qx - px) + ny * (qy - py) + nz * (qz - pz)
    return planes


@numba.njit(cache=True, inline="always")
def band_plane(qx, qy, qz, dx, dy, dz, origin, spacing, brick_of, planes, cos_max):
    """(ok, signed distance (mm), unit normal) of q from the tangent plane of the band node
    nearest to it; ok is False when that node is beyond the band or does not face the direction
    (dx, dy, dz). ``origin``, ``spacing``, ``brick_of``, ``planes``: the band's arrays (see
    FieldArrays)."""
    per_mm = 1.0 / spacing  # one division, not three
    ux = (qx - origin[0]) * per_mm + 0.5
    uy = (qy - origin[1]) * per_mm + 0.5
    uz = (qz - origin[2]) * per_mm + 0.5
    bx, by, bz = brick_of.shape
    if not (0.0 <= ux < bx * BRICK and 0.0 <= uy < by * BRICK and 0.0 <= uz < bz * BRICK):
        return False, 0.0, 0.0, 0.0, 0.0
    ix, iy, iz = int(ux), int(uy), int(uz)
    brick = brick_of[ix >> 3, iy >> 3, iz >> 3]
    if brick < 0:
        return False, 0.0, 0.0, 0.0, 0.0
    node = brick * BRICK**3 + (((ix & 7) << 6) | ((iy & 7) << 3) | (iz & 7))
    # float32 storage, float64 arithmetic.
    nx, ny, nz = float(planes[node, 0]), float(planes[node, 1]), float(planes[node, 2])
    # NaN (a node beyond the band) fails this test too.
    if not nx * dx + ny * dy + nz * dz >= cos_max:
        return False, 0.0, 0.0, 0.0, 0.0
    # The node's distance to its plane, plus the offset from the node to q along the normal.
    ex, ey, ez = ux - 0.5 - ix, uy - 0.5 - iy, uz - 0.5 - iz
    offset = spacing * (nx * ex + ny * ey + nz * ez)
    return True, float(planes[node, 3]) + offset, nx, ny, nz


@numba.njit(cache=True, inline="always")
def coarse_plane(
    qx, qy, qz, dx, dy, dz, origin, spacing, shape, lut, vertices, normals, cos_max, max_d2
):
    """(ok, signed distance (mm), unit normal) of q from the tangent plane at the coarse grid's
    closest vertex of the direction's bin; ok False when there is none, it does not face the
    direction, or it is farther than sqrt(max_d2) mm."""
    per_mm = 1.0 / spacing
    ix = min(max(math.floor((qx - origin[0]) * per_mm), 0), shape[0] - 1)
    iy = min(max(math.floor((qy - origin[1]) * per_mm), 0), shape[1] - 1)
    iz = min(max(math.floor((qz - origin[2]) * per_mm), 0), shape[2] - 1)
    vertex = lut[_bin_of(dx, dy, dz, BIN_AXES), (ix * shape[1] + iy) * shape[2] + iz]
    if vertex < 0:
        return False, 0.0, 0.0, 0.0, 0.0
    nx, ny, nz = normals[vertex, 0], normals[vertex, 1], normals[vertex, 2]
    ex, ey, ez = qx - vertices[vertex, 0], qy - vertices[vertex, 1], qz - vertices[vertex, 2]
    if nx * dx + ny * dy + nz * dz < cos_max or ex * ex + ey * ey + ez * ez > max_d2:
        return False, 0.0, 0.0, 0.0, 0.0
    return True, nx * ex + ny * ey + nz * ez, nx, ny, nz


@numba.njit(cache=True, inline="always")
def moved_pair(m, points, directions, i):
    """Point i and its direction moved by the 4x4 ``m``."""
    x, y, z = points[i, 0], points[i, 1], points[i, 2]
    u, v, w = directions[i, 0], directions[i, 1], directions[i, 2]
    return (
        m[0, 0] * x + m[0, 1] * y + m[0, 2] * z + m[0, 3],
        m[1, 0] * x + m[1, 1] * y + m[1, 2] * z + m[1, 3],
        m[2, 0] * x + m[2, 1] * y + m[2, 2] * z + m[2, 3],
        m[0, 0] * u + m[0, 1] * v + m[0, 2] * w,
        m[1, 0] * u + m[1, 1] * v + m[1, 2] * w,
        m[2, 0] * u + m[2, 1] * v + m[2, 2] * w,
    )


@numba.njit(cache=True)
def tangent_planes_kernel(points, directions, fixed_from_moving, field, cos_max, max_d2, out):
    """The tangent plane of the closest surface point facing each point's direction, both
    moved by the 4x4 ``fixed_from_moving``: ``out`` (N, 4) gets the signed distance (mm) and
    the normal, or NaN; returns the source of each (FROM_BAND, FROM_COARSE or NOT_FOUND).
    Answers farther than sqrt(max_d2) mm count as not found (by the distance to the plane in
    the band, to the vertex on the coarse grid).

    The field's arrays are taken out of ``field`` once, before the loop: reading them from the
    named tuple inside it costs more than the lookup itself."""
    band_origin, band_spacing, brick_of, planes = (
        field.band_origin,
        field.band_spacing,
        field.brick_of,
        field.planes,
    )
    coarse_origin, coarse_spacing, coarse_shape, lut = (
        field.coarse_origin,
        field.coarse_spacing,
        field.coarse_shape,
        field.lut,
    )
    vertices, normals = field.vertices, field.normals
    m = fixed_from_moving
    source = np.zeros(points.shape[0], dtype=np.int8)
    for i in range(points.shape[0]):
        qx, qy, qz, dx, dy, dz = moved_pair(m, points, directions, i)
        ok, r, nx, ny, nz = band_plane(
            qx, qy, qz, dx, dy, dz, band_origin, band_spacing, brick_of, planes, cos_max
        )
        source[i] = FROM_BAND
        if not ok:
            ok, r, nx, ny, nz = coarse_plane(
                qx, qy, qz, dx, dy, dz, coarse_origin, coarse_spacing, coarse_shape, lut,
                vertices, normals, cos_max, max_d2,
            )  # fmt: skip
            source[i] = FROM_COARSE
        if not ok or r * r > max_d2:
            r = nx = ny = nz = np.nan
            source[i] = NOT_FOUND
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = r, nx, ny, nz
    return source


@numba.njit(cache=True)
def nearest_normals_kernel(points, fixed_from_moving, field):
    """The unit outward normal (N, 3) of the surface nearest to each point moved by the 4x4
    ``fixed_from_moving``, whichever way it faces: the band's plane within the band, else the
    nearest of the coarse grid's closest vertices over all direction bins (every vertex is in
    some bin, so that is the nearest vertex up to a coarse voxel)."""
    band_origin, band_spacing, brick_of, planes = (
        field.band_origin,
        field.band_spacing,
        field.brick_of,
        field.planes,
    )
    coarse_origin, coarse_spacing, shape, lut = (
        field.coarse_origin,
        field.coarse_spacing,
        field.coarse_shape,
        field.lut,
    )
    vertices, normals = field.vertices, field.normals
    m = fixed_from_moving
    out = np.empty((points.shape[0], 3))
    for i in range(points.shape[0]):
        qx, qy, qz, _, _, _ = moved_pair(m, points, points, i)
        ok, _, nx, ny, nz = band_plane(
            qx, qy, qz, 0.0, 0.0, 0.0, band_origin, band_spacing, brick_of, planes, -1.0
        )
        if not ok:
            ix = min(max(math.floor((qx - coarse_origin[0]) / coarse_spacing), 0), shape[0] - 1)
            iy = min(max(math.floor((qy - coarse_origin[1]) / coarse_spacing), 0), shape[1] - 1)
            iz = min(max(math.floor((qz - coarse_origin[2]) / coarse_spacing), 0), shape[2] - 1)
            cell = (ix * shape[1] + iy) * shape[2] + iz
            best = np.inf
            for b in range(lut.shape[0]):
                v = lut[b, cell]
                if v < 0:
                    continue
                d2 = (qx - vertices[v, 0]) ** 2 + (qy - vertices[v, 1]) ** 2
                d2 += (qz - vertices[v, 2]) ** 2
                if d2 < best:
                    best, nx, ny, nz = d2, normals[v, 0], normals[v, 1], normals[v, 2]
        out[i, 0], out[i, 1], out[i, 2] = nx, ny, nz
    return out


class ClosestPointField:
    """The tangent plane of the closest facing surface point, for any point, in O(1).

    Built once per surface (``vertices_mm`` (V, 3), outward unit ``normals`` (V, 3), ``triangles``
    (F, 3); degenerate triangles, as a CT's contour or a decimation can leave, are skipped: see
    ``registration.mesh.proper_triangles``): fourteen int32 coarse grids of the padded bounding
    box at ``settings.spacing_mm``, and float32 planes for the band nodes. ``arrays`` is what
    Numba kernels take.
    """

    def __init__(
        self,
        vertices_mm: np.ndarray,
        normals: np.ndarray,
        triangles: np.ndarray,
        settings: FieldSettings | None = None,
    ) -> None:
        settings = settings or FieldSettings()
        self.settings = settings
        vertices = as_points(vertices_mm, "vertices_mm", 3)
        unit = as_unit_normals(normals, len(vertices), "normals")
        faces = as_triangles(triangles, len(vertices))
        proper = proper_triangles(vertices, faces)
        if not proper.any():
            raise RegistrationError(
                f"none of the {len(faces)} triangles spans a plane (all have coincident or "
                "collinear corners): there is no surface to register to"
            )
        if not proper.all():
            logger.info("closest-point field: %d degenerate triangles skipped", (~proper).sum())
            faces = np.ascontiguousarray(faces[proper])
        self.vertices_mm = vertices
        self.max_normal_angle_rad = settings.max_normal_angle_rad
        coarse_origin, coarse_shape, lut = _coarse_grid(vertices, unit, settings)
        band_origin, brick_of, planes = _band(vertices, unit, faces, settings)
        self.arrays = FieldArrays(
            coarse_origin,
            float(settings.spacing_mm),
            coarse_shape,
            lut,
            vertices,
            unit,
            band_origin,
            float(settings.band_spacing_mm),
            brick_of,
            planes,
            BIN_AXES,
        )
        logger.debug(
            "closest-point field: coarse %s voxels at %.2f mm, band %d bricks at %.2f mm",
            tuple(coarse_shape),
            settings.spacing_mm,
            len(planes) // BRICK**3,
            settings.band_spacing_mm,
        )

    def tangent_planes(
        self, points_mm: np.ndarray, directions: np.ndarray, max_distance_mm: float = math.inf
    ) -> TangentPlanes:
        """The tangent plane of the closest surface point facing each point's unit outward
        ``direction`` (N, 3), both in the surface's frame; answers farther than
        ``max_distance_mm`` count as not found."""
        points = as_points(points_mm, "points_mm")
        unit = np.ascontiguousarray(directions, dtype=np.float64)
        if unit.shape != points.shape:
            raise RegistrationError(
                f"directions must have the shape of the points {points.shape}; got {unit.shape}"
            )
        out = np.empty((len(points), 4))
        source = tangent_planes_kernel(
            points,
            unit,
            np.eye(4),
            self.arrays,
            math.cos(self.max_normal_angle_rad),
            max_distance_mm**2,
            out,
        )
        residuals, normals = out[:, 0].copy(), out[:, 1:].copy()
        return TangentPlanes(residuals, normals, source)

    def nearest_normals(self, points_mm: np.ndarray, fixed_from_moving: np.ndarray) -> np.ndarray:
        """The outward normal (N, 3) of the surface nearest to each point (moving frame) at the
        pose ``fixed_from_moving``, whichever way it faces, in the moving frame: where a patch
        digitised without a stylus axis most likely faces, given a rough pose."""
        points = as_points(points_mm, "points_mm")
        pose = np.ascontiguousarray(fixed_from_moving, dtype=np.float64)
        return nearest_normals_kernel(points, pose, self.arrays) @ pose[:3, :3]


def _coarse_grid(vertices: np.ndarray, normals: np.ndarray, settings: FieldSettings):
    """Origin (3,), shape (3,) and per-bin closest-vertex lookup (bins, voxels) of the coarse
    grid over the bounding box padded by ``margin_mm``."""
    spacing = settings.spacing_mm
    origin = vertices.min(axis=0) - settings.margin_mm
    top = vertices.max(axis=0) + settings.margin_mm
    shape = np.floor((top - origin) / spacing).astype(np.int64) + 1
    if int(np.prod(shape)) > MAX_FIELD_CELLS:
        raise RegistrationError(
            f"a closest-point field of {tuple(shape)} voxels at {spacing} mm is too large "
            f"(limit {MAX_FIELD_CELLS}); use a larger spacing_mm or a smaller margin_mm"
        )
    membership = _bin_membership(normals, settings.max_normal_angle_rad)
    cells = np.minimum(np.floor((vertices - origin) / spacing).astype(np.int64), shape - 1)
    flat = (cells[:, 0] * shape[1] + cells[:, 1]) * shape[2] + cells[:, 2]
    lut = np.full((N_BINS, int(np.prod(shape))), -1, dtype=np.int32)
    for b in range(N_BINS):
        members = np.flatnonzero(membership & (1 << b))
        if members.size == 0:
            continue
        seeds = np.full(int(np.prod(shape)), -1, dtype=np.int32)
        seeds[flat[members]] = members
        nearest = ndimage.distance_transform_edt(
            (seeds < 0).reshape(tuple(shape)), return_distances=False, return_indices=True
        )
        lut[b] = seeds[((nearest[0] * shape[1] + nearest[1]) * shape[2] + nearest[2]).ravel()]
    return origin, shape, lut


def _band(
    vertices: np.ndarray, normals: np.ndarray, triangles: np.ndarray, settings: FieldSettings
):
    """Origin (3,) of node 0, brick numbers and node planes of the band (see the module
    docstring). A surface point is within (longest edge)/sqrt(3) of a vertex of its triangle, so
    splatting the vertices that far beyond the band radius finds every band node's closest
    vertex."""
    spacing = settings.band_spacing_mm
    reach = settings.band_radius_mm + _longest_edge(vertices, triangles) / math.sqrt(3.0)
    origin = vertices.min(axis=0) - reach
    nodes = np.floor((vertices.max(axis=0) + reach - origin) / spacing).astype(np.int64) + 2
    brick_shape = -(-nodes // BRICK)
    brick_of, n_bricks = _mark_bricks(vertices, origin, spacing, reach, brick_shape)
    if n_bricks * BRICK**3 > MAX_BAND_NODES:
        raise RegistrationError(
            f"the band of the closest-point field needs {n_bricks * BRICK**3} nodes at {spacing} "
            f"mm (limit {MAX_BAND_NODES}); use a larger band_spacing_mm"
        )
    # Only vertices of a triangle: a node whose closest vertex has no triangle would get no plane.
    used = np.flatnonzero(np.bincount(triangles.ravel(), minlength=len(vertices)))
    closest_vertex = _splat_closest_vertices(
        vertices, used, origin, spacing, reach, brick_of, n_bricks
    )
    incidence = vertex_triangles(triangles, len(vertices))
    planes = _band_planes(
        closest_vertex,
        brick_of,
        origin,
        spacing,
        settings.band_radius_mm,
        vertices,
        normals,
        triangles,
        incidence.start,
        incidence.triangles,
    )
    return origin, brick_of, planes.reshape(-1, 4)
