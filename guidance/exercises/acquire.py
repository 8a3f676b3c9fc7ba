"""The acquire step: the tracker through a navigation session (every frame recorded), the
exercise followed live by a ``Coach`` (``live``), drawn in the navigation window when there is
one and streamed to OpenIGTLink clients when asked; and, for a headless run, a video drawn from
the recording afterwards with the notes the window would have shown.

What the views show before the student's registration exists: in simulation (and with the
keyboard, whose tracker frame is the CT's) the stylus where it truly is, as the student sees it
on the phantom; with a real tracker, nothing is known yet, and the views show the reference
tool's frame, saying so. Once the points are held, the coach's registration takes over.
"""

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from devices.tools import BUILTIN_TOOLS
from guidance.exercises import pivot, surface
from guidance.exercises.live import Coach, PivotCoverage, Say, SweepCount
from guidance.exercises.setup import ExerciseSetup
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.session import NavigationSession, SessionSummary, StateSink
from registration.closest_point import ClosestPointField
from scenes.scene import Scene
from scenes.surface import mesh_arrays

if TYPE_CHECKING:
    import pyvista as pv

    from devices.clock import Clock
    from guidance.views import NavigationWindow


def exercise_plan(module: ModuleType, scene: Scene) -> NavigationPlan:
    """What the exercise navigates to: the scene, with its trajectory active for targeting."""
    return module.plan(scene) if hasattr(module, "plan") else NavigationPlan.from_scene(scene)


def exercise_tools() -> dict[str, Any]:
    """The tools the views draw: gestes' stylus and reference."""
    return {name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")}


def navigator_before_registration(
    module: ModuleType, scene: Scene, setup: ExerciseSetup
) -> tuple[Navigator, str]:
    """The session's navigator, on the true registration when it is known (simulation, the
    keyboard), else the identity, and what the views show until the student's registration."""
    tip = ToolTip.pointing(setup.tool_tip_mm, BUILTIN_TOOLS["stylus"].centroid_mm)
    if setup.truth is not None:
        registration = setup.truth.image_from_reference
        shown = "not registered yet: the views show where the stylus truly is"
    else:
        registration = np.eye(4)
        shown = "not registered yet: the views show the reference tool's frame, not the CT"
    plan = exercise_plan(module, scene)
    return Navigator(plan, registration, tip, setup.stylus, setup.reference), shown


def make_coach(
    module: ModuleType,
    scene: Scene,
    setup: ExerciseSetup,
    navigator: Navigator,
    unregistered: str,
    say: Say | None = None,
    until_done: bool = False,
    skin: "pv.PolyData | None" = None,
) -> Coach:
    """The coach of this exercise: its tasks and stillness, and what it watches besides dwells
    (a pivot's coverage; a sweep's points, when the skin is given)."""
    watch: PivotCoverage | SweepCount | None = None
    if module is pivot:
        watch = PivotCoverage(setup.stylus, setup.reference)
    elif module is surface and skin is not None:
        watch = SweepCount(ClosestPointField(*mesh_arrays(skin)))
    return Coach(
        module.tasks(scene),
        setup,
        navigator,
        say,
        pivot.PIVOTING if module is pivot else None,
        until_done,
        watch,
        unregistered,
    )


def acquire(
    tracker: Any,
    navigator: Navigator,
    coach: Coach,
    recording: Path,
    window: "NavigationWindow | None" = None,
    sinks: Sequence[StateSink] = (),
    clock: "Clock | None" = None,
) -> SessionSummary:
    """Run the session: every frame recorded to ``recording`` and navigated, then given to the
    coach and ``sinks`` (an OpenIGTLink sender); ``window`` (interactive) draws the newest state
    with the coach's notes. It ends when the coach is done (a person finished), the source ends
    (a simulation, a recording), the window is closed or Ctrl-C; the recording is complete."""
    session = NavigationSession(
        tracker, navigator, recording, sinks=[coach, *sinks], clock=clock, overwrite=True
    )
    if window is None:
        return session.run(until=coach.done)

    def view(latest, stop_when):
        return window.run(latest, stop_when, coach.notes)

    return session.run(view, until=coach.done)


def write_run_video(
    module: ModuleType,
    scene: Scene,
    setup: ExerciseSetup,
    recording: Path,
    window: "NavigationWindow",
    path: Path,
    skin: "pv.PolyData | None" = None,
) -> int:
    """A video of the run from its recording: the states navigated again, frame by frame, by a
    fresh navigator and coach (the live run's, since both are pure functions of the frames),
    drawn off-screen by ``window`` at ``VIDEO_FPS`` frames per second of tracker time with the
    coach's notes (``skin``: to count a sweep's points). Returns the number of frames written."""
    from guidance.navigation_report import VIDEO_FPS, navigate_recording
    from guidance.views import write_video

    navigator, unregistered = navigator_before_registration(module, scene, setup)
    coach = make_coach(module, scene, setup, navigator, unregistered, skin=skin)
    states = navigate_recording(navigator, recording, sinks=[coach])
    return write_video(window, states, path, VIDEO_FPS, coach.notes)
