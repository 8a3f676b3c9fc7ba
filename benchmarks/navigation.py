"""Guidance benchmarks: the navigator's update per frame and the live loop's tracking-to-screen
latency with rendering on (the demo, now an exercise, and whether predicted errors match the
measured ones over many seeds, are in ``benchmarks/exercises.py``).

Run ``python -m benchmarks.navigation [--minutes M]`` from the repository root. Prints a
table and writes ``benchmarks/results/navigation.json``. Medians over repeats.

- Navigator: ``Navigator.navigate`` for 3 tools and 3 structures (the skull's) with a trajectory,
  per frame; the plain numpy ``reference_navigate`` (the same arithmetic, one call per frame) in
  the same run for comparison. Target: <= 50 us per frame.
- Latency: the skull before a simulated 250 Hz camera for ``--minutes`` (default 10) of real
  time, paced on the monotonic clock, with the navigation window drawing off-screen as fast as it
  can in the main thread: for each drawn state, the time from its frame's timestamp (aligned to
  the clock on the first frame) to the end of its render. Median and p99 per tenth of the run (it
  must not grow), frames drawn per second, and the recording counted: it must hold every frame
  the tracker gave, and the samples the acquisition thread skipped because it read late (as a
  live tracker read late does) are counted against the ``minutes * 60 * 250`` samples. Mesa's
  software renderer uses every core; ``LP_NUM_THREADS=1`` leaves one to tracking.
"""

import argparse
import math
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from benchmarks.common import RESULTS_FOLDER, write_results
from devices.clock import MonotonicClock
from devices.frame import Frame, PoseStatus, ToolPose
from devices.noise import CameraView, OpticalNoise
from devices.sequence_file import read_sequence
from devices.tools import BUILTIN_TOOLS
from guidance.exercises import fiducials, simulate
from guidance.navigator import NavigationPlan, Navigator, ToolTip, reference_navigate
from guidance.session import NavigationSession
from guidance.simulation import LoopingMotion, simulated_tracker
from registration.transforms import make_rigid
from scenes.phantoms import PhantomKind, build_phantom
from scenes.student import SKILLS, Skill

RESULTS = RESULTS_FOLDER / "navigation.json"
LATENCY_RATE_HZ = 250.0
LATENCY_SLICES = 10


def _frames(count: int, seed: int = 0) -> list[Frame]:
    """``count`` frames of a stylus, a reference and a needle at random poses near the head."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        poses = {}
        for name in ("stylus", "reference", "needle"):
            rotation = Rotation.from_rotvec(rng.normal(size=3) * 0.3).as_matrix()
            poses[name] = ToolPose(
                name,
                make_rigid(rotation, rng.uniform(-100, 100, 3) + np.array([0.0, 0.0, -1400.0])),
                PoseStatus.OK,
            )
        frames.append(Frame(k / 250.0, k, poses))
    return frames


def bench_navigator(n_frames: int, repeats: int) -> dict:
    """Median time per frame (us) of ``Navigator.navigate`` and of ``reference_navigate`` for 3
    tools and 3 structures, with the skull's biopsy trajectory active."""
    scene = build_phantom(PhantomKind.SKULL, seed=0)
    plan = NavigationPlan.from_scene(scene)
    tip = ToolTip.from_tool(BUILTIN_TOOLS["stylus"])
    registration = make_rigid(np.eye(3), [0.0, 0.0, 1400.0])
    navigator = Navigator(plan, registration, tip)
    frames = _frames(n_frames)
    navigator.navigate(frames[0], 0.0)  # compile or load the kernel
    navigate_us, reference_us = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for frame in frames:
            navigator.navigate(frame, frame.timestamp)
        navigate_us.append(1e6 * (time.perf_counter() - start) / len(frames))
        start = time.perf_counter()
        for frame in frames:
            poses = frame.poses
            reference_navigate(
                registration,
                poses["reference"].tracker_from_tool,
                poses["stylus"].tracker_from_tool,
                tip,
                plan,
            )
        reference_us.append(1e6 * (time.perf_counter() - start) / len(frames))
    return {
        "tools": 3,
        "structures": len(plan.structures),
        "frames": n_frames,
        "navigator_us": statistics.median(navigate_us),
        "numpy_reference_us": statistics.median(reference_us),
    }


