"""One acquisition path for every tracker, as PlusLib's device base class (vtkPlusDevice) has.

``TrackerDevice`` owns what every tracker shares: start / read / stop, pacing on an injected
``Clock``, timeouts, stamping each frame with a filtered ``timestamp`` and the raw
``unfiltered_timestamp``, and building every ``ToolPose`` and ``Frame``. A driver implements
only ``_open``, ``_read_raw`` (one ``RawFrame``) and ``_close``.

``Acquisition`` reads a tracker on its own thread at the tracker's full rate and hands each
frame to its sinks in order (the recorder, the navigator, ...); the newest frame is kept in
``latest``. A reader that draws (a view) reads ``latest`` at its own rate: nothing queues up.
"""

import abc
import enum
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import NamedTuple, Self

import numpy as np

from devices.clock import Clock, clock_or_monotonic
from devices.exceptions import (
    ConfigurationError,
    FrameNotDue,
    StreamEnded,
    TrackerError,
)
from devices.frame import NAN_POSE, Frame, PoseStatus, ToolPose, carries_pose

logger = logging.getLogger(__name__)


class RawPose(NamedTuple):
    """One tool as a driver read it: ``tracker_from_tool`` (4x4, mm) or None, and its status.

    A status that carries a pose (``carries_pose``) needs the matrix; others ignore it. The
    driver checks the numbers where it parses them (CRC, quaternion norm, rigid matrix).
    (A named tuple, not a dataclass: one is made per tool and frame, and it is 2-3x cheaper.)
    """

    tracker_from_tool: np.ndarray | None
    status: PoseStatus
    error_rms: float = math.nan


class RawFrame(NamedTuple):
    """One frame as a driver read it, before stamping.

    ``frame_number`` is the device's counter (-1 if it gave none); ``device_time_s`` the
    device's own time of the sample (None: the device gives none, the host clock at arrival is
    used); ``filtered_time_s`` the jitter-free time when the source already knows it (a
    simulation's exact sample time, a recording's filtered ``Timestamp``), else None and the
    base class filters. Tools absent from ``poses`` are MISSING.
    """

    frame_number: int
    device_time_s: float | None
    poses: Mapping[str, RawPose]
    filtered_time_s: float | None = None


class TimestampFilter:
    """Removes the jitter of arrival times, as PLUS does: a least-squares line through the last
    ``window`` (frame number, unfiltered time) pairs gives each frame's filtered time.

    The device's frame counter says when a sample was taken; the host's arrival time adds the
    delays of the serial line and the operating system. Fitting time against frame number
    keeps the device's regular rhythm and the host's time base. A frame whose time is more
    than ``max_deviation_s`` off the line (a pause, a restarted device), a counter that goes
    back, or an unknown frame number (< 0) starts the fit again from that frame; until three
    frames are in the window the unfiltered time is used.
    """

    MIN_FRAMES = 3

    def __init__(self, window: int = 20, max_deviation_s: float = 0.1) -> None:
        if window < self.MIN_FRAMES:
            raise ConfigurationError(f"the filter window needs >= {self.MIN_FRAMES} frames")
        if not (math.isfinite(max_deviation_s) and max_deviation_s > 0.0):
            raise ConfigurationError(f"max_deviation_s must be > 0; got {max_deviation_s!r}")
        self._pairs: deque[tuple[int, float]] = deque(maxlen=window)
        self._max_deviation_s = max_deviation_s

    def reset(self) -> None:
        """Forget the history (when a device is started again)."""
        self._pairs.clear()

    def __call__(self, frame_number: int, unfiltered_s: float) -> float:
        """The filtered time (s) of frame ``frame_number`` that arrived at ``unfiltered_s``."""
        pairs = self._pairs
        if frame_number < 0 or (pairs and frame_number < pairs[-1][0]):
            pairs.clear()
            if frame_number < 0:
                return unfiltered_s
        pairs.append((frame_number, unfiltered_s))
        if len(pairs) < self.MIN_FRAMES:
            return unfiltered_s
        filtered = self._fitted(frame_number)
        if filtered is None or abs(filtered - unfiltered_s) > self._max_deviation_s:
            pairs.clear()
            pairs.append((frame_number, unfiltered_s))
            return unfiltered_s
        return filtered

    def _fitted(self, frame_number: int) -> float | None:
        """The line's time at ``frame_number``; None when the frames do not define a rising
        line. One pass of sums, relative to the oldest pair, so that large clocks and frame
        counters keep their digits."""
        first_number, first_time = self._pairs[0]
        sx = sy = sxx = sxy = 0.0
        for number, time_s in self._pairs:
            x, y = number - first_number, time_s - first_time
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        count = len(self._pairs)
        spread = count * sxx - sx * sx
        if spread <= 0.0:
            return None
        slope = (count * sxy - sx * sy) / spread
        if not slope > 0.0:
            return None
        return first_time + (sy + slope * (count * (frame_number - first_number) - sx)) / count


