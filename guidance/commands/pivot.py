"""``gestes pivot RECORDING --tool NAME``: pivot calibration of a tool from a PLUS recording.

Prints JSON: the tip in the tool frame and the pivot point in the tracker frame (mm), the RMS
residual, the frames that pivoted (found in the recording, or given with ``--frames``), the
outlier threshold the data's noise gave, and warnings (a slipped tip, too little rotation).
"""

import argparse
import math
from pathlib import Path

from guidance.commands.json_report import print_report
from guidance.exceptions import GuidanceError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes pivot``."""
    parser = subparsers.add_parser(
        "pivot", help="pivot calibration of a tool from a PLUS recording (JSON to stdout)"
    )
    parser.add_argument("recording", type=Path, help="PLUS sequence file (.igs.mha)")
    parser.add_argument(
        "--tool", required=True, help="tool that pivoted, as the recording names it (any case)"
    )
    parser.add_argument(
        "--frames",
        metavar="FIRST:LAST",
        help="use only these frames (0-based, inclusive); default: the pivoting stretch found "
        "in the recording",
    )
    parser.add_argument(
        "--threshold-mm",
        type=float,
        help="fixed outlier threshold: frames whose tip lands farther than this from the pivot "
        "are left out (default: follow the recording's own noise)",
    )
    parser.set_defaults(run=run)


def _frame_range(text: str | None, count: int) -> slice:
    """The ``--frames FIRST:LAST`` slice (inclusive), checked against the recording's length."""
    if text is None:
        return slice(0, count)
    first, colon, last = text.partition(":")
    try:
        start, stop = int(first or 0), int(last) if last else count - 1
    except ValueError:
        start, stop = -1, -1
    if not colon or not 0 <= start <= stop < count:
        raise GuidanceError(
            f"--frames {text}: expected FIRST:LAST with 0 <= FIRST <= LAST < {count} "
            "(the recording's frame count)"
        )
    return slice(start, stop + 1)


def run(args: argparse.Namespace) -> int:
    """Read the tool's poses, calibrate, print JSON."""
    from devices.frame import match_tool
    from devices.sequence_file import read_sequence
    from registration.pivot import PivotSettings, pivot_calibration

    sequence = read_sequence(args.recording)
    tool = match_tool(args.tool, sequence.tools, str(args.recording))
    chosen = _frame_range(args.frames, len(sequence))
    poses = sequence.tracker_from_tool[chosen, sequence.tools.index(tool)]
    result = pivot_calibration(poses, PivotSettings(inlier_threshold_mm=args.threshold_mm))
    first, last = (chosen.start + index for index in result.segment)
    report = {
        "tool": tool,
        "tip_in_tool": result.tip_in_tool_mm.tolist(),
        "pivot_in_tracker": result.pivot_in_tracker_mm.tolist(),
        "rms": result.rms_mm,
        "frames_used": result.frames_used,
        "frames": len(sequence),
        "pivoting_frames": [first, last],
        "outlier_threshold": result.threshold_mm,
        "rotation_coverage_deg": math.degrees(result.rotation_coverage_rad),
        "warnings": list(result.warnings),
        "units": "mm",
    }
    print_report("pivot", report)
    return 0
