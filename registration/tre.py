"""Expected registration errors from the fiducial localisation error (FLE).

Fitzpatrick, West & Maurer 1998, "Predicting error in rigid-body point-based registration",
IEEE TMI 17(5):694-702. For isotropic, independent FLE of RMS ``FLE`` and N fiducials:

- target registration error, eq. 46:
  ``<TRE^2(r)> = <FLE^2>/N * (1 + 1/3 * sum_k d_k^2 / f_k^2)``, where the k are the principal axes
  of the fiducial configuration, ``d_k`` is the distance of the target r from axis k and ``f_k``
  the RMS distance of the fiducials from axis k;
- fiducial registration error (their section II, after Sibson 1979):
  ``<FRE^2> = (1 - 2/N) * <FLE^2>``. With Gaussian FLE the sum of squared residuals is
  ``FLE^2/3`` times a chi-square variable of ``3N - 6`` degrees of freedom (the 3N coordinates
  less the 6 of the fitted pose; Sibson 1979), which gives the FRE that the FLE can explain
  (``FreCheck``): a larger one means a wrong pairing, a moved marker or another error.

When the FLE is anisotropic or differs between fiducials (a tracked stylus errs mostly across
its shaft, and a patient reference more at fiducials far from it), eq. 46 fed the RMS FLE can be
wrong by tens of percent at a given target; ``predict_tre_rms_anisotropic`` propagates each
fiducial's own 3x3 error covariance to first order instead (Danilchenko & Fitzpatrick 2011,
"General approach to first-order error prediction in rigid point registration", IEEE TMI
30(3):679-693, for the unweighted registration).

The principal axes are the eigenvectors of the fiducials' centred scatter matrix, i.e. the
COLUMNS of the eigenvector matrix ``numpy.linalg.eigh`` returns. Taking its rows instead gives
the wrong axes for any configuration not aligned with the coordinate axes, and underestimates
TRE on elongated layouts by a factor of up to ~2.7.
"""

import math
from dataclasses import dataclass

import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_points

MIN_FIDUCIALS = 3
# A principal axis about which the fiducials spread less than this fraction of their total spread
# makes the configuration collinear: rotation about it is undetermined and TRE unbounded.
DEGENERATE_SPREAD_FRACTION = 1e-12


def _check_fle(fle_rms_mm: float) -> float:
    fle = float(fle_rms_mm)
    if not np.isfinite(fle) or fle < 0.0:
        raise RegistrationError(f"fle_rms_mm must be a finite distance >= 0 mm; got {fle_rms_mm}")
    return fle


def _centred_scatter(fiducials: np.ndarray) -> np.ndarray:
    """``sum_i r_i r_i^T`` (mm^2) of the fiducials about their centroid; RegistrationError if they
    are coincident or collinear."""
    centred = fiducials - fiducials.mean(axis=0)
    scatter = centred.T @ centred
    eigenvalues = np.linalg.eigvalsh(scatter)
    total = float(eigenvalues.sum())
    # Squared distance of the fiducials from principal axis k: the spread along the others.
    if total <= 0.0 or (total - eigenvalues).min() <= DEGENERATE_SPREAD_FRACTION * total:
        raise RegistrationError(
            "the fiducials are coincident or collinear: TRE is unbounded for rotations about "
            "their common line (use at least 3 fiducials that are not on one line)"
        )
    return scatter


def _cross_matrices(vectors: np.ndarray) -> np.ndarray:
    """``[v]x`` (..., 3, 3) for vectors (..., 3): ``[v]x @ w = cross(v, w)``."""
    x, y, z = np.moveaxis(vectors, -1, 0)
    zero = np.zeros_like(x)
    return np.stack(
        [np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)],
        -2,
    )


