"""``gestes pivot RECORDING --tool NAME``: pivot calibration of a tool from a PLUS recording.

Prints JSON: the tip in the tool frame and the pivot point in the tracker frame (mm), the RMS
residual, how many frames were used, and warnings (slipped tip, too little rotation).
"""

import argparse
import json
import math
from pathlib import Path

from devices.sequence_file import read_sequence
from guidance.exceptions import GuidanceError
from registration.pivot import PivotSettings, pivot_calibration


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes pivot``."""
    parser = subparsers.add_parser(
        "pivot", help="pivot calibration of a tool from a PLUS recording (JSON to stdout)"
    )
    parser.add_argument("recording", type=Path, help="PLUS sequence file (.igs.mha)")
    parser.add_argument("--tool", required=True, help="tool that pivoted (e.g. stylus)")
    defaults = PivotSettings()
    parser.add_argument(
        "--threshold-mm",
        type=float,
        default=defaults.inlier_threshold_mm,
        help="frames whose tip lands farther than this from the pivot are outliers",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the tool's poses, calibrate, print JSON."""
    sequence = read_sequence(args.recording)
    if args.tool not in sequence.tools:
        raise GuidanceError(f"{args.recording}: no tool {args.tool!r}; it has {sequence.tools}")
    poses = sequence.tracker_from_tool[:, sequence.tools.index(args.tool)]
    result = pivot_calibration(poses, PivotSettings(inlier_threshold_mm=args.threshold_mm))
    report = {
        "tool": args.tool,
        "tip_in_tool": result.tip_in_tool_mm.tolist(),
        "pivot_in_tracker": result.pivot_in_tracker_mm.tolist(),
        "rms": result.rms_mm,
        "frames_used": result.frames_used,
        "frames": len(poses),
        "rotation_coverage_deg": math.degrees(result.rotation_coverage_rad),
        "warnings": list(result.warnings),
        "units": "mm",
    }
    print(json.dumps(report, indent=2))
    return 0
