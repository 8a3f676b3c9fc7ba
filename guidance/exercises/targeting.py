"""The targeting exercise: register, then reach a target along a planned trajectory without
touching what must be avoided.

Steps: the fiducials are touched and registered as in the fiducials exercise (digitise,
register, estimate); then the student brings the tip to the trajectory's entry, aligns the
stylus with it, advances to the target and holds still there (acquire); every frame from the
end of the last fiducial to the end of that hold is navigated (navigate: ``guidance.navigator``
gives the tip, the angle and lateral offset to the trajectory, the depth along it and the
distance to each structure); the hold is the end position.

Score: the navigated tip's distance to the target, the angle and lateral offset to the planned
line and the depth error along it at the end; the breaches (structures the tip came inside, or
within the plan's margin of); the closest approach to a structure; the path length and the time
from leaving the last fiducial to settling at the target; in simulation, the true tip's distance
to the target (which the student cannot see: navigation shows the navigated one).
"""

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from devices.sequence_file import TrackingSequence
from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials
from guidance.exercises.records import listed, rounded
from guidance.exercises.setup import ExerciseSetup
from guidance.navigator import NavigationPlan, NavigationState, Navigator, ToolTip
from registration.digitize import StillnessSettings
from registration.transforms import apply_transform, invert_rigid
from registration.tre import predict_tre_rms
from scenes.physical import physical_to_index
from scenes.scene import Scene, Trajectory
from scenes.student import HandSettings, StudentMotion

if TYPE_CHECKING:
    from guidance.exercises.live import Task
    from guidance.exercises.simulate import Stage

NAME = "targeting"
HOLD = "target"


@dataclass(frozen=True)
class TargetingSettings:
    """Which trajectory (None: the scene's first) and when the tip counts as still."""

    trajectory: str | None = None
    stillness: StillnessSettings = field(default_factory=StillnessSettings)


def trajectory_of(scene: Scene, settings: TargetingSettings = TargetingSettings()) -> Trajectory:
    """The trajectory to follow; GuidanceError, before anything starts, when the scene has none,
    the name is unknown, or its entry or target lies outside the CT."""
    if not scene.trajectories:
        raise GuidanceError(
            f"scene {scene.name!r} plans no trajectory: add one ([[trajectories]] in scene.toml)"
        )
    names = [t.name for t in scene.trajectories]
    wanted = settings.trajectory or names[0]
    matches = [t for t in scene.trajectories if t.name.lower() == wanted.lower()]
    if not matches:
        raise GuidanceError(f"no trajectory {wanted!r} in scene {scene.name!r}; it has {names}")
    trajectory = matches[0]
    size = np.array(scene.ct.GetSize()) - 1.0
    for what, point in (("entry", trajectory.entry_mm), ("target", trajectory.target_mm)):
        index = physical_to_index(scene.ct, point[None])[0]
        if np.any(index < -0.5) or np.any(index > size + 0.5):
            raise GuidanceError(
                f"trajectory {trajectory.name!r}: its {what} {np.round(point, 1).tolist()} mm is "
                f"outside the CT (voxel {np.round(index, 1).tolist()} of a "
                f"{scene.ct.GetSize()} image)"
            )
    return trajectory


def check(scene: Scene) -> None:
    """Before anything starts: fiducials to register and a trajectory inside the CT."""
    fiducials.check(scene)
    trajectory_of(scene)


@dataclass(frozen=True, eq=False)
class Approach:
    """The navigate step's record: the states from leaving the last fiducial (``first``) to the
    end of the hold at the target (``last``), the hold's frames, and the structures' names."""

    first: int
    hold_first: int
    last: int
    states: tuple[NavigationState, ...]
    structure_names: tuple[str, ...]

    def hold(self) -> list[NavigationState]:
        """The tracked states of the final hold."""
        start = self.hold_first - self.first
        return [state for state in self.states[start:] if state.tracked]


@dataclass(frozen=True, eq=False)
class TargetingResult:
    """Every step's record of one targeting exercise."""

    registration: fiducials.FiducialsResult
    trajectory: Trajectory
    approach: Approach
    true_tip_mm: np.ndarray | None
    warnings: tuple[str, ...]


def navigator_for(
    scene: Scene, trajectory: Trajectory, image_from_reference: np.ndarray, setup: ExerciseSetup
) -> Navigator:
    """The navigator on ``trajectory`` with the registration and the tip of this run."""
    from devices.tools import BUILTIN_TOOLS

    tip = ToolTip.pointing(
        setup.tool_tip_mm, BUILTIN_TOOLS["stylus"].centroid_mm, setup.tool_tip_source
    )
    plan = NavigationPlan.from_scene(scene).select(trajectory.name)
    return Navigator(plan, image_from_reference, tip, setup.stylus, setup.reference)


