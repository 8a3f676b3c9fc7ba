"""The register step: the captured points onto the CT's, by paired-point registration.

``image_from_reference`` maps the reference tool's frame (where the stylus digitised the points)
into the CT (LPS, mm). The FRE says how well the points agree with one another after the fit;
it says little about the error at a target (Fitzpatrick 1998; ``estimate``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guidance.exceptions import GuidanceError
from guidance.exercises.digitise import CapturedPoint
from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points

MIN_POINTS = 3


@dataclass(frozen=True, eq=False)
class PointRegistration:
    """The register step's record: ``image_from_reference`` (4x4, mm), the ``labels`` used in
    order, their CT points ``ct_mm`` (N, 3) and digitised points ``reference_mm`` (N, 3), the
    ``residuals_mm`` (N,) after the fit and their RMS ``fre_mm``."""

    image_from_reference: np.ndarray
    labels: tuple[str, ...]
    ct_mm: np.ndarray
    reference_mm: np.ndarray
    residuals_mm: np.ndarray
    fre_mm: float


def register_points(
    captured: Sequence[CapturedPoint], ct_points: dict[str, np.ndarray]
) -> PointRegistration:
    """Register the ``captured`` points (reference frame) onto their CT points (by label).

    Raises GuidanceError, naming what is missing, with fewer than 3 points or points on a line.
    """
    if len(captured) < MIN_POINTS:
        raise GuidanceError(
            f"registration needs at least {MIN_POINTS} captured points; got {len(captured)} "
            f"({', '.join(point.label for point in captured) or 'none'})"
        )
    labels = tuple(point.label for point in captured)
    fixed = np.array([ct_points[label] for label in labels])
    moving = np.array([point.point_mm for point in captured])
    try:
        result = register_paired_points(fixed, moving)
    except RegistrationError as error:
        raise GuidanceError(f"cannot register {', '.join(labels)}: {error}") from error
    return PointRegistration(
        result.fixed_from_moving, labels, fixed, moving, result.residuals_mm, result.fre_rms_mm
    )
