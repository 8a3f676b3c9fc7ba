"""The settings of ``gestes navigate``, light to import (the command line reads its defaults here
without loading VTK or Numba)."""

import math
from dataclasses import dataclass
from pathlib import Path

from guidance.exceptions import GuidanceError

AUTO = "auto"


@dataclass(frozen=True)
class NavigateSettings:
    """What to navigate: ``scene`` (folder or ``builtin:NAME``), ``tracker`` (``sim``,
    ``keyboard``, ``replay:FILE``, ``ndi:PORT``, ...), ``registration`` (a JSON file of
    ``gestes register points|surface`` or ``auto``), ``target`` (a target or trajectory name;
    None: the scene's first trajectory), ``tool_tip`` (a ``gestes pivot`` result; None: the
    tool's definition), the tools' names in the tracker's frames, the simulation's ``seed`` and
    rate (Hz; its errors are the exercises' ``ErrorSources``), whether sources are paced in real
    time, and how long the simulated stylus keeps going back to the target (``loop_s``; None:
    once)."""

    scene: str
    tracker: str = "sim"
    registration: str = AUTO
    target: str | None = None
    tool_tip: Path | None = None
    stylus: str = "stylus"
    reference: str = "reference"
    seed: int = 0
    rate_hz: float = 60.0
    realtime: bool = True
    loop_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise GuidanceError(f"seed must be an integer >= 0; got {self.seed!r}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0.0):
            raise GuidanceError(f"rate must be > 0 Hz; got {self.rate_hz!r}")
        if self.loop_s is not None and not (math.isfinite(self.loop_s) and self.loop_s > 0.0):
            raise GuidanceError(f"loop duration must be > 0 s; got {self.loop_s!r}")
        if self.registration == AUTO and self.tracker_kind not in ("sim", "keyboard"):
            raise GuidanceError(
                f"--registration auto needs --tracker sim or keyboard; with {self.tracker} give "
                "the JSON that 'gestes register points' or 'gestes register surface' prints"
            )

    @property
    def tracker_kind(self) -> str:
        """The tracker spec's kind: ``sim``, ``keyboard``, ``replay``, ``ndi``, ..."""
        return self.tracker.partition(":")[0]
