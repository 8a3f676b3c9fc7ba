"""A simulated exercise's set-up: a phantom in front of a simulated camera, a student holding the
stylus, the error sources of a real system, and the ground truth that scoring compares with.

Every random draw comes from the run's seed, split into independent streams by purpose
(``streams``): the phantom's placement, the student, the camera's noise, the pivot calibration
done before the exercise, the CT localisation, the skin's shift. Changing one (a student of
another skill) leaves the others' draws unchanged.
"""

import enum
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from devices.clock import Clock
from devices.noise import DistortionField
from devices.simulated import Motion, SimulatedTracker
from devices.tools import ToolDefinition
from guidance.exercises.errors import ErrorSources
from guidance.exercises.setup import ExerciseSetup
from guidance.simulation import (
    SIMULATED_TOOLS,
    Placement,
    approach_directions,
    place_phantom,
    posture_of,
    simulated_tracker,
    stylus_geometry,
)
from registration.transforms import apply_transform, invert_rigid
from scenes.exceptions import FiducialDetectionError
from scenes.fiducials import detect_beads
from scenes.motions import Touch
from scenes.scene import Scene
from scenes.student import HandSettings, StudentMotion, StudentScript
from scenes.surface import extract_surface

logger = logging.getLogger(__name__)

RATE_HZ = 60.0
# A detected bead farther than this from the scene's fiducial is not that fiducial.
BEAD_MATCH_MM = 3.0
SURFACE_REDUCTION = 0.9


class Stream(enum.IntEnum):
    """The independent random streams of a simulated run."""

    PLACEMENT = 0
    STUDENT = 1
    TRACKER = 2
    PIVOT_STUDENT = 3
    PIVOT_TRACKER = 4
    CT = 5
    SKIN = 6


def stream_seed(seed: int, stream: Stream) -> int:
    """A seed for one purpose, derived from the run's seed (numpy's SeedSequence spawning)."""
    child = np.random.SeedSequence(seed).spawn(len(Stream))[stream]
    return int(child.generate_state(1, dtype=np.uint32)[0])


def skin_shift(errors: ErrorSources, seed: int) -> DistortionField | None:
    """The run's skin shift from the session to the scan (``ErrorSources.skin_shift``, a field
    of CT position, mm; None when off): the same for the skin markers and the swept skin."""
    return errors.skin_shift_field(_skin_stream(seed))


def _skin_stream(seed: int) -> np.random.Generator:
    """The skin shift's own random stream: every draw of the run's skin shift starts from it."""
    return np.random.default_rng(stream_seed(seed, Stream.SKIN))