def evaluate(
    sequence: TrackingSequence,
    scene: Scene,
    setup: ExerciseSetup,
    settings: TargetingSettings = TargetingSettings(),
) -> TargetingResult:
    """Score a recording of the targeting exercise (live, replayed or graded: same function)."""
    trajectory = trajectory_of(scene, settings)
    order = fiducials.capture_order(scene)
    registration = _registration(sequence, scene, setup, settings)
    captured = registration.digitisation.by_label()
    if HOLD not in captured:
        raise GuidanceError(
            "the tip never held still at the end of the approach: advance to the target and hold "
            f"the stylus still there for {settings.stillness.still_s:g} s"
        )
    last_fiducial = captured[order.labels[-1]].period if order.labels[-1] in captured else None
    first = 0 if last_fiducial is None else last_fiducial.last + 1
    hold = captured[HOLD].period
    navigator = navigator_for(
        scene, trajectory, registration.registration.image_from_reference, setup
    )
    states = tuple(navigator.navigate(sequence.frame(k)) for k in range(first, hold.last + 1))
    approach = Approach(
        first, hold.first, hold.last, states, tuple(s.name for s in navigator.plan.structures)
    )
    true_tip = None
    if setup.truth is not None:
        events = [e for e in setup.truth.events if e.phase == "insert"]
        true_tip = events[-1].tip_image_mm if events else None
    warnings = [w for w in registration.warnings]
    return TargetingResult(registration, trajectory, approach, true_tip, tuple(warnings))


def _path_length_mm(states: list[NavigationState]) -> float:
    tips = np.array([s.tip_mm for s in states if s.tracked])
    return float(np.sum(np.linalg.norm(np.diff(tips, axis=0), axis=1))) if len(tips) > 1 else 0.0


def score(result: TargetingResult) -> dict[str, float | int | None]:
    """The exercise's score (report.json ``score``; units in the names)."""
    approach, trajectory = result.approach, result.trajectory
    hold = approach.hold()
    tip = np.mean([s.tip_mm for s in hold], axis=0)
    lateral = np.mean([s.trajectory.lateral_offset_mm for s in hold])
    angle = np.mean([s.trajectory.angle_rad for s in hold])
    depth = np.mean([s.trajectory.depth_mm for s in hold]) - trajectory.length_mm
    tracked = [s for s in approach.states if s.tracked]
    distances = np.array([s.structure_distances_mm for s in tracked]).reshape(len(tracked), -1)
    breached = {name for s in tracked for name in s.breaches}
    moving = [s for s in approach.states[: approach.hold_first - approach.first]]
    times = [s.timestamp for s in moving]
    true_distance = None
    if result.true_tip_mm is not None:
        true_distance = float(np.linalg.norm(result.true_tip_mm - trajectory.target_mm))
    return {
        "tip_to_target_mm": rounded(float(np.linalg.norm(tip - trajectory.target_mm))),
        "angle_error_deg": rounded(math.degrees(angle), 3),
        "lateral_offset_mm": rounded(lateral),
        "depth_error_mm": rounded(depth),
        "breaches": len(breached),
        "closest_structure_mm": rounded(float(distances.min())) if distances.size else None,
        "path_length_mm": rounded(_path_length_mm(moving), 2),
        "time_s": rounded(times[-1] - times[0], 3) if len(times) > 1 else 0.0,
        "true_tip_to_target_mm": rounded(true_distance),
        "fre_rms_mm": rounded(result.registration.registration.fre_mm),
    }


