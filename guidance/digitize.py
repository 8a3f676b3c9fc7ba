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
If the marker noise drifts (a Gauss-Markov process of correlation time tau), averaging n frames
removes less of it: ``mean_variance_factor`` gives the variance of the mean relative to one frame.

A third estimate needs no noise model at all: the fiducials' disagreement after registration,
``FLE = FRE / sqrt(1 - 2/N)`` (Fitzpatrick, West & Maurer 1998, the FRE-FLE relation). It sees
every error that differs between fiducials, correlated or biased, but from N points only.
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
    if the samples' errors are independent, and ``covariance_mm2`` (3, 3) that error's covariance
    (the samples' covariance / n; its trace is ``standard_error_mm**2``): a stylus tip errs
    mostly across the shaft, which matters for the TRE (``predict_tre_rms_anisotropic``).
    """

    label: str
    point_mm: np.ndarray
    n_samples: int
    n_lost: int
    scatter_rms_mm: float
    standard_error_mm: float
    covariance_mm2: np.ndarray


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
    deviations = tracked - mean
    sum_sq = float(np.sum(deviations**2))
    return DigitizedPoint(
        label=label,
        point_mm=mean,
        n_samples=n,
        n_lost=len(samples) - n,
        scatter_rms_mm=math.sqrt(sum_sq / n),
        standard_error_mm=math.sqrt(sum_sq / (n * (n - 1))),
        covariance_mm2=deviations.T @ deviations / (n * (n - 1)),
    )


def mean_variance_factor(n_samples: int, interval_s: float, correlation_time_s: float) -> float:
    """Variance of the mean of ``n_samples`` samples ``interval_s`` apart of a stationary
    Gauss-Markov process (correlation ``exp(-lag / tau)``), relative to one sample's variance:
    ``(1 + 2 sum_k (1 - k/n) a^k) / n`` with ``a = exp(-interval / tau)``; ``1/n`` when tau = 0."""
    if n_samples < 1:
        raise GuidanceError(f"need at least 1 sample; got {n_samples}")
    if correlation_time_s == 0.0:
        return 1.0 / n_samples
    a = math.exp(-interval_s / correlation_time_s)
    lags = np.arange(1, n_samples)
    return float((1.0 + 2.0 * np.sum((1.0 - lags / n_samples) * a**lags)) / n_samples)


def fle_from_fre(fre_rms_mm: float, n_fiducials: int) -> float:
    """The RMS FLE that explains an observed FRE with ``n_fiducials``: ``FRE / sqrt(1 - 2/N)``."""
    if n_fiducials < 3:
        raise GuidanceError(f"FLE from FRE needs at least 3 fiducials; got {n_fiducials}")
    return fre_rms_mm / math.sqrt(1.0 - 2.0 / n_fiducials)


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