class TrackerDevice(abc.ABC):
    """Base of every tracker (the ``Tracker`` protocol): a driver implements ``_open``,
    ``_read_raw`` and ``_close``; this class does the rest, the same way for all.

    Pacing (``speed``: None reads as fast as the caller or the device allows; 1.0 is real time,
    2.0 twice as fast), on ``clock`` (default: the host's monotonic clock):

    - a *sampled* source (``rate_hz`` given: a simulation, a keyboard stylus) samples at
      ``rate_hz * speed`` frames per second of the clock; the driver reads ``sample_index``
      (sample k is due k / rate_hz s of source time after start). A reader that falls behind
      gets the newest due sample (the indices skip), as when polling a live tracker. Without
      a speed, every read is the next sample.
    - a *timed* source (no ``rate_hz``: a recording) delivers every frame when its device time
      is due: the time since the previous frame divided by ``speed``, at most
      ``max_pause_s`` (a long gap in a recording does not stall playback), and no wait when
      the device time goes back.
    - a live device (no ``speed``) is read when it answers; its driver honours ``timeout``.

    ``read(timeout)`` raises ``FrameNotDue`` (a ``TrackerTimeout``) when the next frame is due
    later than ``timeout`` s; that frame is delivered by a later read.

    A source that hands out the same ``RawFrame.poses`` mappings again and again (a recording,
    built once) says so with ``reuses_raw_poses``: their ``ToolPose``s are then built once too.
    """

    def __init__(
        self,
        tools: Sequence[str],
        *,
        rate_hz: float | None = None,
        speed: float | None = None,
        clock: Clock | None = None,
        max_pause_s: float = math.inf,
        reuses_raw_poses: bool = False,
    ) -> None:
        if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0.0):
            raise ConfigurationError(f"rate_hz must be a finite number > 0; got {rate_hz!r}")
        if speed is not None and not (math.isfinite(speed) and speed > 0.0):
            raise ConfigurationError(f"speed must be a finite number > 0; got {speed!r}")
        if not max_pause_s > 0.0:
            raise ConfigurationError(f"max_pause_s must be > 0 s; got {max_pause_s!r}")
        self.tools = tuple(tools)
        self.clock = clock_or_monotonic(clock)
        self._rate_hz = None if rate_hz is None else float(rate_hz)
        self._speed = speed
        self._max_pause_s = max_pause_s
        self._filter = TimestampFilter()
        # id(raw poses mapping) -> (that mapping, its ToolPoses), for sources that reuse them.
        self._built: dict[int, tuple[Mapping, Mapping[str, ToolPose]]] | None = (
            {} if reuses_raw_poses else None
        )
        self._running = False
        self._pending: RawFrame | None = None

    # --- what a driver implements ---------------------------------------------------------------

    @abc.abstractmethod
    def _open(self) -> None:
        """Open the device (port, file, simulation state) and rewind it."""

    @abc.abstractmethod
    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """One frame from the device within ``timeout_s`` (None: the driver's default);
        ``StreamEnded`` after the last one of a finite source."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device; safe on a device that vanished."""

    # --- the Tracker protocol -------------------------------------------------------------------

    @property
    def rate_hz(self) -> float | None:
        """Samples per second of source time for a sampled source; None otherwise."""
        return self._rate_hz

    @property
    def sample_index(self) -> int:
        """The sample the current read is for (sampled sources; see the class docstring)."""
        return self._sample

    def start(self) -> None:
        """Open the device and start its clock; raises ``TrackerError`` if already started."""
        if self._running:
            raise TrackerError(f"{self} is already started")
        self._open()
        self._running = True
        self._pending = None
        self._filter.reset()
        self._start_s = self.clock.now()
        self._sample = 0
        self._next_sample = 0
        self._due_s: float | None = None
        self._previous_device_s: float | None = None

    def read(self, timeout: float | None = None) -> Frame:
        """The next frame, paced as the class docstring says; ``timeout`` in seconds."""
        if not self._running:
            raise TrackerError(f"{self} is not started: call start() first")
        timed = self._speed is not None and self._rate_hz is None
        if self._pending is None:
            if self._rate_hz is not None:
                self._sample = self._due_sample(timeout)
            raw = self._read_raw(timeout)
            if self._rate_hz is not None:
                self._next_sample = self._sample + 1
            if timed:
                self._pending_due_s = self._due_time(raw.device_time_s)
            self._pending = raw
        if timed:
            self._wait(self._pending_due_s - self.clock.now(), timeout, "recorded frame")
        raw, self._pending = self._pending, None
        return self._frame(raw)

    def stop(self) -> None:
        """Close the device; ``start`` opens it again from the beginning. Safe to call twice."""
        if self._running:
            self._running = False
            self._close()

    def __str__(self) -> str:
        return f"the {type(self).__name__}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the source ends (a live tracker never does)."""
        while True:
            try:
                frame = self.read()
            except StreamEnded:
                return
            yield frame

    # --- pacing ---------------------------------------------------------------------------------

    def _due_sample(self, timeout: float | None) -> int:
        """The sample to read now: the next one (waiting until it is due) or, if the reader is
        late, the newest one already due."""
        if self._speed is None:
            return self._next_sample
        samples_per_s = self._rate_hz * self._speed
        elapsed_s = self.clock.now() - self._start_s
        newest = math.floor(elapsed_s * samples_per_s)
        if newest >= self._next_sample:
            return newest
        self._wait(self._next_sample / samples_per_s - elapsed_s, timeout, "sample")
        return self._next_sample

    def _due_time(self, device_s: float | None) -> float:
        """When a recorded frame is due on the clock: the previous one's due time plus its
        device-time step divided by the speed, capped at ``max_pause_s``, never negative."""
        if device_s is None:
            raise TrackerError(f"{self} is paced by device time but gave a frame without one")
        if self._due_s is None:
            self._due_s = self._start_s
        else:
            step_s = min(max(device_s - self._previous_device_s, 0.0), self._max_pause_s)
            self._due_s += step_s / self._speed
        self._previous_device_s = device_s
        return self._due_s

    def _wait(self, wait_s: float, timeout: float | None, what: str) -> None:
        """Sleep ``wait_s`` on the clock, or ``timeout`` then raise ``FrameNotDue``."""
        if wait_s <= 0.0:
            return
        if timeout is not None and wait_s > timeout:
            self.clock.sleep(max(timeout, 0.0))
            raise FrameNotDue(f"the next {what} of {self} is due in {wait_s:.3f} s")
        self.clock.sleep(wait_s)

    # --- stamping and building frames -----------------------------------------------------------

    def _frame(self, raw: RawFrame) -> Frame:
        """The ``Frame`` of ``raw``: times stamped, a ``ToolPose`` for every tool (others that
        the device reports are left out), in a mapping no sink can change."""
        unfiltered = self.clock.now() if raw.device_time_s is None else raw.device_time_s
        if raw.filtered_time_s is not None:
            timestamp = raw.filtered_time_s
        else:
            timestamp = self._filter(raw.frame_number, unfiltered)
        return Frame(timestamp, raw.frame_number, self._tool_poses(raw.poses), unfiltered)

    def _tool_poses(self, raw_poses: Mapping[str, RawPose]) -> Mapping[str, ToolPose]:
        """The read-only ``ToolPose`` mapping of ``raw_poses`` (built once if they are reused)."""
        if self._built is None:
            return self._build_poses(raw_poses)
        known = self._built.get(id(raw_poses))
        if known is not None and known[0] is raw_poses:
            return known[1]
        poses = self._build_poses(raw_poses)
        self._built[id(raw_poses)] = (raw_poses, poses)
        return poses

    def _build_poses(self, raw_poses: Mapping[str, RawPose]) -> Mapping[str, ToolPose]:
        poses = {tool: self._tool_pose(tool, raw_poses.get(tool)) for tool in self.tools}
        return MappingProxyType(poses)

    def _tool_pose(self, tool: str, raw: RawPose | None) -> ToolPose:
        if raw is None:
            return ToolPose.missing(tool)
        error_rms = raw.error_rms
        if not (error_rms != error_rms or 0.0 <= error_rms < math.inf):  # NaN is "unknown"
            logger.warning(
                "%s gave %r an error of %r mm: reported as unknown", self, tool, error_rms
            )
            error_rms = math.nan
        if not carries_pose(raw.status):
            return ToolPose(tool, NAN_POSE, raw.status, error_rms)
        if raw.tracker_from_tool is None:
            raise TrackerError(f"{self} reported {tool!r} {raw.status.value} without a pose")
        return ToolPose(tool, raw.tracker_from_tool, raw.status, error_rms)


