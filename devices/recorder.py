"""Record any tracker to a PLUS sequence file, frame by frame: a crash loses no written frame."""

import enum
import logging
import math

from devices.exceptions import ConfigurationError, StreamEnded
from devices.frame import Tracker
from devices.sequence_file import SequenceWriter

logger = logging.getLogger(__name__)


class RecordingEnd(enum.Enum):
    """Why ``record`` returned."""

    DURATION = "duration reached"
    SOURCE_ENDED = "source ended"


def record(
    tracker: Tracker,
    writer: SequenceWriter,
    duration_s: float | None = None,
    read_timeout_s: float | None = None,
) -> RecordingEnd:
    """Start ``tracker``, append its frames to ``writer``, stop it; returns why it ended.

    Stops after ``duration_s`` seconds of tracker time (frame timestamps, from the first frame)
    or when the source ends. Any other error (a timeout, a disconnected device, Ctrl-C)
    propagates after the frames read so far are written and the tracker is stopped; close the
    writer with ``with`` so that the file is complete either way.
    """
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0.0):
        raise ConfigurationError(
            f"duration must be a finite number of seconds > 0; got {duration_s!r}"
        )
    tracker.start()
    try:
        first_s = None
        while True:
            try:
                frame = tracker.read(timeout=read_timeout_s)
            except StreamEnded:
                logger.info("recording: source ended after %d frames", writer.frame_count)
                return RecordingEnd.SOURCE_ENDED
            if first_s is None:
                first_s = frame.timestamp
            if duration_s is not None and frame.timestamp - first_s > duration_s:
                return RecordingEnd.DURATION
            writer.append(frame)
    finally:
        tracker.stop()
