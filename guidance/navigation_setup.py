"""What ``gestes navigate`` puts together before its loop starts: the scene and what to navigate
to, the stylus tip, the registration (``image_from_reference``) and the tracker.

Everything wrong with the input is found here, before anything runs, with a message naming the
file and what it should hold: a registration that is not rigid or was made for another scene, a
target the scene does not have, a tip file of another tool, tool names the tracker does not know.

``--registration auto`` registers without a file: with the simulated tracker, the stylus touches
each fiducial and holds still (recorded to ``registration.igs.mha``), the tip is averaged over
each dwell and registered to the CT's fiducials; with the keyboard tracker the virtual reference
is put at the CT's origin (identity).
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
from devices.noise import CameraView, OpticalNoise
from devices.recorder import record
from devices.sequence_file import read_sequence
from devices.sources import open_tracker
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from guidance.exceptions import GuidanceError
from guidance.navigation_settings import AUTO, NavigateSettings
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.result_files import read_result
from guidance.simulation import (
    SIMULATED_TOOLS,
    LoopingMotion,
    Placement,
    build_motion,
    place_phantom,
    posture_of,
    simulated_tracker,
)
from registration.digitize import digitize, tips_in_reference_mm
from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points
from registration.transforms import RECORDED_ORTHONORMAL_TOL, as_rigid, make_rigid
from scenes.motions import TouchSettings, aligning_rotation
from scenes.phantoms import resolve_scene
from scenes.physical import voxel_centre_bounds
from scenes.scene import Scene
from scenes.surface import extract_surface

logger = logging.getLogger(__name__)

# The simulated student holds the stylus 2 s on each fiducial while the pedal is pressed.
AUTO_TOUCH = TouchSettings(dwell_s=2.0)
REGISTRATION_RECORDING = "registration.igs.mha"
# A registration file puts the registered points (or the reference tool) in the CT: farther than
# this outside the CT's box, it was made for another scene.
OUTSIDE_CT_MM = 150.0
# The keyboard stylus starts with its tip this far before the trajectory's entry (or the target).
KEYBOARD_START_MM = 30.0
SURFACE_REDUCTION = 0.9


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
    scene: Scene,
    surface: pv.PolyData,
    placement: Placement,
    tip: ToolTip,
    noise: OpticalNoise,
    settings: NavigateSettings,
    recording: Path,
) -> Registration:
    """The simulated student touches every fiducial and holds still while a foot pedal is
    pressed (the motion's dwells); the recorded tip, in the reference frame, is averaged over
    each dwell and the points are registered to the CT's fiducials (paired points)."""
    motion = build_motion(scene, surface, placement, AUTO_TOUCH, settings.seed, target_labels=())
    tracker = simulated_tracker(motion, noise, settings.rate_hz, settings.seed)
    record(tracker, recording, overwrite=True)
    sequence = read_sequence(recording)
    poses = sequence.tracker_from_tool
    columns = [sequence.tools.index(name) for name in ("stylus", "reference")]
    tips = tips_in_reference_mm(poses[:, columns[0]], poses[:, columns[1]], tip.tip_mm)
    times = sequence.timestamps_s
    points = [
        digitize(dwell.label, tips[(times >= dwell.start_s) & (times <= dwell.end_s)])
        for dwell in motion.dwells
    ]
    result = register_paired_points(
        scene.fiducials_mm, np.array([point.point_mm for point in points])
    )
    return Registration(
        result.fixed_from_moving,
        f"automatic: the simulated stylus touched {len(points)} fiducials",
        result.fre_rms_mm,
        recording,
        placement.image_from_reference,
    )


def _keyboard_start(plan: NavigationPlan, tip: ToolTip) -> np.ndarray:
    """The keyboard stylus's first pose (CT = tracker frame): pointing along the active
    trajectory, its tip ``KEYBOARD_START_MM`` before the entry; without a trajectory, pointing
    down (-z) from above the active target (or the CT origin)."""
    if plan.active_trajectory is not None:
        trajectory = plan.trajectories[plan.active_trajectory]
        direction, start = trajectory.direction, trajectory.entry_mm
    else:
        direction = np.array([0.0, 0.0, -1.0])
        start = plan.targets_mm[plan.active_target] if plan.active_target is not None else 0.0
    tip_mm = np.asarray(start, dtype=np.float64) - KEYBOARD_START_MM * direction
    helper = np.eye(3)[int(np.argmin(np.abs(tip.axis)))]
    rotation = aligning_rotation(tip.axis, helper, direction, np.array([0.0, 0.0, 1.0]))
    return make_rigid(rotation, tip_mm - rotation @ tip.tip_mm)


@dataclass(frozen=True, eq=False)
class _Source:
    """A tracker with its registration, the stylus and reference names in its frames, and the
    tools that can be drawn."""

    tracker: Tracker
    registration: Registration
    names: tuple[str, str]
    tools: Mapping[str, ToolDefinition]


def _simulated(
    scene: Scene,
    surface: pv.PolyData,
    plan: NavigationPlan,
    tip: ToolTip,
    given: np.ndarray | None,
    settings: NavigateSettings,
    out_dir: Path,
    clock: Clock | None,
) -> _Source:
    """The scene before the simulated camera; registered by touching its fiducials unless a
    registration is ``given``; the live stylus goes to the active target (along its path)."""
    if settings.tracker != "sim":
        raise GuidanceError(f"--tracker sim takes no argument; got {settings.tracker!r}")
    target = plan.target_labels[plan.active_target]
    if target not in scene.target_labels:
        raise GuidanceError(
            f"the simulated stylus visits the scene's targets; {target!r} is only the end of a "
            "trajectory: name one of " + ", ".join(scene.target_labels)
        )
    posture = posture_of(scene, surface)
    placement = place_phantom(np.asarray(surface.center), settings.seed, posture)
    noise = OpticalNoise(settings.marker_jitter_rms_mm, camera=CameraView())
    if given is None:
        recording = out_dir / REGISTRATION_RECORDING
        registration = register_by_touching(
            scene, surface, placement, tip, noise, settings, recording
        )
    else:
        truth = placement.image_from_reference
        registration = Registration(given, settings.registration, truth=truth)
    motion = build_motion(scene, surface, placement, TouchSettings(), settings.seed, (), [target])
    if settings.loop_s is not None:
        motion = LoopingMotion(motion, settings.loop_s)
    tracker = simulated_tracker(
        motion, noise, settings.rate_hz, settings.seed, settings.realtime, clock=clock
    )
    return _Source(tracker, registration, ("stylus", "reference"), dict(SIMULATED_TOOLS))


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
    return _Source(tracker, registration, ("stylus", "reference"), dict(SIMULATED_TOOLS))


def _device(given: np.ndarray, settings: NavigateSettings, clock: Clock | None) -> _Source:
    """A tracker opened from its spec (a recording, an NDI device, ...), whose tool names must
    hold the stylus and the reference."""
    tracker = open_tracker(settings.tracker, realtime=settings.realtime, clock=clock)
    stylus, reference = (
        match_tool(name, tracker.tools, settings.tracker)
        for name in (settings.stylus, settings.reference)
    )
    tools = {name: tool for name in tracker.tools if (tool := _builtin(name)) is not None}
    return _Source(tracker, Registration(given, settings.registration), (stylus, reference), tools)


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
    surface = extract_surface(
        scene.ct, scene.skin_threshold_hu, outer_only=True, target_reduction=SURFACE_REDUCTION
    )
    if kind == "sim":
        source = _simulated(scene, surface, plan, tip, given, settings, out_dir, clock)
    elif kind == "keyboard":
        source = _keyboard(plan, tip, given, settings, clock)
    else:
        source = _device(given, settings, clock)
    navigator = Navigator(plan, source.registration.image_from_reference, tip, *source.names)
    warnings = tuple(f"{settings.tool_tip}: {warning}" for warning in tip.warnings)
    return NavigationSetup(
        scene, surface, navigator, source.tracker, source.tools, source.registration, warnings
    )
