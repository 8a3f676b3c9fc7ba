"""The navigation loop: a tracker read at its full rate on its own thread, every frame recorded and
navigated, the newest state drawn by a view at the view's own rate.

Each frame goes, on the acquisition thread (``devices.acquisition.Acquisition``), first to the
recorder (always on: every session writes its ``.igs.mha``), then to the navigator, then to the
extra sinks (an exercise's logic, the OpenIGTLink sender) as ``sink(frame, state)``. The newest
``NavigationState`` sits in a slot: a new one replaces it (newest wins), so nothing queues up
however slowly the view draws. The view asks ``latest_state()`` whenever it is ready to draw.

The watchdog: the navigator flags, frame by frame, a tool that is missing or out of the
tracker's volume (and shows it as missing, never at its last pose); ``latest_state`` adds an
alert when the newest data is older than ``SessionSettings.stale_after_s`` on the session's
clock (a tracker that stopped answering), and one when the reference tool has not been seen
since the start for ``reference_grace_s``.

Latency: a frame's timestamp is in its source's time base (a recording's times, a simulation's
time from its start, a live device's host clock). The session aligns that time base to its clock
on the least delayed frame so far (``time_offset_s``), so that ``latency_s`` is the delay of each
frame's arrival beyond that of the quickest (for live devices, stamped on the same clock, the
offset is about 0). A first frame that came late (a device starting, a first call compiling)
does not make the frames after it look early: their latency is never negative.
"""

import enum
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from devices.acquisition import Acquisition, AcquisitionEnd, TrackerDevice
from devices.clock import Clock, clock_or_monotonic
from devices.frame import Frame, match_tool
from devices.recorder import FrameRecorder
from guidance.exceptions import GuidanceError
from guidance.navigator import NavigationState, Navigator

logger = logging.getLogger(__name__)

StateSink = Callable[[Frame, NavigationState], object]


class View(Protocol):
    """What the session needs of a view (``NavigationWindow.run``): draw ``latest()`` at the
    view's own rate until the user closes it or ``stop_when()`` is true; the returned value's
    ``value`` says why it ended (``"closed"`` when the user closed it)."""

    def __call__(
        self,
        latest: Callable[[], NavigationState | None],
        stop_when: Callable[[], bool],
    ) -> object: ...


