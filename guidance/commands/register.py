"""``gestes register points|surface``: register a student's own data and print the result as JSON.

``points FIXED MOVING``: paired-point registration of two markups files (matched by label when
they share at least 3 labels, else by order), with the FRE, per-point residuals and, given
``--targets FILE --fle MM``, the TRE predicted at each target (Fitzpatrick 1998).

``surface SURFACE POINTS``: ICP of digitised points (a markups file, or the stylus tips of a PLUS
recording) to a mesh (``.vtk``/``.vtp``/``.stl``/``.ply``) or to the ``--threshold HU``
surface of a CT, starting from ``--init FILE`` (a 4x4 as JSON ``fixed_from_moving`` or text).
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from devices.sequence_file import read_sequence
from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError
from registration.icp import IcpMethod, IcpSettings, SurfaceRegistration
from registration.paired_point import register_paired_points
from registration.transforms import RECORDED_ORTHONORMAL_TOL, apply_transform, as_rigid
from registration.tre import predict_tre_rms
from scenes.markups import Markups, read_markups
from scenes.surface import extract_surface, mesh_arrays
from scenes.volume import load_volume

MESH_SUFFIXES = (".vtk", ".vtp", ".stl", ".ply", ".obj")
RECORDING_SUFFIXES = (".mha", ".mhd")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes register points`` and ``gestes register surface``."""
    parser = subparsers.add_parser("register", help="paired-point or surface registration")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    points = actions.add_parser(
        "points", help="paired-point registration of two markups files (JSON to stdout)"
    )
    points.add_argument("fixed", type=Path, help="markups in the fixed frame (e.g. CT beads)")
    points.add_argument("moving", type=Path, help="the same points in the moving frame")
    points.add_argument("--targets", type=Path, help="markups of targets (fixed frame) for TRE")
    points.add_argument("--fle", type=float, help="RMS fiducial localisation error (mm)")
    points.set_defaults(run=run_points)
    surface = actions.add_parser(
        "surface", help="ICP of digitised points to a surface mesh or CT (JSON to stdout)"
    )
    surface.add_argument("surface", type=Path, help="mesh (.vtk/.vtp/.stl/.ply) or CT volume")
    surface.add_argument("points", type=Path, help="markups file or PLUS recording (.igs.mha)")
    surface.add_argument("--threshold", type=float, help="CT only: surface threshold (HU)")
    surface.add_argument("--init", type=Path, help="initial fixed_from_moving (JSON or text)")
    surface.add_argument(
        "--tool", default="stylus", help="recording only: tool whose tip was digitised"
    )
    surface.add_argument(
        "--method",
        choices=[method.value for method in IcpMethod],
        default=IcpMethod.POINT_TO_PLANE.value,
        help="ICP error metric",
    )
    surface.set_defaults(run=run_surface)


@dataclass(frozen=True)
class _Pairs:
    """Matched rows of two markups files: ``by_label`` False when paired by order."""

    labels: tuple[str, ...]
    fixed_mm: np.ndarray
    moving_mm: np.ndarray
    by_label: bool


def _paired(fixed: Markups, moving: Markups) -> _Pairs:
    """Pair by label when both files have unique labels and share at least 3, else by order."""
    unique = len(set(fixed.labels)) == len(fixed.labels) and len(set(moving.labels)) == len(
        moving.labels
    )
    shared = [label for label in fixed.labels if label in set(moving.labels)]
    if unique and len(shared) >= 3:
        fixed_rows = [fixed.labels.index(label) for label in shared]
        moving_rows = [moving.labels.index(label) for label in shared]
        return _Pairs(
            tuple(shared), fixed.points_mm[fixed_rows], moving.points_mm[moving_rows], True
        )
    if len(fixed.labels) != len(moving.labels):
        raise GuidanceError(
            f"cannot pair the points: fewer than 3 shared labels, and {len(fixed.labels)} fixed "
            f"vs {len(moving.labels)} moving points to pair by order"
        )
    return _Pairs(fixed.labels, fixed.points_mm, moving.points_mm, False)


