"""Surface registration on real CTs: bone surfaces extracted by ``scenes.surface`` from the
abdomen DICOM series (one thoracolumbar vertebra and ribs, 0.98 x 0.98 x 2 mm, 40 mm of slab)
and from TotalSegmentator's example CT (lumbar spine and pelvis, 3 mm), patches a surgeon would
expose (posterior elements, iliac crest), stylus sweeps of 1,000 and 10,000 contacts (0.3 mm of
noise per axis, the stylus axis within 30 deg of the normal), three misalignments (2 mm/2 deg,
10 mm/10 deg, 30 mm/30 deg), gestes side by side with small_gicp and open3d on the same trials,
every method from the identity.

Run: ``nice .venv/bin/python -m benchmarks.registration_ct`` (peers need the ``peers`` extra);
``--no-peers --cases small,medium --trials 5`` for a short check. Prints the tables and writes
``benchmarks/results/registration_ct.json``. Success: rotation error < 1 deg and error at the
patch centroid < 1 mm. What each time includes: see ``benchmarks/icp_peers.py``.
"""

import argparse
import sys

from benchmarks.common import RESULTS_FOLDER, pin_threads, write_results


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--trials", type=int, default=20, help="trials per cell, every method")
    parser.add_argument("--sizes", default="1000,10000", help="digitised points per sweep")
    parser.add_argument("--cases", default="small,medium,large")
    parser.add_argument("--patches", default=None, help="comma-separated patch names (all)")
    parser.add_argument("--no-peers", action="store_true", help="gestes only")
    parser.add_argument("--json", default=None, help="output file (default results/...json)")
    return parser.parse_args()


ARGS = _arguments()
pin_threads(ARGS.threads)  # before numpy, Numba, open3d or small_gicp start their pools

import logging  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.icp_peers import (  # noqa: E402
    Gestes,
    Open3d,
    SmallGicp,
    errors,
    misalignment,
    optional,
)
from registration.icp import Facing, IcpMethod  # noqa: E402
from registration.transforms import apply_transform  # noqa: E402
from scenes.digitised_patch import exposed_triangles, sweep  # noqa: E402
from scenes.surface import extract_surface  # noqa: E402
from scenes.volume import load_volume  # noqa: E402
from tests.shared_data import SHARED_DATA  # noqa: E402

RESULTS = RESULTS_FOLDER / "registration_ct.json"
CASES = {"small": (2.0, 2.0), "medium": (10.0, 10.0), "large": (30.0, 30.0)}
MAX_CORRESPONDENCE_MM = 50.0  # the peers' setting (gestes keeps its own default of 30 mm)
MAX_ITERATIONS = 100
BONE_HU = 200.0
POSTERIOR = (0.0, 1.0, 0.0)  # LPS: the surgeon behind a prone patient
logging.getLogger("registration").setLevel(logging.ERROR)  # warnings are counted, not printed


@dataclass(frozen=True)
class Patch:
    """An exposure: the CT, a box of triangle centres (LPS mm, lo/hi per axis, None = open) and
    the direction the surgeon comes from."""

    name: str
    ct: str
    box: tuple[tuple[float | None, float | None], ...]
    approach: tuple[float, float, float]


CTS = {
    "abdomen": SHARED_DATA / "ct" / "abdomen_ct_dicom",
    "spine": SHARED_DATA / "ct" / "totalsegmentator_example_ct.nii.gz",
}
# Boxes from the CTs: the abdomen slice's vertebral body is centred near (0, -144) mm and its
# spinous process ends near y = -95; TotalSegmentator's masks of this CT put L3 at z 286-331 mm
# and L4 at 259-298 mm (y -164 to -77), the left hip bone's crest at z up to 274 mm.
PATCHES = (
    Patch(
        "abdomen posterior elements", "abdomen", ((-45, 45), (-135, -70), (None, None)), POSTERIOR
    ),
    Patch(
        "spine L3-L4 posterior elements", "spine", ((-41, 49), (-118, -50), (262, 332)), POSTERIOR
    ),
    Patch(
        "spine left iliac crest", "spine", ((40, None), (-200, None), (235, None)), (0.3, 0.5, 0.8)
    ),
)


