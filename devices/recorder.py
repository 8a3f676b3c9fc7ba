"""Record any tracker to a PLUS sequence file, frame by frame: a crash loses no written frame.

``FrameRecorder`` is a sink of ``devices.acquisition.Acquisition``: every frame it is given is
appended and flushed at once. ``record`` runs an acquisition with a recorder until the source
ends, a duration passes or Ctrl-C; the frames are written on the acquisition thread, so Ctrl-C
(which Python delivers to the main thread) never cuts a frame or the file's end in half.
"""

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from devices.acquisition import Acquisition, AcquisitionEnd
from devices.clock import Clock
from devices.exceptions import DeviceError, RecordingError
from devices.frame import Frame, Tracker
from devices.sequence_file import SequenceWriter, check_recording_path

logger = logging.getLogger(__name__)


class FrameRecorder:
    """Appends each frame it is called with to the sequence file ``path`` (``tools``' poses).

    The file is created at the first frame (or at ``close`` if none came), so that nothing is
    written for a tracker that fails to start; an existing file is refused at construction
    unless ``overwrite``. ``close`` completes the file (``DimSize`` and ``ElementDataFile``);
    ``frame_count`` is the number of frames written.
    """

    def __init__(self, path: str | Path, tools: tuple[str, ...], overwrite: bool = False) -> None:
        self.path = check_recording_path(path, overwrite)
        self.tools = tuple(tools)
        self._overwrite = overwrite
        self._writer: SequenceWriter | None = None
        self._closed = False
        SequenceWriter.check_tools(self.tools)

    @property
    def frame_count(self) -> int:
        """Frames written so far."""
        return 0 if self._writer is None else self._writer.frame_count

    def __call__(self, frame: Frame) -> None:
        """Append ``frame`` and flush it to the operating system."""
        self._open().append(frame)

    def close(self) -> None:
        """Complete the file (creating it if no frame came). Closing twice is harmless."""
        if not self._closed:
            self._open().close()
            self._closed = True

    def _open(self) -> SequenceWriter:
        if self._closed:
            raise RecordingError(f"{self.path}: the recording is closed")
        if self._writer is None:
            self._writer = SequenceWriter(self.path, self.tools, self._overwrite)
        return self._writer


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


class RecordingFailed(DeviceError):
    """The source failed during a recording; ``recording`` says what was kept."""

    def __init__(self, recording: Recording, error: BaseException) -> None:
        self.recording = recording
        self.error = error
        super().__init__(
            f"{error} ({recording.frame_count} frames recorded before it are kept in "
            f"{recording.path})"
        )


def record(
    tracker: Tracker,
    path: str | Path,
    duration_s: float | None = None,
    read_timeout_s: float | None = None,
    overwrite: bool = False,
    clock: Clock | None = None,
) -> Recording:
    """Start ``tracker`` and write its frames to the PLUS sequence file ``path`` as they arrive.

    Ends after ``duration_s`` seconds of tracker time (frame timestamps, from the first frame),
    when the source ends, or on Ctrl-C (``KeyboardInterrupt`` ends the recording normally). The
    file is created only once the tracker has started, and an existing one is replaced only
    with ``overwrite=True`` (checked before the tracker starts). If the tracker fails (a
    timeout, a disconnected device), the frames read so far are kept, the file completed, and
    ``RecordingFailed`` says how many were kept.
    """
    recorder = FrameRecorder(path, tuple(tracker.tools), overwrite)
    options = {} if read_timeout_s is None else {"read_timeout_s": read_timeout_s}
    acquisition = Acquisition(tracker, [recorder], clock, duration_s=duration_s, **options)
    interrupted = False
    try:
        acquisition.start()
        acquisition.wait()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        acquisition.stop()
    if interrupted:
        end = RecordingEnd.INTERRUPTED
    elif acquisition.end is AcquisitionEnd.DURATION:
        end = RecordingEnd.DURATION
    else:
        end = RecordingEnd.SOURCE_ENDED
    done = Recording(recorder.path, recorder.frame_count, tuple(tracker.tools), end)
    if acquisition.error is not None and not interrupted:
        raise RecordingFailed(done, acquisition.error) from acquisition.error
    logger.info("recorded %d frames to %s (%s)", done.frame_count, done.path, end.value)
    return done
