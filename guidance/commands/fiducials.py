"""``gestes fiducials detect CT --out FILE``: find the beads of a CT and write them as markups."""

import argparse
from pathlib import Path

from scenes.fiducials import BeadDetectionSettings, detect_beads
from scenes.markups import CoordinateSystem, Markups, write_markups
from scenes.volume import read_volume


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes fiducials detect``."""
    parser = subparsers.add_parser("fiducials", help="fiducial beads in a CT")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    detect = actions.add_parser(
        "detect",
        help="find spherical beads in a CT and write their centres (LPS) as Slicer markups",
    )
    detect.add_argument("ct", type=Path, help="CT volume file or DICOM folder")
    detect.add_argument(
        "--out", type=Path, required=True, help="markups file to write (.mrk.json or .fcsv)"
    )
    detect.add_argument("--series", help="DICOM series UID or description, if several")
    defaults = BeadDetectionSettings()
    detect.add_argument(
        "--threshold-hu", type=float, default=defaults.threshold_hu, help="bead threshold (HU)"
    )
    detect.add_argument(
        "--min-diameter-mm", type=float, default=defaults.min_diameter_mm, help="smallest bead"
    )
    detect.add_argument(
        "--max-diameter-mm", type=float, default=defaults.max_diameter_mm, help="largest bead"
    )
    detect.add_argument(
        "--ras", action="store_true", help="write RAS coordinates (default: LPS, as DICOM)"
    )
    detect.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Detect, write the markups file and print one line per bead."""
    settings = BeadDetectionSettings(
        threshold_hu=args.threshold_hu,
        min_diameter_mm=args.min_diameter_mm,
        max_diameter_mm=args.max_diameter_mm,
    )
    volume = read_volume(args.ct, args.series)
    beads = detect_beads(volume.image, settings)
    labels = tuple(f"B{index + 1}" for index in range(len(beads.centres_mm)))
    system = CoordinateSystem.RAS if args.ras else CoordinateSystem.LPS
    write_markups(Markups(labels, beads.centres_mm, name="beads"), args.out, system)
    print(f"{len(labels)} beads in {args.ct} ({beads.rejected} bright blobs rejected)")
    for label, centre, diameter in zip(labels, beads.centres_mm, beads.diameters_mm, strict=True):
        x, y, z = centre
        print(f"{label}: LPS ({x:.2f}, {y:.2f}, {z:.2f}) mm, core {diameter:.1f} mm")
    print(f"wrote {args.out} ({system.value})")
    return 0