class AcquisitionEnd(enum.Enum):
    """Why an acquisition ended."""

    SOURCE_ENDED = "source ended"
    DURATION = "duration reached"
    STOPPED = "stopped"
    FAILED = "failed"


Sink = Callable[[Frame], object]
# As long as an NDI device is given to answer: a live tracker silent this long has failed.
DEFAULT_READ_TIMEOUT_S = 1.0


class Acquisition:
    """Reads ``tracker`` on its own thread and calls each sink ``sink(frame)``, in order.

    Sinks must return quickly (the recorder appends, the navigator computes, a view's slot
    keeps the newest state); a sink with a ``close()`` method is closed, in order, when the
    acquisition ends, so that after ``done`` is set a recording is complete. ``start`` starts
    the tracker in the calling thread (a tracker that cannot start raises there, before
    anything runs) and then the thread; ``stop`` ends it and joins.

    It ends when the source ends, after ``duration_s`` of tracker time (frame timestamps from
    the first frame; the first frame beyond it is not delivered), on ``stop()`` (or
    ``request_stop()``, which a sink may call: the frame under way is the last), or when the
    tracker or a sink raises: then ``error`` holds the exception, and every frame already
    given to the sinks stays with them. ``done`` (a ``threading.Event``) is set once the
    tracker is stopped and the sinks closed; ``end`` says why, ``frame_count`` counts the
    frames delivered to every sink, ``latest`` is the newest of them (None before the first)
    and ``latest_received_s`` the time on ``clock`` when it was read (for the age of the data).

    ``read_timeout_s`` bounds each read, hence how long ``stop`` may wait: a paced source
    whose next frame is not yet due (``FrameNotDue``) is simply read again; a device that does
    not answer in time (any other ``TrackerTimeout``) ends the acquisition with that error.
    """

    def __init__(
        self,
        tracker: "TrackerDevice",
        sinks: Sequence[Sink] = (),
        clock: Clock | None = None,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        duration_s: float | None = None,
    ) -> None:
        if not (math.isfinite(read_timeout_s) and read_timeout_s > 0.0):
            raise ConfigurationError(f"read_timeout_s must be > 0 s; got {read_timeout_s!r}")
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0.0):
            raise ConfigurationError(
                f"duration must be a finite number of seconds > 0; got {duration_s!r}"
            )
        self.tracker = tracker
        self.sinks = tuple(sinks)
        self.clock = clock_or_monotonic(clock)
        self.read_timeout_s = read_timeout_s
        self.duration_s = duration_s
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.end: AcquisitionEnd | None = None
        self.frame_count = 0
        self.latest: Frame | None = None
        self.latest_received_s = math.nan
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the tracker here, then the acquisition thread."""
        if self._thread is not None:
            raise TrackerError("this acquisition was already started: make a new one")
        self.tracker.start()
        self._thread = threading.Thread(target=self._run, name="acquisition", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end once the frame under way has been given to every sink, and
        return at once: a sink may call it (``stop`` would wait for its own thread)."""
        self._stopping.set()

    def stop(self) -> None:
        """End the acquisition and wait for its thread (tracker stopped, sinks closed)."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join()

    def wait(self) -> None:
        """Block until the acquisition ends (Ctrl-C interrupts the wait, not the acquisition)."""
        self.done.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self.end = self._deliver_frames()
        except BaseException as error:
            logger.error(
                "acquisition from %s failed after %d frames: %s",
                self.tracker,
                self.frame_count,
                error,
            )
            self.error = error
            self.end = AcquisitionEnd.FAILED
        finally:
            self._finish()

    def _deliver_frames(self) -> AcquisitionEnd:
        first_s = None
        while not self._stopping.is_set():
            try:
                frame = self.tracker.read(timeout=self.read_timeout_s)
            except FrameNotDue:
                continue
            except StreamEnded:
                return AcquisitionEnd.SOURCE_ENDED
            received_s = self.clock.now()
            if first_s is None:
                first_s = frame.timestamp
            if self.duration_s is not None and frame.timestamp - first_s > self.duration_s:
                return AcquisitionEnd.DURATION
            for sink in self.sinks:
                sink(frame)
            self.latest, self.latest_received_s = frame, received_s
            self.frame_count += 1
        return AcquisitionEnd.STOPPED

    def _finish(self) -> None:
        """Stop the tracker and close the sinks, whatever happened; then set ``done``."""
        try:
            self.tracker.stop()
        except Exception as error:
            logger.warning("%s did not stop cleanly: %s", self.tracker, error)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as error:
                logger.error("closing %r failed: %s", sink, error)
                if self.error is None:
                    self.error, self.end = error, AcquisitionEnd.FAILED
        self.done.set()
