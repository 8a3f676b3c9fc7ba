"""``gestes demo``: a complete simulated guidance exercise on the built-in skull phantom."""

import argparse
import math
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


def _non_negative_seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0; got {text!r}") from None
    if not (math.isfinite(value) and value >= 0.0):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0; got {text}")
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
        "--noise-correlation",
        type=_non_negative_seconds,
        default=0.0,
        metavar="S",
        help="correlation time of the marker noise in seconds (default: 0, independent frames); "
        "real cameras drift, and averaging a dwell then removes less noise than its scatter "
        "suggests: try 0.5 and compare the FLE estimates",
    )
    parser.add_argument(
        "--no-picture",
        action="store_true",
        help="skip navigation.png (for machines without the off-screen rendering libraries)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo, print its progress on stderr and the summary table on stdout."""
    settings = DemoSettings(
        seed=args.seed, noise_correlation_s=args.noise_correlation, render=not args.no_picture
    )
    result = run_demo(
        args.out, settings, progress=lambda line: print(f"... {line}", file=sys.stderr, flush=True)
    )
    print(summary_table(result))
    return 0
