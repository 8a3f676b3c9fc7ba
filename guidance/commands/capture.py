"""``gestes capture RECORDING --tool NAME --relative-to NAME --tip X,Y,Z --out FILE``: one point
per period the tip was held still, as a markups file (for ``gestes register points``)."""

import argparse
from pathlib import Path

from registration.digitize import StillnessSettings


def _tip(text: str) -> tuple[float, float, float]:
    """argparse type: three comma-separated numbers (mm)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected X,Y,Z in mm (e.g. 0,0,-150); got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes capture``."""
    defaults = StillnessSettings()
    parser = subparsers.add_parser(
        "capture",
        help="points where a tracked tip was held still in a recording (markups file)",
        description="Find every period where the tool's tip was held still relative to the "
        "reference tool and write one averaged point per period, in order, in the reference "
        "tool's frame; each point's description gives its frames. Same detector as the "
        "fiducials exercise.",
    )
    parser.add_argument("recording", type=Path, help="PLUS sequence file (.igs.mha)")
    parser.add_argument("--tool", required=True, help="the pointer, as the recording names it")
    parser.add_argument("--relative-to", required=True, help="the reference tool")
    parser.add_argument("--tip", required=True, type=_tip, help="tip in the tool frame, X,Y,Z mm")
    parser.add_argument(
        "--still-mm",
        type=float,
        default=defaults.still_mm,
        help=f"RMS distance of the tip from its mean while still (default {defaults.still_mm})",
    )
    parser.add_argument(
        "--still-s",
        type=float,
        default=defaults.still_s,
        help=f"how long the tip must stay still (default {defaults.still_s} s)",
    )
    parser.add_argument("--out", type=Path, required=True, help="points file (.mrk.json, .fcsv)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Capture the still points, write them, print one line per point."""
    import numpy as np

    from devices.sequence_file import read_sequence
    from guidance.exercises.digitise import still_points
    from scenes.markups import write_markups

    settings = StillnessSettings(still_mm=args.still_mm, still_s=args.still_s)
    sequence = read_sequence(args.recording)
    points = still_points(sequence, np.array(args.tip), args.tool, args.relative_to, settings)
    write_markups(points, args.out)
    for k, label in enumerate(points.labels):
        x, y, z = points.points_mm[k]
        print(f"{label}: {x:10.3f} {y:10.3f} {z:10.3f} mm   {points.description(k)}")
    print(f"{len(points.labels)} points written to {args.out}")
    return 0
