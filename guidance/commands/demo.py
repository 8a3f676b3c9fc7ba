"""``gestes demo``: a complete simulated guidance exercise on the built-in skull phantom."""

import argparse
import sys
from pathlib import Path

from guidance.demo import DemoSettings, run_demo
from guidance.report import summary_table


def _seed(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run a simulated registration and navigation exercise on a phantom",
        description="Build a skull phantom CT, touch its fiducial beads with a simulated tracked "
        "stylus (0.25 mm RMS marker noise), register, navigate to its targets, and report the "
        "errors against the ground truth. Writes the CT (.nrrd), navigation.png and report.json.",
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
        type=_seed,
        default=0,
        metavar="N",
        help="random seed of the phantom, placement, hand and noise: same seed, same results "
        "(default: 0)",
    )
    parser.add_argument(
        "--no-picture",
        action="store_true",
        help="skip navigation.png (for machines without the off-screen rendering libraries)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo, print its progress on stderr and the summary table on stdout."""
    settings = DemoSettings(seed=args.seed, render=not args.no_picture)
    result = run_demo(
        args.out, settings, progress=lambda line: print(f"... {line}", file=sys.stderr, flush=True)
    )
    print(summary_table(result))
    return 0
