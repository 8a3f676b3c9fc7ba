"""Patch-normal benchmark: ``estimate_patch_normals`` on patches like the ICP benchmark's.

Run ``python -m benchmarks.patch_normals`` from the repository root (a few seconds). Prints a
table and writes ``benchmarks/results/patch_normals.json``. The patches are the points within
55 mm of the pole of an 80 mm sphere (area-uniform) plus 0.3 mm Gaussian noise, seen from the
hinted away from the sphere's centre, with the default window (it follows the point spacing:
about 30 points, at most 1,500 windows; ~15 mm for 1,000 points, ~6 mm for 10,000 here).
Medians of single calls from Python after a warm-up call. Targets (surface ICP's budget of
0.5 ms for 1,000 points and 3 ms for 10,000): <= 50 us for 1,000 points and <= 0.35 ms for
10,000 (set for the fixed 20 mm window of before; the adaptive one costs more, see the README).
"""

import argparse
import math
import statistics
import time

import numpy as np

from benchmarks.common import RESULTS_FOLDER, write_results
from registration.point_normals import away_from, estimate_patch_normals

RESULTS = RESULTS_FOLDER / "patch_normals.json"
SPHERE_MM = 80.0
CAP_MM = 55.0
NOISE_MM = 0.3
TARGET_US = {1_000: 50.0, 10_000: 350.0}


def sphere_cap(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points within CAP_MM (straight-line distance) of the pole of a sphere of radius
    SPHERE_MM centred at the origin, uniform by area, plus NOISE_MM Gaussian noise."""
    half_angle = 2.0 * math.asin(CAP_MM / (2.0 * SPHERE_MM))
    z = rng.uniform(math.cos(half_angle), 1.0, count)  # uniform in z is uniform by area
    azimuth = rng.uniform(0.0, 2.0 * math.pi, count)
    ring = np.sqrt(1.0 - z * z)
    directions = np.column_stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z])
    return SPHERE_MM * directions + rng.normal(0.0, NOISE_MM, (count, 3))


def time_calls(points: np.ndarray, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls (hints away from the sphere's centre, the default
    window), after one warm-up call (compilation, cache load)."""
    hints = away_from(points, np.zeros(3))
    estimate_patch_normals(points, hints)
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        estimate_patch_normals(points, hints)
        seconds.append(time.perf_counter() - began)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=500, help="timed calls per patch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patches")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for count, target_us in TARGET_US.items():
        seconds = time_calls(sphere_cap(count, rng), args.repeats)
        rows.append(
            {
                "points": count,
                "median_us": 1e6 * statistics.median(seconds),
                "p10_us": 1e6 * float(np.percentile(seconds, 10)),
                "p90_us": 1e6 * float(np.percentile(seconds, 90)),
                "target_us": target_us,
            }
        )
    results = {
        "patch": {"sphere_mm": SPHERE_MM, "cap_mm": CAP_MM, "noise_mm": NOISE_MM},
        "repeats": args.repeats,
        "estimate_patch_normals": rows,
    }
    print(f"{'points':>8} {'median us':>10} {'p10 us':>8} {'p90 us':>8} {'target us':>10}")
    for row in rows:
        print(
            f"{row['points']:>8} {row['median_us']:>10.1f} {row['p10_us']:>8.1f} "
            f"{row['p90_us']:>8.1f} {'<= ' + format(row['target_us'], '.0f'):>10}"
        )
    write_results(results, RESULTS)


if __name__ == "__main__":
    main()
