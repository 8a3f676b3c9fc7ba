"""Replay a tracking recording as a tracker: downstream code cannot tell it from a live one.

Frames come back as recorded (a tool whose status was not OK is not valid, its matrix NaN), at
the pace of their original timestamps, a multiple of it, or as fast as the caller reads.
The recording's timing is checked when it is opened: timestamps that run backwards and long
pauses are reported (a warning), and playback never waits more than ``max_pause_s`` for one
frame, so that a corrupt timestamp cannot stall it.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import Clock
from devices.exceptions import ConfigurationError, StreamEnded
from devices.sequence_file import TRACKER, TrackingSequence, read_sequence

logger = logging.getLogger(__name__)

# The longest wait between two recorded frames, in seconds of recording time: a gap longer
# than this (a paused recorder, a corrupt timestamp) is played as this long.
MAX_PAUSE_S = 2.0
# A recording that does not show its frame rate (one frame, or equal timestamps) loops at the
# rate of an NDI Polaris, rather than as fast as the processor allows.
FALLBACK_FRAME_INTERVAL_S = 1.0 / 60.0


class ReplayTracker(TrackerDevice):
    """Frames of a recording (a PLUS sequence file path, or a ``TrackingSequence``).

    ``speed`` scales the original timing (1.0 = real time, 2.0 = twice as fast); ``None`` plays
    as fast as the caller reads. Every recorded frame is delivered, none skipped. With ``loop``,
    playback restarts at the end, and timestamps and frame numbers keep increasing across loops
    (shifted by the recording's length plus one frame interval). Frames carry the recorded
    timestamps (filtered and unfiltered), not the clock's. ``reference_frame`` picks the file's
    ``<Tool>To<reference_frame>Transform`` fields (default: the tracker). ``max_pause_s`` caps
    the wait for any one frame (in recording seconds).
    """

    def __init__(
        self,
        source: str | Path | TrackingSequence,
        speed: float | None = 1.0,
        loop: bool = False,
        reference_frame: str = TRACKER,
        clock: Clock | None = None,
        max_pause_s: float = MAX_PAUSE_S,
    ) -> None:
        if speed is not None and (not math.isfinite(speed) or speed <= 0.0):
            raise ConfigurationError(f"replay speed must be a finite number > 0; got {speed!r}")
        if isinstance(source, TrackingSequence):
            sequence = source
        else:
            sequence = read_sequence(source, reference_frame)
        if loop and len(sequence) == 0:
            raise ConfigurationError("cannot loop over a recording with no frames")
        super().__init__(
            sequence.tools,
            speed=speed,
            clock=clock,
            max_pause_s=max_pause_s,
            reuses_raw_poses=True,
        )
        self.sequence = sequence
        self._source = str(source) if not isinstance(source, TrackingSequence) else "recording"
        self._loop = loop
        self._count = len(sequence)
        report_timing(sequence, self._source, max_pause_s)
        # The poses never change: build them once (read-only mappings over read-only matrices).
        self._timestamps = sequence.timestamps_s.tolist()
        self._unfiltered = sequence.unfiltered_timestamps_s.tolist()
        self._frame_numbers = sequence.frame_numbers.tolist()
        self._poses = [
            MappingProxyType(
                {
                    tool: RawPose(matrices[column], statuses[column], errors[column])
                    for column, tool in enumerate(self.tools)
                }
            )
            for matrices, statuses, errors in zip(
                sequence.reference_from_tool,
                sequence.statuses.tolist(),
                sequence.error_rms.tolist(),
                strict=True,
            )
        ]
        shift = _LoopShift.of(sequence)
        self._loop_period_s = shift.period_s
        self._loop_frames = shift.frames

    def __str__(self) -> str:
        return f"the replay of {self._source}"

    def _open(self) -> None:
        """Rewind to the first frame."""
        self._next = 0
        self._lap = 0
        logger.info(
            "replaying %d frames of %s at %s%s",
            self._count,
            ", ".join(self.tools),
            "full speed" if self._speed is None else f"{self._speed:g}x",
            ", looping" if self._loop else "",
        )

    def _close(self) -> None:
        """Nothing to release; ``start`` rewinds."""

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """The next recorded frame; ``StreamEnded`` after the last one unless looping."""
        if self._next == self._count:
            if not self._loop:
                raise StreamEnded(f"the recording ended after {self._count} frames")
            self._next = 0
            self._lap += 1
        row = self._next
        self._next = row + 1
        shift_s = self._lap * self._loop_period_s
        return RawFrame(
            self._frame_numbers[row] + self._lap * self._loop_frames,
            self._unfiltered[row] + shift_s,
            self._poses[row],
            filtered_time_s=self._timestamps[row] + shift_s,
        )


def report_timing(sequence: TrackingSequence, source: str, max_pause_s: float) -> None:
    """Warn about timestamps that run backwards and pauses longer than ``max_pause_s``."""
    steps = np.diff(sequence.timestamps_s)
    backwards = np.flatnonzero(steps < 0.0)
    if backwards.size:
        first = int(backwards[0]) + 1
        logger.warning(
            "%s: timestamps run backwards %d times (first at frame %d: %.6f s after %.6f s); "
            "those frames are replayed without waiting",
            source,
            backwards.size,
            first,
            sequence.timestamps_s[first],
            sequence.timestamps_s[first - 1],
        )
    pauses = np.flatnonzero(steps > max_pause_s)
    if pauses.size:
        longest = int(pauses[np.argmax(steps[pauses])])
        logger.warning(
            "%s: %d pauses longer than %.3g s (the longest, %.6g s, before frame %d); replay "
            "waits %.3g s at most",
            source,
            pauses.size,
            max_pause_s,
            steps[longest],
            longest + 1,
            max_pause_s,
        )


@dataclass(frozen=True)
class _LoopShift:
    """How much timestamps and frame numbers advance per loop: the recording's span plus one
    typical (median) frame interval, so that a looped replay never goes back in time.
    """

    period_s: float
    frames: int

    @classmethod
    def of(cls, sequence: TrackingSequence) -> "_LoopShift":
        timestamps, numbers = sequence.timestamps_s, sequence.frame_numbers
        if len(sequence) == 0:
            return cls(FALLBACK_FRAME_INTERVAL_S, 1)
        steps = np.diff(timestamps)
        forward = steps[steps > 0.0]
        interval = float(np.median(forward)) if forward.size else FALLBACK_FRAME_INTERVAL_S
        span = float(timestamps.max() - timestamps[0])
        return cls(span + interval, int(numbers.max() - numbers[0]) + 1)