@dataclass(frozen=True)
class SessionSettings:
    """The session's watchdog and pacing: data older than ``stale_after_s`` (s, session clock)
    is flagged; a reference tool unseen for ``reference_grace_s`` from the start is flagged;
    ``poll_s`` is how often a session without a view checks whether it should end;
    ``duration_s`` (tracker time) ends the session, None runs until the source ends or a stop.
    """

    stale_after_s: float = 0.25
    reference_grace_s: float = 2.0
    poll_s: float = 0.05
    duration_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("stale_after_s", "reference_grace_s", "poll_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise GuidanceError(f"session {name} must be > 0 s; got {value!r}")
        if self.duration_s is not None and not (
            math.isfinite(self.duration_s) and self.duration_s > 0.0
        ):
            raise GuidanceError(f"session duration must be > 0 s; got {self.duration_s!r}")


class SessionEnd(enum.Enum):
    """Why a navigation session ended."""

    SOURCE_ENDED = "the tracker's source ended"
    DURATION = "duration reached"
    WINDOW_CLOSED = "the window was closed"
    INTERRUPTED = "stopped by Ctrl-C"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class SessionSummary:
    """A finished session: the recording (``path``, ``frames_recorded``: every frame the
    tracker gave), why it ended, the error that ended it (message, or None), every alert seen
    with the number of frames (or watchdog checks) it was raised in, first seen first, and the
    tools that were never tracked."""

    path: Path
    frames_recorded: int
    end: SessionEnd
    error: str | None
    alerts_seen: Mapping[str, int]
    tools_never_seen: tuple[str, ...]


_ACQUISITION_ENDS = {
    AcquisitionEnd.SOURCE_ENDED: SessionEnd.SOURCE_ENDED,
    AcquisitionEnd.DURATION: SessionEnd.DURATION,
    AcquisitionEnd.STOPPED: SessionEnd.STOPPED,
    AcquisitionEnd.FAILED: SessionEnd.FAILED,
}


class NavigationSession:
    """Navigation on ``tracker``: frames recorded to ``recording_path`` and navigated by
    ``navigator``; ``sinks`` get ``(frame, state)`` after the navigator. ``clock`` (default:
    the host's monotonic clock) times the watchdog. ``overwrite`` allows replacing an existing
    recording (refused by default, before the tracker starts)."""

    def __init__(
        self,
        tracker: TrackerDevice,
        navigator: Navigator,
        recording_path: Path | str,
        sinks: Sequence[StateSink] = (),
        clock: Clock | None = None,
        settings: SessionSettings = SessionSettings(),
        overwrite: bool = False,
    ) -> None:
        self.tracker = tracker
        self.navigator = navigator
        self.settings = settings
        self.clock = clock_or_monotonic(clock)
        self.recorder = FrameRecorder(recording_path, tuple(tracker.tools), overwrite)
        self._reference = match_tool(navigator.reference, tracker.tools, str(tracker))
        match_tool(navigator.stylus, tracker.tools, str(tracker))
        self._sinks = tuple(sinks)
        self._acquisition = Acquisition(
            tracker, [self.recorder, self._navigate], self.clock, duration_s=settings.duration_s
        )
        self.time_offset_s = math.inf
        self._slot: tuple[NavigationState, float] | None = None
        self._alerts: Counter[str] = Counter()
        self._alerts_lock = threading.Lock()
        self._seen: set[str] = set()
        self._reference_seen = False
        self._started_s = math.nan
        self._until: Callable[[], bool] | None = None

    # --- the acquisition thread -------------------------------------------------------------

    def _navigate(self, frame: Frame) -> None:
        """The acquisition sink: navigate, publish the newest state, feed the extra sinks."""
        received_s = self.clock.now()
        self.time_offset_s = min(self.time_offset_s, received_s - frame.timestamp)
        state = self.navigator.navigate(frame, received_s - self.time_offset_s)
        self._slot = (state, received_s)  # one reference swap: the newest state wins
        if len(self._seen) < len(frame.poses):
            self._seen.update(name for name, pose in frame.poses.items() if pose.valid)
            self._reference_seen = self._reference in self._seen
        if state.alerts:
            self._count(state.alerts)
        for sink in self._sinks:
            sink(frame, state)
        if self._until is not None and self._until():
            self._acquisition.request_stop()  # this frame is the last: no race with a poll

    def _count(self, alerts: Sequence[str]) -> None:
        with self._alerts_lock:
            self._alerts.update(alerts)

    # --- any thread -------------------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        """Frames recorded so far."""
        return self.recorder.frame_count

    @property
    def done(self) -> bool:
        """True once the acquisition has ended (the recording is then complete)."""
        return self._acquisition.done.is_set()

    def latest_state(self) -> NavigationState | None:
        """The newest state (None before the first frame) with the watchdog's alerts added: data
        older than ``stale_after_s``, a reference never seen after ``reference_grace_s``."""
        slot = self._slot
        now = self.clock.now()
        watchdog = []
        if not self._reference_seen and now - self._started_s > self.settings.reference_grace_s:
            watchdog.append(
                f"the reference tool {self._reference!r} has not been seen since the start: "
                "is it in the camera's view?"
            )
        if slot is None:
            self._count(watchdog)
            return None
        state, received_s = slot
        age_s = now - received_s
        if age_s > self.settings.stale_after_s and not self.done:
            watchdog.append(f"no tracking data for more than {self.settings.stale_after_s:g} s")
        if not watchdog:
            return state
        self._count(watchdog)
        return replace(state, alerts=(*state.alerts, *watchdog))

    # --- the main thread --------------------------------------------------------------------

    def start(self) -> None:
        """Start the tracker (here: a tracker that cannot start raises before anything runs)
        and the acquisition thread."""
        self._started_s = self.clock.now()
        self._acquisition.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the acquisition ends (the source ended, the duration passed, a failure),
        at most ``timeout_s`` s of real time; returns whether it has ended."""
        return self._acquisition.done.wait(timeout_s)

    def stop(self) -> None:
        """End the acquisition and wait for it: the recording is then complete."""
        self._acquisition.stop()

    def run(
        self, view: View | None = None, until: Callable[[], bool] | None = None
    ) -> SessionSummary:
        """Start, let ``view`` draw the newest state at its own rate (without a view, poll every
        ``settings.poll_s`` of real time), and end when the source ends, the duration passes,
        ``until()`` becomes true, the window is closed or Ctrl-C is pressed; the recording is
        complete whatever happens. Returns the summary.

        ``until`` is asked after each frame, on the acquisition thread, once the sinks have
        had it: a condition the frames make true (an exercise's coach is done) ends the
        recording on that very frame, however late the main thread is (on a busy machine, or
        a replay on a fake clock that runs as fast as it can). It is also asked at each poll
        or drawing, for conditions no frame changes. It must be quick and safe on any thread.
        """
        should_stop = until or (lambda: False)
        end: SessionEnd | None = None
        self._until = until
        self.start()
        try:
            if view is not None:
                ended = view(self.latest_state, lambda: self.done or should_stop())
                if getattr(ended, "value", ended) == "closed":
                    end = SessionEnd.WINDOW_CLOSED
            else:
                while not self.wait(self.settings.poll_s):
                    self.latest_state()  # the watchdog counts what it sees
                    if should_stop():
                        break
        except KeyboardInterrupt:
            end = SessionEnd.INTERRUPTED
        finally:
            self.stop()
        return self.summary(end)

    def summary(self, end: SessionEnd | None = None) -> SessionSummary:
        """What the session did; ``end`` overrides the acquisition's reason (window, Ctrl-C)."""
        acquisition = self._acquisition
        if acquisition.end is AcquisitionEnd.FAILED or end is None:
            end = _ACQUISITION_ENDS.get(acquisition.end, SessionEnd.STOPPED)
        error = None if acquisition.error is None else str(acquisition.error)
        with self._alerts_lock:
            alerts = dict(self._alerts)
        return SessionSummary(
            path=self.recorder.path,
            frames_recorded=self.recorder.frame_count,
            end=end,
            error=error,
            alerts_seen=alerts,
            tools_never_seen=tuple(tool for tool in self.tracker.tools if tool not in self._seen),
        )