def load_target(ct: str) -> dict:
    """The bone surface of a CT (every piece, as ``extract_surface`` gives it) and its timing."""
    begin = time.perf_counter()
    image = load_volume(CTS[ct])
    mesh = extract_surface(image, BONE_HU)
    seconds = time.perf_counter() - begin
    return {
        "vertices": np.asarray(mesh.points, dtype=np.float64),
        "normals": np.asarray(mesh.point_data["Normals"], dtype=np.float64),
        "triangles": np.asarray(mesh.faces).reshape(-1, 4)[:, 1:].astype(np.int64),
        "load_and_extract_s": seconds,
        "extent_mm": np.ptp(np.asarray(mesh.points), axis=0).tolist(),
    }


def patch_triangles(target: dict, patch: Patch) -> np.ndarray:
    centres = target["vertices"][target["triangles"]].mean(axis=1)
    region = np.ones(len(centres), dtype=bool)
    for axis, (lo, hi) in enumerate(patch.box):
        if lo is not None:
            region &= centres[:, axis] > lo
        if hi is not None:
            region &= centres[:, axis] < hi
    return exposed_triangles(target["vertices"], target["triangles"], region, patch.approach)


def make_trials(target: dict, patch_mask: np.ndarray, count: int, case: str, trials: int):
    """Sweeps turned about their centroid and shifted: the registration starts from the identity
    and must find the inverse of ``moved_from_true``."""
    shift_mm, angle_deg = CASES[case]
    out = []
    for k in range(trials):
        rng = np.random.default_rng(count * 1000 + list(CASES).index(case) * 100 + k)
        contacts = sweep(
            target["vertices"], target["normals"], target["triangles"], patch_mask, count, rng
        )
        centre = contacts.tips_mm.mean(axis=0)
        moved_from_true = misalignment(rng, centre, shift_mm, angle_deg)
        out.append(
            {
                "points": apply_transform(moved_from_true, contacts.tips_mm),
                "axes": contacts.axes @ moved_from_true[:3, :3].T,
                "moved_from_true": moved_from_true,
                "centre": centre,
            }
        )
    return out


def methods() -> list:
    found = [
        Gestes(IcpMethod.POINT_TO_PLANE, MAX_ITERATIONS),
        Gestes(IcpMethod.POINT_TO_PLANE, MAX_ITERATIONS, Facing.SURFACE_AT_POSE),
    ]
    if ARGS.no_peers:
        return found
    small_gicp = optional("small_gicp")
    if small_gicp is not None:
        found.append(SmallGicp(small_gicp, "GICP", ARGS.threads, MAX_CORRESPONDENCE_MM, 100))
    o3d = optional("open3d")
    if o3d is not None:
        for tree_out in (False, True):
            found.append(Open3d(o3d, "p2l", ARGS.threads, MAX_CORRESPONDENCE_MM, 100, tree_out))
    return found


def field_bytes(gestes: Gestes) -> int:
    arrays = gestes.registration.field.arrays
    return int(sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)))