def _check_covariances(covariances: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(covariances, dtype=np.float64)
    if array.shape != (n, 3, 3):
        raise RegistrationError(
            f"fle_covariances_mm2 must have shape ({n}, 3, 3), one per fiducial; got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise RegistrationError("fle_covariances_mm2 contains NaN or infinite values")
    scale = max(float(np.abs(array).max()), np.finfo(float).tiny)
    if not np.allclose(array, np.swapaxes(array, 1, 2), rtol=0.0, atol=1e-9 * scale):
        raise RegistrationError("fle_covariances_mm2 must be symmetric 3x3 matrices")
    if np.linalg.eigvalsh(array).min() < -1e-9 * scale:
        raise RegistrationError(
            "fle_covariances_mm2 must be positive semi-definite (no negative variance)"
        )
    return array


def predict_tre_rms_anisotropic(
    fiducials_mm: np.ndarray, fle_covariances_mm2: np.ndarray, targets_mm: np.ndarray
) -> np.ndarray:
    """RMS target registration error (mm) expected at each of the ``(M, 3)`` targets when each of
    the ``(N, 3)`` fiducials has its own, independent localisation error of covariance
    ``fle_covariances_mm2[i]`` (N, 3, 3; mm^2, same frame as the fiducials and targets).

    First order, unweighted registration (Danilchenko & Fitzpatrick 2011, IEEE TMI 30(3)): the
    error at target y is ``sum_i A_i e_i`` with ``A_i = I/N - [u]x B_i``, where ``u = y - c`` is
    the target's offset from the fiducials' centroid c, ``B_i = M^-1 [r_i]x``, ``r_i`` the
    fiducials' offsets from c and ``M = sum_i [r_i]x [r_i]x^T``; so
    ``<TRE^2> = sum_i trace(A_i C_i A_i^T)``. Expanded, that sum is a quadratic in u whose
    coefficients do not depend on the target (``[u]x^T [u]x = |u|^2 I - u u^T``)::

        <TRE^2>(u) = trace(sum_i C_i) / N^2 - 2/N u . w + |u|^2 trace(Q) - u^T Q u,
        P = sum_i B_i C_i,  Q = sum_i B_i C_i B_i^T,  w = (P_12 - P_21, P_20 - P_02, P_01 - P_10)

    so a whole plane of targets costs a few operations each (``tests/registration/test_tre.py``
    keeps the per-fiducial sum as the reference it is checked against). Equals
    ``predict_tre_rms`` (eq. 46) when every ``C_i`` is ``FLE^2 / 3 * I``.

    Raises RegistrationError for fewer than 3 fiducials, collinear fiducials, or covariances of
    the wrong shape, not symmetric or with a negative variance.
    """
    fiducials = as_points(fiducials_mm, "fiducials_mm", MIN_FIDUCIALS)
    targets = as_points(targets_mm, "targets_mm")
    n = fiducials.shape[0]
    covariances = _check_covariances(fle_covariances_mm2, n)
    centre = fiducials.mean(axis=0)
    scatter = _centred_scatter(fiducials)
    m_inverse = np.linalg.inv(np.trace(scatter) * np.eye(3) - scatter)
    b = m_inverse @ _cross_matrices(fiducials - centre)  # B_i, (N, 3, 3)
    p = np.einsum("nab,nbc->ac", b, covariances)
    q = np.einsum("nab,nbc,ndc->ad", b, covariances, b)
    w = np.array([p[1, 2] - p[2, 1], p[2, 0] - p[0, 2], p[0, 1] - p[1, 0]])
    u = targets - centre
    tre_sq = (
        np.trace(covariances.sum(axis=0)) / (n * n)
        - 2.0 / n * (u @ w)
        + np.einsum("ma,ma->m", u, u) * np.trace(q)
        - np.einsum("ma,ab,mb->m", u, q, u)
    )
    return np.sqrt(np.maximum(tre_sq, 0.0))


def predict_tre_rms(
    fiducials_mm: np.ndarray, fle_rms_mm: float, targets_mm: np.ndarray
) -> np.ndarray:
    """RMS target registration error (mm) expected at each of the ``(M, 3)`` targets, for the
    ``(N, 3)`` fiducial configuration localised with isotropic RMS error ``fle_rms_mm``
    (Fitzpatrick, West & Maurer 1998, eq. 46). Fiducials and targets share one frame (mm).

    Raises RegistrationError for fewer than 3 fiducials, collinear fiducials or a negative FLE.
    """
    fiducials = as_points(fiducials_mm, "fiducials_mm", MIN_FIDUCIALS)
    targets = as_points(targets_mm, "targets_mm")
    fle = _check_fle(fle_rms_mm)
    n = fiducials.shape[0]
    centre = fiducials.mean(axis=0)
    eigenvalues, axes = np.linalg.eigh(_centred_scatter(fiducials) / n)
    f_sq = eigenvalues.sum() - eigenvalues
    offsets = targets - centre
    along = offsets @ axes  # (M, 3): coordinate of each target along each axis (column k)
    d_sq = np.sum(offsets * offsets, axis=1)[:, None] - along * along
    tre_sq = fle * fle / n * (1.0 + np.sum(d_sq / f_sq, axis=1) / 3.0)
    return np.sqrt(tre_sq)


def expected_fre_rms(n_fiducials: int, fle_rms_mm: float) -> float:
    """RMS fiducial registration error (mm) expected for ``n_fiducials`` localised with isotropic
    RMS error ``fle_rms_mm``: ``sqrt(1 - 2/N) * FLE`` (Fitzpatrick, West & Maurer 1998).

    FRE says how well the fiducials agree with each other, not how accurate the registration is
    at a target: use ``predict_tre_rms`` for that.
    """
    if int(n_fiducials) != n_fiducials or n_fiducials < MIN_FIDUCIALS:
        raise RegistrationError(
            f"n_fiducials must be an integer >= {MIN_FIDUCIALS}; got {n_fiducials}"
        )
    return float(np.sqrt(1.0 - 2.0 / n_fiducials) * _check_fle(fle_rms_mm))


@dataclass(frozen=True)
class FreCheck:
    """Whether an observed FRE is more than an FLE of ``fle_rms_mm`` (isotropic, Gaussian) can
    explain: it exceeds ``limit_mm(N)`` with probability ``false_alarm`` only.

    ``fle_rms_mm`` defaults to a generous 2 mm (skin markers localised in CT and touched with a
    tracked stylus), so that an FRE it cannot explain is an error and not bad luck; give the
    FLE of your set-up when you know it.
    """

    fle_rms_mm: float = 2.0
    false_alarm: float = 1e-3

    def __post_init__(self) -> None:
        _check_fle(self.fle_rms_mm)
        if not 0.0 < self.false_alarm < 1.0:
            raise RegistrationError(f"false_alarm must be in (0, 1); got {self.false_alarm}")

    def limit_mm(self, n_fiducials: int) -> float:
        """The RMS FRE (mm) that ``n_fiducials`` exceed with probability ``false_alarm``:
        ``FLE * sqrt(q / (3 N))`` with ``q`` the chi-square(3N - 6) quantile of 1 - false_alarm.
        """
        from scipy.stats import chi2  # scipy.stats costs ~0.3 s to import: only when used

        expected_fre_rms(n_fiducials, self.fle_rms_mm)  # validates n_fiducials
        dof = 3 * n_fiducials - 6
        quantile = float(chi2.isf(self.false_alarm, dof))
        return self.fle_rms_mm * math.sqrt(quantile / (3 * n_fiducials))
