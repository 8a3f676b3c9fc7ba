"""``gestes replay FILE``: play a tracking recording, one line (JSON object or text) per frame."""

import argparse
import itertools
import json
import math
import os
import sys
from pathlib import Path

from devices.frame import Frame
from devices.replay import MAX_PAUSE_S, ReplayTracker
from guidance.commands.igtl_option import add_igtl_server_option, igtl_sender


def _positive(text: str, what: str) -> float:
    """``text`` as a finite number > 0; ``what`` says what was expected in the error."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0.0):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return number


def _speed(text: str) -> float | None:
    """A positive factor of the original timing, or ``max`` (as fast as possible): None."""
    return None if text == "max" else _positive(text, "a number > 0 or 'max'")


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    return _positive(text, "a number of seconds > 0")


def _count(text: str) -> int:
    """A number of frames, >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0; got {text!r}")
    return int(text)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes replay``."""
    parser = subparsers.add_parser("replay", help="play a tracking recording (.igs.mha)")
    parser.add_argument("file", type=Path, help="PLUS sequence file (.igs.mha)")
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="factor of the original timing (1 = real time, 2 = twice as fast) or 'max' "
        "(as fast as possible); default 1",
    )
    parser.add_argument("--loop", action="store_true", help="start again at the end (Ctrl-C stops)")
    parser.add_argument("--limit", type=_count, help="stop after this many frames")
    parser.add_argument(
        "--max-pause",
        type=_seconds,
        default=MAX_PAUSE_S,
        metavar="S",
        help="longest wait for one frame, in seconds of recording: a longer gap between two "
        f"timestamps is played as this long (default {MAX_PAUSE_S:g})",
    )
    parser.add_argument("--format", choices=("json", "text"), default="json", help="output format")
    parser.add_argument(
        "--reference-frame",
        default="Tracker",
        metavar="NAME",
        help="replay the file's <Tool>To<NAME>Transform fields (default: Tracker)",
    )
    add_igtl_server_option(parser)
    parser.set_defaults(run=run)


def frame_record(frame: Frame) -> dict:
    """One frame as plain JSON values: matrices row by row (mm), null where not valid."""
    return {
        "timestamp_s": frame.timestamp,
        "frame_number": frame.frame_number,
        "tools": {
            name: {
                "status": pose.status.value,
                "tracker_from_tool": pose.tracker_from_tool.tolist() if pose.valid else None,
                "error_rms_mm": pose.error_rms if math.isfinite(pose.error_rms) else None,
            }
            for name, pose in frame.poses.items()
        },
    }


def frame_text(frame: Frame) -> str:
    """One frame on one line: each tool's status and origin position in the tracker (mm)."""
    parts = []
    for name, pose in frame.poses.items():
        if pose.valid:
            x, y, z = pose.tracker_from_tool[:3, 3]
            error = "" if math.isnan(pose.error_rms) else f" rms {pose.error_rms:.2f}"
            parts.append(f"{name} {pose.status.value} ({x:.2f}, {y:.2f}, {z:.2f}) mm{error}")
        else:
            parts.append(f"{name} {pose.status.value}")
    return f"{frame.timestamp:.3f} s #{frame.frame_number}  " + " | ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Print every frame as it is played; stops at the end (or ``--limit``, or Ctrl-C)."""
    show = (
        (lambda frame: json.dumps(frame_record(frame), allow_nan=False))
        if args.format == "json"
        else frame_text
    )
    with (
        ReplayTracker(
            args.file, args.speed, args.loop, args.reference_frame, max_pause_s=args.max_pause
        ) as tracker,
        igtl_sender(args.igtl_server, tracker.tools) as send,
    ):
        # islice stops before reading (and waiting for) the frame after the last one wanted.
        for frame in itertools.islice(tracker, args.limit):
            if send is not None:
                send(frame)
            try:
                print(show(frame), flush=True)
            except BrokenPipeError:
                # The reader went away (e.g. `| head`): stop quietly, as Unix tools do, and keep
                # Python's final flush of stdout from failing again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
    return 0
