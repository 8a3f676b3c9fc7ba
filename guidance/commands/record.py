"""``gestes record --tracker SPEC --out FILE``: record a tracker to a PLUS sequence file.

The file is written frame by frame; Ctrl-C ends the recording cleanly, and even a crash keeps
every frame written (``gestes replay`` recovers such a file, with a warning).
"""

import argparse
from pathlib import Path

import guidance.demo_source  # noqa: F401 (registers sim:demo)
from devices.recorder import record
from devices.sources import open_tracker, spec_help


def _tool(text: str) -> tuple[str, str]:
    """``NAME=SPEC`` for an NDI tool (a .rom path or an Aurora PORT[:CHANNEL])."""
    name, equals, spec = text.partition("=")
    if not (equals and name and spec):
        raise argparse.ArgumentTypeError(
            f"expected NAME=SPEC (e.g. stylus=8700340.rom); got {text!r}"
        )
    return name, spec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes record``."""
    parser = subparsers.add_parser(
        "record", help="record a tracker (simulated, replayed or NDI) to a .igs.mha file"
    )
    parser.add_argument("--tracker", required=True, help=f"tracker to record: {spec_help()}")
    parser.add_argument("--out", required=True, type=Path, help="output file (.igs.mha)")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of tracker time to record (default: until the source ends, or Ctrl-C)",
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="pace sim: and replay: sources like a live device (default: as fast as possible)",
    )
    parser.add_argument(
        "--tool",
        action="append",
        type=_tool,
        metavar="NAME=SPEC",
        help="an NDI tool: NAME=file.rom (Polaris) or NAME=PORT[:CHANNEL] (Aurora); for an "
        "igtl: tracker, NAME=MESSAGE (e.g. stylus=StylusToTracker); repeat it for each tool "
        "(default: gestes' built-in stylus and reference)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Record until the duration, the end of the source or Ctrl-C; print a one-line summary."""
    tracker = open_tracker(args.tracker, realtime=args.realtime, ndi_tools=dict(args.tool or ()))
    done = record(tracker, args.out, args.duration, overwrite=args.force)
    print(
        f"recorded {done.frame_count} frames of {', '.join(done.tools)} to {done.path} "
        f"({done.end.value})"
    )
    return 0
