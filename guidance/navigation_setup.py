"""What ``gestes navigate`` puts together before its loop starts: the scene and what to navigate
to, the stylus tip, the registration (``image_from_reference``) and the tracker.

Everything wrong with the input is found here, before anything runs, with a message naming the
file and what it should hold: a registration that is not rigid or was made for another scene, a
target the scene does not have, a tip file of another tool, tool names the tracker does not know.

``--registration auto`` registers without a file: with the simulated tracker, the simulated
student does the fiducials exercise (``guidance.exercises.fiducials``: the stylus calibrated by
pivoting, each fiducial touched and held still, recorded to ``registration.igs.mha``, the dwells
digitised and registered to the beads found in the CT, with the errors of a real system); with
the keyboard tracker the virtual reference is put at the CT's origin (identity).
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv

from devices.clock import Clock
from devices.frame import Tracker, match_tool
from devices.keyboard import KeyboardTracker
from devices.recorder import record
from devices.sequence_file import read_sequence
from devices.sources import open_tracker
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials, simulate
from guidance.exercises.errors import ErrorSources
from guidance.exercises.runner import simulated_setup
from guidance.navigation_settings import AUTO, NavigateSettings
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.result_files import read_result
from guidance.simulation import SIMULATED_TOOLS, LoopingMotion
from registration.exceptions import RegistrationError
from registration.transforms import RECORDED_ORTHONORMAL_TOL, as_rigid, make_rigid
from scenes.motions import aligning_rotation
from scenes.phantoms import resolve_scene
from scenes.physical import voxel_centre_bounds
from scenes.scene import Scene
from scenes.student import Skill

logger = logging.getLogger(__name__)

REGISTRATION_RECORDING = "registration.igs.mha"
# A registration file puts the registered points (or the reference tool) in the CT: farther than
# this outside the CT's box, it was made for another scene.
OUTSIDE_CT_MM = 150.0
# The simulated student of navigate (registration and live stylus): a practised hand, so that
# the run shows navigation working; the exercises score a novice by default.
SKILL = Skill.EXPERT
# The keyboard stylus starts with its tip this far before the trajectory's entry (or the target).
KEYBOARD_START_MM = 30.0


@dataclass(frozen=True, eq=False)
class Registration:
    """``image_from_reference`` (4x4, mm) and where it came from: ``source`` (a file, or how it
    was made), the FRE (mm RMS; NaN when unknown), the recording of an automatic registration,
    and the truth when the set-up is simulated (else None)."""

    image_from_reference: np.ndarray
    source: str
    fre_rms_mm: float = math.nan
    recording: Path | None = None
    truth: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class NavigationSetup:
    """Everything the loop needs: the scene, its skin ``surface`` (for the views), the
    ``navigator`` (with its plan and tip), the ``tracker`` (not started), the definitions of the
    tools that can be drawn, the ``registration``, and ``warnings`` for the user."""

    scene: Scene
    surface: pv.PolyData
    navigator: Navigator
    tracker: Tracker
    tools: Mapping[str, ToolDefinition]
    registration: Registration
    warnings: tuple[str, ...]

    @property
    def plan(self) -> NavigationPlan:
        return self.navigator.plan


def read_registration(path: Path) -> tuple[np.ndarray, dict]:
    """``fixed_from_moving`` (image_from_reference) of a ``gestes register`` result, checked
    rigid, and the whole JSON document."""
    document = read_result(
        path, "fixed_from_moving", "a registration", "'gestes register points|surface'"
    )
    try:
        matrix = np.array(document["fixed_from_moving"], dtype=np.float64)
        return as_rigid(matrix, "fixed_from_moving", tol=RECORDED_ORTHONORMAL_TOL), document
    except (TypeError, ValueError, RegistrationError) as error:
        raise GuidanceError(f"{path}: the registration is not a rigid transform: {error}") from None


def check_registration_fits(path: Path, document: dict, scene: Scene) -> None:
    """Refuse a registration made for another scene: paired points whose fiducial labels the
    scene does not have, or registered points (or the reference tool) far outside its CT."""
    residuals = document.get("residuals")
    if isinstance(residuals, dict) and residuals:
        unknown = sorted(set(residuals) - set(scene.fiducial_labels))
        if unknown:
            raise GuidanceError(
                f"{path} is for another scene: it registered fiducials {unknown} that scene "
                f"{scene.name} does not have (its fiducials are {list(scene.fiducial_labels)})"
            )
    low, high = voxel_centre_bounds(scene.ct)
    image_from_reference = np.array(document["fixed_from_moving"], dtype=np.float64)
    points = {"the reference tool": image_from_reference[:3, 3]}
    if "registered_centroid" in document:
        points["the registered points"] = np.asarray(document["registered_centroid"], float)
    for what, point in points.items():
        outside = float(np.linalg.norm(np.maximum(low - point, 0) + np.maximum(point - high, 0)))
        if outside > OUTSIDE_CT_MM:
            raise GuidanceError(
                f"{path} is for another scene: it puts {what} {outside:.0f} mm outside the CT "
                f"of scene {scene.name}"
            )


def tool_tip(settings: NavigateSettings, definition: ToolDefinition | None) -> ToolTip:
    """The stylus tip: the ``--tool-tip`` pivot result, else the tool's definition."""
    if settings.tool_tip is not None:
        tip = ToolTip.from_pivot_file(settings.tool_tip, settings.stylus, definition)
        return tip
    if definition is None:
        raise GuidanceError(
            f"gestes has no definition of the tool {settings.stylus!r}, so it does not know where "
            "its tip is: give --tool-tip TIP.json (the output of 'gestes pivot')"
        )
    return ToolTip.from_tool(definition)