def run_patch(target: dict, patch: Patch, sizes: list[int], cases: list[str]) -> list[dict]:
    mask = patch_triangles(target, patch)
    corners = target["vertices"][target["triangles"][mask]]
    sides = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = 0.5 * np.linalg.norm(sides, axis=1).sum()
    print(f"\n{patch.name}: {int(mask.sum())} exposed triangles, {area:.0f} mm2", flush=True)
    trial_sets = {
        (n, case): make_trials(target, mask, n, case, ARGS.trials) for n in sizes for case in cases
    }
    rows = []
    for method in methods():
        build_cpu = []
        for _ in range(3):
            begin = time.process_time()
            method.build(target)
            build_cpu.append(time.process_time() - begin)
        for (n, case), trials in trial_sets.items():
            method.register(trials[0])  # warm-up (Numba cache load, lazy allocations)
            times, cpu, rotations, shifts, ok = [], [], [], [], []
            starts, iterations, flagged_good, quiet_bad = [], [], 0, 0
            for trial in trials:
                begin, begin_cpu = time.perf_counter(), time.process_time()
                fixed_from_moving, _ = method.register(trial)
                times.append(time.perf_counter() - begin - method.time_offset_s)
                cpu.append(time.process_time() - begin_cpu - method.time_offset_cpu_s)
                rotation_deg, shift_mm = errors(fixed_from_moving, trial)
                success = rotation_deg < 1.0 and shift_mm < 1.0
                rotations.append(rotation_deg)
                shifts.append(shift_mm)
                ok.append(success)
                if isinstance(method, Gestes):
                    starts.append(method.last.starts_tried)
                    iterations.append(method.last.iterations)
                    flagged_good += success and bool(method.last.warnings)
                    quiet_bad += (not success) and not method.last.warnings
            row = {
                "patch": patch.name, "method": method.name, "points": n, "case": case,
                "build_cpu_ms": 1e3 * float(np.median(build_cpu)),
                "register_ms": 1e3 * float(np.median(times)),
                "register_cpu_ms": 1e3 * float(np.median(cpu)),
                "rotation_error_deg": float(np.median(rotations)),
                "translation_error_mm": float(np.median(shifts)),
                "successes": int(sum(ok)), "trials": len(trials),
                "multi_start_trials": sum(s > 1 for s in starts) if starts else None,
                "iterations": float(np.median(iterations)) if iterations else None,
                "mean_iterations": float(np.mean(iterations)) if iterations else None,
                "flagged_successes": flagged_good if starts else None,
                "unflagged_failures": quiet_bad if starts else None,
            }  # fmt: skip
            if isinstance(method, Gestes) and method.facing == "stylus":
                row["field_mb"] = field_bytes(method) / 1e6
            rows.append(row)
            extra = (
                f" multi-start {row['multi_start_trials']:2d} flagged ok {flagged_good:2d} "
                f"quiet fail {quiet_bad:2d} iterations {row['mean_iterations']:5.2f} (mean)"
                if starts
                else ""
            )
            print(
                f"{method.name:44s} {n:6d} {case:6s} build {row['build_cpu_ms']:7.0f} ms  "
                f"reg {row['register_ms']:8.2f} ms (cpu {row['register_cpu_ms']:8.2f})  "
                f"{row['rotation_error_deg']:6.3f} deg {row['translation_error_mm']:6.3f} mm  "
                f"{row['successes']:2d}/{len(trials)}{extra}",
                flush=True,
            )
    return rows


def main() -> int:
    sizes = [int(s) for s in ARGS.sizes.split(",")]
    cases = ARGS.cases.split(",")
    wanted = None if ARGS.patches is None else set(ARGS.patches.split(","))
    begin = time.perf_counter()
    report = {
        "threads": ARGS.threads,
        "targets": {},
        "icp": [],
    }
    targets = {}
    for patch in PATCHES:
        if wanted is not None and patch.name not in wanted:
            continue
        if patch.ct not in targets:
            targets[patch.ct] = load_target(patch.ct)
            target = targets[patch.ct]
            report["targets"][patch.ct] = {
                "vertices": len(target["vertices"]),
                "triangles": len(target["triangles"]),
                "extent_mm": target["extent_mm"],
                "load_and_extract_s": target["load_and_extract_s"],
            }
            print(
                f"{patch.ct}: {len(target['vertices'])} vertices, extent "
                f"{' x '.join(f'{e:.0f}' for e in target['extent_mm'])} mm, loaded and "
                f"extracted at {BONE_HU:.0f} HU in {target['load_and_extract_s']:.2f} s"
            )
        report["icp"] += run_patch(targets[patch.ct], patch, sizes, cases)
    write_results(report, Path(ARGS.json) if ARGS.json else RESULTS)
    print(f"{time.perf_counter() - begin:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
