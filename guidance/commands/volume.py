"""``gestes volume info PATH``: geometry, HU range and warnings of a CT file or DICOM folder."""

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SimpleITK is imported when the command runs, not for --help
    from scenes.volume import VolumeInfo


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes volume info``."""
    parser = subparsers.add_parser("volume", help="inspect CT volumes")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info", help="size, spacing, origin, direction (LPS), HU range, modality, series, warnings"
    )
    info.add_argument("path", type=Path, help="volume file (.nrrd, .nii, .mha, .dcm...) or folder")
    info.add_argument("--format", choices=("json", "text"), default="json", help="output format")
    info.add_argument("--series", help="DICOM series UID or description, if the folder has several")
    info.add_argument(
        "--list-series", action="store_true", help="list the DICOM series of a folder and stop"
    )
    info.set_defaults(run=run)


def _text(info: "VolumeInfo") -> str:
    rows = [
        ("path", info.path),
        ("size", " x ".join(str(n) for n in info.size)),
        ("spacing", " x ".join(f"{s:g}" for s in info.spacing) + " mm"),
        ("origin", "(" + ", ".join(f"{o:g}" for o in info.origin) + ") mm LPS"),
        (
            "direction",
            " / ".join(" ".join(f"{d:g}" for d in info.direction[r : r + 3]) for r in (0, 3, 6)),
        ),
        ("pixel type", info.pixel_type),
        ("HU range", f"{info.hu_min:g} to {info.hu_max:g}"),
        ("modality", info.modality or "unknown"),
        ("series UID", info.series_uid or "none"),
    ]
    lines = [f"{name:<11} {value}" for name, value in rows]
    lines += [f"warning     {warning}" for warning in info.warnings] or ["warnings    none"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the volume's summary (or the folder's series) as JSON or text."""
    from scenes.dicom import list_dicom_series
    from scenes.volume import describe_volume, read_volume

    if args.list_series:
        series = list_dicom_series(args.path)
        if args.format == "json":
            rows = [
                {
                    "uid": s.uid,
                    "description": s.description,
                    "modality": s.modality,
                    "files": len(s.files),
                }
                for s in series
            ]
            print(json.dumps(rows, indent=2))
        else:
            print("\n".join(s.summary() for s in series))
        return 0
    info = describe_volume(read_volume(args.path, args.series))
    if args.format == "json":
        print(json.dumps(dataclasses.asdict(info), indent=2))
    else:
        print(_text(info))
    return 0