def _builtin(name: str) -> ToolDefinition | None:
    """gestes' own definition of the tool ``name`` (case-insensitive), if it has one."""
    for builtin_name, tool in BUILTIN_TOOLS.items():
        if builtin_name.lower() == name.lower():
            return tool
    return None


def register_by_touching(
    stage: simulate.Stage, settings: NavigateSettings, tip: ToolTip | None, recording: Path
) -> tuple[Registration, ToolTip, tuple[str, ...]]:
    """The fiducials exercise, done by the simulated student with the errors of a real system
    (``guidance.exercises``): the stylus calibrated by pivoting (unless ``tip`` is given), each
    fiducial touched and held still, recorded to ``recording``, the dwells digitised and
    registered to the fiducials where the CT shows them. Returns the registration, the tip the
    student calibrated (the navigator must use the tip the registration was made with) and the
    exercise's warnings."""

    given = None if tip is None else (tip.tip_mm, tip.source)
    setup, tracker = simulated_setup(
        fiducials.NAME,
        stage.scene,
        stage,
        settings.seed,
        SKILL,
        ErrorSources(),
        tool_tip=given,
    )
    record(tracker, recording, overwrite=True)
    result = fiducials.evaluate(read_sequence(recording), stage.scene, setup)
    registration = Registration(
        result.registration.image_from_reference,
        f"automatic: the simulated student touched {len(result.registration.labels)} "
        "fiducials (the fiducials exercise)",
        result.registration.fre_mm,
        recording,
        stage.placement.image_from_reference,
    )
    calibrated = ToolTip.pointing(
        setup.tool_tip_mm, SIMULATED_TOOLS["stylus"].centroid_mm, setup.tool_tip_source
    )
    return registration, calibrated, result.warnings


