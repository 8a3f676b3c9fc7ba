"""``gestes exercise NAME``: a scored guidance exercise on a phantom, simulated or replayed."""

import argparse
import sys
from pathlib import Path

from guidance.commands.igtl_option import add_igtl_server_option
from guidance.exercises import EXERCISES, SOURCES

SKILLS = ("expert", "novice")


def seed_argument(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {value}")
    return value


def _sources(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated error sources."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown error source(s) {unknown}; choose from {', '.join(SOURCES)}"
        )
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes exercise``."""
    parser = subparsers.add_parser(
        "exercise",
        help="a scored guidance exercise: pivot, fiducials, surface or targeting",
        description="Run a guidance exercise on a phantom and score it: with --tracker sim a "
        "simulated student does it, unattended, with the errors of a real navigation system; "
        "replay:FILE scores a recording again (with the run.json written beside it, the same "
        "score); with keyboard, ndi:PORT or igtl:HOST:PORT you move the stylus and the exercise "
        "names each point to hold still on. Where a display exists the navigation window shows "
        "the run with the exercise's prompts (the simulated student and a replay then go at "
        "real pace); --headless runs as fast as it can. Writes run.json, recording.igs.mha, "
        "report.json and report.html to --out.",
    )
    parser.add_argument("name", choices=EXERCISES, help="which exercise")
    parser.add_argument(
        "--scene",
        default=None,
        metavar="DIR|builtin:NAME",
        help="scene folder or builtin:skull|spine|needle-box (default builtin:skull, or the "
        "replayed run's)",
    )
    parser.add_argument(
        "--tracker",
        default="sim",
        metavar="SPEC",
        help="sim (default: a simulated student), replay:FILE.igs.mha, or a stylus you move: "
        "keyboard (arrow keys and mouse in the window, at home), ndi:PORT or igtl:HOST:PORT "
        "(the exercise names each point to hold still on)",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no window, as fast as the run can go (without a display runs are headless anyway)",
    )
    parser.add_argument(
        "--video",
        type=Path,
        metavar="RUN.mp4|RUN.gif",
        help="headless: a video of the run with the exercise's prompts, drawn from its recording",
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default gestes-NAME)"
    )
    parser.add_argument(
        "--seed", type=seed_argument, default=None, metavar="N", help="random seed (default 0)"
    )
    parser.add_argument(
        "--skill", choices=SKILLS, default=None, help="the simulated student (default novice)"
    )
    parser.add_argument(
        "--tool-tip",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="the stylus tip from a pivot calibration (pivot.json of the pivot exercise, or "
        "what gestes pivot prints)",
    )
    parser.add_argument(
        "--without",
        type=_sources,
        default=(),
        metavar="SOURCE,...",
        help=f"error sources to leave out of the simulation: {', '.join(SOURCES)}",
    )
    add_igtl_server_option(parser)
    parser.epilog = (
        "OpenIGTLink: the tracker's transforms and, in the CT (RAS), the stylus tip "
        "(StylusTipToImage), with the CT and its points when a client connects; before the "
        "student's registration the CT-frame transforms use the true one (simulation, keyboard) "
        "or none (a real tracker: the reference frame). With a window or a stylus you move, "
        "clients follow at the session's pace; a headless simulation or replay streams as fast "
        "as it is computed (the whole run in a few seconds)."
    )
    parser.set_defaults(run=run)


def _window(args: argparse.Namespace) -> bool:
    """Whether the run has a window: unless --headless, where a display exists (the keyboard
    and --video say which they need, before anything starts)."""
    from guidance.exceptions import DisplayUnavailable, GuidanceError
    from guidance.views import check_display

    if args.headless:
        return False
    try:
        check_display()
    except DisplayUnavailable as error:
        if args.tracker.partition(":")[0] == "keyboard":
            raise
        print(f"... {error}: running headless", file=sys.stderr, flush=True)
        return False
    if args.video is not None:
        raise GuidanceError("--video is drawn from headless runs; add --headless")
    return True


def run(args: argparse.Namespace) -> int:
    """Run the exercise, print progress on stderr and the score on stdout."""
    from guidance.exercises.runner import ExerciseOptions, run_exercise
    from guidance.exercises.summary import summary
    from scenes.student import Skill

    window = _window(args)
    options = ExerciseOptions(
        exercise=args.name,
        tracker=args.tracker,
        out=args.out or Path(f"gestes-{args.name}"),
        scene=args.scene,
        seed=args.seed,
        skill=None if args.skill is None else Skill(args.skill),
        tool_tip=args.tool_tip,
        without=args.without,
        window=window,
        video=args.video,
        igtl_server=args.igtl_server,
    )
    result = run_exercise(
        options, progress=lambda line: print(f"... {line}", file=sys.stderr, flush=True)
    )
    print(summary(result.report, [str(path) for path in result.files]))
    return 0
