"""The small study the tests run: the whole pipeline at its cheapest (the needle box, which
builds in a second; 3 fiducials; no pivot calibration before each trial)."""

import dataclasses

from guidance.study.settings import TreStudySettings

BOX = "builtin:needle-box"
SMALL = TreStudySettings(
    scene=BOX,
    fiducials=(3,),
    fle_mm=(0.5,),
    trials=3,
    trials_per_piece=1,
    without=("pivot_calibration",),
)


def small(**changes: object) -> TreStudySettings:
    """``SMALL`` with some settings changed."""
    return dataclasses.replace(SMALL, **changes)


def command_line(settings: TreStudySettings) -> list[str]:
    """The ``gestes study tre`` arguments of ``settings`` (its scene, grid, trials, sources)."""
    return [
        "study",
        "tre",
        "--scene",
        settings.scene,
        "--fiducials",
        ",".join(map(str, settings.fiducials)),
        "--fle",
        ",".join(map(str, settings.fle_mm)),
        "--layout",
        ",".join(settings.layouts),
        "--trials",
        str(settings.trials),
        "--trials-per-piece",
        str(settings.trials_per_piece),
        "--seed",
        str(settings.seed),
        *(["--without", ",".join(settings.without)] if settings.without else []),
    ]
