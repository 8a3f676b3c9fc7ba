"""Outward normals of a digitised patch of points (no mesh): what ICP needs to tell the outer
surface of a bone from the inner one, and one face of a thin process from the other.

Each point gets the normal of the plane fitted (principal component analysis: the eigenvector of
the smallest eigenvalue of the local covariance; Hoppe et al. 1992, SIGGRAPH, section 3.2) to
the points in a cubic window around it. Windows are the 2x2x2 blocks of cells of a voxel hash
of the points around a cell corner, each point taking the window of the corner nearest to it
(so it lies within a quarter of the window of its centre along each axis), and the cost is
linear in the number of points. The window follows the point spacing: it holds about
WINDOW_POINTS points (a dense sweep gets a small window, which also follows a curved bone; a
sparse one a larger window), between MIN_WINDOW_MM and the caller's largest, and no more than
about MAX_WINDOWS windows cover the patch. (A 3x3x3 block around each point's own cell centres
the points better, within a sixth of the window, and its normals are about 1 degree closer to
a sphere's; but it reads 27 cells per window instead of 8, for about twice as many windows:
twice the time, for the same registrations on the real-CT benchmark.)

A patch does not know by itself which side is outside: each point comes with an outward hint, a
direction its normal should agree with (the stylus axis, from the tip towards the handle, when
it was digitised; the approach direction; the surface normal at an initial pose; or the
direction away from the centre of the anatomy). The hints of a window vote on its normal's
sign, so a few wrong hints do not flip it. A hint may also be known to lie within a cone around
the true normal (a stylus is held within some 30-45 degrees of the surface normal): a fitted
normal outside its point's cone (a window across a ridge, a sparse sweep over a thin process)
is then replaced by the hint itself.

The whole estimate is one Numba kernel with scalar arithmetic only (no array allocated per
hash cell): ICP calls it once per registration, inside a budget of a fraction of a millisecond.
"""

import math

import numba
import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_points

MIN_WINDOW_POINTS = 5
# The adaptive window holds about this many points (the plane fit of ~30 points with 0.3 mm of
# noise is good to a few degrees) ...
WINDOW_POINTS = 30.0
# ... and is at least this wide (mm): below it, a stylus's own noise is a fair share of the window;
MIN_WINDOW_MM = 3.0
# ... and wide enough that the patch has at most about this many windows (each costs a plane fit:
# a dense sweep of 10,000 points gets windows of ~40 points, not 30).
MAX_WINDOWS = 1500.0
# Occupied cells of a hash laid over a surface, per cell face area of the surface (a plane
# crossing a cubic grid meets |nx| + |ny| + |nz| cells per cell area, 1.5 on average).
CELLS_PER_AREA = 1.5
MAX_HASH_CELLS = 8_000_000
DEFAULT_MAX_WINDOW_MM = 20.0
# Rows of the per-cell sums and windows are numbered in int32 (4 bytes per cell of the hash).
MAX_PATCH_POINTS = 2**31 - 2
# Relative gap (to the largest eigenvalue's magnitude) below which two eigenvalues count as one.
EIGENVALUE_SEPARATION = 1e-12
# Points are on a line (or at a spot) when their middle eigenvalue is below this fraction of the
# largest (tested as the sum of the two smaller ones, see _is_line).
LINE_EIGENVALUE_RATIO = 1e-9

_OK = 0
_NON_FINITE_POINTS = 1
_NON_FINITE_OUTWARD = 2
_LINE = 3
_OVERFLOW = 4

_STATUS_MESSAGES = {
    _NON_FINITE_POINTS: "points_mm contains NaN or infinite coordinates",
    _NON_FINITE_OUTWARD: "outward_hints contains NaN or infinite values",
    _LINE: "the points lie on a line or at one spot: a surface patch needs points spread in "
    "two directions",
    _OVERFLOW: "points_mm spans more than float64 can hold (coordinates over ~1e308 mm)",
}


@numba.njit(cache=True, inline="always")
def _distinct(lower, upper, scale):
    """True when the eigenvalues ``lower <= upper`` are separated relative to ``scale``."""
    return upper - lower > EIGENVALUE_SEPARATION * max(abs(scale), 1e-300)


