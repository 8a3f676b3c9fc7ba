"""When a simulated tool is lost: dropouts, line-of-sight losses and volume exits drawn by rate.

Each kind of event is a Poisson process per tool (exponential waiting times between starts), so
the same seed gives the same losses whatever the frame rate.
"""

import enum
from dataclasses import dataclass

import numpy as np

from devices.frame import PoseStatus
from devices.noise import TrackingEvents


class EventKind(enum.Enum):
    """The three ways a simulated tool is lost."""

    DROPOUT = "dropout"
    OCCLUSION = "occlusion"
    OUT_OF_VOLUME = "out_of_volume"


@dataclass(frozen=True)
class _Event:
    """One loss of the tool, from ``start_s`` to ``end_s`` (simulation time, s)."""

    kind: EventKind
    start_s: float
    end_s: float


_SEVERITY = {
    PoseStatus.OK: 0,
    PoseStatus.PARTIALLY_OUT_OF_VOLUME: 1,
    PoseStatus.OUT_OF_VOLUME: 2,
    PoseStatus.MISSING: 3,
    PoseStatus.DISABLED: 4,
}


def worst_status(*statuses: PoseStatus) -> PoseStatus:
    """When several causes act at once, the worst status wins (MISSING over OUT_OF_VOLUME...)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=PoseStatus.OK)


class EventSchedule:
    """The status of one tool at increasing times, as dictated by random loss events."""

    def __init__(self, settings: TrackingEvents, rng: np.random.Generator) -> None:
        self._rng = rng
        self._processes = [
            (kind, rate, duration)
            for kind, rate, duration in (
                (EventKind.DROPOUT, settings.dropout_rate_hz, 0.0),
                (EventKind.OCCLUSION, settings.occlusion_rate_hz, settings.occlusion_duration_s),
                (
                    EventKind.OUT_OF_VOLUME,
                    settings.out_of_volume_rate_hz,
                    settings.out_of_volume_duration_s,
                ),
            )
            if rate > 0.0
        ]
        self._next_start_s = [rng.exponential(1.0 / rate) for _, rate, _ in self._processes]
        self._active: list[_Event] = []
        self._last_query_s = -np.inf

    def statuses(self, times_s: np.ndarray) -> np.ndarray:
        """``status`` at each of ``times_s`` (K,), in order: a (K,) object array of PoseStatus."""
        if not self._processes:
            return np.full(len(times_s), PoseStatus.OK, dtype=object)
        statuses = np.empty(len(times_s), dtype=object)
        statuses[:] = [self.status(float(t_s)) for t_s in times_s]
        return statuses

    def status(self, t_s: float) -> PoseStatus:
        """Status at ``t_s`` (seconds, never decreasing between calls).

        An event affects every query inside ``[start, end]``, and at least the first query at or
        after its start, so a zero-length dropout costs exactly one frame.
        """
        for index, (kind, rate, duration) in enumerate(self._processes):
            while self._next_start_s[index] <= t_s:
                start = self._next_start_s[index]
                self._active.append(_Event(kind, start, start + duration))
                self._next_start_s[index] = start + self._rng.exponential(1.0 / rate)
        touching = [
            event
            for event in self._active
            if event.end_s >= t_s or event.start_s > self._last_query_s
        ]
        self._active = [event for event in self._active if event.end_s >= t_s]
        self._last_query_s = t_s
        return worst_status(*(_status_of(event, t_s) for event in touching))


def _status_of(event: _Event, t_s: float) -> PoseStatus:
    """A volume exit is partial in its first and last quarter; other events lose the tool."""
    if event.kind is not EventKind.OUT_OF_VOLUME:
        return PoseStatus.MISSING
    margin = (event.end_s - event.start_s) / 4.0
    if event.start_s + margin <= t_s <= event.end_s - margin:
        return PoseStatus.OUT_OF_VOLUME
    return PoseStatus.PARTIALLY_OUT_OF_VOLUME
