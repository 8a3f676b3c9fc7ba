"""``gestes register points|surface``: register a student's own data and print the result as JSON.

``points FIXED MOVING``: paired-point registration of two markups files (paired by label, or by
their order in the files with ``--pair-by order``), with the FRE, per-point residuals and, given
``--targets FILE --fle MM``, the TRE predicted at each target (Fitzpatrick 1998). An FRE larger
than the FLE can explain (``registration.tre.FreCheck``) is a warning in the JSON and on stderr.

``surface SURFACE POINTS``: ICP of digitised points (a markups file, or the stylus tips of a PLUS
recording) to a mesh (``.vtk``/``.vtp``/``.stl``/``.ply``) or to the ``--threshold HU``
surface of a CT, starting from ``--init FILE`` (a 4x4 as JSON ``fixed_from_moving`` or text).
Which way the digitised surface faces comes from the stylus axis of each recorded frame, from
``--approach X,Y,Z`` for a markups file (the direction from the surface towards where the
stylus came from, in the points' frame), or else from the surface at the ``--init`` pose (away
from the surface's centre without one).
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.frame import match_tool
from devices.sequence_file import read_sequence
from devices.tools import BUILTIN_TOOLS
from guidance.commands.json_report import print_report
from guidance.exceptions import GuidanceError
from registration.icp import MIN_POINTS as ICP_MIN_POINTS
from registration.icp import (
    STYLUS_CONE_RAD,
    Facing,
    IcpMethod,
    IcpSettings,
    SurfaceRegistration,
)
from registration.paired_point import register_paired_points
from registration.transforms import RECORDED_ORTHONORMAL_TOL, apply_transform, as_rigid
from registration.tre import FreCheck, predict_tre_rms
from scenes.markups import read_markups
from scenes.mesh_file import MESH_SUFFIXES, is_mesh_file, read_mesh
from scenes.pairing import PairBy, PairedPoints, pair_markups
from scenes.surface import extract_surface, mesh_arrays
from scenes.volume import load_volume

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
    points.add_argument(
        "--fle",
        type=float,
        help="RMS fiducial localisation error (mm), for the predicted TRE and to judge the FRE "
        f"(default for that: {FreCheck().fle_rms_mm} mm)",
    )
    points.add_argument(
        "--pair-by",
        choices=[way.value for way in PairBy],
        default=PairBy.LABEL.value,
        help="pair the points by label (default), or by their order in the two files (only if "
        "both list the same points in the same order)",
    )
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
        "--approach",
        help="markups only: X,Y,Z direction (points' frame) from the surface towards where the "
        "stylus came from; default: as the surface at the --init pose",
    )
    surface.add_argument(
        "--method",
        choices=[method.value for method in IcpMethod],
        default=IcpMethod.POINT_TO_PLANE.value,
        help="ICP error metric",
    )
    surface.set_defaults(run=run_surface)


def _points_warnings(pairs: PairedPoints, fre_mm: float, check: FreCheck) -> list[str]:
    """What the user must know before trusting the registration: points left out, and an FRE
    larger than the FLE explains."""
    warnings = []
    if pairs.unpaired_fixed or pairs.unpaired_moving:
        warnings.append(
            f"left out, no partner with the same label: fixed {list(pairs.unpaired_fixed)}, "
            f"moving {list(pairs.unpaired_moving)}"
        )
    limit = check.limit_mm(len(pairs.labels))
    if fre_mm > limit:
        cause = (
            "the points were paired by order: check that both files list them in the same order"
            if pairs.by is PairBy.ORDER
            else "check that each label names the same point in both files"
        )
        warnings.append(
            f"FRE {fre_mm:.2f} mm is more than an FLE of {check.fle_rms_mm:g} mm explains "
            f"(at most {limit:.2f} mm for {len(pairs.labels)} points): {cause}, and that no "
            "marker moved; do not navigate with this registration"
        )
    return warnings


def run_points(args: argparse.Namespace) -> int:
    """Paired-point registration; prints JSON (and its warnings on stderr)."""
    if args.targets is not None and args.fle is None:
        raise GuidanceError("--targets needs --fle MM (the RMS fiducial localisation error)")
    fixed, moving = read_markups(args.fixed), read_markups(args.moving)
    pairs = pair_markups(
        fixed,
        moving,
        PairBy(args.pair_by),
        described_as=(f"the markups file {args.fixed}", f"the markups file {args.moving}"),
    )
    result = register_paired_points(pairs.fixed_mm, pairs.moving_mm)
    check = FreCheck() if args.fle is None else FreCheck(fle_rms_mm=args.fle)
    warnings = [
        f"{path}: left out, no position: {', '.join(markups.left_out)}"
        for path, markups in ((args.fixed, fixed), (args.moving, moving))
        if markups.left_out
    ]
    warnings += _points_warnings(pairs, result.fre_rms_mm, check)
    report = {
        "fixed_from_moving": result.fixed_from_moving.tolist(),
        "fre_rms": result.fre_rms_mm,
        "fre_limit": check.limit_mm(len(pairs.labels)),
        "residuals": dict(zip(pairs.labels, result.residuals_mm.tolist(), strict=True)),
        "paired_by": pairs.by.value,
        "warnings": warnings,
        "units": "mm",
    }
    if args.targets is not None:
        targets = read_markups(args.targets)
        tre = predict_tre_rms(pairs.fixed_mm, args.fle, targets.points_mm)
        report["predicted_tre"] = dict(zip(targets.labels, tre.tolist(), strict=True))
        report["fle"] = args.fle
    print_report("register points", report)
    return 0


def _surface(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, outward unit normals and triangles of the SURFACE argument."""
    if is_mesh_file(args.surface):
        if args.threshold is not None:
            raise GuidanceError(f"{args.surface} is a mesh: --threshold is for CT volumes only")
        mesh = read_mesh(args.surface)
    else:
        if args.threshold is None:
            raise GuidanceError(
                f"{args.surface} is not a mesh ({', '.join(MESH_SUFFIXES)}): for a CT give "
                "--threshold HU (e.g. 300 for bone)"
            )
        mesh = extract_surface(load_volume(args.surface), args.threshold)
    return mesh_arrays(mesh)


