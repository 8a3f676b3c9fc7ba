"""Registration benchmark: gestes side by side with its peers on one deterministic target.

Paired-point registration (gestes, scikit-surgerycore, numpy SVD), TRE prediction (gestes,
scikit-surgerycore, Monte Carlo) and surface ICP of a digitised patch (1,000 / 10,000 points,
0.3 mm noise) against a CT-derived skull-like bone shell with an inner and an outer table
(~200k vertices), at three misalignments (2 mm/2 deg, 10 mm/10 deg, 30 mm/30 deg): gestes
point-to-plane and point-to-point, open3d point-to-point, point-to-plane and GICP, small_gicp
ICP, PLANE_ICP and GICP (peers only when the ``peers`` extra is installed).

Run: ``nice .venv/bin/python -m benchmarks.registration`` (a few minutes on 2 cores); it runs
the 1-thread pass, then a 2-thread pass of the 10k-point cells in a subprocess. Prints tables
and writes ``benchmarks/results/registration.json``. Times are medians; success means rotation
error < 1 deg and error at the patch centroid < 1 mm.
"""

import argparse
import os
import sys

from benchmarks.common import RESULTS_FOLDER, pin_threads, write_results

# This file is named like the package it measures: keep its folder off the import path so that
# ``import registration`` finds the package, not this script.
sys.path = [
    p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))
]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--reps", type=int, default=7, help="trials per cell for the peers (>= 7)")
    parser.add_argument("--trials", type=int, default=20, help="trials per cell for gestes")
    parser.add_argument("--sizes", default="1000,10000", help="digitised points per patch")
    parser.add_argument("--cases", default="small,medium,large")
    parser.add_argument("--no-peers", action="store_true", help="gestes only")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 2-thread pass")
    parser.add_argument("--json", default=None, help="output file (default results/...json)")
    return parser.parse_args()


ARGS = _arguments()
pin_threads(ARGS.threads)  # before numpy, Numba, open3d or small_gicp start their pools

import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from benchmarks.icp_peers import (  # noqa: E402
    Gestes,
    Open3d,
    SmallGicp,
    errors,
    misalignment,
    optional,
)
from registration.icp import Facing, IcpMethod  # noqa: E402
from registration.mesh import sample_on_triangles  # noqa: E402
from registration.paired_point import register_paired_points  # noqa: E402
from registration.transforms import apply_transform, make_rigid  # noqa: E402
from registration.tre import predict_tre_rms  # noqa: E402

o3d = None if ARGS.no_peers else optional("open3d")
small_gicp = None if ARGS.no_peers else optional("small_gicp")
sks_procrustes = None if ARGS.no_peers else optional("sksurgerycore.algorithms.procrustes")
sks_errors = None if ARGS.no_peers else optional("sksurgerycore.algorithms.errors")

RESULTS = RESULTS_FOLDER / "registration.json"
CASES = {"small": (2.0, 2.0), "medium": (10.0, 10.0), "large": (30.0, 30.0)}
NOISE_MM = 0.3
MAX_CORRESPONDENCE_MM = 50.0  # the peers' setting (gestes keeps its own default of 30 mm)
MAX_ITERATIONS = 100
clock = time.perf_counter
# On a shared machine wall time includes waiting for the CPU; process time (this process's CPU
# seconds, all its threads) is reported beside it and is the fairer 1-thread comparison.
cpu_clock = time.process_time


# --------------------------------------------------------------------------------------------
# The target: a skull-like bone shell, 6 mm thick, as a CT would show it, and its iso-surface
# --------------------------------------------------------------------------------------------
SEMI_AXES_MM = np.array([95.0, 75.0, 68.0])  # anterior, left, superior
BONE_MM = 6.0