def report_parts(result: TargetingResult, setup: ExerciseSetup) -> dict[str, object]:
    """The registration's parts (fiducials, targets, captures, TRE map on this target) and the
    approach: trajectory, structures' closest approach, breaches."""
    parts = fiducials.report_parts(result.registration, setup)
    approach = result.approach
    tracked = [s for s in approach.states if s.tracked]
    structures = []
    for k, name in enumerate(approach.structure_names):
        closest = min((s.structure_distances_mm[k] for s in tracked), default=math.nan)
        structures.append(
            {
                "name": name,
                "closest_mm": rounded(float(closest)),
                "breached": any(name in s.breaches for s in tracked),
            }
        )
    parts["trajectory"] = {
        "name": result.trajectory.name,
        "entry_mm": listed(result.trajectory.entry_mm),
        "target_mm": listed(result.trajectory.target_mm),
        "frames": [approach.first, approach.last],
        "hold_frames": [approach.hold_first, approach.last],
        "true_tip_mm": None if result.true_tip_mm is None else listed(result.true_tip_mm),
    }
    parts["structures"] = structures
    fle = result.registration.estimate.fle_from_fre_mm
    target = result.trajectory.target_mm
    labels = [t["label"] for t in parts["targets"]]
    known = [
        k for k, t in enumerate(parts["targets"]) if np.allclose(t["ct_mm"], target, atol=1e-3)
    ]
    if known:
        label = labels[known[0]]
    else:
        label = result.trajectory.name
        registration = result.registration.registration
        parts["targets"].append(
            {
                "label": label,
                "ct_mm": listed(target),
                "predicted_tre_rms_mm": rounded(
                    float(predict_tre_rms(registration.ct_mm, fle, target[None])[0])
                ),
                "registration_error_mm": rounded(
                    None
                    if setup.truth is None
                    else float(
                        fiducials.true_tre_mm(
                            registration.image_from_reference, setup, target[None]
                        )[0]
                    )
                ),
            }
        )
    parts["tre_map"] = {"target": label, "fle_rms_mm": rounded(fle)}
    return parts


class Steering(NamedTuple):
    """What the navigator shows a student: this run's registration (4x4, reference -> CT) and
    the tip it uses (stylus frame, mm)."""

    image_from_reference: np.ndarray
    tip_mm: np.ndarray


def steering(sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup) -> Steering:
    """The navigation a simulated student follows to the target: the registration of the
    fiducials touched in ``sequence`` and the run's tip."""
    registration = _registration(sequence, scene, setup, TargetingSettings())
    return Steering(registration.registration.image_from_reference, setup.tool_tip_mm)


def _registration(
    sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup, settings: TargetingSettings
) -> fiducials.FiducialsResult:
    """The fiducials part of a targeting run: its touches, then the hold at the target."""
    return fiducials.evaluate(
        sequence,
        scene,
        setup,
        fiducials.FiducialsSettings(stillness=settings.stillness),
        expected=(*fiducials.capture_order(scene).labels, HOLD),
    )


def script(
    stage: "Stage", hand: HandSettings, seed: int, steered: Steering | None = None
) -> StudentMotion:
    """The simulated student's part: touch the fiducials as in the fiducials exercise, then
    insert along the scene's first trajectory and hold at the end. With ``steered`` the
    student goes where the navigation shows the entry and the target (so the true tip carries
    the registration's and the tip's errors, as in a real run); without, along the true
    trajectory (a perfect navigation)."""
    scene = stage.scene
    trajectory = trajectory_of(scene)
    touches = stage.fiducial_touches(fiducials.capture_order(scene).labels)
    student = stage.student_at(hand, seed, touches[0].point_mm, touches[0].approach)
    for touch in touches:
        student.touch(touch)
    ends = np.array([trajectory.entry_mm, trajectory.target_mm])
    if steered is None:
        entry, target = stage.to_tracker(ends)
        student.insert(trajectory.name, entry, target)
    else:
        tracker_from_image = stage.tracker_from_reference @ invert_rigid(
            steered.image_from_reference
        )
        entry, target = apply_transform(tracker_from_image, ends)
        student.insert(trajectory.name, entry, target, steered.tip_mm)
    return student.motion(stage.tracker_from_reference)


def snapshot_states(
    result: TargetingResult, sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup
) -> tuple[NavigationPlan, list[tuple[NavigationState, str]]]:
    """The navigation at the middle of the hold at the target, for the report's picture."""
    hold = result.approach.hold()
    if not hold:
        return NavigationPlan.from_scene(scene), []
    state = hold[len(hold) // 2]
    distance = float(np.linalg.norm(state.tip_mm - result.trajectory.target_mm))
    caption = (
        f"the stylus at the end of the approach along {result.trajectory.name}: the navigated "
        f"tip is {distance:.1f} mm from the target"
    )
    return plan(scene), [(state, caption)]


def tasks(scene: Scene) -> tuple["Task", ...]:
    """The fiducials (registered as in the fiducials exercise), then the approach, dwell by
    dwell."""
    from guidance.exercises.live import Task

    trajectory = trajectory_of(scene)
    return (
        *fiducials.tasks(scene),
        Task(
            HOLD,
            f"bring the tip along trajectory {trajectory.name} to its target and hold it still "
            "there",
        ),
    )


def plan(scene: Scene) -> NavigationPlan:
    """What the navigation shows: the scene with the exercise's trajectory active."""
    return NavigationPlan.from_scene(scene).select(trajectory_of(scene).name)
