"""The digitise step: from a recording to the points the student held the stylus still on.

The stylus tip is followed in the reference tool's frame (``registration.digitize``), so that a
camera or a phantom moving during the exercise changes nothing; every period the tip was held
still (``StillnessSettings``) gives one point, its dwell mean, in the order they were held. The
exercise then names the points in the order it asked for them. The same function serves the
live run (on the frames just recorded), replay and grading, so they capture the same points.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devices.sequence_file import TrackingSequence
from guidance.exceptions import GuidanceError
from registration.digitize import (
    StillnessSettings,
    StillPeriod,
    find_still_periods,
    tips_in_reference_mm,
)
from scenes.markups import Markups


def tip_track(
    sequence: TrackingSequence, tip_in_stylus_mm: np.ndarray, stylus: str, reference: str
) -> np.ndarray:
    """The stylus tip in the reference tool's frame for every frame (F, 3) mm, NaN where either
    tool was not tracked."""
    return tips_in_reference_mm(
        sequence.poses_of(stylus), sequence.poses_of(reference), tip_in_stylus_mm
    )


# A dwell is the next point only where the tip has gone at least this far (mm) from the point
# before it, or from where the tip was when the run started: a stylus resting before the
# student picks it up, or held a second time on the same point, is not the next point.
MIN_TRAVEL_MM = 5.0


def is_new_point(point_mm: np.ndarray, previous_mm: np.ndarray | None) -> bool:
    """Whether a dwell at ``point_mm`` is a new point after ``previous_mm`` (the point before,
    or the start; None: nothing before it)."""
    return previous_mm is None or float(np.linalg.norm(point_mm - previous_mm)) >= MIN_TRAVEL_MM


def new_points(
    periods: Sequence[StillPeriod], start_mm: np.ndarray | None
) -> tuple[tuple[StillPeriod, ...], tuple[StillPeriod, ...]]:
    """The dwells that are new points (``is_new_point``, from ``start_mm``, the first tracked
    tip) and those that are not."""
    kept, repeated = [], []
    previous = start_mm
    for period in periods:
        if is_new_point(period.point.point_mm, previous):
            kept.append(period)
            previous = period.point.point_mm
        else:
            repeated.append(period)
    return tuple(kept), tuple(repeated)


@dataclass(frozen=True, eq=False)
class CapturedPoint:
    """A point the student held still on: its ``label`` (what the exercise asked for), the
    dwell (frames, times, mean in the reference frame, scatter, covariance)."""

    label: str
    period: StillPeriod

    @property
    def point_mm(self) -> np.ndarray:
        """The dwell mean, reference frame, mm."""
        return self.period.point.point_mm


@dataclass(frozen=True, eq=False)
class Digitisation:
    """The digitise step's record: the ``points`` captured, named in the order the exercise
    asked (``expected`` labels); ``missing`` labels no dwell was found for; ``extra`` dwells after
    the last expected one (ignored); ``warnings`` for the student."""

    points: tuple[CapturedPoint, ...]
    missing: tuple[str, ...]
    extra: tuple[StillPeriod, ...]
    warnings: tuple[str, ...]

    def by_label(self) -> dict[str, CapturedPoint]:
        """The captured points keyed by label."""
        return {point.label: point for point in self.points}


def digitise(
    sequence: TrackingSequence,
    expected: Sequence[str],
    tip_in_stylus_mm: np.ndarray,
    stylus: str = "stylus",
    reference: str = "reference",
    stillness: StillnessSettings = StillnessSettings(),  # noqa: B008 (frozen)
) -> Digitisation:
    """Capture a point per dwell and name the dwells ``expected[0]``, ``expected[1]``, ... in
    order. Fewer dwells than expected leave the last labels ``missing``; more are ``extra``;
    dwells where the tip already was are not points (``new_points``)."""
    tips = tip_track(sequence, tip_in_stylus_mm, stylus, reference)
    tracked = np.flatnonzero(np.all(np.isfinite(tips), axis=1))
    start = tips[tracked[0]] if len(tracked) else None
    periods, repeated = new_points(
        find_still_periods(sequence.timestamps_s, tips, stillness), start
    )
    points = tuple(
        CapturedPoint(label, period) for label, period in zip(expected, periods, strict=False)
    )
    missing = tuple(expected[len(points) :])
    extra = tuple(periods[len(expected) :])
    warnings = []
    if missing:
        warnings.append(
            f"no still period was found for {', '.join(missing)}: hold the tip still on each "
            f"point for {stillness.still_s:g} s (within {stillness.still_mm:g} mm RMS)"
        )
    if repeated:
        warnings.append(
            f"{len(repeated)} still period(s) within {MIN_TRAVEL_MM:g} mm of where the tip "
            "already was (where it started, or the point before) were not taken as points "
            f"(first: {repeated[0].description})"
        )
    if extra:
        warnings.append(
            f"{len(extra)} more still period(s) than points asked for were ignored "
            f"(first: {extra[0].description})"
        )
    lost = sum(point.period.point.n_lost for point in points)
    if lost:
        warnings.append(f"{lost} frames without a tracked tip fell inside the captured dwells")
    return Digitisation(points, missing, extra, tuple(warnings))


def still_points(
    sequence: TrackingSequence,
    tip_in_stylus_mm: np.ndarray,
    stylus: str,
    reference: str,
    stillness: StillnessSettings = StillnessSettings(),  # noqa: B008 (frozen)
) -> Markups:
    """One point per period the stylus tip was held still relative to the reference tool, in
    order, as markups in the reference tool's frame (mm): labels P1, P2, ...; each point's
    description gives its frame range and times in the recording.

    Raises GuidanceError when the tip was never still: the message says for how long and within
    what it had to be, so the student can loosen the settings or record again.
    """
    tips = tip_track(sequence, tip_in_stylus_mm, stylus, reference)
    periods = find_still_periods(sequence.timestamps_s, tips, stillness)
    if not periods:
        tracked = int(np.all(np.isfinite(tips), axis=1).sum())
        raise GuidanceError(
            f"the {stylus} tip was never held still relative to the {reference} for "
            f"{stillness.still_s:g} s within {stillness.still_mm:g} mm RMS ({tracked} of "
            f"{len(tips)} frames had both tools tracked); hold it still longer, or loosen "
            "--still-mm / --still-s"
        )
    return Markups(
        tuple(f"P{k + 1}" for k in range(len(periods))),
        np.array([period.point.point_mm for period in periods]),
        name=f"{stylus} still in {reference}",
        descriptions=tuple(period.description for period in periods),
    )


def captures_report(digitisation: Digitisation) -> list[dict[str, object]]:
    """The report's ``captures``: each dwell's label, frame range, times and mean (reference
    frame), then the extra dwells, labelled None."""
    entries = [(point.label, point.period) for point in digitisation.points]
    entries += [(None, period) for period in digitisation.extra]
    return [
        {
            "label": label,
            "frames": [period.first, period.last],
            "start_s": round(period.start_s, 4),
            "end_s": round(period.end_s, 4),
            "point_mm": [round(float(v), 4) for v in period.point.point_mm],
            "scatter_rms_mm": round(period.point.scatter_rms_mm, 4),
        }
        for label, period in entries
    ]
