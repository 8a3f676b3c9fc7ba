"""Benchmark of scenes/: loading a 512x512x300 int16 CT (NRRD raw and gzip, DICOM series) and
extracting its bone isosurface (full, outer only, decimated).

Run from the repository root: ``python -m benchmarks.scenes [--repeats N]`` (as a module: a plain
``python benchmarks/scenes.py`` would import this file as the ``scenes`` package). Prints a table
of medians and saves them as JSON in ``benchmarks/results/scenes.json``.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import vtk

from benchmarks.common import RESULTS_FOLDER, write_results
from scenes.dicom import save_dicom_series
from scenes.surface import extract_surface
from scenes.volume import load_volume, save_volume

SIZE = (512, 512, 300)  # x, y, z voxels
SPACING_MM = (0.7, 0.7, 1.0)
BONE_HU = 300.0
RESULTS = RESULTS_FOLDER / "scenes.json"


def synthetic_ct(seed: int = 0) -> sitk.Image:
    """A torso-like int16 CT: soft tissue, a rib cage shell with gaps, a spine column, noise."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = SIZE
    x = (np.arange(nx) - nx / 2) * SPACING_MM[0]
    y = (np.arange(ny) - ny / 2) * SPACING_MM[1]
    yy, xx = np.meshgrid(y, x, indexing="ij")
    body = (xx / 170.0) ** 2 + (yy / 125.0) ** 2 <= 1.0
    rib_radius = np.sqrt((xx / 150.0) ** 2 + (yy / 105.0) ** 2)
    spine = np.hypot(xx, yy - 70.0)
    array = np.empty((nz, ny, nx), dtype=np.int16)
    for k in range(nz):
        slice_hu = np.where(body, 40.0, -1000.0)
        if np.sin(2 * np.pi * k / 25.0) > -0.2:  # ribs with intercostal gaps
            slice_hu[np.abs(rib_radius - 1.0) < 0.05] = 800.0
        ring = 14.0 + 3.0 * np.sin(2 * np.pi * k / 35.0)
        slice_hu[spine < ring] = 700.0
        slice_hu[spine < ring - 2.0] = 250.0
        slice_hu += rng.normal(0.0, 10.0, slice_hu.shape)
        array[k] = np.rint(slice_hu).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING_MM)
    image.SetOrigin((-179.2, -179.2, -150.0))
    return image


def median_seconds(task: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = task()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    rows = []
    image = synthetic_ct()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        save_volume(image, folder / "raw.nrrd")
        save_volume(image, folder / "gzip.nrrd", compress=True)
        save_dicom_series(image, folder / "dicom", description="benchmark")
        for name, path in (
            ("load NRRD raw", folder / "raw.nrrd"),
            ("load NRRD gzip", folder / "gzip.nrrd"),
            ("load DICOM series (300 files)", folder / "dicom"),
        ):
            seconds, loaded = median_seconds(lambda path=path: load_volume(path), args.repeats)
            assert loaded.GetSize() == SIZE
            rows.append({"task": name, "median_s": seconds, "detail": f"{SIZE} int16"})
    for name, options in (
        ("bone surface, full", {}),
        ("bone surface, outer only", {"outer_only": True}),
        ("bone surface, outer only, 90% decimated", {"outer_only": True, "target_reduction": 0.9}),
        ("bone surface, full, 90% decimated", {"target_reduction": 0.9}),
    ):
        seconds, mesh = median_seconds(
            lambda options=options: extract_surface(image, BONE_HU, **options), args.repeats
        )
        rows.append(
            {
                "task": name,
                "median_s": seconds,
                "detail": f"{mesh.n_points} points, {mesh.n_cells} triangles",
            }
        )
    print(f"{'task':<42} {'median (s)':>10}  detail")
    for row in rows:
        print(f"{row['task']:<42} {row['median_s']:>10.3f}  {row['detail']}")
    report = {
        "benchmark": "scenes",
        "volume": {"size": SIZE, "spacing_mm": SPACING_MM, "pixel_type": "int16"},
        "repeats": args.repeats,
        "versions": {
            "SimpleITK": sitk.Version.VersionString(),
            "vtk": vtk.vtkVersion.GetVTKVersion(),
        },
        "results": rows,
    }
    write_results(report, RESULTS)


if __name__ == "__main__":
    main()