@dataclass(frozen=True, eq=False)
class Stage:
    """A scene placed in front of the simulated camera: the ground-truth ``placement``, the
    scene's skin ``surface`` (CT frame), the phantom's centre in the tracker frame and the tools
    (``stylus``, ``reference``: their true definitions). ``skin_shift``: how the skin slid
    between the session and the scan (``skin_shift``; None: it did not)."""

    scene: Scene
    placement: Placement
    surface: pv.PolyData
    centre_tracker_mm: np.ndarray
    tools: Mapping[str, ToolDefinition]
    skin_shift: DistortionField | None = None

    def session_skin(self, points_mm: np.ndarray) -> np.ndarray:
        """Where skin points the CT shows (N, 3, CT frame, mm) lie in the session: back by the
        skin's shift, as the skin markers are (``localise_fiducials``)."""
        if self.skin_shift is None:
            return np.asarray(points_mm, dtype=np.float64)
        return points_mm - self.skin_shift.displacement_mm(points_mm)

    @property
    def tracker_from_reference(self) -> np.ndarray:
        return self.placement.tracker_from_reference

    def to_tracker(self, points_mm: np.ndarray) -> np.ndarray:
        """CT points (N, 3) in the tracker frame (mm)."""
        return apply_transform(self.placement.tracker_from_image, points_mm)

    def directions_to_tracker(self, directions: np.ndarray) -> np.ndarray:
        return np.asarray(directions) @ self.placement.tracker_from_image[:3, :3].T

    def to_image(self, points_mm: np.ndarray) -> np.ndarray:
        """Tracker points (N, 3) in the CT frame (mm)."""
        return apply_transform(invert_rigid(self.placement.tracker_from_image), points_mm)

    def student_at(
        self, hand: HandSettings, seed: int, start_mm: np.ndarray, up: np.ndarray
    ) -> StudentScript:
        """A student with ``hand`` holding the stylus above ``start_mm`` along ``up`` (tracker
        frame), travelling around the phantom's centre."""
        return StudentScript(
            hand,
            stylus_geometry(self.tools["stylus"]),
            self.centre_tracker_mm,
            start_mm,
            up,
            seed,
        )

    def fiducial_touches(self, labels: tuple[str, ...]) -> list[Touch]:
        """A touch per fiducial (tracker frame), arriving along the skin's normal there."""
        scene = self.scene
        index = {label: k for k, label in enumerate(scene.fiducial_labels)}
        points = scene.fiducials_mm[[index[label] for label in labels]]
        approaches = approach_directions(self.surface, points, np.empty((0, 3)), 40.0)
        return [
            Touch(label, point, direction)
            for label, point, direction in zip(
                labels,
                self.to_tracker(points),
                self.directions_to_tracker(approaches.fiducial_dirs),
                strict=True,
            )
        ]

    def tracker(
        self,
        motion: Motion,
        errors: ErrorSources,
        seed: int,
        rate_hz: float = RATE_HZ,
        realtime: bool = False,
        clock: Clock | None = None,
    ) -> SimulatedTracker:
        """The simulated camera filming ``motion`` with the tracker errors that are on, at
        ``rate_hz``; paced in real time on ``clock`` when ``realtime``."""
        return simulated_tracker(
            motion, errors.optical_noise(), rate_hz, seed, realtime, self.tools, clock
        )


# Each scene's skin, extracted once (see ``skin_surface``).
_SKINS: "weakref.WeakKeyDictionary[Scene, pv.PolyData]" = weakref.WeakKeyDictionary()


def skin_surface(scene: Scene) -> pv.PolyData:
    """The scene's outer skin (CT frame, decimated): what the stylus approaches and sweeps, what
    the surface exercise registers to and what the navigation pictures draw. Extracted once per
    scene object (half a second for the skull; a run needs it up to three times), the same
    mesh every time; do not modify it."""
    skin = _SKINS.get(scene)
    if skin is None:
        skin = extract_surface(
            scene.ct, scene.skin_threshold_hu, outer_only=True, target_reduction=SURFACE_REDUCTION
        )
        _SKINS[scene] = skin
    return skin


def stage(scene: Scene, seed: int, surface: pv.PolyData | None = None) -> Stage:
    """Place ``scene`` in front of the camera as it lies in the clinic (``guidance.simulation``),
    with gestes' built-in stylus and reference. ``surface``: the scene's skin when already
    extracted (``skin_surface``; a study places the same scene many times)."""
    surface = skin_surface(scene) if surface is None else surface
    centre = np.asarray(surface.center)
    posture = posture_of(scene, surface)
    placement = place_phantom(centre, stream_seed(seed, Stream.PLACEMENT), posture)
    return Stage(
        scene,
        placement,
        surface,
        apply_transform(placement.tracker_from_image, centre),
        SIMULATED_TOOLS,
    )


