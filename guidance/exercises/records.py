"""Small helpers that turn step records into report.json values: rounded numbers (null when not
finite or absent), lists of coordinates, RMS of a list."""

import math
from collections.abc import Sequence

import numpy as np

DECIMALS = 4


def rounded(value: float | None, decimals: int = DECIMALS) -> float | None:
    """``value`` rounded for the report; None for None, NaN or an infinite value."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), decimals)


def listed(point: np.ndarray, decimals: int = DECIMALS) -> list[float]:
    """Coordinates for the report, rounded."""
    return [round(float(v), decimals) for v in np.asarray(point).ravel()]


def rms(values: Sequence[float]) -> float | None:
    """Root mean square of ``values``; None when there are none."""
    return math.sqrt(float(np.mean(np.square(values)))) if len(values) else None
