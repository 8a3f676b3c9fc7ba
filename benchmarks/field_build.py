"""Building the closest-point field (``registration.closest_point.ClosestPointField``) of real
CT bone surfaces: time and memory against the surface's size, to check that they follow its
area, not its bounding box.

Surfaces, all from ``scenes.surface.extract_surface`` at 200 HU, every piece kept (the CT table
too): the abdomen DICOM series of ``tests/data/ct`` (one vertebra and ribs, 0.98 x 0.98 x 2 mm,
a 40 mm slab); TotalSegmentator's example CT (lumbar spine and pelvis, 3 mm voxels); and, as a
whole-abdomen bone surface at 1 mm, that same CT resampled to 1 mm voxels (trilinear, SimpleITK)
before contouring. No real 1 mm CT of a whole abdomen is in the data: the resampled one has
the extent and the triangle size of one (about 309 x 220 x 334 mm of bone, 1.1 million
triangles) but a 3 mm scan's smoothness (no trabecular detail).

Run: ``nice .venv/bin/python -m benchmarks.field_build`` (about a minute, most of it resampling
and contouring); ``--repeats N`` builds per surface (medians, default 3), ``--threads N`` the
threads of the second timing (default: the machine's cores). Prints a table and writes
``benchmarks/results/field_build.json``. Times of the constructor (Numba kernels compiled and
cached beforehand): CPU time on one thread (``threads=1``; numpy and the rest pinned to one
thread throughout), and wall time with the build's loops split over ``--threads`` threads (the
default for a user: Numba's thread count); memory: the field's arrays (what stays, the mesh
included) and the peak resident memory the one-thread build added (arrays and temporaries).
``--baseline REV`` also builds each surface with git revision REV's ``registration`` and with
this tree's, one thread, a fresh process per build, alternated ``--repeats`` times: the median
CPU time of each, the median of the per-round ratios, and whether the two fields' arrays are
the same bit for bit.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS_FOLDER, pin_threads, write_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = RESULTS_FOLDER / "field_build.json"
BONE_HU = 200.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="builds per surface")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="threads of the parallel timing"
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="also time builds on this git revision's code"
    )
    parser.add_argument("--json", default=None, help="output file (default results/...json)")
    return parser.parse_args()


ARGS = _arguments()
pin_threads(1)  # before numpy and Numba start their pools

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from registration.closest_point import ClosestPointField  # noqa: E402
from scenes.surface import extract_surface, mesh_arrays  # noqa: E402
from scenes.volume import load_volume  # noqa: E402
from tests.shared_data import SHARED_DATA  # noqa: E402


def _resampled(image: sitk.Image, voxel_mm: float) -> sitk.Image:
    """``image`` on a grid of ``voxel_mm`` voxels over the same extent (trilinear)."""
    size = [
        round(n * s / voxel_mm) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)
    ]
    return sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), (voxel_mm,) * 3,
        image.GetDirection(), -1024.0, sitk.sitkFloat32,
    )  # fmt: skip


def _surfaces():
    """(name, how it was made, CT image) of each surface measured."""
    spine = load_volume(SHARED_DATA / "ct" / "totalsegmentator_example_ct.nii.gz")
    yield "abdomen DICOM slab", "as scanned", load_volume(SHARED_DATA / "ct" / "abdomen_ct_dicom")
    yield "spine and pelvis, 3 mm", "as scanned", spine
    yield "spine and pelvis, 1 mm", "resampled to 1 mm", _resampled(spine, 1.0)


def _peak_rss_reset() -> int:
    """Reset the process's peak resident memory (Linux) and return the resident memory now."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(vertices: np.ndarray, normals: np.ndarray, triangles: np.ndarray) -> dict:
    """Median CPU and wall time of ``ARGS.repeats`` builds on one thread, median wall time of
    as many on ``ARGS.threads`` (alternated), the arrays' memory by part and the peak memory a
    one-thread build added."""
    ClosestPointField(vertices[:3], normals[:3], np.array([[0, 1, 2]]))  # compile or load
    cpu, wall, wall_threads, peak_mb = [], [], [], []
    for _ in range(ARGS.repeats):
        before_kb = _peak_rss_reset()
        begin, begin_cpu = time.perf_counter(), time.process_time()
        field = ClosestPointField(vertices, normals, triangles, threads=1)
        cpu.append(time.process_time() - begin_cpu)
        wall.append(time.perf_counter() - begin)
        peak_mb.append((_status_kb("VmHWM") - before_kb) / 1e3)
        arrays = field.arrays
        del field
        begin = time.perf_counter()
        ClosestPointField(vertices, normals, triangles, threads=ARGS.threads)
        wall_threads.append(time.perf_counter() - begin)
    parts = {
        "band": arrays.planes.nbytes + arrays.brick_of.nbytes,
        "near_coarse_grid": arrays.near_lut.nbytes + arrays.near_brick_of.nbytes,
        "far_grid": arrays.far_lut.nbytes,
        "mesh": arrays.vertices.nbytes + arrays.normals.nbytes,
    }
    return {
        "build_cpu_s": statistics.median(cpu),
        "build_wall_s": statistics.median(wall),
        "build_wall_threads_s": statistics.median(wall_threads),
        "field_mb": sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) / 1e6,
        "parts_mb": {name: size / 1e6 for name, size in parts.items()},
        "peak_added_mb": statistics.median(peak_mb),
    }