@dataclass(frozen=True)
class _Digitised:
    """Digitised points (N, 3) mm and, when known, which way the surface faces at each
    (``outward`` (N, 3) in the points' frame, bounded to ``cone_rad`` of the normal)."""

    points_mm: np.ndarray
    outward: np.ndarray | None
    cone_rad: float


def _approach(text: str | None, count: int) -> np.ndarray | None:
    if text is None:
        return None
    try:
        direction = np.array([float(value) for value in text.split(",")])
    except ValueError:
        direction = np.zeros(0)
    if direction.shape != (3,) or not np.all(np.isfinite(direction)) or not direction.any():
        raise GuidanceError(f"--approach must be three numbers X,Y,Z, not all 0; got {text!r}")
    return np.tile(direction, (count, 1))


def _digitised(args: argparse.Namespace) -> _Digitised:
    """The digitised points: markups (facing ``--approach``), or the tool tip of every valid
    frame of a recording, facing along the tool's shaft (from the tip towards the handle)."""
    name = str(args.points).lower()
    if not any(name.endswith(suffix) for suffix in RECORDING_SUFFIXES):
        points = read_markups(args.points).points_mm
        return _Digitised(points, _approach(args.approach, len(points)), np.pi / 2)
    if args.approach is not None:
        raise GuidanceError("--approach is for markups: a recording has the stylus axis")
    sequence = read_sequence(args.points)
    name = match_tool(args.tool, sequence.tools, str(args.points))
    tool = {known.casefold(): tool for known, tool in BUILTIN_TOOLS.items()}.get(name.casefold())
    if tool is None or tool.tip_mm is None:
        raise GuidanceError(
            f"tool {name!r} has no known tip offset (the built-in tools: {sorted(BUILTIN_TOOLS)})"
        )
    poses = sequence.tracker_from_tool[:, sequence.tools.index(name)]
    valid = np.all(np.isfinite(poses), axis=(1, 2))
    rotations = poses[valid, :3, :3]
    towards_handle = -tool.tip_mm / np.linalg.norm(tool.tip_mm)
    return _Digitised(
        rotations @ tool.tip_mm + poses[valid, :3, 3], rotations @ towards_handle, STYLUS_CONE_RAD
    )


def _initial(path: Path | None) -> np.ndarray | None:
    """The ``--init`` transform: JSON (``fixed_from_moving``, as ``register points`` prints it,
    or a bare 4x4 list) or text (4 lines of 4 numbers)."""
    if path is None:
        return None
    expected = "expected JSON with 'fixed_from_moving' (a 4x4 list) or 4 lines of 4 numbers"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GuidanceError(f"{path}: not a text file; {expected}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        rows = [line.split() for line in text.splitlines() if line.strip()]
    else:
        rows = document.get("fixed_from_moving") if isinstance(document, dict) else document
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise GuidanceError(f"{path}: not a matrix of numbers; {expected}") from None
    if matrix.shape != (4, 4):
        raise GuidanceError(f"{path}: a matrix of shape {matrix.shape}; {expected}")
    return as_rigid(matrix, f"{path}", tol=RECORDED_ORTHONORMAL_TOL)


def run_surface(args: argparse.Namespace) -> int:
    """Surface ICP; prints JSON (and its warnings on stderr)."""
    vertices, normals, triangles = _surface(args)
    digitised = _digitised(args)
    points = digitised.points_mm
    if len(points) < ICP_MIN_POINTS:
        raise GuidanceError(
            f"{args.points} gives {len(points)} digitised points; a surface registration needs "
            f"at least {ICP_MIN_POINTS}"
        )
    initial = _initial(args.init)
    facing = Facing.AWAY_FROM_CENTRE if initial is None else Facing.SURFACE_AT_POSE
    registration = SurfaceRegistration.from_mesh(
        vertices, normals, triangles, IcpSettings(method=IcpMethod(args.method), facing=facing)
    )
    result = registration.register(
        points,
        initial,
        outward=digitised.outward,
        outward_cone_rad=digitised.cone_rad,
    )
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
    print_report("register surface", report)
    return 0
