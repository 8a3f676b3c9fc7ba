"""The error model of a digitised point: how the tracker's marker noise reaches a stylus tip held
in a reference frame, how much of it averaging a dwell removes, and what FLE an observed FRE
implies.

Predicted: an optical tool's pose is a least-squares fit of its markers, so a point fixed in the
tool frame is a "target" of that fit, and its error follows Fitzpatrick, West & Maurer 1998
(IEEE TMI 17(5), eq. 46) with the marker jitter as FLE (the use West & Maurer 2004, IEEE TMI
23(5), make of it to design tools). The tip in the reference frame carries the error of both fits.
If the marker noise drifts (a Gauss-Markov process of correlation time tau), averaging n frames
removes less of it: ``mean_variance_factor`` gives the variance of the mean relative to one frame.

Observed: the fiducials' disagreement after registration gives ``FLE = FRE / sqrt(1 - 2/N)``
(Fitzpatrick, West & Maurer 1998, the FRE-FLE relation). It sees every error that differs
between fiducials, correlated or biased, but from N points only.
"""

import math

import numpy as np

from registration.exceptions import RegistrationError
from registration.tre import predict_tre_rms


def mean_variance_factor(n_samples: int, interval_s: float, correlation_time_s: float) -> float:
    """Variance of the mean of ``n_samples`` samples ``interval_s`` apart of a stationary
    Gauss-Markov process (correlation ``exp(-lag / tau)``), relative to one sample's variance:
    ``(1 + 2 sum_k (1 - k/n) a^k) / n`` with ``a = exp(-interval / tau)``; ``1/n`` when tau = 0."""
    if n_samples < 1:
        raise RegistrationError(f"need at least 1 sample; got {n_samples}")
    if correlation_time_s == 0.0:
        return 1.0 / n_samples
    a = math.exp(-interval_s / correlation_time_s)
    lags = np.arange(1, n_samples)
    return float((1.0 + 2.0 * np.sum((1.0 - lags / n_samples) * a**lags)) / n_samples)


def fle_from_fre(fre_rms_mm: float, n_fiducials: int) -> float:
    """The RMS FLE that explains an observed FRE with ``n_fiducials``: ``FRE / sqrt(1 - 2/N)``."""
    if n_fiducials < 3:
        raise RegistrationError(f"FLE from FRE needs at least 3 fiducials; got {n_fiducials}")
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
