"""The estimate-errors step: what the registration's own numbers say about its error.

Three estimates of the fiducial localisation error (FLE), each blind to something:
- from the scatter of each dwell (``registration.digitize``): sees the tracker's frame-to-frame
  jitter only; a drift, a calibration error or a misplaced tip leave no scatter;
- from the FRE, ``FRE / sqrt(1 - 2/N)`` (``registration.error_model``): sees every error that
  differs between fiducials, from N points only;
- neither sees an error common to all points (a shifted CT, a pivot error with the stylus held
  the same way everywhere): only a validation point measures that.
The predicted TRE at each target is Fitzpatrick, West & Maurer 1998 (eq. 46) with the FLE from
the FRE; the anisotropic propagation of the dwells' covariances (Danilchenko & Fitzpatrick 2011)
is kept beside it, and is smaller: the dwells' scatter is only part of the FLE.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guidance.exercises.digitise import CapturedPoint
from guidance.exercises.register import PointRegistration
from registration.error_model import fle_from_fre
from registration.tre import expected_fre_rms, predict_tre_rms, predict_tre_rms_anisotropic


@dataclass(frozen=True, eq=False)
class ErrorEstimate:
    """The estimate step's record (mm): the FLE from the FRE and from the dwells' scatter, the
    FRE the scatter alone would give, and the RMS TRE predicted at each target (M,), from the
    FRE's FLE (eq. 46) and from the dwells' covariances."""

    fle_from_fre_mm: float
    fle_from_scatter_mm: float
    expected_fre_from_scatter_mm: float
    predicted_tre_mm: np.ndarray
    predicted_tre_from_scatter_mm: np.ndarray


def estimate_errors(
    registration: PointRegistration,
    captured: Sequence[CapturedPoint],
    targets_mm: np.ndarray,
) -> ErrorEstimate:
    """The estimates for a registration of ``captured`` points, at ``targets_mm`` (M, 3, CT mm)."""
    used = {point.label: point for point in captured}
    points = [used[label].period.point for label in registration.labels]
    n = len(points)
    fle_fre = fle_from_fre(registration.fre_mm, n)
    fle_scatter = math.sqrt(np.mean([p.standard_error_mm**2 for p in points]))
    targets = np.asarray(targets_mm, dtype=np.float64).reshape(-1, 3)
    rotation = registration.image_from_reference[:3, :3]
    covariances = np.array([rotation @ p.covariance_mm2 @ rotation.T for p in points])
    if len(targets):
        tre = predict_tre_rms(registration.ct_mm, fle_fre, targets)
        tre_scatter = predict_tre_rms_anisotropic(registration.ct_mm, covariances, targets)
    else:
        tre = tre_scatter = np.empty(0)
    return ErrorEstimate(fle_fre, fle_scatter, expected_fre_rms(n, fle_scatter), tre, tre_scatter)
