"""Benchmark of the navigation window: off-screen frames per second at 800 x 600 for the 3D view,
the three reslices, the alignment view and the text panel, on a 256^3 CT (the skull phantom at
0.9 mm, padded with air), with the tip moving every frame (so the three planes move).

Run from the repository root: ``python -m benchmarks.rendering [--frames N] [--repeats N]``;
``--compare-translucency ROUNDS`` and ``--compare-updates ROUNDS`` run interleaved A/Bs (of the
translucency settings, of how often the slices are resampled and the numbers rewritten) instead.
Prints a table of medians and saves it as JSON in ``benchmarks/results/rendering.json``: the
whole frame (``show`` + ``render``), ``show`` alone (moving actors, setting planes and strings),
``render`` alone with nothing moved, a frame grabbed as pixels (what a video costs), and each
panel drawn alone (its share of the frame). Mesa's software renderer uses every core: run it on
a quiet machine.
"""

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

import numpy as np
import SimpleITK as sitk
import vtk
from scipy.spatial.transform import Rotation

from benchmarks.common import RESULTS_FOLDER, machine_info, median_rate, write_results
from devices.frame import Frame, PoseStatus, ToolPose
from devices.tools import BUILTIN_TOOLS
from guidance.navigator import NavigationPlan, NavigationState, Navigator, ToolTip
from guidance.views import NavigationWindow, ViewSettings
from registration.transforms import make_rigid
from scenes.phantoms.skull import build_skull
from scenes.scene import Scene
from scenes.surface import extract_surface

SIZE_VOXELS = 256
SPACING_MM = 0.9
WINDOW = (800, 600)
RESULTS = RESULTS_FOLDER / "rendering.json"


