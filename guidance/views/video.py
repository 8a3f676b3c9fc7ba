"""A video of a run, written frame by frame by a real encoder: H.264 ``.mp4`` through ffmpeg
(``imageio-ffmpeg`` ships the binary) or an animated ``.gif`` through Pillow, both via imageio."""

import logging
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from guidance.exceptions import GuidanceError

logger = logging.getLogger(__name__)

FORMATS = (".mp4", ".gif")
# ffmpeg's H.264 quality on imageio's 0-10 scale (10 is best); 8 keeps text sharp.
MP4_QUALITY = 8


class VideoWriter:
    """Append (H, W, 3) uint8 frames, all the same size, to ``path`` at ``fps`` frames per
    second; ``close`` (or the ``with`` block) finishes the file."""

    def __init__(self, path: Path | str, fps: float) -> None:
        import imageio.v2 as imageio

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise GuidanceError(
                f"video {self.path}: cannot write {suffix or 'a file without an extension'}; "
                f"use one of {', '.join(FORMATS)}"
            )
        if not 0.0 < fps <= 120.0:
            raise GuidanceError(f"video {self.path}: fps must be in (0, 120]; got {fps!r}")
        if not self.path.parent.is_dir():
            raise GuidanceError(f"video {self.path}: the folder {self.path.parent} does not exist")
        self.fps = fps
        self.frame_count = 0
        self._size: tuple[int, int] | None = None
        if suffix == ".mp4":
            self._writer = imageio.get_writer(
                self.path,
                format="FFMPEG",
                fps=fps,
                codec="libx264",
                quality=MP4_QUALITY,
                pixelformat="yuv420p",
                macro_block_size=2,
            )
        else:
            self._writer = imageio.get_writer(
                self.path, format="GIF", mode="I", duration=1000.0 / fps, loop=0
            )

    def add(self, frame: np.ndarray) -> None:
        """Append one picture (H, W, 3) uint8; every frame must have the first one's size."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise GuidanceError(
                f"video {self.path}: a frame must be an (H, W, 3) uint8 picture; "
                f"got {frame.shape} {frame.dtype}"
            )
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise GuidanceError(
                f"video {self.path}: frame {self.frame_count + 1} is {size[0]} x {size[1]} "
                f"pixels, the first was {self._size[0]} x {self._size[1]}"
            )
        self._writer.append_data(frame)
        self.frame_count += 1

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()
        logger.info("video of %d frames written to %s", self.frame_count, self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