# One build of the mesh in argv[1] (.npz) by the current directory's code on one thread (the
# environment sets NUMBA_NUM_THREADS=1): prints its CPU time, saves the field's arrays to argv[2].
BUILD_TIMER = """
import sys, time
import numpy as np
from registration.closest_point import ClosestPointField
mesh = np.load(sys.argv[1])
vertices, normals, triangles = mesh["vertices"], mesh["normals"], mesh["triangles"]
ClosestPointField(vertices[:3], normals[:3], np.array([[0, 1, 2]]))
began = time.process_time()
field = ClosestPointField(vertices, normals, triangles)
seconds = time.process_time() - began
np.savez(sys.argv[2], *[np.atleast_1d(array) for array in field.arrays])
print(seconds)
"""


def compare_baseline(vertices, normals, triangles, revision: str) -> dict:
    """One-thread CPU time (s) of builds by ``revision``'s code and this tree's, alternated, and
    whether their arrays are the same bit for bit."""
    seconds: dict[str, list[float]] = {"baseline": [], "this_tree": []}
    arrays = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        code = {"baseline": folder / "baseline", "this_tree": ROOT}
        code["baseline"].mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "registration"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(code["baseline"])], input=archive, check=True)
        mesh = folder / "mesh.npz"
        np.savez(mesh, vertices=vertices, normals=normals, triangles=triangles)
        environment = {**os.environ, "NUMBA_NUM_THREADS": "1"}
        for _ in range(ARGS.repeats):
            for name, cwd in code.items():
                out = folder / f"{name}.npz"
                done = subprocess.run(
                    [sys.executable, "-c", BUILD_TIMER, str(mesh), str(out)],
                    cwd=cwd,
                    env=environment,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds[name].append(float(done.stdout.split()[-1]))
                with np.load(out) as saved:
                    arrays[name] = [saved[key] for key in saved.files]
    same = all(
        a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))
        for a, b in zip(arrays["baseline"], arrays["this_tree"], strict=True)
    )
    ratios = [t / b for t, b in zip(seconds["this_tree"], seconds["baseline"], strict=True)]
    return {
        "revision": revision,
        "baseline_cpu_s": statistics.median(seconds["baseline"]),
        "this_tree_cpu_s": statistics.median(seconds["this_tree"]),
        "ratio": statistics.median(ratios),
        "same_arrays": same,
    }


def main() -> int:
    report = {
        "repeats": ARGS.repeats,
        "threads": ARGS.threads,
        "surfaces": [],
    }
    wall_title = f"wall s {ARGS.threads}t"
    print(
        f"{'surface':24s} {'made':18s} {'vertices':>9s} {'triangles':>10s} {'area mm2':>9s} "
        f"{'bbox mm':>17s} {'cpu s 1t':>8s} {wall_title:>9s} {'field MB':>9s} {'B/mm2':>6s} "
        f"{'peak MB':>8s}"
    )
    for name, made, image in _surfaces():
        begin = time.perf_counter()
        vertices, normals, triangles = mesh_arrays(extract_surface(image, BONE_HU))
        extract_s = time.perf_counter() - begin
        corners = vertices[triangles]
        area = (
            0.5
            * np.linalg.norm(
                np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
            ).sum()
        )
        extent = np.ptp(vertices, axis=0)
        row = {
            "surface": name,
            "made": made,
            "voxel_mm": list(image.GetSpacing()),
            "vertices": len(vertices),
            "triangles": len(triangles),
            "area_mm2": float(area),
            "extent_mm": extent.tolist(),
            "extract_s": extract_s,
            **measure(vertices, normals, triangles),
        }
        row["bytes_per_mm2"] = row["field_mb"] * 1e6 / area
        if ARGS.baseline:
            row["baseline"] = compare_baseline(vertices, normals, triangles, ARGS.baseline)
        report["surfaces"].append(row)
        print(
            f"{name:24s} {made:18s} {len(vertices):9d} {len(triangles):10d} {area:9.0f} "
            f"{'x'.join(f'{e:.0f}' for e in extent):>17s} {row['build_cpu_s']:8.2f} "
            f"{row['build_wall_threads_s']:9.2f} {row['field_mb']:9.1f} "
            f"{row['bytes_per_mm2']:6.0f} {row['peak_added_mb']:8.0f}",
            flush=True,
        )
        if ARGS.baseline:
            base = row["baseline"]
            print(
                f"{'':24s} at {ARGS.baseline}: {base['baseline_cpu_s']:.2f} s, this tree "
                f"{base['this_tree_cpu_s']:.2f} s (ratio {base['ratio']:.2f}), same arrays: "
                f"{base['same_arrays']}",
                flush=True,
            )
    write_results(report, Path(ARGS.json) if ARGS.json else RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
