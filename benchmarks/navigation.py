"""Guidance benchmarks: the demo end to end, the navigator and the view per frame, and whether
the demo's predicted errors match the errors it measures over many seeds.

Run ``python -m benchmarks.navigation`` from the repository root (a few minutes). Prints a table
and writes ``benchmarks/results/navigation.json``. Medians over repeats. Targets: the demo well
under a minute on 2 cores; navigator and view fast enough for a 60 Hz tracker (< 16.7 ms per
frame together).
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from devices.noise import OpticalNoise
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from guidance.demo import DemoSettings, record, run_demo
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.simulation import build_motion, place_phantom, posture_of
from guidance.views import NavigationView
from scenes.phantoms import PhantomKind, build_phantom
from scenes.surface import extract_surface

RESULTS = Path(__file__).resolve().parent / "results" / "navigation.json"


def bench_demo(repeats: int) -> dict:
    """Wall time of ``run_demo`` with its picture, per step, median over ``repeats`` runs (s)."""
    runs = []
    for seed in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(run_demo(Path(folder), DemoSettings(seed=seed)).timing_s)
    return {step: statistics.median(run[step] for run in runs) for step in runs[0]}


def bench_calibration(n_seeds: int) -> dict:
    """Are the predicted errors honest? Over seeds 0..n-1 (no picture): the mean of
    (error / predicted RMS)^2 should be near 1 for the navigated tip error and the TRE (with its
    95% interval: over 12 seeds it spans about 0.7-1.5), and the ratio FRE / expected FRE (noise
    model) near 1."""
    tip, tre, fre = [], [], []
    for seed in range(n_seeds):
        with tempfile.TemporaryDirectory() as folder:
            result = run_demo(Path(folder), DemoSettings(seed=seed, render=False))
        tip.append([(t.error_mm / t.expected_error_rms_mm) ** 2 for t in result.targets])
        tre.append([(t.tre_mm / t.predicted_tre_rms_mm) ** 2 for t in result.targets])
        fre.append(result.fre_rms_mm / result.expected_fre_model_mm)
    tre_low, tre_high = _bootstrap_ci95(np.array(tre))
    return {
        "seeds": n_seeds,
        "tip_error_mean_sq_ratio": float(np.mean(tip)),
        "tre_mean_sq_ratio": float(np.mean(tre)),
        "tre_mean_sq_ratio_ci95_low": tre_low,
        "tre_mean_sq_ratio_ci95_high": tre_high,
        "fre_ratio_min": min(fre),
        "fre_ratio_max": max(fre),
    }


def _bootstrap_ci95(per_seed: np.ndarray, resamples: int = 4000) -> tuple[float, float]:
    """95% interval of the mean of ``per_seed`` (seeds x targets) by resampling whole seeds: a
    seed's targets share one registration, so their ratios are correlated (~0.2-0.7)."""
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(per_seed), (resamples, len(per_seed)))
    means = per_seed[picks].mean(axis=(1, 2))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def bench_navigator_and_view(n_frames: int) -> dict:
    """Median time per frame of ``Navigator.navigate`` on simulated frames and of the view's
    ``show`` + render + read-back along a straight path through the head."""
    scene = build_phantom(PhantomKind.SKULL, seed=0)
    surface = extract_surface(
        scene.ct, scene.skin_threshold_hu, outer_only=True, target_reduction=0.9
    )
    settings = DemoSettings()
    placement = place_phantom(np.asarray(surface.center), 0, posture_of(scene, surface))
    motion = build_motion(scene, surface, placement, settings.touch, settings.seed)
    tracker = SimulatedTracker(
        motion, dict(BUILTIN_TOOLS), OpticalNoise(settings.marker_jitter_rms_mm), seed=0
    )
    frames = record(tracker, motion, after_s=0.0).after
    stylus = BUILTIN_TOOLS["stylus"]
    navigator = Navigator(
        NavigationPlan.from_scene(scene), placement.image_from_reference, ToolTip.from_tool(stylus)
    )
    navigate_s = []
    for frame in frames:
        start = time.perf_counter()
        navigator.navigate(frame)
        navigate_s.append(time.perf_counter() - start)

    states = [navigator.navigate(frame) for frame in frames[: max(n_frames, 1)]]
    view_s = []
    with NavigationView(
        scene.ct, surface, scene.fiducials_mm, scene.targets_mm, stylus.markers_mm, stylus.tip_mm
    ) as view:
        view.show(states[0])
        view.screenshot()  # first render: window and textures
        for state in states:
            start = time.perf_counter()
            view.show(state, "benchmark")
            view.screenshot()
            view_s.append(time.perf_counter() - start)
    return {
        "navigator_frames": len(frames),
        "navigator_median_us": 1e6 * statistics.median(navigate_s),
        "view_frames": len(states),
        "view_median_ms": 1e3 * statistics.median(view_s),
        "view_window": list(view.settings.window_size),
        "surface_triangles": int(surface.n_cells),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="demo runs (default 3)")
    parser.add_argument("--frames", type=int, default=120, help="view frames (default 120)")
    parser.add_argument("--seeds", type=int, default=12, help="calibration seeds (default 12)")
    args = parser.parse_args()
    demo = bench_demo(args.repeats)
    per_frame = bench_navigator_and_view(args.frames)
    calibration = bench_calibration(args.seeds)
    results = {
        "calibration": calibration,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "demo_median_s": demo,
        **per_frame,
    }
    print(f"{'measure':<40}{'median':>12}")
    for step, seconds in demo.items():
        print(f"{'demo ' + step.replace('_', ' ') + ' (s)':<40}{seconds:>12.2f}")
    print(f"{'navigator per frame (us)':<40}{per_frame['navigator_median_us']:>12.1f}")
    width, height = per_frame["view_window"]
    label = f"view show+render {width}x{height} (ms)"
    print(f"{label:<40}{per_frame['view_median_ms']:>12.1f}")
    for name, value in calibration.items():
        if name != "seeds":
            label = f"{name.replace('_', ' ')} ({calibration['seeds']} seeds)"
            print(f"{label:<40}{value:>12.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
