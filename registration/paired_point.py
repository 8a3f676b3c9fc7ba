"""Paired-point rigid registration: the rotation and translation that best map moving points onto
their fixed partners in the (weighted) least-squares sense.

Arun, Huang & Blostein 1987 (IEEE PAMI 9(5)) solve it with the SVD of the 3x3 cross-covariance;
Umeyama 1991 (IEEE PAMI 13(4), eq. 39-40) adds the determinant-sign correction so that the answer
is always a rotation, never a reflection. Weights follow the same derivation with weighted
centroids and a weighted cross-covariance.

One call is one small Numba kernel: the validation of values (NaN, coincident or collinear points,
bad weights) happens inside it and comes back as a status code, so the Python overhead per call
stays at a few microseconds; the public function turns a bad status into a RegistrationError.
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

_OK = 0
_NON_FINITE_FIXED = 1
_NON_FINITE_MOVING = 2
_BAD_WEIGHTS = 3
_COINCIDENT = 4
_COLLINEAR = 5

_STATUS_MESSAGES = {
    _NON_FINITE_FIXED: "fixed_mm contains NaN or infinite coordinates",
    _NON_FINITE_MOVING: "moving_mm contains NaN or infinite coordinates",
    _BAD_WEIGHTS: "weights must be finite and >= 0, with at least 3 of them > 0",
    _COINCIDENT: "the points are all at the same place: no rotation can be estimated",
    _COLLINEAR: "the points lie on one line: the rotation about that line is undetermined "
    "(use at least 3 points that are not collinear)",
}

_UNIFORM = np.empty(0)


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
def _det3(m: np.ndarray) -> float:
    return (
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )


@numba.njit(cache=True)
def rotation_from_covariance(h: np.ndarray) -> np.ndarray:
    """Rotation R maximising trace(R @ h) where ``h = sum w m f^T`` (moving x fixed, 3x3).

    Umeyama 1991 eq. 39-40: with ``h = U S V^T``, ``R = V diag(1, 1, sign det(V U^T)) U^T``.
    Shared by the ICP point-to-point step.
    """
    u, _, vt = np.linalg.svd(h)
    return _rotation_from_svd(u, vt)


@numba.njit(cache=True)
def _rotation_from_svd(u: np.ndarray, vt: np.ndarray) -> np.ndarray:
    rotation = vt.T @ u.T
    if _det3(rotation) < 0.0:
        d = np.eye(3)
        d[2, 2] = -1.0
        rotation = vt.T @ d @ u.T
    return rotation


@numba.njit(cache=True)
def _register_kernel(fixed, moving, weights):
    """Weighted Arun/Umeyama fit; returns (fixed_from_moving, residuals, fre_rms, status)."""
    n = fixed.shape[0]
    matrix = np.eye(4)
    residuals = np.zeros(n)
    for i in range(n):
        for j in range(3):
            if not np.isfinite(fixed[i, j]):
                return matrix, residuals, np.nan, _NON_FINITE_FIXED
            if not np.isfinite(moving[i, j]):
                return matrix, residuals, np.nan, _NON_FINITE_MOVING
    uniform = weights.shape[0] == 0
    total = 0.0
    positive = 0
    if uniform:
        total = float(n)
        positive = n
    else:
        for i in range(n):
            w = weights[i]
            if not np.isfinite(w) or w < 0.0:
                return matrix, residuals, np.nan, _BAD_WEIGHTS
            total += w
            if w > 0.0:
                positive += 1
    if positive < 3:
        return matrix, residuals, np.nan, _BAD_WEIGHTS
    # Weighted centroids (Arun eq. 4-5 with weights).
    centre_f = np.zeros(3)
    centre_m = np.zeros(3)
    for i in range(n):
        w = 1.0 if uniform else weights[i]
        for j in range(3):
            centre_f[j] += w * fixed[i, j]
            centre_m[j] += w * moving[i, j]
    centre_f /= total
    centre_m /= total
    # Cross-covariance H = sum w (m - cm)(f - cf)^T (Arun eq. 11), and the spread for the scale.
    h = np.zeros((3, 3))
    spread = 0.0
    for i in range(n):
        w = 1.0 if uniform else weights[i]
        for a in range(3):
            ma = moving[i, a] - centre_m[a]
            spread += w * ma * ma
            for b in range(3):
                h[a, b] += w * ma * (fixed[i, b] - centre_f[b])
    u, singular, vt = np.linalg.svd(h)
    if singular[0] <= 1e-24 * max(1.0, spread) or spread <= 1e-24:
        return matrix, residuals, np.nan, _COINCIDENT
    if singular[1] <= COLLINEAR_TOL * singular[0]:
        return matrix, residuals, np.nan, _COLLINEAR
    rotation = _rotation_from_svd(u, vt)
    translation = centre_f - rotation @ centre_m
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    sum_sq = 0.0
    for i in range(n):
        sq = 0.0
        for a in range(3):
            mapped = translation[a]
            for b in range(3):
                mapped += rotation[a, b] * moving[i, b]
            d = mapped - fixed[i, a]
            sq += d * d
        residuals[i] = np.sqrt(sq)
        sum_sq += (1.0 if uniform else weights[i]) * sq
    return matrix, residuals, np.sqrt(sum_sq / total), _OK


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
    if fixed.shape[0] != moving.shape[0]:
        raise RegistrationError(
            f"fixed_mm and moving_mm must pair up point by point; got {fixed.shape[0]} fixed and "
            f"{moving.shape[0]} moving points"
        )
    if weights is None:
        weight_array = _UNIFORM
    else:
        weight_array = np.ascontiguousarray(weights, dtype=np.float64)
        if weight_array.shape != (fixed.shape[0],):
            raise RegistrationError(
                f"weights must have shape ({fixed.shape[0]},), one per pair; "
                f"got {weight_array.shape}"
            )
    matrix, residuals, fre, status = _register_kernel(fixed, moving, weight_array)
    if status != _OK:
        raise RegistrationError(_STATUS_MESSAGES[status])
    return PairedPointResult(matrix, float(fre), residuals)


# Load the compiled kernel now: Numba's first call in a process costs ~1 s (runtime start-up and
# cache load), which must not land on the first frame of a real-time tracking loop.
_register_kernel(np.eye(3), np.eye(3), _UNIFORM)
