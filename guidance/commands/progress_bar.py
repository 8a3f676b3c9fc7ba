"""A progress bar on the terminal for long work counted in pieces (``gestes study``,
``gestes grade``): redrawn in place on a terminal, a line per tenth of the work otherwise (a
log file or CI keeps a short record)."""

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``bar(done, total)`` shows ``[#####.....]  12/40 pieces  1m20s left`` on ``stream``;
    ``close()`` ends the line."""

    def __init__(self, unit: str, stream: TextIO | None = None) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._start: tuple[float, int] | None = None
        self._tenths_shown = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = (now, done)
        filled = WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} {self.unit}"
        started, first = self._start
        if first < done < total:
            left = (now - started) / (done - first) * (total - done)
            line += f"  {int(left // 60)}m{int(left % 60):02d}s left"
        if self.live:
            self.stream.write(f"\r{line}\033[K")
            self._drawn = True
        elif 10 * done // max(total, 1) > self._tenths_shown:
            self._tenths_shown = 10 * done // max(total, 1)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