@numba.njit(cache=True, inline="always")
def _is_line(a00, a01, a02, a11, a12, a22, largest):
    """True when the covariance (a00 .. a22, ``largest`` eigenvalue) is that of points on a line
    or at a spot: the sum of its principal 2x2 minors, l1 l2 + l1 l3 + l2 l3 ~ largest (l1 + l2),
    is under LINE_EIGENVALUE_RATIO largest^2. The minors are exact to rounding, whereas the two
    smaller eigenvalues from the cubic are only good to sqrt(machine epsilon) largest when they
    coincide, as they do for a line."""
    minors = a00 * a11 - a01 * a01 + a00 * a22 - a02 * a02 + a11 * a22 - a12 * a12
    return minors <= LINE_EIGENVALUE_RATIO * largest * largest


@numba.njit(cache=True, inline="always")
def _null_direction(a00, a01, a02, a11, a12, a22):
    """Unit vector spanning the null space of the rank-2 symmetric matrix (a00 .. a22): the
    longest cross product of two of its rows, which is orthogonal to all three. Zero vector
    when every cross product vanishes (rank below 2)."""
    best = 0.0
    x = y = z = 0.0
    # Rows r0 = (a00, a01, a02), r1 = (a01, a11, a12), r2 = (a02, a12, a22).
    cx, cy, cz = a01 * a12 - a02 * a11, a02 * a01 - a00 * a12, a00 * a11 - a01 * a01  # r0 x r1
    norm2 = cx * cx + cy * cy + cz * cz
    if norm2 > best:
        best, x, y, z = norm2, cx, cy, cz
    cx, cy, cz = a01 * a22 - a02 * a12, a02 * a02 - a00 * a22, a00 * a12 - a01 * a02  # r0 x r2
    norm2 = cx * cx + cy * cy + cz * cz
    if norm2 > best:
        best, x, y, z = norm2, cx, cy, cz
    cx, cy, cz = a11 * a22 - a12 * a12, a12 * a02 - a01 * a22, a01 * a12 - a11 * a02  # r1 x r2
    norm2 = cx * cx + cy * cy + cz * cz
    if norm2 > best:
        best, x, y, z = norm2, cx, cy, cz
    if best == 0.0:
        return 0.0, 0.0, 0.0
    scale = 1.0 / math.sqrt(best)
    return x * scale, y * scale, z * scale


@numba.njit(cache=True, inline="always")
def _perpendicular(x, y, z):
    """A unit vector orthogonal to the unit vector (x, y, z): its cross product with the
    coordinate axis it is least aligned with."""
    ax, ay, az = abs(x), abs(y), abs(z)
    if ax <= ay and ax <= az:
        px, py, pz = 0.0, z, -y  # (x, y, z) x e_x
    elif ay <= az:
        px, py, pz = -z, 0.0, x  # (x, y, z) x e_y
    else:
        px, py, pz = y, -x, 0.0  # (x, y, z) x e_z
    scale = 1.0 / math.sqrt(px * px + py * py + pz * pz)
    return px * scale, py * scale, pz * scale


@numba.njit(cache=True, inline="always")
def smallest_eigenvector(
    a00: float, a01: float, a02: float, a11: float, a12: float, a22: float
) -> tuple[float, float, float, float, float, float]:
    """Unit eigenvector ``(x, y, z)`` of the smallest eigenvalue of the symmetric 3x3 matrix with
    upper entries a00 .. a22, followed by its three eigenvalues in ascending order, as a tuple
    of six floats. The eigenvalues are the trigonometric solution of the characteristic cubic
    (Smith 1961, Comm. ACM 4(4):168); the vector is a cross product of two rows of
    (A - smallest I). When the smallest eigenvalue is double (a line, a tube) the vector is any
    unit vector orthogonal to the largest eigenvalue's eigenvector; when all three coincide, it
    is (1, 0, 0). Callers test the eigenvalues to tell these cases from a plane. The eigenvalues
    are good to about 1e-16 times the largest, except two that (nearly) coincide: those only to
    about 1e-8 times the largest (the cubic's double root)."""
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    q = (a00 + a11 + a22) * (1.0 / 3.0)
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * p1
    if p2 <= 0.0:
        return 1.0, 0.0, 0.0, q, q, q
    p = math.sqrt(p2 * (1.0 / 6.0))
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    r = min(max(det / (2.0 * p * p * p), -1.0), 1.0)
    phi = math.acos(r) * (1.0 / 3.0)
    largest = q + 2.0 * p * math.cos(phi)
    smallest = q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)
    middle = 3.0 * q - largest - smallest
    if _distinct(smallest, middle, largest):
        x, y, z = _null_direction(a00 - smallest, a01, a02, a11 - smallest, a12, a22 - smallest)
        if x != 0.0 or y != 0.0 or z != 0.0:
            return x, y, z, smallest, middle, largest
    if _distinct(middle, largest, largest):
        x, y, z = _null_direction(a00 - largest, a01, a02, a11 - largest, a12, a22 - largest)
        if x != 0.0 or y != 0.0 or z != 0.0:
            x, y, z = _perpendicular(x, y, z)
            return x, y, z, smallest, middle, largest
    return 1.0, 0.0, 0.0, smallest, middle, largest


