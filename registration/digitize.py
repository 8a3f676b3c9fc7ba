"""Digitising points with a tracked stylus: find when the tip was held still, average the tip over
each such dwell, and say how uncertain the average is.

Still: a dwell is a stretch of at least ``still_s`` seconds during which the RMS distance of the
tip samples from their mean stays within ``still_mm`` (in the frame of the samples, e.g. the
reference tool's). The RMS, not the largest distance, so that one noisy frame does not split a
dwell; a window that grows past the threshold is trimmed from its start, so a dwell begins where
the tip settled, not where it started to slow down, and the first samples of the departure,
which the RMS lets in, are trimmed from its end. ``StillnessDetector`` takes one sample at a
time (the live exercise announces each capture as it happens); ``find_still_periods`` runs the
same detector over a whole recording (``gestes capture``, replay and grading): one rule, so a
replay captures exactly what the live run captured.

Measured: the samples of one dwell scatter around their mean; if the frames' errors are
independent, the error of the mean has RMS ``sqrt(sum |x_i - mean|^2 / (n (n - 1)))`` (the
standard error of a mean, summed over the three axes). A real tracker's noise is correlated from
frame to frame and has biases (calibration, divot fit) that no scatter reveals, so on real data
this is a lower bound of the fiducial localisation error (FLE); ``registration.error_model``
predicts it from the tracker's noise instead.
"""

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import as_pose_stack

MIN_SAMPLES = 2
# A tip position as the stillness detector keeps it: three floats x, y, z (mm).
Point = Sequence[float]


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

    Raises RegistrationError when fewer than 2 samples were tracked (no mean, or no scatter).
    """
    samples = np.asarray(samples_mm, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 3:
        raise RegistrationError(
            f"point {label}: samples must have shape (n, 3); got {samples.shape}"
        )
    tracked = samples[np.all(np.isfinite(samples), axis=1)]
    n = len(tracked)
    if n < MIN_SAMPLES:
        raise RegistrationError(
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


def tips_in_reference_mm(
    tracker_from_stylus: np.ndarray,
    tracker_from_reference: np.ndarray,
    tip_in_stylus_mm: np.ndarray,
) -> np.ndarray:
    """The stylus tip in the reference tool's frame (F, 3) mm, for ``(F, 4, 4)`` stacks of both
    tools' poses (tracker frame); NaN rows where either pose is NaN (a lost tool).

    ``reference_from_stylus = inverse(tracker_from_reference) @ tracker_from_stylus``, frame by
    frame, applied to ``tip_in_stylus_mm`` (3,).
    """
    stylus = np.asarray(tracker_from_stylus, dtype=np.float64)
    reference = np.asarray(tracker_from_reference, dtype=np.float64)
    if stylus.shape != reference.shape or stylus.ndim != 3 or stylus.shape[1:] != (4, 4):
        raise RegistrationError(
            "tool poses must be two (F, 4, 4) stacks of the same length; got "
            f"{stylus.shape} and {reference.shape}"
        )
    tip = np.asarray(tip_in_stylus_mm, dtype=np.float64).reshape(3)
    tracked = np.all(np.isfinite(stylus), axis=(1, 2)) & np.all(np.isfinite(reference), axis=(1, 2))
    tips = np.full((len(stylus), 3), np.nan)
    if tracked.any():
        # Rigidity at the tolerance of recorded matrices (PLUS files print few digits).
        as_pose_stack(stylus[tracked], "tracker_from_stylus", tol=1e-3)
        as_pose_stack(reference[tracked], "tracker_from_reference", tol=1e-3)
        in_tracker = np.einsum("fij,j->fi", stylus[tracked, :3, :3], tip) + stylus[tracked, :3, 3]
        offsets = in_tracker - reference[tracked, :3, 3]
        # R^T (p - t): the inverse of a rigid transform without a 4x4 inversion per frame.
        tips[tracked] = np.einsum("fji,fj->fi", reference[tracked, :3, :3], offsets)
    return tips


@dataclass(frozen=True)
class StillnessSettings:
    """When the tip counts as held still: the RMS distance of the samples from their mean stays
    within ``still_mm`` (mm) for at least ``still_s`` seconds."""

    still_mm: float = 0.3
    still_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("still_mm", "still_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
                raise RegistrationError(f"{name} must be a number > 0; got {value!r}")


@dataclass(frozen=True, eq=False)
class StillPeriod:
    """One dwell: samples ``first``..``last`` (indices into the stream, inclusive), from
    ``start_s`` to ``end_s`` (the samples' times), and their mean ``point`` (its ``n_lost``
    counts the samples without a tip in between)."""

    first: int
    last: int
    start_s: float
    end_s: float
    point: DigitizedPoint

    @property
    def description(self) -> str:
        """Where the dwell is in its recording, for a markups point's description."""
        return f"frames {self.first}-{self.last} ({self.start_s:.3f}-{self.end_s:.3f} s)"


