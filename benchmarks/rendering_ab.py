"""A/B of the navigation window's frame rate between two checkouts, in alternating processes.

``python -m benchmarks.rendering_ab BEFORE AFTER [--rounds N] [--runs N]`` runs the rendering
benchmark's loop (``show`` + ``render`` of 100 states at 800 x 600 on the padded 256^3 skull CT)
in a fresh process in each checkout (a folder holding the repository: ``git worktree add
/tmp/before REV``), BEFORE then AFTER, ``rounds`` times, each process drawing ``runs`` runs of
100 frames. Prints the medians of frames per second (wall clock) and of CPU ms per frame (the
process with Mesa's threads: steadier than the wall clock on a shared machine) on each side, and
their ratios. The loop uses only what both sides have (``benchmarks.rendering``'s scene and
states, ``NavigationWindow``), so BEFORE can be any commit since 2026-12-03.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

LOOP = """
import json, sys, time
from benchmarks.rendering import WINDOW, padded_scene, states_along_trajectory
from devices.tools import BUILTIN_TOOLS
from guidance.navigator import NavigationPlan
from guidance.views import NavigationWindow, ViewSettings
from scenes.surface import extract_surface

scene = padded_scene()
skin = extract_surface(scene.ct, scene.skin_threshold_hu, outer_only=True)
plan = NavigationPlan.from_scene(scene)
states = states_along_trajectory(plan, 100)
tools = {name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")}
window = NavigationWindow(scene, skin, tools, plan, ViewSettings(window_size=WINDOW))
window.show(states[0])
window.render()
fps, cpu_ms = [], []
for _ in range(int(sys.argv[1])):
    began, began_cpu = time.perf_counter(), time.process_time()
    for state in states:
        window.show(state)
        window.render()
    fps.append(len(states) / (time.perf_counter() - began))
    cpu_ms.append(1000.0 * (time.process_time() - began_cpu) / len(states))
window.close()
print(json.dumps({"fps": fps, "cpu_ms": cpu_ms}))
"""


def run_side(checkout: Path, runs: int) -> dict[str, list[float]]:
    """One process in ``checkout`` drawing ``runs`` runs: {"fps": [...], "cpu_ms": [...]}."""
    done = subprocess.run(
        [sys.executable, "-c", LOOP, str(runs)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="checkout of the code before the change")
    parser.add_argument("after", type=Path, help="checkout of the code after the change")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, alternated")
    parser.add_argument("--runs", type=int, default=3, help="runs of 100 frames per process")
    args = parser.parse_args()
    sides = {"before": args.before, "after": args.after}
    results: dict[str, dict[str, list[float]]] = {s: {"fps": [], "cpu_ms": []} for s in sides}
    for round_number in range(args.rounds):
        for side, checkout in sides.items():
            measured = run_side(checkout, args.runs)
            for key, values in measured.items():
                results[side][key] += values
            print(
                f"round {round_number + 1} {side:6s} frames/s "
                f"{[round(v, 1) for v in measured['fps']]}, CPU ms/frame "
                f"{[round(v, 1) for v in measured['cpu_ms']]}",
                flush=True,
            )
    fps = {side: statistics.median(r["fps"]) for side, r in results.items()}
    cpu = {side: statistics.median(r["cpu_ms"]) for side, r in results.items()}
    for side in sides:
        print(f"{side:6s} median {fps[side]:6.1f} frames/s, {cpu[side]:6.1f} CPU ms/frame")
    print(
        f"after / before: {fps['after'] / fps['before']:.2f}x frames/s, "
        f"{cpu['before'] / cpu['after']:.2f}x less CPU a frame"
    )


if __name__ == "__main__":
    main()
