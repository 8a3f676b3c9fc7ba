"""Digitising a point with a tracked stylus: average the tip over a dwell, and say how uncertain
the average is, both as measured and as the tracker's noise model predicts.

Measured: the samples of one dwell scatter around their mean; if the frames' errors are
independent, the error of the mean has RMS ``sqrt(sum |x_i - mean|^2 / (n (n - 1)))`` (the
standard error of a mean, summed over the three axes). A real tracker's noise is correlated from
frame to frame and has biases (calibration, divot fit) that no scatter reveals, so on real data
this is a lower bound of the fiducial localisation error (FLE).

Predicted: an optical tool's pose is a least-squares fit of its markers, so a point fixed in the
tool frame is a "target" of that fit, and its error follows Fitzpatrick, West & Maurer 1998
(IEEE TMI 17(5), eq. 46) with the marker jitter as FLE (the use West & Maurer 2004, IEEE TMI
23(5), make of it to design tools). The tip in the reference frame carries the error of both fits.
"""

import math
from dataclasses import dataclass

import numpy as np

from guidance.exceptions import GuidanceError
from registration.tre import predict_tre_rms

MIN_SAMPLES = 2


@dataclass(frozen=True, eq=False)
class DigitizedPoint:
    """The mean tip position of one dwell.

    ``point_mm`` (3,) is the mean of the ``n_samples`` tracked samples (frame of the samples,
    mm); ``n_lost`` frames of the dwell had no valid pose. ``scatter_rms_mm`` is the RMS 3D
    distance of the samples from their mean; ``standard_error_mm`` the RMS 3D error of the mean
    if the samples' errors are independent.
    """

    label: str
    point_mm: np.ndarray
    n_samples: int
    n_lost: int
    scatter_rms_mm: float
    standard_error_mm: float


def digitize(label: str, samples_mm: np.ndarray) -> DigitizedPoint:
    """Average the ``(n, 3)`` tip samples of a dwell; NaN rows are frames where a tool was lost.

    Raises GuidanceError when fewer than 2 samples were tracked (no mean, or no scatter).
    """
    samples = np.asarray(samples_mm, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 3:
        raise GuidanceError(f"point {label}: samples must have shape (n, 3); got {samples.shape}")
    tracked = samples[np.all(np.isfinite(samples), axis=1)]
    n = len(tracked)
    if n < MIN_SAMPLES:
        raise GuidanceError(
            f"point {label}: {n} tracked samples during the dwell (of {len(samples)} frames); "
            f"at least {MIN_SAMPLES} are needed: was the stylus or the reference hidden?"
        )
    mean = tracked.mean(axis=0)
    sum_sq = float(np.sum((tracked - mean) ** 2))
    return DigitizedPoint(
        label=label,
        point_mm=mean,
        n_samples=n,
        n_lost=len(samples) - n,
        scatter_rms_mm=math.sqrt(sum_sq / n),
        standard_error_mm=math.sqrt(sum_sq / (n * (n - 1))),
    )


def tool_point_error_rms_mm(
    markers_mm: np.ndarray, marker_jitter_rms_mm: float, points_mm: np.ndarray
) -> np.ndarray:
    """RMS error (mm) of each ``(M, 3)`` point fixed in a tool's frame, per frame, when each of the
    tool's ``markers_mm`` (N, 3) is localised with ``marker_jitter_rms_mm`` RMS (3D)."""
    return predict_tre_rms(markers_mm, marker_jitter_rms_mm, np.atleast_2d(points_mm))


def tip_in_reference_error_rms_mm(
    stylus_markers_mm: np.ndarray,
    tip_in_stylus_mm: np.ndarray,
    reference_markers_mm: np.ndarray,
    tip_in_reference_mm: np.ndarray,
    marker_jitter_rms_mm: float,
) -> float:
    """Predicted RMS error (mm) of one frame's tip position in the reference frame.

    The stylus fit moves the tip; the reference fit moves the reference frame, i.e. the tip's
    coordinates in it, as much as it would move a point of the reference at the tip's place.
    The two fits are independent, so their mean squares add.
    """
    stylus = tool_point_error_rms_mm(stylus_markers_mm, marker_jitter_rms_mm, tip_in_stylus_mm)
    reference = tool_point_error_rms_mm(
        reference_markers_mm, marker_jitter_rms_mm, tip_in_reference_mm
    )
    return float(math.hypot(stylus[0], reference[0]))