def _anatomy(ux: np.ndarray, uy: np.ndarray, uz: np.ndarray) -> np.ndarray:
    """Relative radius change by direction: nose, brows, orbits, cheek bones, occiput, ripple."""

    def bump(centre, width, height):
        c = np.asarray(centre, dtype=float) / np.linalg.norm(centre)
        return height * np.exp(
            -((ux - c[0]) ** 2 + (uy - c[1]) ** 2 + (uz - c[2]) ** 2) / (2 * width**2)
        )

    return (
        bump([1, 0, -0.15], 0.10, 0.10)
        + bump([0.9, 0.35, 0.05], 0.12, 0.05)
        + bump([0.9, -0.35, 0.05], 0.12, 0.05)
        - bump([0.85, 0.33, -0.15], 0.11, 0.07)
        - bump([0.85, -0.33, -0.15], 0.11, 0.07)
        + bump([0.5, 0.8, -0.4], 0.2, 0.05)
        + bump([0.5, -0.8, -0.4], 0.2, 0.04)
        + bump([-0.9, 0, -0.2], 0.25, 0.05)
        + 0.012 * np.sin(5 * ux + 1) * np.sin(4 * uy + 0.5) * np.sin(6 * uz + 0.3)
    )


def build_target(voxel_mm: float = 1.0) -> dict:
    """CT of the shell (1 mm voxels, partial-volume blur), its iso-surface with outward normals,
    and which vertices belong to the outer table."""
    counts = [math.ceil(2.5 * a / voxel_mm) for a in SEMI_AXES_MM]
    origin = -(np.array(counts) - 1) * voxel_mm / 2.0
    axes = [origin[k] + voxel_mm * np.arange(counts[k]) for k in range(3)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    radius = np.sqrt(x**2 + y**2 + z**2) + 1e-9
    scaled = np.sqrt(
        (x / SEMI_AXES_MM[0]) ** 2 + (y / SEMI_AXES_MM[1]) ** 2 + (z / SEMI_AXES_MM[2]) ** 2
    )
    outside_mm = (scaled - 1.0 - _anatomy(x / radius, y / radius, z / radius)) * SEMI_AXES_MM.mean()
    inside_bone = np.minimum(-outside_mm, outside_mm + BONE_MM).astype(np.float32)  # > 0 in bone
    del x, y, z, radius, scaled, outside_mm
    image = sitk.GetImageFromArray(np.ascontiguousarray(inside_bone.transpose(2, 1, 0)))
    image.SetSpacing((voxel_mm,) * 3)
    image.SetOrigin(tuple(float(o) for o in origin))
    blurred = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, 0.6)).transpose(2, 1, 0)
    grid = pv.ImageData(dimensions=blurred.shape, spacing=(voxel_mm,) * 3, origin=tuple(origin))
    grid.point_data["bone"] = np.asfortranarray(blurred).ravel(order="F")
    mesh = grid.contour([0.0], scalars="bone").compute_normals(
        point_normals=True, cell_normals=False, consistent_normals=True, split_vertices=False
    )
    vertices = np.asarray(mesh.points, dtype=np.float64)
    normals = np.asarray(mesh.point_data["Normals"], dtype=np.float64)
    triangles = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:].astype(np.int64)
    # Out of the bone = down the "bone" gradient: flip the normals if the contour wound inwards.
    gradient = np.stack(np.gradient(blurred, voxel_mm), axis=-1)
    voxel = np.clip(
        np.rint((vertices - origin) / voxel_mm).astype(int), 0, np.array(blurred.shape) - 1
    )
    if np.mean(np.sum(normals * gradient[voxel[:, 0], voxel[:, 1], voxel[:, 2]], axis=1)) > 0:
        normals = -normals
    # The two tables are the two connected pieces of the mesh; the outer one spans more.
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]]])
    graph = coo_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(vertices),) * 2
    )
    _, regions = connected_components(graph, directed=False)
    extents = [np.ptp(vertices[regions == i], axis=0).sum() for i in range(regions.max() + 1)]
    outer = regions == int(np.argmax(extents))
    return {"vertices": vertices, "normals": normals, "triangles": triangles, "outer": outer}