def run_points(args: argparse.Namespace) -> int:
    """Paired-point registration; prints JSON."""
    if args.targets is not None and args.fle is None:
        raise GuidanceError("--targets needs --fle MM (the RMS fiducial localisation error)")
    pairs = _paired(read_markups(args.fixed), read_markups(args.moving))
    result = register_paired_points(pairs.fixed_mm, pairs.moving_mm)
    report = {
        "fixed_from_moving": result.fixed_from_moving.tolist(),
        "fre_rms": result.fre_rms_mm,
        "residuals": dict(zip(pairs.labels, result.residuals_mm.tolist(), strict=True)),
        "paired_by": "label" if pairs.by_label else "order",
        "units": "mm",
    }
    if args.targets is not None:
        targets = read_markups(args.targets)
        tre = predict_tre_rms(pairs.fixed_mm, args.fle, targets.points_mm)
        report["predicted_tre"] = dict(zip(targets.labels, tre.tolist(), strict=True))
        report["fle"] = args.fle
    print(json.dumps(report, indent=2))
    return 0


def _read_mesh(path: Path) -> pv.PolyData:
    mesh = pv.read(path)
    if not isinstance(mesh, pv.PolyData):
        mesh = mesh.extract_surface()
    return mesh.triangulate()


def _surface(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, outward unit normals and triangles of the SURFACE argument."""
    is_mesh = any(str(args.surface).lower().endswith(suffix) for suffix in MESH_SUFFIXES)
    if is_mesh:
        if args.threshold is not None:
            raise GuidanceError(f"{args.surface} is a mesh: --threshold is for CT volumes only")
        mesh = _read_mesh(args.surface)
    else:
        if args.threshold is None:
            raise GuidanceError(
                f"{args.surface} is not a mesh ({', '.join(MESH_SUFFIXES)}): for a CT give "
                "--threshold HU (e.g. 300 for bone)"
            )
        mesh = extract_surface(load_volume(args.surface), args.threshold)
    return mesh_arrays(mesh)


def _digitised(args: argparse.Namespace) -> np.ndarray:
    """The digitised points: markups, or the tool tip of every valid frame of a recording."""
    name = str(args.points).lower()
    if not any(name.endswith(suffix) for suffix in RECORDING_SUFFIXES):
        return read_markups(args.points).points_mm
    sequence = read_sequence(args.points)
    if args.tool not in sequence.tools:
        raise GuidanceError(f"{args.points}: no tool {args.tool!r}; it has {sequence.tools}")
    tool = BUILTIN_TOOLS.get(args.tool)
    if tool is None or tool.tip_mm is None:
        raise GuidanceError(f"tool {args.tool!r} has no known tip offset")
    poses = sequence.tracker_from_tool[:, sequence.tools.index(args.tool)]
    valid = np.all(np.isfinite(poses), axis=(1, 2))
    return poses[valid, :3, :3] @ tool.tip_mm + poses[valid, :3, 3]


def _initial(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    try:
        matrix = np.array(json.loads(text)["fixed_from_moving"], dtype=np.float64)
    except (json.JSONDecodeError, KeyError, TypeError):
        try:
            matrix = np.loadtxt(path, dtype=np.float64)
        except ValueError as error:
            raise GuidanceError(
                f"{path}: expected JSON with 'fixed_from_moving' or a 4x4 text matrix ({error})"
            ) from error
    return as_rigid(matrix, f"{path}", tol=RECORDED_ORTHONORMAL_TOL)


def run_surface(args: argparse.Namespace) -> int:
    """Surface ICP; prints JSON."""
    vertices, normals, triangles = _surface(args)
    points = _digitised(args)
    registration = SurfaceRegistration.from_mesh(
        vertices, normals, triangles, IcpSettings(method=IcpMethod(args.method))
    )
    result = registration.register(points, _initial(args.init))
    moved = apply_transform(result.fixed_from_moving, points)
    report = {
        "fixed_from_moving": result.fixed_from_moving.tolist(),
        "rms": result.rmse_mm,
        "inlier_fraction": result.inlier_fraction,
        "iterations": result.iterations,
        "converged": result.converged,
        "start": result.start,
        "starts_tried": result.starts_tried,
        "warnings": list(result.warnings),
        "points": len(points),
        "registered_centroid": moved.mean(axis=0).tolist(),
        "units": "mm",
    }
    print(json.dumps(report, indent=2))
    return 0
