"""Replay a tracking recording as a tracker: downstream code cannot tell it from a live one.

Frames come back as recorded (a tool whose status was not OK is not valid, its matrix NaN), at
the pace of their original timestamps, a multiple of it, or as fast as the caller reads.
"""

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from devices.exceptions import ConfigurationError, StreamEnded, TrackerError, TrackerTimeout
from devices.frame import Frame, ToolPose
from devices.sequence_file import TRACKER, TrackingSequence, read_sequence
from devices.source_base import TrackerSource

logger = logging.getLogger(__name__)


class ReplayTracker(TrackerSource):
    """Frames of a recording (a PLUS sequence file path, or a ``TrackingSequence``).

    ``speed`` scales the original timing (1.0 = real time, 2.0 = twice as fast); ``None`` plays
    as fast as the caller reads. Every recorded frame is delivered, none skipped. With ``loop``,
    playback restarts at the end, and timestamps and frame numbers keep increasing across loops
    (shifted by the recording's length plus one frame interval). Frames carry the recorded
    timestamps, not the wall clock. ``reference_frame`` picks the file's
    ``<Tool>To<reference_frame>Transform`` fields (default: the tracker).
    """

    def __init__(
        self,
        source: str | Path | TrackingSequence,
        speed: float | None = 1.0,
        loop: bool = False,
        reference_frame: str = TRACKER,
    ) -> None:
        if speed is not None and (not math.isfinite(speed) or speed <= 0.0):
            raise ConfigurationError(f"replay speed must be a finite number > 0; got {speed!r}")
        if isinstance(source, TrackingSequence):
            sequence = source
        else:
            sequence = read_sequence(source, reference_frame)
        if loop and len(sequence) == 0:
            raise ConfigurationError("cannot loop over a recording with no frames")
        self.tools = sequence.tools
        self.sequence = sequence
        self._speed = speed
        self._loop = loop
        self._count = len(sequence)
        # The poses never change: build them once (read-only mappings over read-only matrices);
        # a frame is then one object around them, whatever the lap.
        self._timestamps = sequence.timestamps_s.tolist()
        self._frame_numbers = sequence.frame_numbers.tolist()
        self._poses = [
            MappingProxyType(
                {
                    tool: ToolPose(tool, matrices[column], statuses[column], errors[column])
                    for column, tool in enumerate(self.tools)
                }
            )
            for matrices, statuses, errors in zip(
                sequence.tracker_from_tool,
                sequence.statuses.tolist(),
                sequence.error_rms.tolist(),
                strict=True,
            )
        ]
        shift = _LoopShift.of(sequence)
        self._loop_period_s = shift.period_s
        self._loop_frames = shift.frames
        self._running = False

    def start(self) -> None:
        """Rewind to the first frame and start the clock."""
        self._next = 0
        self._lap = 0
        self._start_s = time.monotonic()
        self._running = True
        logger.info(
            "replaying %d frames of %s at %s%s",
            self._count,
            ", ".join(self.tools),
            "full speed" if self._speed is None else f"{self._speed:g}x",
            ", looping" if self._loop else "",
        )

    def stop(self) -> None:
        """Stop playback; ``start`` rewinds."""
        self._running = False

    def read(self, timeout: float | None = None) -> Frame:
        """The next recorded frame; raises ``StreamEnded`` after the last one unless looping.

        In timed playback, waits until the frame is due; raises ``TrackerTimeout`` if that is
        more than ``timeout`` seconds away.
        """
        if not self._running:
            raise TrackerError("the replay is not started: call start() first")
        if self._next == self._count:
            if not self._loop:
                raise StreamEnded(f"the recording ended after {self._count} frames")
            self._next = 0
            self._lap += 1
        row = self._next
        timestamp = self._timestamps[row] + self._lap * self._loop_period_s
        if self._speed is not None:
            self._wait_until((timestamp - self._timestamps[0]) / self._speed, timeout)
        self._next = row + 1
        frame_number = self._frame_numbers[row] + self._lap * self._loop_frames
        return Frame(timestamp, frame_number, self._poses[row])

    def _wait_until(self, due_s: float, timeout: float | None) -> None:
        """Sleep until ``due_s`` seconds after start; raise TrackerTimeout past ``timeout``."""
        wait_s = self._start_s + due_s - time.monotonic()
        if wait_s <= 0.0:
            return
        if timeout is not None and wait_s > timeout:
            time.sleep(max(timeout, 0.0))
            raise TrackerTimeout(f"the next recorded frame is due in {wait_s:.3f} s")
        time.sleep(wait_s)


@dataclass(frozen=True)
class _LoopShift:
    """How much timestamps and frame numbers advance per loop: the recording's span plus one
    typical (median) frame interval, so that a looped replay never goes back in time.
    """

    period_s: float
    frames: int

    @classmethod
    def of(cls, sequence: TrackingSequence) -> "_LoopShift":
        if len(sequence) < 2:
            return cls(0.0, 1)
        timestamps, numbers = sequence.timestamps_s, sequence.frame_numbers
        interval = float(np.median(np.diff(timestamps)))
        return cls(
            float(timestamps[-1] - timestamps[0]) + interval, int(numbers[-1] - numbers[0]) + 1
        )