def pointing_pose(tip: ToolTip, point_mm: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A stylus pose (4x4, mm) pointing along the unit ``direction`` with its tip
    ``KEYBOARD_START_MM`` before ``point_mm``: where the keyboard stylus starts (CT = tracker
    frame)."""
    direction = np.asarray(direction, dtype=np.float64)
    tip_mm = np.asarray(point_mm, dtype=np.float64) - KEYBOARD_START_MM * direction
    helper = np.eye(3)[int(np.argmin(np.abs(tip.axis)))]
    rotation = aligning_rotation(tip.axis, helper, direction, np.array([0.0, 0.0, 1.0]))
    return make_rigid(rotation, tip_mm - rotation @ tip.tip_mm)


def _keyboard_start(plan: NavigationPlan, tip: ToolTip) -> np.ndarray:
    """The keyboard stylus's first pose: pointing along the active trajectory, before its
    entry; without a trajectory, pointing down (-z) from above the active target (or the CT
    origin)."""
    if plan.active_trajectory is not None:
        trajectory = plan.trajectories[plan.active_trajectory]
        return pointing_pose(tip, trajectory.entry_mm, trajectory.direction)
    start = plan.targets_mm[plan.active_target] if plan.active_target is not None else np.zeros(3)
    return pointing_pose(tip, start, np.array([0.0, 0.0, -1.0]))


@dataclass(frozen=True, eq=False)
class _Source:
    """A tracker with its registration, the stylus tip the navigator uses, the stylus and
    reference names in its frames, the tools that can be drawn, and warnings for the user."""

    tracker: Tracker
    registration: Registration
    tip: ToolTip
    names: tuple[str, str]
    tools: Mapping[str, ToolDefinition]
    warnings: tuple[str, ...] = ()


def _simulated(
    stage: simulate.Stage,
    plan: NavigationPlan,
    tip: ToolTip,
    given: np.ndarray | None,
    settings: NavigateSettings,
    out_dir: Path,
    clock: Clock | None,
) -> _Source:
    """The scene before the simulated camera; registered by the fiducials exercise unless a
    registration is ``given``; the live stylus goes to the active target (along its path), in
    the hand of the exercises' student, filmed with their errors."""
    if settings.tracker != "sim":
        raise GuidanceError(f"--tracker sim takes no argument; got {settings.tracker!r}")
    warnings: tuple[str, ...] = ()
    if given is None:
        recording = out_dir / REGISTRATION_RECORDING
        given_tip = tip if settings.tool_tip is not None else None
        registration, tip, warnings = register_by_touching(stage, settings, given_tip, recording)
    else:
        truth = stage.placement.image_from_reference
        registration = Registration(given, settings.registration, truth=truth)
    errors = ErrorSources()
    index = plan.active_target
    trajectory = (
        None if plan.active_trajectory is None else plan.trajectories[plan.active_trajectory]
    )
    entry = None
    if trajectory is not None and np.allclose(trajectory.target_mm, plan.targets_mm[index]):
        entry = trajectory.entry_mm
    motion = simulate.target_visit(
        stage,
        errors.hand(SKILL),
        simulate.stream_seed(settings.seed, simulate.Stream.STUDENT),
        plan.target_labels[index],
        plan.targets_mm[index],
        entry,
    )
    if settings.loop_s is not None:
        motion = LoopingMotion(motion, settings.loop_s)
    tracker = stage.tracker(
        motion,
        errors,
        simulate.stream_seed(settings.seed, simulate.Stream.TRACKER),
        settings.rate_hz,
        settings.realtime,
        clock,
    )
    names = ("stylus", "reference")
    return _Source(tracker, registration, tip, names, dict(SIMULATED_TOOLS), warnings)


def _keyboard(
    plan: NavigationPlan,
    tip: ToolTip,
    given: np.ndarray | None,
    settings: NavigateSettings,
    clock: Clock | None,
) -> _Source:
    """The keyboard stylus, starting before the active trajectory; registered with the
    identity (tracker = reference = CT frame) unless a registration is ``given``."""
    if given is None:
        registration = Registration(np.eye(4), "keyboard: the virtual reference at the CT origin")
    else:
        registration = Registration(given, settings.registration)
    tracker = KeyboardTracker(_keyboard_start(plan, tip), rate_hz=settings.rate_hz, clock=clock)
    return _Source(tracker, registration, tip, ("stylus", "reference"), dict(SIMULATED_TOOLS))


def _device(
    given: np.ndarray, tip: ToolTip, settings: NavigateSettings, clock: Clock | None
) -> _Source:
    """A tracker opened from its spec (a recording, an NDI device, ...), whose tool names must
    hold the stylus and the reference."""
    tracker = open_tracker(settings.tracker, realtime=settings.realtime, clock=clock)
    stylus, reference = (
        match_tool(name, tracker.tools, settings.tracker)
        for name in (settings.stylus, settings.reference)
    )
    tools = {name: tool for name in tracker.tools if (tool := _builtin(name)) is not None}
    registration = Registration(given, settings.registration)
    return _Source(tracker, registration, tip, (stylus, reference), tools)


def prepare_navigation(
    settings: NavigateSettings, out_dir: Path, clock: Clock | None = None
) -> NavigationSetup:
    """Check the input and build the scene, plan, tip, registration and tracker (not started);
    ``out_dir`` receives the automatic registration's recording. The registration file is read
    before the scene is loaded, so that a broken one fails at once."""
    kind = settings.tracker_kind
    given, document = None, None
    if settings.registration != AUTO:
        given, document = read_registration(Path(settings.registration))
    scene = resolve_scene(settings.scene, seed=settings.seed)
    if document is not None:
        check_registration_fits(Path(settings.registration), document, scene)
    plan = NavigationPlan.from_scene(scene, settings.target)
    simulated = kind in ("sim", "keyboard")
    if plan.active_target is None and simulated:
        raise GuidanceError(f"scene {scene.name} has no target to navigate to")
    tip = tool_tip(settings, SIMULATED_TOOLS["stylus"] if simulated else _builtin(settings.stylus))
    if kind == "sim":
        stage = simulate.stage(scene, settings.seed)
        surface = stage.surface
        source = _simulated(stage, plan, tip, given, settings, out_dir, clock)
    else:
        surface = simulate.skin_surface(scene)
        if kind == "keyboard":
            source = _keyboard(plan, tip, given, settings, clock)
        else:
            source = _device(given, tip, settings, clock)
    navigator = Navigator(plan, source.registration.image_from_reference, source.tip, *source.names)
    warnings = (
        *(f"{settings.tool_tip}: {warning}" for warning in tip.warnings),
        *source.warnings,
    )
    return NavigationSetup(
        scene, surface, navigator, source.tracker, source.tools, source.registration, warnings
    )