def padded_scene(spacing_mm: float = SPACING_MM, size: int = SIZE_VOXELS) -> Scene:
    """The skull phantom at ``spacing_mm`` with its CT padded with air to ``size``^3 voxels
    (same physical coordinates)."""
    scene = build_skull(seed=0, spacing_mm=spacing_mm)
    missing = [max(size - n, 0) for n in scene.ct.GetSize()]
    lower = [m // 2 for m in missing]
    upper = [m - low for m, low in zip(missing, lower, strict=True)]
    ct = sitk.ConstantPad(scene.ct, lower, upper, -1000.0)[:size, :size, :size]
    return dataclasses.replace(scene, ct=ct)


def states_along_trajectory(plan: NavigationPlan, count: int) -> list[NavigationState]:
    """``count`` states of the stylus sliding down the plan's first trajectory, a little tilted
    and off its line, the reference at the tracker's origin (registration = identity)."""
    stylus = BUILTIN_TOOLS["stylus"]
    tip = ToolTip.from_tool(stylus)
    navigator = Navigator(plan, np.eye(4), tip)
    trajectory = plan.trajectories[0]
    axis = trajectory.direction + np.array([0.05, -0.03, 0.0])
    rotation = Rotation.align_vectors([axis / np.linalg.norm(axis)], [tip.axis])[0].as_matrix()
    states = []
    for i in range(count):
        point = trajectory.entry_mm + (i / count) * (trajectory.target_mm - trajectory.entry_mm)
        point = point + np.array([1.5, 0.5, 0.0])
        pose = make_rigid(rotation, point - rotation @ tip.tip_mm)
        frame = Frame(
            i * 0.004,
            i,
            {
                "stylus": ToolPose("stylus", pose, PoseStatus.OK),
                "reference": ToolPose("reference", np.eye(4), PoseStatus.OK),
            },
        )
        states.append(navigator.navigate(frame, now_s=frame.timestamp))
    return states


def interleaved(
    window: NavigationWindow,
    states: list[NavigationState],
    rounds: int,
    use: Callable[[bool], None],
    names: tuple[str, str],
) -> None:
    """Interleaved A/B in this window: ``use(False)`` (the way before, named ``names[0]``) and
    ``use(True)`` (the way now, ``names[1]``), each drawing ``states`` once, alternated
    ``rounds`` times. Prints medians of frames per second (wall clock) and of CPU ms per frame
    (this process, Mesa's threads included: steadier than the wall clock on a shared machine)
    and the ratios of the medians."""
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for now in (False, True):
            use(now)
            window.render()
            began, began_cpu = time.perf_counter(), time.process_time()
            for state in states:
                window.show(state)
                window.render()
            wall[now].append(len(states) / (time.perf_counter() - began))
            cpu[now].append(1000.0 * (time.process_time() - began_cpu) / len(states))
    for now in (False, True):
        print(
            f"{names[now]:26s} {statistics.median(wall[now]):6.1f} frames/s "
            f"{statistics.median(cpu[now]):6.1f} CPU ms/frame  "
            f"runs {[round(r, 1) for r in wall[now]]}"
        )
    print(
        f"now / before: {statistics.median(wall[True]) / statistics.median(wall[False]):.2f}x "
        f"frames/s, {statistics.median(cpu[False]) / statistics.median(cpu[True]):.2f}x less CPU"
    )


def compare_translucency(
    window: NavigationWindow, states: list[NavigationState], rounds: int
) -> None:
    """``interleaved`` A/B: VTK's order-independent translucency pass (the panels' setting
    before 2026-12-03) against plain alpha blending (theirs now)."""

    def use(now: bool) -> None:
        for renderer in window.renderers.values():
            renderer.SetUseOIT(not now)

    interleaved(window, states, rounds, use, ("order-independent pass", "alpha blending"))


def compare_updates(window: NavigationWindow, states: list[NavigationState], rounds: int) -> None:
    """``interleaved`` A/B: frames drawn as before 2026-12-03 afternoon (each slice resampled at
    the tip's exact depth, the text panel rewritten every frame) against now (each slice on the
    voxel slice nearest to the tip, resampled only when that slice changes; the numbers
    rewritten at most ``numbers_hz``)."""
    snapped = {name: panel.voxel_slices for name, panel in window.slice_panels.items()}
    interval = window.status.lines.min_interval_s

    def use(now: bool) -> None:
        for name, panel in window.slice_panels.items():
            exact = dataclasses.replace(snapped[name], step_mm=0.0)  # nearest() = the tip
            panel.voxel_slices = snapped[name] if now else exact
        window.status.lines.min_interval_s = interval if now else 0.0

    interleaved(
        window, states, rounds, use, ("every frame, exact depth", "voxel slices, 10 Hz text")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--compare-translucency",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="instead of the table: ROUNDS interleaved runs with and without VTK's "
        "order-independent translucency pass (an A/B in one process)",
    )
    parser.add_argument(
        "--compare-updates",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="instead of the table: ROUNDS interleaved runs with the slices resampled and the "
        "text rewritten every frame, and as now (an A/B in one process)",
    )
    args = parser.parse_args()
    scene = padded_scene()
    ct = scene.ct
    skin = extract_surface(ct, scene.skin_threshold_hu, outer_only=True)
    plan = NavigationPlan.from_scene(scene)
    states = states_along_trajectory(plan, args.frames)
    tools = {name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")}
    window = NavigationWindow(scene, skin, tools, plan, ViewSettings(window_size=WINDOW))
    window.show(states[0])
    window.render()  # first frame: textures and shaders
    if args.compare_translucency or args.compare_updates:
        if args.compare_translucency:
            compare_translucency(window, states, args.compare_translucency)
        if args.compare_updates:
            compare_updates(window, states, args.compare_updates)
        window.close()
        return

    def frames() -> None:
        for state in states:
            window.show(state)
            window.render()

    def shows() -> None:
        for state in states:
            window.show(state)

    def renders() -> None:
        for _ in states:
            window.render()

    def grabs() -> None:
        for state in states:
            window.show(state)
            window.screenshot()

    count, repeats = len(states), args.repeats
    rows = [
        ("frame: show + render", median_rate(frames, count, repeats)),
        ("show only", median_rate(shows, count, repeats)),
        ("render only, nothing moved", median_rate(renders, count, repeats)),
        ("frame grabbed as pixels", median_rate(grabs, count, repeats)),
    ]
    for name, renderer in window.renderers.items():
        for other in window.renderers.values():
            other.SetDraw(other is renderer)
        rows.append((f"{name} panel alone", median_rate(frames, count, repeats)))
    for renderer in window.renderers.values():
        renderer.SetDraw(True)
    window.close()

    full = rows[0][1]
    print(
        f"navigation window {WINDOW[0]}x{WINDOW[1]}, CT {ct.GetSize()} at {SPACING_MM} mm, "
        f"skin {skin.n_cells} triangles (drawn decimated to "
        f"{ViewSettings().skin_max_triangles}), {count} frames x {repeats} runs"
    )
    print(f"{'measure':32s} {'per s':>8s} {'ms':>7s} {'x frame':>8s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:8.1f} {1000.0 / rate:7.2f} {rate / full:8.2f}")
    write_results(
        {
            "machine": {
                **machine_info(),
                "vtk": vtk.vtkVersion.GetVTKVersion(),
                "renderer": "Mesa llvmpipe via EGL (off-screen)",
            },
            "window_px": list(WINDOW),
            "ct_voxels": list(ct.GetSize()),
            "frames": count,
            "repeats": repeats,
            "per_second": {name: rate for name, rate in rows},
        },
        RESULTS,
    )


if __name__ == "__main__":
    main()
