"""Outward normals of a digitised patch of points (no mesh): what ICP needs to tell the outer
surface of a bone from the inner one.

Each point gets the normal of the plane fitted (principal component analysis: the eigenvector of
the smallest eigenvalue of the local covariance; Hoppe et al. 1992, SIGGRAPH, section 3.2) to
the points in a cubic window of about ``window_mm`` around it. Windows are the 3x3x3 blocks of
a voxel hash of the points, so the cost is linear in the number of points. The sign is chosen so
that the normal points away from ``outward_from_mm`` (for instance the centre of the anatomy, or
where the stylus came from): a patch does not know by itself which side is outside.
"""

import math

import numba
import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_points

MIN_WINDOW_POINTS = 5
MAX_HASH_CELLS = 8_000_000


@numba.njit(cache=True)
def smallest_eigenvector(a00, a01, a02, a11, a12, a22):
    """Unit eigenvector of the smallest eigenvalue of a symmetric 3x3 matrix, in closed form
    (trigonometric solution of the characteristic cubic, Smith 1961, Comm. ACM 4(4):168), and
    the ratio of the smallest to the middle eigenvalue (near 0 for a clear plane). Returns a
    zero vector when the smallest eigenvalue is not isolated (a line or an isotropic blob)."""
    out = np.zeros(3)
    p1 = a01 * a01 + a02 * a02 + a12 * a12
    q = (a00 + a11 + a22) / 3.0
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * p1
    if p2 <= 0.0:
        return out, 1.0
    p = math.sqrt(p2 / 6.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    r = min(max(det / (2.0 * p * p * p), -1.0), 1.0)
    phi = math.acos(r) / 3.0
    largest = q + 2.0 * p * math.cos(phi)
    smallest = q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)
    middle = 3.0 * q - largest - smallest
    if middle - smallest <= 1e-12 * max(abs(largest), 1e-300):
        return out, 1.0
    # Rows of (A - smallest I); their cross products are parallel to the eigenvector.
    r0 = np.array([a00 - smallest, a01, a02])
    r1 = np.array([a01, a11 - smallest, a12])
    r2 = np.array([a02, a12, a22 - smallest])
    best = 0.0
    for u, v in ((r0, r1), (r0, r2), (r1, r2)):
        c = np.cross(u, v)
        norm2 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2]
        if norm2 > best:
            best = norm2
            out = c / math.sqrt(norm2)
    ratio = smallest / middle if middle > 0.0 else 1.0
    return out, ratio


@numba.njit(cache=True)
def _normals_kernel(points, cell_mm, outward_from, fallback):
    n = points.shape[0]
    lo = np.empty(3)
    dims = np.empty(3, dtype=np.int64)
    for a in range(3):
        lo[a] = points[:, a].min()
        dims[a] = int((points[:, a].max() - lo[a]) / cell_mm) + 1
    n_cells = dims[0] * dims[1] * dims[2]
    cell_of = np.empty(n, dtype=np.int64)
    # Per-cell sums: count, sum of p (3), sum of p p^T (6 upper entries).
    sums = np.zeros((n_cells, 10))
    for i in range(n):
        ix = int((points[i, 0] - lo[0]) / cell_mm)
        iy = int((points[i, 1] - lo[1]) / cell_mm)
        iz = int((points[i, 2] - lo[2]) / cell_mm)
        c = (ix * dims[1] + iy) * dims[2] + iz
        cell_of[i] = c
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        s = sums[c]
        s[0] += 1.0
        s[1] += x
        s[2] += y
        s[3] += z
        s[4] += x * x
        s[5] += x * y
        s[6] += x * z
        s[7] += y * y
        s[8] += y * z
        s[9] += z * z
    normals = np.empty((n, 3))
    done = np.zeros(n_cells, dtype=np.bool_)
    cell_normal = np.zeros((n_cells, 3))
    window = np.zeros(10)
    for i in range(n):
        c = cell_of[i]
        if not done[c]:
            done[c] = True
            iz = c % dims[2]
            iy = (c // dims[2]) % dims[1]
            ix = c // (dims[1] * dims[2])
            window[:] = 0.0
            for jx in range(max(ix - 1, 0), min(ix + 2, dims[0])):
                for jy in range(max(iy - 1, 0), min(iy + 2, dims[1])):
                    for jz in range(max(iz - 1, 0), min(iz + 2, dims[2])):
                        window += sums[(jx * dims[1] + jy) * dims[2] + jz]
            count = window[0]
            normal = fallback.copy()
            if count >= MIN_WINDOW_POINTS:
                mx, my, mz = window[1] / count, window[2] / count, window[3] / count
                candidate, _ = smallest_eigenvector(
                    window[4] / count - mx * mx,
                    window[5] / count - mx * my,
                    window[6] / count - mx * mz,
                    window[7] / count - my * my,
                    window[8] / count - my * mz,
                    window[9] / count - mz * mz,
                )
                if candidate[0] != 0.0 or candidate[1] != 0.0 or candidate[2] != 0.0:
                    normal = candidate
                    side = (
                        normal[0] * (mx - outward_from[0])
                        + normal[1] * (my - outward_from[1])
                        + normal[2] * (mz - outward_from[2])
                    )
                    if side < 0.0:
                        normal = -normal
            cell_normal[c] = normal
        normals[i] = cell_normal[c]
    return normals


def estimate_patch_normals(
    points_mm: np.ndarray, outward_from_mm: np.ndarray, window_mm: float = 20.0
) -> np.ndarray:
    """Unit normals ``(N, 3)`` of a digitised surface patch, pointing away from
    ``outward_from_mm`` (3,), from local plane fits over windows of about ``window_mm``.

    Points whose window holds fewer than 5 points, or whose neighbourhood is a line, get the
    normal of the plane fitted to the whole patch. Raises RegistrationError when the whole patch
    is a line or a single spot (no plane at all).
    """
    points = as_points(points_mm, "points_mm", 3)
    outward_from = np.asarray(outward_from_mm, dtype=np.float64).reshape(3)
    if not (math.isfinite(window_mm) and window_mm > 0.0):
        raise RegistrationError(f"window_mm must be > 0 mm; got {window_mm}")
    centre = points.mean(axis=0)
    centred = points - centre
    covariance = centred.T @ centred / len(points)
    eigenvalues, axes = np.linalg.eigh(covariance)
    if eigenvalues[1] <= 1e-9 * max(eigenvalues[2], 1e-300):
        raise RegistrationError(
            "the points lie on a line or at one spot: a surface patch needs points spread in "
            "two directions"
        )
    fallback = axes[:, 0] if axes[:, 0] @ (centre - outward_from) >= 0.0 else -axes[:, 0]
    cell_mm = window_mm / 3.0
    extent = np.ptp(points, axis=0)
    while np.prod(np.floor(extent / cell_mm) + 1) > MAX_HASH_CELLS:
        cell_mm *= 2.0
    return _normals_kernel(points, cell_mm, outward_from, np.ascontiguousarray(fallback))
