"""What a navigation run leaves behind besides its recording: a summary (``navigation.json``) and,
for a headless run, pictures and a video rendered off-screen afterwards.

The pictures are drawn from the recording, navigated again frame by frame with the same
navigator: the navigator is a pure function of the frame, so the states are those of the live
run, and tracking never waited for drawing. Nothing is kept in memory but the states drawn.
"""

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.exceptions import StreamEnded
from devices.replay import ReplayTracker
from guidance.navigation_setup import NavigationSetup
from guidance.navigator import NavigationState, Navigator
from guidance.session import SessionSummary, StateSink
from registration.transforms import transform_difference

SUMMARY_FILE = "navigation.json"
VIDEO_FPS = 10.0


def navigate_recording(
    navigator: Navigator, recording: Path, sinks: Sequence[StateSink] = ()
) -> Iterator[NavigationState]:
    """The navigation state of every frame of ``recording``, in order (read as fast as they
    come, not in real time), each handed to ``sinks`` as ``sink(frame, state)`` first, as the
    live session did."""
    tracker = ReplayTracker(recording, speed=None)
    with tracker:
        while True:
            try:
                frame = tracker.read()
            except StreamEnded:
                return
            state = navigator.navigate(frame)
            for sink in sinks:
                sink(frame, state)
            yield state


@dataclass(frozen=True, eq=False)
class RunHighlights:
    """Three moments of a run for pictures and the summary: the first state with the tip
    tracked, the one closest to the active target, the last one (None when never tracked), and
    the closest each structure came (mm, negative inside; NaN if never tracked)."""

    first: NavigationState | None
    closest: NavigationState | None
    last: NavigationState | None
    closest_structures_mm: np.ndarray


def highlights(states: Iterator[NavigationState], n_structures: int) -> RunHighlights:
    """Scan ``states`` once for ``RunHighlights``."""
    first = closest = last = None
    nearest = np.full(n_structures, np.inf)
    for state in states:
        last = state
        if not state.tracked:
            continue
        if first is None:
            first = state
        if closest is None or (state.active_target_distance_mm < closest.active_target_distance_mm):
            closest = state
        nearest = np.minimum(nearest, state.structure_distances_mm)
    nearest[np.isinf(nearest)] = math.nan
    return RunHighlights(first, closest, last, nearest)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _numbers(state: NavigationState | None) -> dict | None:
    """The numbers a student reads off a state (mm, degrees), JSON-ready."""
    if state is None:
        return None
    numbers = {
        "frame": state.frame_number,
        "time_s": state.timestamp,
        "tracked": state.tracked,
        "tip_mm": [_finite(value) for value in state.tip_mm],
        "target_distance_mm": _finite(state.active_target_distance_mm),
        "alerts": list(state.alerts),
    }
    if state.trajectory is not None:
        numbers["trajectory"] = {
            "angle_deg": _finite(math.degrees(state.trajectory.angle_rad)),
            "lateral_offset_mm": _finite(state.trajectory.lateral_offset_mm),
            "depth_mm": _finite(state.trajectory.depth_mm),
            "remaining_mm": _finite(state.trajectory.remaining_mm),
        }
    return numbers


def summary_document(
    setup: NavigationSetup, summary: SessionSummary, run: RunHighlights, pictures: list[Path]
) -> dict:
    """``navigation.json``: the scene and plan, the registration (and its true error when the
    set-up is simulated), the recording, how the session ended, the alerts seen, the numbers at
    the closest approach to the target and at the end, and the pictures written."""
    plan = setup.plan
    registration = setup.registration
    document = {
        "scene": setup.scene.name,
        "target": None if plan.active_target is None else plan.target_labels[plan.active_target],
        "trajectory": (
            None
            if plan.active_trajectory is None
            else plan.trajectories[plan.active_trajectory].name
        ),
        "registration": {
            "source": registration.source,
            "fre_rms_mm": _finite(registration.fre_rms_mm),
        },
        "recording": str(summary.path),
        "frames_recorded": summary.frames_recorded,
        "end": summary.end.value,
        "error": summary.error,
        "alerts_seen": dict(summary.alerts_seen),
        "tools_never_seen": list(summary.tools_never_seen),
        "closest_to_target": _numbers(run.closest),
        "last": _numbers(run.last),
        "closest_to_structures_mm": {
            structure.name: _finite(distance)
            for structure, distance in zip(plan.structures, run.closest_structures_mm, strict=True)
        },
        "pictures": [str(path) for path in pictures],
        "units": "mm, s, degrees",
    }
    if registration.truth is not None:
        error = transform_difference(registration.image_from_reference, registration.truth)
        document["registration"]["true_error"] = {
            "rotation_deg": math.degrees(error.rotation_rad),
            "translation_mm": error.translation_mm,
        }
    return document


def write_summary(document: dict, out_dir: Path) -> Path:
    """Write ``navigation.json`` in ``out_dir``."""
    path = out_dir / SUMMARY_FILE
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def render_run(
    setup: NavigationSetup,
    recording: Path,
    out_dir: Path,
    video: Path | None,
    fps: float = VIDEO_FPS,
) -> tuple[RunHighlights, list[Path]]:
    """Off-screen pictures of the run's first tracked moment, its closest approach to the target
    and its end (``first.png``, ``closest.png``, ``last.png``), and the ``video`` (``.mp4`` or
    ``.gif``) at ``fps`` pictures per second of tracker time."""
    from guidance.views import NavigationWindow, write_video

    run = highlights(navigate_recording(setup.navigator, recording), len(setup.plan.structures))
    pictures = []
    with NavigationWindow(setup.scene, setup.surface, setup.tools, setup.plan) as window:
        for name, state in (("first", run.first), ("closest", run.closest), ("last", run.last)):
            if state is not None:
                window.show(state)
                pictures.append(window.save(out_dir / f"{name}.png"))
        if video is not None:
            write_video(window, navigate_recording(setup.navigator, recording), video, fps)
            pictures.append(video)
    return run, pictures
