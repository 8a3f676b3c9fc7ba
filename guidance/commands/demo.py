"""``gestes demo``: the fiducial exercise followed by targeting, on the built-in skull, done by a
simulated student: the targeting exercise of ``gestes exercise``, which registers first."""

import argparse
import sys
from pathlib import Path

from guidance.commands.exercise import seed_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run a simulated registration and navigation exercise on a phantom",
        description="A simulated student registers the built-in skull phantom by touching its "
        "fiducial beads with a tracked stylus, then brings the stylus to the biopsy target "
        "along its planned trajectory; the errors of a real navigation system are simulated "
        "(gestes exercise targeting on builtin:skull). Writes report.html, report.json, the "
        "navigation picture, the recording and run.json.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("gestes-demo"),
        metavar="DIR",
        help="output folder, created if needed (default: ./gestes-demo)",
    )
    parser.add_argument(
        "--seed",
        type=seed_argument,
        default=0,
        metavar="N",
        help="random seed of the phantom, placement, student and noise (default: 0)",
    )
    parser.add_argument(
        "--skill",
        choices=("novice", "expert"),
        default=None,
        help="the simulated student (default novice)",
    )
    parser.add_argument(
        "--no-picture",
        action="store_true",
        help="skip the navigation picture (for machines without off-screen rendering)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo, print its progress on stderr and its summary on stdout."""
    from guidance.exercises.runner import ExerciseOptions, run_exercise
    from guidance.exercises.summary import summary
    from scenes.student import Skill

    options = ExerciseOptions(
        "targeting",
        out=args.out,
        scene="builtin:skull",
        seed=args.seed,
        skill=None if args.skill is None else Skill(args.skill),
        snapshots=not args.no_picture,
    )
    result = run_exercise(
        options, progress=lambda line: print(f"... {line}", file=sys.stderr, flush=True)
    )
    print(summary(result.report, [str(path) for path in result.files]))
    return 0
