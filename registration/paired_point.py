"""Paired-point rigid registration: the rotation and translation that best map moving points onto
their fixed partners in the (weighted) least-squares sense.

The rotation comes from Horn's closed form (Horn 1987, JOSA A 4(4)): the unit
quaternion that maximises ``q^T N q``, with ``N`` the 4x4 symmetric key matrix built from the
weighted cross-covariance, is the eigenvector of ``N``'s largest eigenvalue. That eigenvalue is
the largest root of ``N``'s characteristic quartic, found by Newton's method from an upper bound
(Theobald 2005, Acta Cryst A61, the QCP method); the eigenvector is a column of the adjugate of
``N - lambda I`` (Liu, Agrafiotis & Theobald 2010, J Comput Chem 31(7)). A unit quaternion is
always a proper rotation, so no reflection can come out of it. All of this is scalar arithmetic
in one small Numba kernel: no LAPACK call and no allocation (the caller allocates the outputs).

When the largest eigenvalue is nearly repeated the rotation itself is ill-determined (collinear
points, or a near-mirror image whose two smallest singular values nearly cancel) and the closed
form loses digits: the kernel then hands the cross-covariance back, and the SVD solution of Arun,
Huang & Blostein 1987 (IEEE PAMI 9(5)) with Umeyama's determinant-sign correction (1991, IEEE
PAMI 13(4), eq. 39-40), which also decides whether the points are coincident or collinear, is
found with numpy's LAPACK; a second small kernel finishes the fit. (Numba's own SVD would make
the kernel's first compilation twice as long, on every machine's first run, for a case that
well-spread fiducials never meet.)

The validation of values (NaN, coincident or collinear points, bad weights) happens inside the
kernel and comes back as a status code, so the Python overhead per call stays small; the public
function turns a bad status into a RegistrationError.
"""

from dataclasses import dataclass

import numba
import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_points

MIN_POINTS = 3
# Relative size of the second singular value of the cross-covariance under which the points are
# treated as collinear: the rotation about their common line is then undetermined.
COLLINEAR_TOL = 1e-10
# Gap between the two largest eigenvalues of Horn's key matrix, relative to the largest, under
# which the SVD path is used instead: the closed-form eigenvector carries an error of about
# 1e-16 / gap, and the gap is twice the sum of the two smallest signed singular values of the
# cross-covariance, so every collinear set (gap < 4 COLLINEAR_TOL) takes the SVD path.
HORN_GAP_TOL = 1e-4
# Newton's method stops when its step is below this fraction of the eigenvalue (then one
# Rayleigh-quotient refinement of the eigenvector follows).
NEWTON_TOL = 1e-13
NEWTON_MAX_STEPS = 60

_OK = 0
_NON_FINITE_FIXED = 1
_NON_FINITE_MOVING = 2
_BAD_WEIGHTS = 3
_COINCIDENT = 4
_COLLINEAR = 5
_TOO_LARGE = 6
_NEEDS_SVD = 7
# Largest spread (sum of squared distances to the centroid, mm^2) the kernel accepts: beyond it
# the products of coordinates overflow double precision (points spread over ~1e75 mm are a unit
# or file error anyway).
LARGEST_SPREAD_MM2 = 1e150

_STATUS_MESSAGES = {
    _NON_FINITE_FIXED: "fixed_mm contains NaN or infinite coordinates",
    _NON_FINITE_MOVING: "moving_mm contains NaN or infinite coordinates",
    _BAD_WEIGHTS: "weights must be finite and >= 0, with at least 3 of them > 0",
    _COINCIDENT: "the points are all at the same place: no rotation can be estimated",
    _COLLINEAR: "the points lie on one line: the rotation about that line is undetermined "
    "(use at least 3 points that are not collinear)",
    _TOO_LARGE: "the points are spread over more than 1e75 mm: coordinates this large are a unit "
    "or file error, and their products would overflow",
}