def target_visit(
    stage_: Stage,
    hand: HandSettings,
    seed: int,
    label: str,
    target_mm: np.ndarray,
    entry_mm: np.ndarray | None = None,
) -> StudentMotion:
    """A student who brings the tip to the target at ``target_mm`` along the planned path from
    ``entry_mm`` (CT, mm; None: straight in from the nearest skin), holds it there and pulls
    back: the live stylus of ``gestes navigate --tracker sim``."""
    target_mm = np.asarray(target_mm, dtype=np.float64)
    if entry_mm is None:
        way_out = approach_directions(stage_.surface, np.empty((0, 3)), target_mm[None], 0.0)
        entry_mm = target_mm + way_out.target_hover_mm[0] * way_out.target_dirs[0]
    entry, target = stage_.to_tracker(np.array([entry_mm, target_mm]))
    up = (entry - target) / np.linalg.norm(entry - target)
    student = stage_.student_at(hand, seed, entry, up)
    student.insert(label, entry, target)
    return student.motion(stage_.tracker_from_reference)


def localise_fiducials(
    scene: Scene, errors: ErrorSources | None, seed: int
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Where the scene's fiducials are found in its CT (label -> LPS mm) and warnings.

    The beads ``scenes.fiducials`` detects, each matched to the scene's fiducial within 3 mm; a
    fiducial with no bead there keeps the scene's position, with a warning. With simulated
    errors (``errors``), the clinical-scan localisation error is added, and the skin markers
    are where the scan saw them before the skin slid (``ErrorSources.skin_shift_mm``).
    """
    warnings = []
    located = {
        label: np.array(p)
        for label, p in zip(scene.fiducial_labels, scene.fiducials_mm, strict=True)
    }
    try:
        centres = detect_beads(scene.ct).centres_mm
    except FiducialDetectionError as error:
        centres = np.empty((0, 3))
        warnings.append(
            f"no bead was found in the CT ({error}); the scene's fiducial positions are used"
        )
    for label, point in list(located.items()):
        if len(centres):
            distances = np.linalg.norm(centres - point, axis=1)
            nearest = int(np.argmin(distances))
            if distances[nearest] <= BEAD_MATCH_MM:
                located[label] = centres[nearest].copy()
                continue
        if len(centres):
            warnings.append(
                f"no bead in the CT within {BEAD_MATCH_MM} mm of fiducial {label}: its marked "
                "position is used"
            )
    if errors is not None:
        rng = np.random.default_rng(stream_seed(seed, Stream.CT))
        direction = np.array(scene.ct.GetDirection()).reshape(3, 3)
        offsets = errors.ct_error_mm(direction, len(located), rng)
        on_skin = np.isin(list(located), scene.skin_fiducials)
        offsets = offsets + errors.skin_shift_mm(scene.fiducials_mm, on_skin, _skin_stream(seed))
        located = {label: point + offsets[k] for k, (label, point) in enumerate(located.items())}
    for warning in warnings:
        logger.warning(warning)
    return located, tuple(warnings)


@dataclass(frozen=True, eq=False)
class CalibratedTip:
    """The tip a navigator uses (stylus frame, mm) and what its calibration warned about."""

    tip_mm: np.ndarray
    warnings: tuple[str, ...] = ()


def calibrate_tip(
    stage_: Stage, hand: HandSettings, errors: ErrorSources, seed: int
) -> CalibratedTip:
    """The tip a navigator would use: the stylus's true tip when the pivot-calibration source is
    off, else the result of the pivot exercise the same student does first, filmed by the same
    simulated camera (on its own random streams), with that calibration's warnings (a tip from
    a poor calibration is a reason to doubt every later number)."""
    from guidance.exercises import pivot

    stylus = stage_.tools["stylus"]
    if not errors.pivot_calibration:
        return CalibratedTip(np.array(stylus.tip_mm))
    motion = pivot.script(stage_, hand, stream_seed(seed, Stream.PIVOT_STUDENT))
    tracker = stage_.tracker(motion, errors, stream_seed(seed, Stream.PIVOT_TRACKER))
    sequence = tracker.sequence()
    setup = ExerciseSetup(
        pivot.NAME, stage_.scene.name, "sim", seed, "", np.array(stylus.tip_mm), "tool definition"
    )
    calibration = pivot.evaluate(sequence, stage_.scene, setup).calibration
    return CalibratedTip(calibration.tip_in_tool_mm, tuple(calibration.warnings))