def bench_latency(minutes: float, out_dir: Path) -> dict:
    """The live loop for ``minutes`` of real time at 250 Hz with off-screen drawing in this
    thread; see the module docstring."""
    from guidance.views import NavigationWindow

    clock = MonotonicClock()
    scene = build_phantom(PhantomKind.SKULL, seed=0)
    stage = simulate.stage(scene, 0)
    surface = stage.surface
    # The fiducials exercise's student, touching the skull's beads again and again.
    touches = fiducials.script(stage, SKILLS[Skill.NOVICE], 0)
    duration_s = 60.0 * minutes
    tracker = simulated_tracker(
        LoopingMotion(touches, duration_s),
        OpticalNoise(0.25, camera=CameraView()),
        LATENCY_RATE_HZ,
        0,
        realtime=True,
        clock=clock,
    )
    plan = NavigationPlan.from_scene(scene)
    navigator = Navigator(
        plan, stage.placement.image_from_reference, ToolTip.from_tool(BUILTIN_TOOLS["stylus"])
    )
    session = NavigationSession(
        tracker, navigator, out_dir / "latency.igs.mha", clock=clock, overwrite=True
    )
    latencies: list[tuple[float, float]] = []  # (time into the run, latency) per drawn state
    rss_mb = []
    with NavigationWindow(scene, surface, dict(BUILTIN_TOOLS), plan) as window:
        window.render()
        session.start()
        started = clock.now()
        shown = None
        next_rss = started
        while not session.done:
            state = session.latest_state()
            if state is None or state is shown:
                time.sleep(0.0005)
                continue
            shown = state
            window.show(state)
            window.render()
            now = clock.now()
            latencies.append((now - started, now - (state.timestamp + session.time_offset_s)))
            if now >= next_rss:
                rss_mb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
                next_rss = now + duration_s / LATENCY_SLICES
        session.stop()
    summary = session.summary()
    recording = read_sequence(summary.path)
    numbers = recording.frame_numbers
    expected = math.floor(duration_s * LATENCY_RATE_HZ) + 1
    times, values = np.array(latencies).T
    slices = []
    for k in range(LATENCY_SLICES):
        part = values[
            (times >= k * duration_s / LATENCY_SLICES)
            & (times < (k + 1) * duration_s / LATENCY_SLICES)
        ]
        if len(part):
            slices.append(
                {
                    "median_ms": 1e3 * float(np.median(part)),
                    "p99_ms": 1e3 * float(np.percentile(part, 99)),
                    "drawn": len(part),
                }
            )
    return {
        "minutes": minutes,
        "rate_hz": LATENCY_RATE_HZ,
        "samples_expected": expected,
        "frames_recorded": len(recording),
        "frames_skipped": int(np.sum(np.diff(numbers) - 1)) if len(numbers) else expected,
        "session_frames": summary.frames_recorded,
        "end": summary.end.value,
        "drawn": len(values),
        "draw_fps": len(values) / duration_s,
        "latency_median_ms": 1e3 * float(np.median(values)),
        "latency_p99_ms": 1e3 * float(np.percentile(values, 99)),
        "latency_by_tenth": slices,
        "max_rss_mb_by_tenth": rss_mb,
        "window": list(window.settings.window_size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="navigator frames (20000)")
    parser.add_argument("--repeats", type=int, default=5, help="navigator repeats (5)")
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="latency run length, real time (10)"
    )
    args = parser.parse_args()
    results: dict = {
        "navigator": bench_navigator(args.frames, args.repeats),
    }
    navigator = results["navigator"]
    print(f"{'measure':<52}{'median':>12}")
    print(
        f"{'navigator per frame, 3 tools, 3 structures (us)':<52}{navigator['navigator_us']:>12.1f}"
    )
    label = "numpy reference, same arithmetic (us)"
    print(f"{label:<52}{navigator['numpy_reference_us']:>12.1f}")
    if args.minutes > 0:
        with tempfile.TemporaryDirectory() as folder:
            latency = bench_latency(args.minutes, Path(folder))
        results["latency"] = latency
        print(
            f"{'tracking-to-screen latency, median (ms)':<52}{latency['latency_median_ms']:>12.1f}"
        )
        print(f"{'tracking-to-screen latency, p99 (ms)':<52}{latency['latency_p99_ms']:>12.1f}")
        print(f"{'states drawn per second':<52}{latency['draw_fps']:>12.1f}")
        counted = f"{latency['frames_recorded']}/{latency['session_frames']}"
        print(f"{'frames in the recording / frames read':<52}{counted:>12}")
        counted = f"{latency['frames_skipped']}/{latency['samples_expected']}"
        print(f"{'samples skipped (reader late) / samples at 250 Hz':<52}{counted:>12}")
        tenths = ", ".join(f"{s['median_ms']:.1f}" for s in latency["latency_by_tenth"])
        print(f"latency median per tenth of the run (ms): {tenths}")
    write_results(results, RESULTS)


if __name__ == "__main__":
    main()