@numba.njit(cache=True, inline="always")
def _window_moments(sums, row_of_cell, offsets, corner, moments, k):
    """Write to row k of ``moments`` the point count, the mean (3), the covariance (6 upper
    entries) and the summed outward hints (3) of the points in the window of ``corner``: the
    cells at index ``corner + offsets`` of the hash (``row_of_cell``: each cell's row of
    ``sums``; row 0, that of the empty cells, is zero, so no cell needs a test). A row of
    ``sums`` holds the count, the sum of p and of the upper entries of p p^T of the cell's
    points, p being their scaled offsets from the patch centre, then the sum of their hints."""
    count = sx = sy = sz = sxx = sxy = sxz = syy = syz = szz = hx = hy = hz = 0.0
    for o in range(offsets.shape[0]):
        c = row_of_cell[corner + offsets[o]]
        count += sums[c, 0]
        sx += sums[c, 1]
        sy += sums[c, 2]
        sz += sums[c, 3]
        sxx += sums[c, 4]
        sxy += sums[c, 5]
        sxz += sums[c, 6]
        syy += sums[c, 7]
        syz += sums[c, 8]
        szz += sums[c, 9]
        hx += sums[c, 10]
        hy += sums[c, 11]
        hz += sums[c, 12]
    inverse = 1.0 / count
    mx, my, mz = sx * inverse, sy * inverse, sz * inverse
    moments[k, 0] = count
    moments[k, 1] = mx
    moments[k, 2] = my
    moments[k, 3] = mz
    moments[k, 4] = sxx * inverse - mx * mx
    moments[k, 5] = sxy * inverse - mx * my
    moments[k, 6] = sxz * inverse - mx * mz
    moments[k, 7] = syy * inverse - my * my
    moments[k, 8] = syz * inverse - my * mz
    moments[k, 9] = szz * inverse - mz * mz
    moments[k, 10] = hx
    moments[k, 11] = hy
    moments[k, 12] = hz


@numba.njit(cache=True, inline="always")
def _window_normal(moments, k, fallback):
    """Normal (unit, on the side of the window's summed outward hints) of the plane fitted to
    the window of row k of ``moments`` (see _window_moments), or ``fallback`` when the window
    holds fewer than MIN_WINDOW_POINTS points, a line, or no isolated plane."""
    if moments[k, 0] < MIN_WINDOW_POINTS:
        return fallback[0], fallback[1], fallback[2]
    a00, a01, a02 = moments[k, 4], moments[k, 5], moments[k, 6]
    a11, a12, a22 = moments[k, 7], moments[k, 8], moments[k, 9]
    x, y, z, smallest, middle, largest = smallest_eigenvector(a00, a01, a02, a11, a12, a22)
    if _is_line(a00, a01, a02, a11, a12, a22, largest) or not _distinct(smallest, middle, largest):
        return fallback[0], fallback[1], fallback[2]
    if x * moments[k, 10] + y * moments[k, 11] + z * moments[k, 12] < 0.0:
        return -x, -y, -z
    return x, y, z


@numba.njit(cache=True)
def _cells_per_mm(lo, hi, window_mm):
    """Hash cells per mm for windows of ``window_mm`` (2x2x2 cells), halved until the cells over
    the box ``lo``..``hi``, with two more on each side, stay under MAX_HASH_CELLS (the clamp
    keeps a subnormal window from giving an infinite rate)."""
    per_mm = 2.0 / max(window_mm, 1e-300)
    while (
        (math.floor((hi[0] - lo[0]) * per_mm) + 5.0)
        * (math.floor((hi[1] - lo[1]) * per_mm) + 5.0)
        * (math.floor((hi[2] - lo[2]) * per_mm) + 5.0)
    ) > MAX_HASH_CELLS:
        per_mm *= 0.5
    return per_mm