def sample_patch(target: dict, count: int, rng: np.random.Generator, radius_mm: float = 55.0):
    """Points spread by area over the forehead, brows, nasion and orbital rims of the OUTER
    table (what a stylus reaches), without noise."""
    vertices, triangles, outer = target["vertices"], target["triangles"], target["outer"]
    towards = np.array([1.0, 0.0, 0.3]) / np.linalg.norm([1.0, 0.0, 0.3])
    outer_ids = np.flatnonzero(outer)
    centre = vertices[outer_ids[np.argmax(vertices[outer_ids] @ towards)]]
    corners = vertices[triangles]
    chosen = outer[triangles].all(axis=1) & (
        np.linalg.norm(corners.mean(axis=1) - centre, axis=1) < radius_mm
    )
    return sample_on_triangles(corners[chosen], count, rng)


def make_trials(target: dict, count: int, case: str, trials: int) -> list[dict]:
    """Noisy patches turned about their centroid and shifted: the registration starts from the
    identity and must find the inverse of ``moved_from_true``."""
    shift_mm, angle_deg = CASES[case]
    out = []
    for k in range(trials):
        rng = np.random.default_rng(count * 1000 + list(CASES).index(case) * 100 + k)
        clean = sample_patch(target, count, rng)
        noisy = clean + rng.normal(0.0, NOISE_MM, clean.shape)
        centre = noisy.mean(axis=0)
        moved_from_true = misalignment(rng, centre, shift_mm, angle_deg)
        out.append(
            {
                "points": apply_transform(moved_from_true, noisy),
                "moved_from_true": moved_from_true,
                "centre": centre,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Methods: see benchmarks/icp_peers.py (what each call includes)
# --------------------------------------------------------------------------------------------
def icp_methods() -> list:
    """gestes (patch normals away from the surface's centre: the patches carry no stylus axes
    here, and the skull is convex) and the peers, with the same limits."""
    methods = [
        Gestes(method, MAX_ITERATIONS, Facing.AWAY_FROM_CENTRE)
        for method in (IcpMethod.POINT_TO_PLANE, IcpMethod.POINT_TO_POINT)
    ]
    limits = (ARGS.threads, MAX_CORRESPONDENCE_MM, MAX_ITERATIONS)
    if o3d is not None:
        methods += [Open3d(o3d, kind, *limits) for kind in ("p2p", "p2l", "gicp")]
        methods.append(Open3d(o3d, "p2l", *limits, tree_out=True))
    if small_gicp is not None:
        methods += [SmallGicp(small_gicp, kind, *limits) for kind in ("ICP", "PLANE_ICP", "GICP")]
    return methods


def run_icp(target: dict, sizes: list[int], cases: list[str]) -> list[dict]:
    rows = []
    trial_sets = {
        (n, case): make_trials(target, n, case, max(ARGS.trials, ARGS.reps))
        for n in sizes
        for case in cases
    }
    print(f"\nSURFACE ICP  target {len(target['vertices'])} vertices, threads={ARGS.threads}")
    header = (
        f"{'method':28s} {'N':>6s} {'case':7s} {'build_ms':>9s} {'reg_ms':>9s} {'reg_cpu':>9s} "
        f"{'iters':>5s} "
        f"{'rot_deg':>8s} {'trans_mm':>8s} {'succ':>7s} {'starts':>6s}"
    )
    print(header)
    for method in icp_methods():
        builds, build_cpu = [], []
        for _ in range(3):
            begin, begin_cpu = clock(), cpu_clock()
            method.build(target)
            builds.append(clock() - begin)
            build_cpu.append(cpu_clock() - begin_cpu)
        for (n, case), trials in trial_sets.items():
            # The robustness claim is about gestes point-to-plane: it gets --trials per cell.
            robust = isinstance(method, Gestes) and method.method is IcpMethod.POINT_TO_PLANE
            count = ARGS.trials if robust else ARGS.reps
            times, cpu, iterations, rotations, shifts, successes, starts = [], [], [], [], [], 0, []
            method.register(trials[0])  # warm-up (Numba cache load, lazy allocations)
            flagged_good = quiet_bad = 0
            for trial in trials[:count]:
                begin, begin_cpu = clock(), cpu_clock()
                fixed_from_moving, its = method.register(trial)
                times.append(clock() - begin - method.time_offset_s)
                cpu.append(cpu_clock() - begin_cpu - method.time_offset_cpu_s)
                rotation_deg, shift_mm = errors(fixed_from_moving, trial)
                rotations.append(rotation_deg)
                shifts.append(shift_mm)
                success = rotation_deg < 1.0 and shift_mm < 1.0
                successes += success
                if its is not None:
                    iterations.append(its)
                if isinstance(method, Gestes):
                    starts.append(method.last.starts_tried)
                    flagged_good += success and bool(method.last.warnings)
                    quiet_bad += (not success) and not method.last.warnings
            row = {
                "method": method.name, "threads": ARGS.threads, "points": n, "case": case,
                "build_ms": 1e3 * float(np.median(builds)),
                "register_ms": 1e3 * float(np.median(times)),
                "build_cpu_ms": 1e3 * float(np.median(build_cpu)),
                "register_cpu_ms": 1e3 * float(np.median(cpu)),
                "iterations": float(np.median(iterations)) if iterations else None,
                "rotation_error_deg": float(np.median(rotations)),
                "translation_error_mm": float(np.median(shifts)),
                "successes": int(successes), "trials": count,
                "max_starts": int(max(starts)) if starts else None,
                "multi_start_trials": sum(s > 1 for s in starts) if starts else None,
                "flagged_successes": flagged_good if starts else None,
                "unflagged_failures": quiet_bad if starts else None,
            }  # fmt: skip
            rows.append(row)
            its_text = f"{row['iterations']:5.0f}" if iterations else "    -"
            starts_text = f"{row['max_starts']:6d}" if starts else "     -"
            print(
                f"{method.name:28s} {n:6d} {case:7s} {row['build_ms']:9.1f} "
                f"{row['register_ms']:9.2f} {row['register_cpu_ms']:9.2f} "
                f"{its_text} {row['rotation_error_deg']:8.3f} {row['translation_error_mm']:8.3f} "
                f"{successes:3d}/{count:<3d} {starts_text}",
                flush=True,
            )
    return rows


# --------------------------------------------------------------------------------------------
# Paired points and TRE
# --------------------------------------------------------------------------------------------
def numpy_svd(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Reference Arun/Umeyama in plain numpy."""
    centre_f, centre_m = fixed.mean(axis=0), moving.mean(axis=0)
    u, _, vt = np.linalg.svd((moving - centre_m).T @ (fixed - centre_f))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    rotation = vt.T @ d @ u.T
    return make_rigid(rotation, centre_f - rotation @ centre_m)


def run_paired_points(target: dict) -> list[dict]:
    print("\nPAIRED POINTS  CPU microseconds per call from Python (median of 7 batches of 300)")
    rng = np.random.default_rng(7)
    outer = target["vertices"][target["outer"] & (target["vertices"][:, 2] > -15.0)]
    pool = outer[rng.choice(len(outer), 50, replace=False)]
    truth = make_rigid(Rotation.from_rotvec([0.1, -0.25, 0.3]).as_matrix(), [100.0, -50.0, 30.0])
    methods = [
        (
            "gestes register_paired_points",
            lambda f, m: register_paired_points(f, m).fixed_from_moving,
        )
    ]
    if sks_procrustes is not None:

        def sks(f, m):
            rotation, translation, _ = sks_procrustes.orthogonal_procrustes(f, m)
            return make_rigid(rotation, np.ravel(translation))

        methods.append(("scikit-surgerycore orthogonal_procrustes", sks))
    methods.append(("numpy SVD (reference)", numpy_svd))
    rows = []
    print(f"{'method':42s} {'N':>3s} {'us/call':>9s} {'max |dT| vs numpy':>18s}")
    for n in (4, 8, 16, 50):
        fixed = pool[:n]
        movings = [
            apply_transform(np.linalg.inv(truth), fixed) + rng.normal(0, 0.3, fixed.shape)
            for _ in range(300)
        ]
        reference = [numpy_svd(fixed, m) for m in movings]
        for name, method in methods:
            batches = []
            for _ in range(7):
                begin = cpu_clock()
                for moving in movings:
                    method(fixed, moving)
                batches.append((cpu_clock() - begin) / len(movings))
            deviation = max(
                float(np.abs(method(fixed, m) - r).max())
                for m, r in zip(movings[:20], reference, strict=False)
            )
            rows.append(
                {
                    "method": name,
                    "n": n,
                    "us_per_call": 1e6 * float(np.median(batches)),
                    "max_deviation": deviation,
                }
            )
            print(f"{name:42s} {n:3d} {rows[-1]['us_per_call']:9.2f} {deviation:18.2e}")
    return rows


def run_tre() -> list[dict]:
    """RMS TRE predicted (gestes, scikit-surgerycore) vs simulated, elongated tilted layout."""
    print("\nTRE  elongated fiducial layout (160 x 20 mm, tilted), FLE 0.5 mm RMS, 20000 trials")
    tilt = Rotation.from_rotvec([0.4, -0.7, 0.3]).as_matrix()
    fiducials = (
        np.array([[-80.0, 0, 0], [-40, 10, -4], [0, -10, 5], [40, 8, 4], [80, -6, -5]]) @ tilt.T
    )
    targets = fiducials.mean(axis=0) + np.array([[0.0, 0, 90], [0, 100, 0], [120, 0, 0]])
    fle = 0.5
    rng = np.random.default_rng(11)
    noisy = fiducials + rng.normal(0.0, fle / math.sqrt(3), (20000, *fiducials.shape))
    squared = np.zeros(len(targets))
    for moving in noisy:
        fixed_from_moving = register_paired_points(fiducials, moving).fixed_from_moving
        squared += np.sum((apply_transform(fixed_from_moving, targets) - targets) ** 2, axis=1)
    simulated = np.sqrt(squared / len(noisy))
    predicted = predict_tre_rms(fiducials, fle, targets)
    rows = [
        {"method": "Monte Carlo", "tre_mm": simulated.tolist()},
        {"method": "gestes predict_tre_rms", "tre_mm": predicted.tolist()},
    ]
    if sks_errors is not None:
        # compute_tre_from_fle(fiducials (N,3), mean FLE^2, target (1,3)) returns the mean TRE^2.
        sks = [
            math.sqrt(sks_errors.compute_tre_from_fle(fiducials, fle**2, t[None])) for t in targets
        ]
        rows.append({"method": "scikit-surgerycore compute_tre_from_fle", "tre_mm": sks})
    for row in rows:
        print(f"{row['method']:42s} " + " ".join(f"{v:7.3f}" for v in row["tre_mm"]))
    return rows


def main() -> int:
    sizes = [int(s) for s in ARGS.sizes.split(",")]
    cases = ARGS.cases.split(",")
    begin = clock()
    target = build_target()
    print(
        f"target: {len(target['vertices'])} vertices ({int(target['outer'].sum())} on the outer "
        f"table), built in {clock() - begin:.1f} s"
    )
    report = {"threads": ARGS.threads}
    if ARGS.threads == 1:
        report["paired_points"] = run_paired_points(target)
        report["tre"] = run_tre()
    report["icp"] = run_icp(target, sizes, cases)
    path = Path(ARGS.json) if ARGS.json else RESULTS
    if ARGS.threads == 1 and not ARGS.no_scaling:
        two = path.with_name(path.stem + "-2threads.json")
        command = [
            sys.executable,
            "-m",
            "benchmarks.registration",
            "--threads",
            "2",
            "--sizes",
            str(max(sizes)),
            "--cases",
            "small,medium",
            "--no-scaling",
            "--json",
            str(two),
        ]
        command += ["--reps", str(ARGS.reps), "--trials", str(ARGS.reps)] + (
            ["--no-peers"] if ARGS.no_peers else []
        )
        subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])
        report["icp_2_threads"] = json.loads(two.read_text())["icp"]
    write_results(report, path)
    print(f"{clock() - begin:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