@dataclass(frozen=True, slots=True)
class PairedPointResult:
    """A paired-point registration.

    ``fixed_from_moving`` maps moving points onto the fixed ones (4x4, mm);
    ``fre_rms_mm`` is the (weighted) RMS fiducial registration error in mm;
    ``residuals_mm`` is, for each pair, the distance between the registered moving point and its
    fixed point, in mm, in the input order.
    """

    fixed_from_moving: np.ndarray
    fre_rms_mm: float
    residuals_mm: np.ndarray


@numba.njit(cache=True)
def _adjugate4(a00, a01, a02, a03, a11, a12, a13, a22, a23, a33):
    """Determinant and the 10 distinct entries of the adjugate of a symmetric 4x4 matrix (given by
    its upper triangle), by Laplace expansion along complementary 2x2 minors of rows (0, 1) and
    (2, 3); the adjugate of a symmetric matrix is symmetric.
    """
    # 2x2 minors of rows 0-1 (s) and of rows 2-3 (c), indexed by their column pair.
    s01 = a00 * a11 - a01 * a01
    s02 = a00 * a12 - a01 * a02
    s03 = a00 * a13 - a01 * a03
    s12 = a01 * a12 - a11 * a02
    s13 = a01 * a13 - a11 * a03
    s23 = a02 * a13 - a12 * a03
    c01 = a02 * a13 - a03 * a12
    c02 = a02 * a23 - a03 * a22
    c03 = a02 * a33 - a03 * a23
    c12 = a12 * a23 - a13 * a22
    c13 = a12 * a33 - a13 * a23
    c23 = a22 * a33 - a23 * a23
    det = s01 * c23 - s02 * c13 + s03 * c12 + s12 * c03 - s13 * c02 + s23 * c01
    b00 = a11 * c23 - a12 * c13 + a13 * c12
    b01 = -a01 * c23 + a02 * c13 - a03 * c12
    b02 = a13 * s23 - a23 * s13 + a33 * s12
    b03 = -a12 * s23 + a22 * s13 - a23 * s12
    b11 = a00 * c23 - a02 * c03 + a03 * c02
    b12 = -a03 * s23 + a23 * s03 - a33 * s02
    b13 = a02 * s23 - a22 * s03 + a23 * s02
    b22 = a03 * s13 - a13 * s03 + a33 * s01
    b23 = -a02 * s13 + a12 * s03 - a23 * s01
    b33 = a02 * s12 - a12 * s02 + a22 * s01
    return det, b00, b01, b02, b03, b11, b12, b13, b22, b23, b33


@numba.njit(cache=True)
def _top_eigenvector(n00, n01, n02, n03, n11, n12, n13, n22, n23, n33, lam):
    """Unit eigenvector of the symmetric 4x4 ``N`` for its eigenvalue ``lam``, as the largest
    column of ``adj(N - lam I)`` (rank one, ``c q q^T``, at a simple eigenvalue; Liu et al. 2010);
    the column with the largest diagonal entry is the best conditioned. Zeros if it vanishes.
    """
    _, b00, b01, b02, b03, b11, b12, b13, b22, b23, b33 = _adjugate4(
        n00 - lam, n01, n02, n03, n11 - lam, n12, n13, n22 - lam, n23, n33 - lam
    )
    q0, q1, q2, q3 = b00, b01, b02, b03
    best = abs(b00)
    if abs(b11) > best:
        q0, q1, q2, q3 = b01, b11, b12, b13
        best = abs(b11)
    if abs(b22) > best:
        q0, q1, q2, q3 = b02, b12, b22, b23
        best = abs(b22)
    if abs(b33) > best:
        q0, q1, q2, q3 = b03, b13, b23, b33
    norm = np.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
    if not norm > 0.0:
        return 0.0, 0.0, 0.0, 0.0
    return q0 / norm, q1 / norm, q2 / norm, q3 / norm


