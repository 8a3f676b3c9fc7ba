"""``gestes fiducials detect CT --out FILE``: find the beads of a CT and write them as markups.

Beads are named ``B1``, ``B2``, ... in the order found; ``--names-from`` names each after the
fiducial of a scene (or a markups file) it sits on, so that ``gestes register points`` can pair
them with the scene's fiducials by label.
"""

import argparse
import sys
from pathlib import Path

from scenes.fiducials import BeadDetectionSettings, detect_beads
from scenes.markups import CoordinateSystem, Markups, read_markups, write_markups
from scenes.pairing import NearestNaming, name_after_nearest
from scenes.phantoms import resolve_scene
from scenes.volume import read_volume

MARKUPS_SUFFIXES = (".mrk.json", ".json", ".fcsv")


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
    detect.add_argument(
        "--names-from",
        metavar="SCENE",
        help="name each bead after the fiducial it sits on: a scene folder, builtin:NAME, or a "
        "markups file, in the CT's frame",
    )
    detect.add_argument(
        "--tolerance-mm",
        type=float,
        default=NearestNaming().tolerance_mm,
        help="--names-from: largest distance between a bead and the fiducial it is named after",
    )
    detect.set_defaults(run=run)


def _known_fiducials(spec: str) -> Markups:
    """The named fiducials of ``spec``: a markups file, or a scene's fiducials."""
    if spec.lower().endswith(MARKUPS_SUFFIXES):
        return read_markups(spec)
    scene = resolve_scene(spec)
    return Markups(scene.fiducial_labels, scene.fiducials_mm, name=scene.name)


def _labels(args: argparse.Namespace, centres_mm) -> tuple[str, ...]:
    """``B1``, ``B2``, ... or, with ``--names-from``, the matching fiducials' labels (beads with
    no match keep their number, and say so on stderr)."""
    numbered = tuple(f"B{index + 1}" for index in range(len(centres_mm)))
    if args.names_from is None:
        return numbered
    known = _known_fiducials(args.names_from)
    names = name_after_nearest(centres_mm, known, NearestNaming(args.tolerance_mm))
    unmatched = [number for number, name in zip(numbered, names, strict=True) if name is None]
    missing = sorted(set(known.labels) - set(names))
    if unmatched:
        print(
            f"gestes fiducials: warning: {', '.join(unmatched)} within {args.tolerance_mm} mm of "
            f"no fiducial of {args.names_from}: they keep their numbers",
            file=sys.stderr,
        )
    if missing:
        print(
            f"gestes fiducials: warning: no bead found at {', '.join(missing)} of "
            f"{args.names_from}",
            file=sys.stderr,
        )
    return tuple(name or number for name, number in zip(names, numbered, strict=True))


def run(args: argparse.Namespace) -> int:
    """Detect, write the markups file and print one line per bead."""
    settings = BeadDetectionSettings(
        threshold_hu=args.threshold_hu,
        min_diameter_mm=args.min_diameter_mm,
        max_diameter_mm=args.max_diameter_mm,
    )
    volume = read_volume(args.ct, args.series)
    beads = detect_beads(volume.image, settings)
    labels = _labels(args, beads.centres_mm)
    system = CoordinateSystem.RAS if args.ras else CoordinateSystem.LPS
    write_markups(Markups(labels, beads.centres_mm, name="beads"), args.out, system)
    print(f"{len(labels)} beads in {args.ct} ({beads.rejected} bright blobs rejected)")
    for label, centre, diameter in zip(labels, beads.centres_mm, beads.diameters_mm, strict=True):
        x, y, z = centre
        print(f"{label}: LPS ({x:.2f}, {y:.2f}, {z:.2f}) mm, core {diameter:.1f} mm")
    print(f"wrote {args.out} ({system.value})")
    return 0