class StillnessDetector:
    """Finds dwells in a stream of tip positions, one sample at a time (see the module docstring).

    ``push`` returns a ``StillPeriod`` when the sample just given ends one (the tip moved away);
    ``finish`` returns the dwell still open when the stream ends, if it lasted long enough.
    Samples are given in time order; a lost tip (None or NaN) does not end a dwell by itself.
    (The running sums are plain floats, not numpy arrays: a detector takes every frame of a
    recording, and numpy's per-call overhead on 3-vectors would cost more than the arithmetic.)
    """

    def __init__(self, settings: StillnessSettings = StillnessSettings()) -> None:
        self._settings = settings
        self._window: deque[tuple[int, float, Point | None]] = deque()
        self._anchor: Point = (0.0, 0.0, 0.0)
        self._sum = [0.0, 0.0, 0.0]
        self._sum_sq = 0.0
        self._count = 0

    def push(self, index: int, time_s: float, tip_mm: np.ndarray | None) -> StillPeriod | None:
        """Add the sample ``index`` taken at ``time_s`` (s); ``tip_mm`` (3,) or None if lost."""
        if tip_mm is None:
            return self._push(index, time_s, None)
        x, y, z = np.asarray(tip_mm, dtype=np.float64).reshape(3).tolist()
        return self._push(index, time_s, (x, y, z))

    def _push(self, index: int, time_s: float, point: Point | None) -> StillPeriod | None:
        """``push`` for a tip given as 3 floats."""
        if point is None or not all(map(math.isfinite, point)):
            if self._count:
                self._window.append((index, time_s, None))
            return None
        if self._count == 0:
            self._window.clear()
            self._anchor = point
        self._add(index, time_s, point)
        if self._spread_mm() <= self._settings.still_mm:
            return None
        # The tip left the ball: close the dwell without this sample if it lasted long enough,
        # else forget the oldest samples until the rest (with this one) is still again.
        self._window.pop()
        self._subtract(point)
        if self._lasted():
            period = self._close()
            self._anchor = point
            self._add(index, time_s, point)
            return period
        self._add(index, time_s, point)
        while self._spread_mm() > self._settings.still_mm:
            self._remove_first()
        return None

    @property
    def held_s(self) -> float:
        """How long (s) the tip has been still so far: the span of the open window of still
        samples (0 before two samples); a dwell once it reaches ``still_s``."""
        window = self._tracked() if self._count else []
        return window[-1][1] - window[0][1] if len(window) > 1 else 0.0

    @property
    def held_since(self) -> int | None:
        """The index of the first sample of the still window (None when there is none)."""
        return self._window[0][0] if self._count else None

    def finish(self) -> StillPeriod | None:
        """The dwell open when the stream ends, if it lasted ``still_s``; resets the detector."""
        period = self._close() if self._lasted() else None
        self._clear()
        return period

    def _offset(self, point: Point) -> Point:
        """The point relative to the window's anchor (sums stay small: no digits lost)."""
        ax, ay, az = self._anchor
        return point[0] - ax, point[1] - ay, point[2] - az

    def _add(self, index: int, time_s: float, point: Point) -> None:
        dx, dy, dz = self._offset(point)
        self._window.append((index, time_s, point))
        total = self._sum
        total[0] += dx
        total[1] += dy
        total[2] += dz
        self._sum_sq += dx * dx + dy * dy + dz * dz
        self._count += 1

    def _subtract(self, point: Point) -> None:
        dx, dy, dz = self._offset(point)
        total = self._sum
        total[0] -= dx
        total[1] -= dy
        total[2] -= dz
        self._sum_sq -= dx * dx + dy * dy + dz * dz
        self._count -= 1

    def _remove_first(self) -> None:
        """Drop the oldest sample, and the lost ones right after it (a dwell starts tracked)."""
        self._subtract(self._window.popleft()[2])
        while self._window and self._window[0][2] is None:
            self._window.popleft()

    def _clear(self) -> None:
        self._window.clear()
        self._sum = [0.0, 0.0, 0.0]
        self._sum_sq = 0.0
        self._count = 0

    def _spread_mm(self) -> float:
        """RMS distance of the window's samples from their mean."""
        count = self._count
        sx, sy, sz = self._sum
        mx, my, mz = sx / count, sy / count, sz / count
        return math.sqrt(max(self._sum_sq / count - (mx * mx + my * my + mz * mz), 0.0))

    def _tracked(self) -> list[tuple[int, float, Point | None]]:
        """The window without the lost samples at its end."""
        window = list(self._window)
        while window and window[-1][2] is None:
            window.pop()
        return window

    def _lasted(self) -> bool:
        window = self._tracked()
        return self._count >= MIN_SAMPLES and window[-1][1] - window[0][1] >= self._settings.still_s

    def _close(self) -> StillPeriod:
        """The window as a dwell; the window is emptied.

        The RMS criterion lets the last samples of the arrival and the first of the departure
        in (a few samples far out move the RMS little): samples at either end farther than
        ``still_mm`` from the window's median are left out, so that they do not pull the mean
        (a noisy sample at an end may go too: a frame lost, no bias).
        """
        window = self._tracked()
        self._clear()
        median = np.median(np.array([p for _, _, p in window if p is not None]), axis=0)
        limit = self._settings.still_mm

        def outside(item: tuple[int, float, Point | None]) -> bool:
            return item[2] is None or float(np.linalg.norm(np.subtract(item[2], median))) > limit

        while len(window) > MIN_SAMPLES and outside(window[-1]):
            window.pop()
        while len(window) > MIN_SAMPLES and outside(window[0]):
            window.pop(0)
        (first, start_s, _), (last, end_s, _) = window[0], window[-1]
        samples = np.array([np.full(3, np.nan) if p is None else p for _, _, p in window])
        point = digitize(f"frames {first}-{last}", samples)
        return StillPeriod(first, last, start_s, end_s, point)


def find_still_periods(
    times_s: np.ndarray, tips_mm: np.ndarray, settings: StillnessSettings = StillnessSettings()
) -> tuple[StillPeriod, ...]:
    """Every dwell of ``tips_mm`` (F, 3) mm, NaN rows where the tip was lost, sampled at
    ``times_s`` (F,) s, in time order (``StillnessDetector`` run over the whole stream)."""
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    tips = np.asarray(tips_mm, dtype=np.float64)
    if tips.shape != (len(times), 3):
        raise RegistrationError(
            f"tips must have shape ({len(times)}, 3), one per time; got {tips.shape}"
        )
    if np.any(np.diff(times) < 0.0) or not np.all(np.isfinite(times)):
        raise RegistrationError("sample times must be finite and never decrease")
    detector = StillnessDetector(settings)
    periods = [
        detector._push(i, t, tip)
        for i, (t, tip) in enumerate(zip(times.tolist(), tips.tolist(), strict=True))
    ]
    periods.append(detector.finish())
    return tuple(period for period in periods if period is not None)
