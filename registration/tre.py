"""Expected registration errors from the fiducial localisation error (FLE).

Fitzpatrick, West & Maurer 1998, "Predicting error in rigid-body point-based registration",
IEEE TMI 17(5):694-702. For isotropic, independent FLE of RMS ``FLE`` and N fiducials:

- target registration error, eq. 46:
  ``<TRE^2(r)> = <FLE^2>/N * (1 + 1/3 * sum_k d_k^2 / f_k^2)``, where the k are the principal axes
  of the fiducial configuration, ``d_k`` is the distance of the target r from axis k and ``f_k``
  the RMS distance of the fiducials from axis k;
- fiducial registration error (their section II, after Sibson 1979):
  ``<FRE^2> = (1 - 2/N) * <FLE^2>``.

The principal axes are the eigenvectors of the fiducials' centred scatter matrix, i.e. the
COLUMNS of the eigenvector matrix ``numpy.linalg.eigh`` returns. Taking its rows instead gives
the wrong axes for any configuration not aligned with the coordinate axes, and underestimates
TRE on elongated layouts by a factor of up to ~2.7.
"""

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
    centred = fiducials - centre
    eigenvalues, axes = np.linalg.eigh(centred.T @ centred / n)
    total = float(eigenvalues.sum())
    # Mean squared distance of the fiducials from principal axis k: the spread along the others.
    f_sq = total - eigenvalues
    if total <= 0.0 or f_sq.min() <= DEGENERATE_SPREAD_FRACTION * total:
        raise RegistrationError(
            "the fiducials are coincident or collinear: TRE is unbounded for rotations about "
            "their common line (use at least 3 fiducials that are not on one line)"
        )
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
