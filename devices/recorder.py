"""Record any tracker to a PLUS sequence file, frame by frame: a crash loses no written frame."""

import enum
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from devices.exceptions import ConfigurationError, RecordingError, StreamEnded
from devices.frame import Tracker
from devices.sequence_file import SequenceWriter

logger = logging.getLogger(__name__)


class RecordingEnd(enum.Enum):
    """Why a recording ended normally."""

    DURATION = "duration reached"
    SOURCE_ENDED = "source ended"
    INTERRUPTED = "stopped by Ctrl-C"


@dataclass(frozen=True)
class Recording:
    """A finished recording: where, how many frames, of which tools, and why it ended."""

    path: Path
    frame_count: int
    tools: tuple[str, ...]
    end: RecordingEnd


def record(
    tracker: Tracker,
    path: str | Path,
    duration_s: float | None = None,
    read_timeout_s: float | None = None,
    overwrite: bool = False,
) -> Recording:
    """Start ``tracker`` and write its frames to the PLUS sequence file ``path`` as they arrive.

    Ends after ``duration_s`` seconds of tracker time (frame timestamps, from the first frame),
    when the source ends, or on Ctrl-C (``KeyboardInterrupt`` ends the recording normally). The
    file is created only once the tracker has started, and an existing one is replaced only
    with ``overwrite=True`` (checked before the tracker starts). Any other error (a timeout, a
    disconnected device) propagates after the frames read so far are written, the file
    completed and the tracker stopped.
    """
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0.0):
        raise ConfigurationError(
            f"duration must be a finite number of seconds > 0; got {duration_s!r}"
        )
    if not overwrite and Path(path).exists():
        raise RecordingError(
            f"{path} already exists: choose another name, or overwrite it on purpose"
        )
    tracker.start()
    try:
        with SequenceWriter(path, tracker.tools, overwrite) as writer:
            end = _copy_frames(tracker, writer, duration_s, read_timeout_s)
    finally:
        tracker.stop()
    logger.info("recorded %d frames to %s (%s)", writer.frame_count, path, end.value)
    return Recording(Path(path), writer.frame_count, tuple(tracker.tools), end)


def _copy_frames(
    tracker: Tracker, writer: SequenceWriter, duration_s: float | None, read_timeout_s: float | None
) -> RecordingEnd:
    """Append frames until the duration, the end of the source or Ctrl-C."""
    first_s = None
    try:
        while True:
            try:
                frame = tracker.read(timeout=read_timeout_s)
            except StreamEnded:
                return RecordingEnd.SOURCE_ENDED
            if first_s is None:
                first_s = frame.timestamp
            if duration_s is not None and frame.timestamp - first_s > duration_s:
                return RecordingEnd.DURATION
            writer.append(frame)
    except KeyboardInterrupt:
        return RecordingEnd.INTERRUPTED