@numba.njit(cache=True, error_model="numpy")
def _horn_quaternion(sxx, sxy, sxz, syx, syy, syz, szx, szy, szz):
    """Unit quaternion (q0, qx, qy, qz) of the rotation R maximising ``sum w f . R m``, given
    ``S = sum w m f^T`` (moving x fixed, centred, scaled so that the largest eigenvalue of the key
    matrix is at most 1), and whether that eigenvalue is simple enough to trust the result.

    Horn 1987 builds the traceless symmetric key matrix N from S; Theobald 2005 writes its
    characteristic polynomial as ``p(l) = l^4 + c2 l^2 + c1 l + c0`` with ``c2 = -2 |S|_F^2``,
    ``c1 = -8 det S`` and ``c0 = det N``. All roots are real, so Newton's method started above the
    largest one (at the bound 1) decreases monotonically to it. At that root ``p'`` is the product
    of the three gaps to the other eigenvalues and ``p''/2`` the sum of their pairwise products,
    so ``2 p'/p'' = 1 / sum(1 / gap)`` lies between a third of the smallest gap and that gap:
    below ``HORN_GAP_TOL`` (relative), or if Newton's method has not converged, the result is
    flagged as unreliable.
    """
    n00 = sxx + syy + szz
    n01 = syz - szy
    n02 = szx - sxz
    n03 = sxy - syx
    n11 = sxx - syy - szz
    n12 = sxy + syx
    n13 = szx + sxz
    n22 = -sxx + syy - szz
    n23 = syz + szy
    n33 = -sxx - syy + szz
    c2 = -2.0 * (
        sxx * sxx + sxy * sxy + sxz * sxz + syx * syx + syy * syy + syz * syz
        + szx * szx + szy * szy + szz * szz
    )  # fmt: skip
    det_s = sxx * (syy * szz - syz * szy) - sxy * (syx * szz - syz * szx)
    det_s += sxz * (syx * szy - syy * szx)
    c1 = -8.0 * det_s
    c0 = _adjugate4(n00, n01, n02, n03, n11, n12, n13, n22, n23, n33)[0]
    lam = 1.0
    converged = False
    for _ in range(NEWTON_MAX_STEPS):
        lam2 = lam * lam
        value = (lam2 + c2) * lam2 + c1 * lam + c0
        slope = (4.0 * lam2 + 2.0 * c2) * lam + c1
        step = value / slope
        lam -= step
        if abs(step) <= NEWTON_TOL * abs(lam):
            converged = True
            break
    slope = (4.0 * lam * lam + 2.0 * c2) * lam + c1
    curvature = 12.0 * lam * lam + 2.0 * c2
    # The first test rejects a multiple largest eigenvalue, where p' and p'' both vanish and their
    # ratio is rounding noise. It never rejects what the second accepts with exact gaps: the
    # largest gap is at least 2/3 lam, so a smallest gap of g lam gives p' >= 2/3 g^2 lam^3.
    if not (
        converged
        and lam > 0.0
        and slope > 0.5 * HORN_GAP_TOL * HORN_GAP_TOL * lam * lam * lam
        and 2.0 * slope > HORN_GAP_TOL * lam * curvature
    ):
        return 1.0, 0.0, 0.0, 0.0, False
    q0, q1, q2, q3 = _top_eigenvector(n00, n01, n02, n03, n11, n12, n13, n22, n23, n33, lam)
    # One Rayleigh-quotient step: the eigenvalue's error becomes quadratic in the eigenvector's,
    # so the second adjugate is as accurate as the problem allows (error ~1e-16 / gap).
    lam = (
        n00 * q0 * q0 + n11 * q1 * q1 + n22 * q2 * q2 + n33 * q3 * q3
        + 2.0 * (n01 * q0 * q1 + n02 * q0 * q2 + n03 * q0 * q3)
        + 2.0 * (n12 * q1 * q2 + n13 * q1 * q3 + n23 * q2 * q3)
    )  # fmt: skip
    q0, q1, q2, q3 = _top_eigenvector(n00, n01, n02, n03, n11, n12, n13, n22, n23, n33, lam)
    return q0, q1, q2, q3, q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3 > 0.5


