"""``gestes scene show DIR|builtin:NAME`` and ``gestes scene save SPEC DIR``."""

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from guidance.exceptions import GuidanceError

if TYPE_CHECKING:  # SimpleITK and VTK are imported when the command runs, not for --help
    from scenes.scene import Scene


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes scene show`` and ``gestes scene save``."""
    parser = subparsers.add_parser("scene", help="inspect and save scenes (CT, fiducials, targets)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="summarise a scene folder or a built-in phantom")
    show.add_argument(
        "spec", help="scene folder or builtin:skull, builtin:spine, builtin:needle-box"
    )
    show.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    show.add_argument("--seed", type=int, default=0, help="seed of a built-in phantom")
    show.set_defaults(run=run_show)
    save = actions.add_parser("save", help="write a scene (e.g. a built-in phantom) as a folder")
    save.add_argument("spec", help="scene folder or builtin:NAME")
    save.add_argument("folder", type=Path, help="folder to write scene.toml and its files into")
    save.add_argument("--seed", type=int, default=0, help="seed of a built-in phantom")
    save.add_argument(
        "--force", action="store_true", help="write into FOLDER even if it already holds files"
    )
    save.set_defaults(run=run_save)


def _points(labels: tuple[str, ...], points: np.ndarray) -> list[dict]:
    return [
        {"label": label, "lps_mm": [round(float(v), 4) for v in point]}
        for label, point in zip(labels, points, strict=True)
    ]


def summary(scene: "Scene") -> dict:
    """The scene as plain values: CT geometry, points (LPS mm), structures, planned trajectories,
    tools, thresholds."""
    from scenes.volume import hu_range

    low, high = hu_range(scene.ct)
    return {
        "name": scene.name,
        "description": scene.description,
        "ct": {
            "size": list(scene.ct.GetSize()),
            "spacing_mm": list(scene.ct.GetSpacing()),
            "origin_mm": list(scene.ct.GetOrigin()),
            "direction": list(scene.ct.GetDirection()),
            "hu_min": low,
            "hu_max": high,
        },
        "bone_threshold_hu": scene.bone_threshold_hu,
        "skin_threshold_hu": scene.skin_threshold_hu,
        "fiducials": _points(scene.fiducial_labels, scene.fiducials_mm),
        "targets": _points(scene.target_labels, scene.targets_mm),
        "structures": [
            {
                "name": s.name,
                "radius_mm": s.radius_mm,
                "centreline_points": len(s.centreline_mm),
                "length_mm": round(
                    float(np.linalg.norm(np.diff(s.centreline_mm, axis=0), axis=1).sum()), 2
                ),
            }
            for s in scene.structures
        ],
        "trajectories": [
            {
                "name": t.name,
                "entry_lps_mm": [round(float(v), 3) for v in t.entry_mm],
                "target_lps_mm": [round(float(v), 3) for v in t.target_mm],
                "length_mm": round(t.length_mm, 2),
            }
            for t in scene.trajectories
        ],
        "tools": [{"name": t.name, "source": t.source} for t in scene.tools],
    }


def _text(info: dict) -> str:
    ct = info["ct"]
    lines = [
        f"scene       {info['name']}: {info['description']}",
        f"CT          {' x '.join(map(str, ct['size']))} voxels of "
        f"{' x '.join(f'{s:g}' for s in ct['spacing_mm'])} mm, origin "
        f"({', '.join(f'{o:g}' for o in ct['origin_mm'])}) mm LPS, "
        f"{ct['hu_min']:g} to {ct['hu_max']:g} HU",
        f"surfaces    bone at {info['bone_threshold_hu']:g} HU, "
        f"skin at {info['skin_threshold_hu']:g} HU",
    ]
    for title in ("fiducials", "targets"):
        lines.append(f"{title:<11} {len(info[title])}")
        lines += [
            f"  {p['label']:<24} ({', '.join(f'{v:8.2f}' for v in p['lps_mm'])}) mm LPS"
            for p in info[title]
        ]
    lines.append(f"structures  {len(info['structures'])}")
    lines += [
        f"  {s['name']:<24} tube of radius {s['radius_mm']:g} mm, {s['length_mm']:g} mm long"
        for s in info["structures"]
    ]
    lines.append(f"trajectories {len(info['trajectories'])}")
    lines += [
        f"  {t['name']:<24} {t['length_mm']:g} mm from "
        f"({', '.join(f'{v:.1f}' for v in t['entry_lps_mm'])}) to "
        f"({', '.join(f'{v:.1f}' for v in t['target_lps_mm'])}) mm LPS"
        for t in info["trajectories"]
    ]
    lines.append("tools       " + ", ".join(f"{t['name']} ({t['source']})" for t in info["tools"]))
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    """Print the scene summary as text or JSON."""
    from scenes.phantoms import resolve_scene

    info = summary(resolve_scene(args.spec, seed=args.seed))
    print(json.dumps(info, indent=2) if args.format == "json" else _text(info))
    return 0


def run_save(args: argparse.Namespace) -> int:
    """Write the scene folder and say where (never over existing files unless ``--force``)."""
    folder = args.folder
    if folder.exists() and not folder.is_dir():
        raise GuidanceError(f"{folder} is a file, not a folder: choose another name")
    if folder.is_dir() and any(folder.iterdir()) and not args.force:
        raise GuidanceError(
            f"{folder} already holds files (a scene saved earlier?): choose another folder, or "
            "give --force to write the scene's files over them"
        )
    from scenes.phantoms import resolve_scene

    path = resolve_scene(args.spec, seed=args.seed).save(folder)
    print(f"wrote {path}")
    return 0