@numba.njit(cache=True)
def _occupied_cells(points, lo, per_mm, dims):
    """How many hash cells (``per_mm`` cells per mm from ``lo``) hold points."""
    occupied = np.zeros(dims[0] * dims[1] * dims[2], dtype=np.bool_)
    count = 0
    for i in range(points.shape[0]):
        ix = int((points[i, 0] - lo[0]) * per_mm)
        iy = int((points[i, 1] - lo[1]) * per_mm)
        iz = int((points[i, 2] - lo[2]) * per_mm)
        cell = (ix * dims[1] + iy) * dims[2] + iz
        if not occupied[cell]:
            occupied[cell] = True
            count += 1
    return count


@numba.njit(cache=True)
def _dims(lo, hi, per_mm):
    dims = np.empty(3, dtype=np.int64)
    for a in range(3):
        dims[a] = int((hi[a] - lo[a]) * per_mm) + 1
    return dims


@numba.njit(cache=True)
def _window_size(points, lo, hi, window_mm):
    """The adaptive window (mm): about WINDOW_POINTS points at the patch's density, the patch's
    area taken from the cells of the largest window it occupies; between MIN_WINDOW_MM and
    ``window_mm``, and no smaller than MAX_WINDOWS windows allow."""
    per_mm = _cells_per_mm(lo, hi, window_mm)
    cell_mm = 1.0 / per_mm
    area = _occupied_cells(points, lo, per_mm, _dims(lo, hi, per_mm)) * cell_mm * cell_mm
    area /= CELLS_PER_AREA
    by_spacing = math.sqrt(WINDOW_POINTS * area / points.shape[0])
    # A window per cell of half its size that the surface crosses.
    by_cost = 2.0 * math.sqrt(area * CELLS_PER_AREA / MAX_WINDOWS)
    return min(max(by_spacing, by_cost, MIN_WINDOW_MM), window_mm)


@numba.njit(cache=True)
def _hash(points, hints, lo, per_mm, dims, centre, unit):
    """Sum the points into the cells of a hash of ``per_mm`` cells per mm from ``lo`` (cell
    (ix, iy, iz) at (ix + 2, iy + 2, iz + 2) of a grid of ``dims``, padded by two cells on each
    side), and give each point the window of the cell corner nearest to it: the 2x2x2 cells
    around that corner, numbered by the lowest of them, so that every point lies within a
    quarter of a window of its window's centre along each axis.

    Returns (sums, row_of_cell, window_of_point, corner_of_window, windows). The occupied cells
    get rows 1, 2, ... of ``sums`` in the order the points reach them (row 0 stays zero, for
    the empty cells): count, sum of p (3), sum of the upper entries of p p^T (6), sum of the
    hints (3), p being the point's offset from ``centre`` times ``unit``. Windows are numbered
    from 1 likewise. Memory: 8 bytes per cell of the hash and about 130 per point, so that one
    stray point metres away costs milliseconds, not a dense table of MAX_HASH_CELLS rows."""
    n = points.shape[0]
    size = dims[0] * dims[1] * dims[2]
    row_of_cell = np.zeros(size, dtype=np.int32)
    window_of_corner = np.zeros(size, dtype=np.int32)
    sums = np.empty((n + 1, 13))
    sums[0] = 0.0
    window_of_point = np.empty(n, dtype=np.int64)
    corner_of_window = np.empty(n + 1, dtype=np.int64)
    rows = windows = 0
    for i in range(n):
        ux = (points[i, 0] - lo[0]) * per_mm
        uy = (points[i, 1] - lo[1]) * per_mm
        uz = (points[i, 2] - lo[2]) * per_mm
        cell = ((int(ux) + 2) * dims[1] + int(uy) + 2) * dims[2] + int(uz) + 2
        corner = ((int(ux + 0.5) + 1) * dims[1] + int(uy + 0.5) + 1) * dims[2] + int(uz + 0.5) + 1
        if row_of_cell[cell] == 0:
            rows += 1
            row_of_cell[cell] = rows
            sums[rows] = 0.0
        if window_of_corner[corner] == 0:
            windows += 1
            window_of_corner[corner] = windows
            corner_of_window[windows] = corner
        window_of_point[i] = window_of_corner[corner]
        r = row_of_cell[cell]
        x = (points[i, 0] - centre[0]) * unit
        y = (points[i, 1] - centre[1]) * unit
        z = (points[i, 2] - centre[2]) * unit
        sums[r, 0] += 1.0
        sums[r, 1] += x
        sums[r, 2] += y
        sums[r, 3] += z
        sums[r, 4] += x * x
        sums[r, 5] += x * y
        sums[r, 6] += x * z
        sums[r, 7] += y * y
        sums[r, 8] += y * z
        sums[r, 9] += z * z
        sums[r, 10] += hints[i, 0]
        sums[r, 11] += hints[i, 1]
        sums[r, 12] += hints[i, 2]
    return sums[: rows + 1], row_of_cell, window_of_point, corner_of_window, windows