def _svd_rotation(covariance: np.ndarray, spread: float) -> tuple[int, np.ndarray]:
    """Arun/Umeyama fallback: status and the rotation R (3x3) maximising ``trace(R @ S)`` for
    ``S = sum w m f^T`` (Umeyama 1991 eq. 39-40: ``R = V diag(1, 1, sign det(V U^T)) U^T`` with
    ``S = U diag(s) V^T``); coincident or collinear points are rejected here.
    """
    u, singular, vt = np.linalg.svd(covariance)
    status = _OK
    if singular[0] <= 1e-24 * max(1.0, spread) or spread <= 1e-24:
        status = _COINCIDENT
    elif singular[1] <= COLLINEAR_TOL * singular[0]:
        status = _COLLINEAR
    d = -1.0 if np.linalg.det(vt.T @ u.T) < 0.0 else 1.0
    return status, vt.T @ np.diag([1.0, 1.0, d]) @ u.T


@numba.njit(cache=True)
def _all_finite(points):
    for i in range(points.shape[0]):
        for j in range(3):
            if not np.isfinite(points[i, j]):
                return False
    return True


@numba.njit(cache=True)
def _weighted_centres(fixed, moving, weights):
    """Whether the weights are valid (finite, >= 0, at least 3 > 0), their sum, and the weighted
    centroids of moving and fixed points (x, y, z each).
    """
    total = mx = my = mz = fx = fy = fz = 0.0
    positive = 0
    valid = True
    for i in range(weights.shape[0]):
        w = weights[i]
        if not (np.isfinite(w) and w >= 0.0):
            valid = False
        if w > 0.0:
            positive += 1
        total += w
        mx += w * moving[i, 0]
        my += w * moving[i, 1]
        mz += w * moving[i, 2]
        fx += w * fixed[i, 0]
        fy += w * fixed[i, 1]
        fz += w * fixed[i, 2]
    valid = valid and positive >= 3
    scale = 1.0 / total if valid else 0.0
    return valid, total, mx * scale, my * scale, mz * scale, fx * scale, fy * scale, fz * scale


