"""``gestes study tre``: the target registration error over many simulated exercises, per
number of fiducials, layout and FLE, on Dask (this machine's cores or a lab cluster)."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from guidance.commands.exercise import seed_argument
from guidance.exercises import SOURCES
from guidance.study.settings import LAYOUTS, TreStudySettings, defaults


def comma_list(kind: Callable[[str], object], what: str) -> Callable[[str], tuple]:
    """argparse type: comma-separated values of ``kind`` (``4,6,8``)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(item.strip()) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what} separated by commas; got {text!r}"
            ) from None

    return parse


def choices_list(choices: tuple[str, ...], what: str) -> Callable[[str], tuple[str, ...]]:
    """argparse type: comma-separated names among ``choices``."""

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {unknown or text!r}; choose from {', '.join(choices)}"
            )
        return names

    return parse


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` (a local cluster), ``--scheduler ADDRESS`` (an existing one), ``--resume``
    and ``--out``: shared by ``gestes study`` and ``gestes grade``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the local Dask cluster (default: one per core; 0: no Dask, "
        "in this process)",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:8786",
        help="run on an existing Dask cluster (dask scheduler / dask worker, or dask-jobqueue)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish a stopped run in --out: pieces already there are not computed again",
    )


def cluster_settings(args: argparse.Namespace):
    """The ``ClusterSettings`` of the options ``add_cluster_options`` registered. Dask's own
    loggers (set to INFO when it is imported) then say only errors, or what ``-v`` / ``-vv``
    ask for, so that a local cluster's start and stop do not bury the progress bar."""
    import logging

    import distributed  # noqa: F401 (configures its loggers when imported: first, then ours)

    from guidance.study.engine import ClusterSettings

    level = logging.getLogger().getEffectiveLevel()
    logging.getLogger("distributed").setLevel(level if level < logging.WARNING else logging.ERROR)
    return ClusterSettings(workers=args.workers, scheduler=args.scheduler)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes study``."""
    parser = subparsers.add_parser(
        "study",
        help="TRE studies over many simulated exercises, on Dask",
        description="Studies over many simulated exercises, cut into pieces that run on a "
        "local Dask cluster (--workers) or an existing one (--scheduler). Results are saved as "
        "each piece finishes, so a stopped study keeps them (--resume finishes it) and the "
        "tables are the same, bit for bit, however many workers ran it.",
    )
    kinds = parser.add_subparsers(dest="study", metavar="STUDY", required=True)
    tre = kinds.add_parser(
        "tre",
        help="TRE against the number, layout and localisation error of the fiducials",
        description="For every configuration (layout x number of fiducials x FLE), run the "
        "fiducials exercise --trials times with a simulated student and tracker, measure the "
        "true TRE at each target and compare it with Fitzpatrick 1998 (eq. 46) and the "
        "anisotropic propagation. Writes tre.csv (one row per configuration and target), "
        "trials.csv (one per trial and target), study.html and settings.json to --out.",
    )
    default = defaults(TreStudySettings)
    tre.add_argument(
        "--scene",
        default=default["scene"],
        metavar="DIR|builtin:NAME",
        help=f"scene folder or builtin:skull|spine|needle-box (default {default['scene']})",
    )
    tre.add_argument(
        "--fiducials",
        type=comma_list(int, "whole numbers"),
        default=default["fiducials"],
        metavar="N,...",
        help="numbers of fiducials, at least 3 (default "
        f"{','.join(map(str, default['fiducials']))})",
    )
    tre.add_argument(
        "--fle",
        type=comma_list(float, "distances in mm"),
        default=default["fle_mm"],
        metavar="MM,...",
        help=f"fiducial localisation errors, RMS (default {','.join(map(str, default['fle_mm']))})",
    )
    tre.add_argument(
        "--layout",
        type=choices_list(LAYOUTS, "layout"),
        default=default["layouts"],
        metavar="|".join(LAYOUTS),
        help=f"where the fiducials go; several separated by commas (default "
        f"{','.join(default['layouts'])})",
    )
    tre.add_argument(
        "--trials",
        type=int,
        default=default["trials"],
        metavar="N",
        help=f"simulated exercises per configuration (default {default['trials']})",
    )
    tre.add_argument(
        "--targets",
        default="all",
        metavar="all|LABEL,...",
        help="the scene's targets to measure at (default all)",
    )
    tre.add_argument(
        "--seed",
        type=seed_argument,
        default=default["seed"],
        metavar="N",
        help=f"seed of the phantom and of every trial (default {default['seed']})",
    )
    tre.add_argument(
        "--trials-per-piece",
        type=int,
        default=default["trials_per_piece"],
        metavar="N",
        help=f"trials in one piece of work (default {default['trials_per_piece']})",
    )
    tre.add_argument(
        "--without",
        type=choices_list(SOURCES, "error source"),
        default=(),
        metavar="SOURCE,...",
        help=f"error sources to leave out: {', '.join(SOURCES)}",
    )
    tre.add_argument(
        "--out", type=Path, default=Path("gestes-study"), help="output folder (gestes-study)"
    )
    add_cluster_options(tre)
    tre.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the study with a progress bar on stderr; print where its files are."""
    from guidance.commands.progress_bar import ProgressBar
    from guidance.study.tre_study import run_study

    targets = (
        () if args.targets.strip().lower() == "all" else comma_list(str, "labels")(args.targets)
    )
    settings = TreStudySettings(
        scene=args.scene,
        fiducials=args.fiducials,
        fle_mm=args.fle,
        layouts=args.layout,
        trials=args.trials,
        targets=targets,
        seed=args.seed,
        trials_per_piece=args.trials_per_piece,
        without=args.without,
    )
    cluster = cluster_settings(args)
    print(f"... study on {cluster.describe()}", file=sys.stderr, flush=True)
    bar = ProgressBar("pieces")
    try:
        outcome = run_study(settings, args.out, cluster, args.resume, bar)
    finally:
        bar.close()
    print(f"{len(outcome.summary)} rows ({outcome.pieces_run} pieces computed now)")
    for path in (outcome.table_path, outcome.trials_path, outcome.page_path):
        print(path)
    return 0