@numba.njit(cache=True)
def _block_offsets(dims, first, width):
    """Index offsets, in a hash of ``dims`` cells, of the cube of ``width`` cells per side from
    ``first`` cells along each axis."""
    offsets = np.empty(width**3, dtype=np.int64)
    o = 0
    for jx in range(first, first + width):
        for jy in range(first, first + width):
            for jz in range(first, first + width):
                offsets[o] = (jx * dims[1] + jy) * dims[2] + jz
                o += 1
    return offsets


@numba.njit(cache=True)
def _patch_plane(sums):
    """The normal (3,) of the plane fitted to all the points (from the rows of ``sums``, see
    _hash), on the side of all their hints, and whether they lie on a line or at one spot."""
    total = np.zeros(13)
    for r in range(1, sums.shape[0]):
        for f in range(13):
            total[f] += sums[r, f]
    inverse = 1.0 / total[0]
    mx, my, mz = total[1] * inverse, total[2] * inverse, total[3] * inverse
    a00, a01, a02 = (
        total[4] * inverse - mx * mx,
        total[5] * inverse - mx * my,
        total[6] * inverse - mx * mz,
    )
    a11, a12 = total[7] * inverse - my * my, total[8] * inverse - my * mz
    a22 = total[9] * inverse - mz * mz
    x, y, z, _, _, largest = smallest_eigenvector(a00, a01, a02, a11, a12, a22)
    sign = 1.0 if x * total[10] + y * total[11] + z * total[12] >= 0.0 else -1.0
    plane = np.empty(3)
    plane[0], plane[1], plane[2] = sign * x, sign * y, sign * z
    return plane, _is_line(a00, a01, a02, a11, a12, a22, largest)


@numba.njit(cache=True)
def _normals_kernel(points, hints, window_mm, adaptive, cos_cone):
    """Unit normals ``(N, 3)`` and _OK, or an empty array and the status saying what is wrong
    with the input (non-finite values, a patch that is a line or a spot). A point's window is
    the 2x2x2 cells of half the window around the cell corner nearest to it (see _hash); with
    ``adaptive`` the window holds about WINDOW_POINTS points (see _window_size), else it is
    ``window_mm``. The fallback is the normal of the plane of the whole patch. A normal whose
    cosine with its point's hint is below ``cos_cone`` is replaced by the unit hint (-1:
    never)."""
    n = points.shape[0]
    lo = np.empty(3)
    hi = np.empty(3)
    for a in range(3):
        lo[a] = hi[a] = points[0, a]
    for i in range(n):
        for a in range(3):
            v = points[i, a]
            if not math.isfinite(v):
                return np.empty((0, 3)), _NON_FINITE_POINTS
            if not math.isfinite(hints[i, a]):
                return np.empty((0, 3)), _NON_FINITE_OUTWARD
            lo[a] = min(lo[a], v)
            hi[a] = max(hi[a], v)
    # Sums are taken over offsets from the centre of the bounding box, scaled by a power of two
    # (exact) to at most 1: no cancellation far from the origin, no overflow in the cubic.
    centre = np.empty(3)
    extent = 0.0
    for a in range(3):
        centre[a] = 0.5 * lo[a] + 0.5 * hi[a]
        extent = max(extent, hi[a] - lo[a])
    if not math.isfinite(extent):
        return np.empty((0, 3)), _OVERFLOW
    unit = math.ldexp(1.0, -math.frexp(extent)[1])
    window = _window_size(points, lo, hi, window_mm) if adaptive else window_mm
    per_mm = _cells_per_mm(lo, hi, window)
    dims = _dims(lo, hi, per_mm) + 4
    sums, row_of_cell, window_of_point, corner_of_window, windows = _hash(
        points, hints, lo, per_mm, dims, centre, unit
    )
    fallback, line = _patch_plane(sums)
    if line:
        return np.empty((0, 3)), _LINE
    # Moments of every window first, then the plane fits: the second loop has no branches
    # that depend on the hash, so the latency of consecutive fits overlaps.
    near, wide = _block_offsets(dims, 0, 2), _block_offsets(dims, -1, 4)
    moments = np.empty((windows + 1, 13))
    for w in range(1, windows + 1):
        _window_moments(sums, row_of_cell, near, corner_of_window[w], moments, w)
        if moments[w, 0] < MIN_WINDOW_POINTS:  # the rim of a sparse sweep: twice as wide
            _window_moments(sums, row_of_cell, wide, corner_of_window[w], moments, w)
    window_normal = np.empty((windows + 1, 3))
    for w in range(1, windows + 1):
        nx, ny, nz = _window_normal(moments, w, fallback)
        window_normal[w, 0] = nx
        window_normal[w, 1] = ny
        window_normal[w, 2] = nz
    normals = np.empty((n, 3))
    for i in range(n):
        w = window_of_point[i]
        nx, ny, nz = window_normal[w, 0], window_normal[w, 1], window_normal[w, 2]
        hx, hy, hz = hints[i, 0], hints[i, 1], hints[i, 2]
        length = math.sqrt(hx * hx + hy * hy + hz * hz)
        if length > 0.0 and nx * hx + ny * hy + nz * hz < cos_cone * length:
            nx, ny, nz = hx / length, hy / length, hz / length
        normals[i, 0], normals[i, 1], normals[i, 2] = nx, ny, nz
    return normals, _OK