@numba.njit(cache=True)
def _register_kernel(fixed, moving, weights, matrix, residuals):
    """Weighted paired-point fit: fills ``matrix`` (fixed_from_moving, 4x4) and ``residuals``
    (N,), returns (status, weighted FRE RMS in mm).
    """
    n = fixed.shape[0]
    # One pass over the pairs, relative to a provisional centre (shifted data keep the
    # cancellation in the centring below at the size of the spread, not of the distance to the
    # origin): weighted sums of the coordinates, of their squares and of the cross products. The
    # first pair is that centre without weights (it costs at most a factor n + 1 in cancellation);
    # with weights, the weighted centroids, since a far pair of zero weight could be first.
    total = float(n)
    weights_valid = True
    mx0, my0, mz0 = moving[0, 0], moving[0, 1], moving[0, 2]
    fx0, fy0, fz0 = fixed[0, 0], fixed[0, 1], fixed[0, 2]
    if weights is not None:
        weights_valid, total, mx0, my0, mz0, fx0, fy0, fz0 = _weighted_centres(
            fixed, moving, weights
        )
    cmx = cmy = cmz = cfx = cfy = cfz = 0.0
    sxx = sxy = sxz = syx = syy = syz = szx = szy = szz = 0.0
    spread_m = spread_f = 0.0
    for i in range(n):
        w = 1.0 if weights is None else weights[i]
        mx = moving[i, 0] - mx0
        my = moving[i, 1] - my0
        mz = moving[i, 2] - mz0
        fx = fixed[i, 0] - fx0
        fy = fixed[i, 1] - fy0
        fz = fixed[i, 2] - fz0
        wx = w * mx
        wy = w * my
        wz = w * mz
        cmx += wx
        cmy += wy
        cmz += wz
        cfx += w * fx
        cfy += w * fy
        cfz += w * fz
        spread_m += wx * mx + wy * my + wz * mz
        spread_f += w * (fx * fx + fy * fy + fz * fz)
        sxx += wx * fx
        sxy += wx * fy
        sxz += wx * fz
        syx += wy * fx
        syy += wy * fy
        syz += wy * fz
        szx += wz * fx
        szy += wz * fy
        szz += wz * fz
    # A NaN or infinite coordinate makes these sums non-finite (so would an overflow: hence the
    # check of every coordinate before the verdict).
    if not np.isfinite(cfx + cfy + cfz) and not _all_finite(fixed):
        return _NON_FINITE_FIXED, np.nan
    if not np.isfinite(cmx + cmy + cmz) and not _all_finite(moving):
        return _NON_FINITE_MOVING, np.nan
    if not weights_valid:
        return _BAD_WEIGHTS, np.nan
    if not (spread_m < LARGEST_SPREAD_MM2 and spread_f < LARGEST_SPREAD_MM2):
        return _TOO_LARGE, np.nan
    # Weighted centroids (Arun eq. 4-5 with weights), cross-covariance S = sum w (m - cm)(f - cf)^T
    # (Arun eq. 11, Horn's M) and the spreads sum w |m - cm|^2, sum w |f - cf|^2.
    cmx /= total
    cmy /= total
    cmz /= total
    cfx /= total
    cfy /= total
    cfz /= total
    sxx -= total * cmx * cfx
    sxy -= total * cmx * cfy
    sxz -= total * cmx * cfz
    syx -= total * cmy * cfx
    syy -= total * cmy * cfy
    syz -= total * cmy * cfz
    szx -= total * cmz * cfx
    szy -= total * cmz * cfy
    szz -= total * cmz * cfz
    spread_m = max(0.0, spread_m - total * (cmx * cmx + cmy * cmy + cmz * cmz))
    spread_f = max(0.0, spread_f - total * (cfx * cfx + cfy * cfy + cfz * cfz))
    cmx += mx0
    cmy += my0
    cmz += mz0
    cfx += fx0
    cfy += fy0
    cfz += fz0
    frobenius = np.sqrt(
        sxx * sxx + sxy * sxy + sxz * sxz + syx * syx + syy * syy + syz * syz
        + szx * szx + szy * szy + szz * szz
    )  # fmt: skip
    q0, qx, qy, qz = 1.0, 0.0, 0.0, 0.0
    well_posed = spread_m > 1e-24 and frobenius > 2e-24 * max(1.0, spread_m)
    if well_posed:
        # sum w |f - R m|^2 = spread_m + spread_f - 2 lambda_max >= 0: dividing S by half the
        # spreads puts lambda_max in (0, 1], the start of Newton's method.
        scale = 2.0 / (spread_m + spread_f)
        q0, qx, qy, qz, well_posed = _horn_quaternion(
            sxx * scale, sxy * scale, sxz * scale,
            syx * scale, syy * scale, syz * scale,
            szx * scale, szy * scale, szz * scale,
        )  # fmt: skip
    if well_posed:
        # Rotation matrix of the unit quaternion (Horn 1987).
        r00 = q0 * q0 + qx * qx - qy * qy - qz * qz
        r01 = 2.0 * (qx * qy - q0 * qz)
        r02 = 2.0 * (qx * qz + q0 * qy)
        r10 = 2.0 * (qy * qx + q0 * qz)
        r11 = q0 * q0 - qx * qx + qy * qy - qz * qz
        r12 = 2.0 * (qy * qz - q0 * qx)
        r20 = 2.0 * (qz * qx - q0 * qy)
        r21 = 2.0 * (qz * qy + q0 * qx)
        r22 = q0 * q0 - qx * qx - qy * qy + qz * qz
    else:
        # The SVD path (see the module docstring): S, the centroids, the moving spread and the
        # total weight handed back in ``matrix``, row by row.
        handed = (sxx, sxy, sxz, syx, syy, syz, szx, szy, szz, cmx, cmy, cmz, cfx, cfy, cfz)
        for k in range(15):
            matrix[k // 4, k % 4] = handed[k]
        matrix[3, 3] = spread_m
        return _NEEDS_SVD, total
    return _OK, _finish(
        fixed, moving, weights, total,
        r00, r01, r02, r10, r11, r12, r20, r21, r22,
        cmx, cmy, cmz, cfx, cfy, cfz, matrix, residuals,
    )  # fmt: skip


@numba.njit(cache=True)
def _finish(
    fixed, moving, weights, total,
    r00, r01, r02, r10, r11, r12, r20, r21, r22,
    cmx, cmy, cmz, cfx, cfy, cfz, matrix, residuals,
):  # fmt: skip
    """The fit with rotation R (row by row) and the centroids: fills ``matrix`` (the rotation and
    the translation mapping the moving centroid onto the fixed one) and ``residuals``, returns
    the weighted FRE RMS (mm)."""
    n = fixed.shape[0]
    tx = cfx - (r00 * cmx + r01 * cmy + r02 * cmz)
    ty = cfy - (r10 * cmx + r11 * cmy + r12 * cmz)
    tz = cfz - (r20 * cmx + r21 * cmy + r22 * cmz)
    matrix[0, 0], matrix[0, 1], matrix[0, 2], matrix[0, 3] = r00, r01, r02, tx
    matrix[1, 0], matrix[1, 1], matrix[1, 2], matrix[1, 3] = r10, r11, r12, ty
    matrix[2, 0], matrix[2, 1], matrix[2, 2], matrix[2, 3] = r20, r21, r22, tz
    matrix[3, 0], matrix[3, 1], matrix[3, 2], matrix[3, 3] = 0.0, 0.0, 0.0, 1.0
    sum_sq = 0.0
    for i in range(n):
        x, y, z = moving[i, 0], moving[i, 1], moving[i, 2]
        dx = r00 * x + r01 * y + r02 * z + tx - fixed[i, 0]
        dy = r10 * x + r11 * y + r12 * z + ty - fixed[i, 1]
        dz = r20 * x + r21 * y + r22 * z + tz - fixed[i, 2]
        sq = dx * dx + dy * dy + dz * dz
        residuals[i] = np.sqrt(sq)
        sum_sq += sq if weights is None else weights[i] * sq
    return np.sqrt(sum_sq / total)


def _fit_by_svd(
    fixed: np.ndarray,
    moving: np.ndarray,
    weights: np.ndarray | None,
    total: float,
    matrix: np.ndarray,
    residuals: np.ndarray,
) -> tuple[int, float]:
    """The SVD path: the rotation from what the kernel handed back in ``matrix``, then the
    fit; (status, FRE)."""
    handed = matrix.ravel()
    status, rotation = _svd_rotation(handed[:9].reshape(3, 3), float(handed[15]))
    if status != _OK:
        return status, np.nan
    centroids = [float(v) for v in handed[9:15]]
    r = [float(v) for v in rotation.ravel()]
    return _OK, _finish(fixed, moving, weights, total, *r, *centroids, matrix, residuals)


def register_paired_points(
    fixed_mm: np.ndarray, moving_mm: np.ndarray, weights: np.ndarray | None = None
) -> PairedPointResult:
    """Least-squares rigid ``fixed_from_moving`` from paired ``(N, 3)`` points in mm (row i of
    each is the same physical point), optionally weighted per pair (weights >= 0).

    Raises RegistrationError for fewer than 3 pairs, mismatched lengths, NaN, coincident or
    collinear points, or negative/non-finite weights. Never returns a reflection.
    """
    fixed = as_points(fixed_mm, "fixed_mm", MIN_POINTS, check_finite=False)
    moving = as_points(moving_mm, "moving_mm", MIN_POINTS, check_finite=False)
    n = fixed.shape[0]
    if moving.shape[0] != n:
        raise RegistrationError(
            f"fixed_mm and moving_mm must pair up point by point; got {n} fixed and "
            f"{moving.shape[0]} moving points"
        )
    weight_array = None
    if weights is not None:
        weight_array = np.asarray(weights, dtype=np.float64, order="C")
        if weight_array.shape != (n,):
            raise RegistrationError(
                f"weights must have shape ({n},), one per pair; got {weight_array.shape}"
            )
    matrix = np.empty((4, 4))
    residuals = np.empty(n)
    status, fre = _register_kernel(fixed, moving, weight_array, matrix, residuals)
    if status == _NEEDS_SVD:
        status, fre = _fit_by_svd(fixed, moving, weight_array, fre, matrix, residuals)
    if status:
        raise RegistrationError(_STATUS_MESSAGES[status])
    return PairedPointResult(matrix, fre, residuals)


def register_paired_points_stack(
    fixed_mm: np.ndarray, moving_mm: np.ndarray, used: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """K registrations of the same ``(N, 3)`` moving points at once: registration k maps
    ``moving_mm`` onto ``fixed_mm[k]`` (``(K, N, 3)``, mm), using only the pairs where
    ``used[k]`` (``(K, N)`` booleans, at least 3 each; default all) is True.

    Returns ``fixed_from_moving`` ``(K, 4, 4)`` and the FRE RMS ``(K,)`` mm: for each k, bit for
    bit what ``register_paired_points(fixed_mm[k][used[k]], moving_mm[used[k]])`` gives (the
    same kernel, called in one compiled loop: a tracker re-fits every frame of a recording this
    way). Raises RegistrationError as that function does, naming the first k that fails.
    """
    moving = as_points(moving_mm, "moving_mm", MIN_POINTS, check_finite=False)
    fixed = np.ascontiguousarray(fixed_mm, dtype=np.float64)
    if fixed.ndim != 3 or fixed.shape[1:] != moving.shape:
        raise RegistrationError(
            f"fixed_mm must have shape (K, {moving.shape[0]}, 3), one set of points per "
            f"registration paired with moving_mm; got {fixed.shape}"
        )
    count = fixed.shape[0]
    mask = np.ones(fixed.shape[:2], dtype=np.bool_) if used is None else np.asarray(used)
    if mask.shape != fixed.shape[:2] or mask.dtype != np.bool_:
        raise RegistrationError(
            f"used must be booleans of shape {fixed.shape[:2]}; got {mask.dtype} {mask.shape}"
        )
    few = mask.sum(axis=1) < MIN_POINTS
    if np.any(few):
        raise RegistrationError(
            f"registration {int(np.argmax(few))} uses fewer than {MIN_POINTS} pairs"
        )
    matrices = np.empty((count, 4, 4))
    fre = np.empty(count)
    statuses = np.empty(count, dtype=np.int64)
    _register_stack_kernel(fixed, moving, np.ascontiguousarray(mask), matrices, fre, statuses)
    for k in np.flatnonzero(statuses == _NEEDS_SVD):
        chosen = mask[k]
        statuses[k], fre[k] = _fit_by_svd(
            fixed[k][chosen], moving[chosen], None, fre[k], matrices[k], np.empty(chosen.sum())
        )
    failed = np.flatnonzero(statuses)
    if len(failed):
        first = int(failed[0])
        raise RegistrationError(f"registration {first}: {_STATUS_MESSAGES[statuses[first]]}")
    return matrices, fre


@numba.njit(cache=True)
def _register_stack_kernel(fixed, moving, used, matrices, fre, statuses):
    """``_register_kernel`` for each k on the pairs ``used[k]``, without weights (a status
    ``_NEEDS_SVD`` leaves the SVD path to the caller, as for one registration)."""
    n = moving.shape[0]
    for k in range(fixed.shape[0]):
        count = 0
        for i in range(n):
            count += used[k, i]
        chosen_fixed = np.empty((count, 3))
        chosen_moving = np.empty((count, 3))
        row = 0
        for i in range(n):
            if used[k, i]:
                for j in range(3):
                    chosen_fixed[row, j] = fixed[k, i, j]
                    chosen_moving[row, j] = moving[i, j]
                row += 1
        statuses[k], fre[k] = _register_kernel(
            chosen_fixed, chosen_moving, None, matrices[k], np.empty(count)
        )


# Load the compiled kernel now: Numba's first call in a process costs ~1 s (runtime start-up and
# cache load), which must not land on the first frame of a real-time tracking loop. Only the
# unweighted kernel, which trackers and registrations use: the weighted one is compiled (a
# first run) or loaded when first asked for.
_register_kernel(np.eye(3), np.eye(3), None, np.empty((4, 4)), np.empty(3))
_register_stack_kernel(
    np.eye(3)[None], np.eye(3), np.ones((1, 3), np.bool_), np.empty((1, 4, 4)), np.empty(1),
    np.empty(1, np.int64),
)  # fmt: skip
