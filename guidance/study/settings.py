"""What a study runs, checked before anything starts. Light on purpose (the standard library
only): the command line reads its defaults here without importing the simulation."""

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from guidance.exceptions import GuidanceError
from guidance.exercises import SOURCES

# Where a configuration's fiducials go (``guidance.study.layouts`` says how).
LAYOUTS = ("spread", "clustered", "coplanar")


@dataclass(frozen=True)
class TreStudySettings:
    """What a TRE study runs: the scene (``builtin:NAME`` or a folder, built from ``seed``), the
    numbers of fiducials, FLEs (RMS, mm) and layouts whose every combination is a configuration,
    the trials per configuration, the targets (empty: all the scene's), the study's seed, the
    trials per piece of work and the error sources left out (as ``gestes exercise --without``).
    """

    scene: str = "builtin:skull"
    fiducials: tuple[int, ...] = (4, 6, 8, 10)
    fle_mm: tuple[float, ...] = (0.25, 0.5, 1.0)
    layouts: tuple[str, ...] = ("spread",)
    trials: int = 1000
    targets: tuple[str, ...] = ()
    seed: int = 0
    trials_per_piece: int = 10
    without: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from registration.tre import MIN_FIDUCIALS

        if not self.scene.startswith("builtin:"):
            # A scene folder by its absolute path: workers elsewhere do not share our cwd.
            object.__setattr__(self, "scene", str(Path(self.scene).resolve()))

        if not self.fiducials:
            raise GuidanceError("give at least one number of fiducials (--fiducials 4,6,8)")
        few = [n for n in self.fiducials if n < MIN_FIDUCIALS]
        if few:
            raise GuidanceError(
                f"a registration needs at least {MIN_FIDUCIALS} fiducials; --fiducials asks "
                f"for {', '.join(map(str, few))}"
            )
        if not self.fle_mm or not all(math.isfinite(f) and f > 0.0 for f in self.fle_mm):
            raise GuidanceError(f"each FLE must be a distance > 0 mm; got {list(self.fle_mm)}")
        unknown = [layout for layout in self.layouts if layout not in LAYOUTS]
        if not self.layouts or unknown:
            raise GuidanceError(f"unknown layout {unknown or '(none)'}; choose from {LAYOUTS}")
        for name in ("trials", "trials_per_piece"):
            if getattr(self, name) < 1:
                raise GuidanceError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.seed < 0:
            raise GuidanceError(f"the seed must be an integer >= 0; got {self.seed}")
        for name in ("fiducials", "fle_mm", "layouts", "targets"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise GuidanceError(f"{name} lists a value twice: {list(values)}")
        unknown = sorted(set(self.without) - set(SOURCES))
        if unknown:
            raise GuidanceError(f"unknown error source(s) {unknown}; the sources are {SOURCES}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values (the study folder's ``settings.json``)."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["without"] = sorted(self.without)
        return {
            "study": "tre",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
        }


def defaults(settings: type) -> dict[str, Any]:
    """The default of each field of a settings dataclass, read without building one."""
    return {item.name: item.default for item in fields(settings)}