def estimate_patch_normals(
    points_mm: np.ndarray,
    outward_hints: np.ndarray,
    window_mm: float | None = None,
    hint_cone_rad: float = math.pi / 2,
) -> np.ndarray:
    """Unit normals ``(N, 3)`` of a digitised surface patch, from local plane fits, each on the
    side its window's ``outward_hints`` (N, 3) vote for (any length; see the module docstring).
    With ``hint_cone_rad`` below pi/2, a normal farther than that from its point's hint is
    replaced by the unit hint (pi/2: the hints only choose the side).

    ``window_mm`` None: windows that hold about WINDOW_POINTS points, from MIN_WINDOW_MM to
    DEFAULT_MAX_WINDOW_MM; a number: windows of that size. Points whose window holds fewer than
    5 points, or whose neighbourhood is a line, get the normal of the plane fitted to the whole
    patch. Raises RegistrationError when the whole patch is a line or a single spot (no plane
    at all), for NaN or infinite values, or hints of another shape than the points.
    """
    points = as_points(points_mm, "points_mm", 3, check_finite=False)
    if len(points) > MAX_PATCH_POINTS:
        raise RegistrationError(
            f"points_mm has {len(points)} points; at most {MAX_PATCH_POINTS} are supported"
        )
    hints = np.ascontiguousarray(outward_hints, dtype=np.float64)
    if hints.shape != points.shape:
        raise RegistrationError(
            f"outward_hints must have one direction per point {points.shape}; got {hints.shape}"
        )
    adaptive = window_mm is None
    window = DEFAULT_MAX_WINDOW_MM if adaptive else window_mm
    if not (math.isfinite(window) and window > 0.0):
        raise RegistrationError(f"window_mm must be > 0 mm; got {window_mm}")
    if not 0.0 <= hint_cone_rad <= math.pi / 2:
        raise RegistrationError(f"hint_cone_rad must be in [0, pi/2]; got {hint_cone_rad}")
    cos_cone = math.cos(hint_cone_rad) if hint_cone_rad < math.pi / 2 else -1.0
    normals, status = _normals_kernel(points, hints, float(window), adaptive, cos_cone)
    if status != _OK:
        raise RegistrationError(_STATUS_MESSAGES[status])
    return normals


def away_from(points_mm: np.ndarray, centre_mm: np.ndarray) -> np.ndarray:
    """Outward hints pointing from ``centre_mm`` (3,) to each point: for a convex patch, whose
    outside is away from the centre of the anatomy."""
    centre = np.ascontiguousarray(centre_mm, dtype=np.float64).reshape(-1)
    if centre.shape != (3,):
        raise RegistrationError(
            f"the centre must be one point of 3 coordinates; got {np.shape(centre_mm)}"
        )
    return np.asarray(points_mm, dtype=np.float64) - centre
