"""The surface exercise: a coarse registration on a few landmarks, refined by sweeping the stylus
over the phantom (ICP).

Steps: the student holds the tip still on 4 landmarks (the first fiducials, digitise) and they
are registered to the CT (register: paired points, the coarse registration); the stylus is then
swept over the skin, and every tip sample between the landmarks and the validation points that
the coarse registration puts within 1.5 mm of the CT's skin is kept (the others are the stylus
in the air, between strokes), at a minimum spacing (digitise); ICP refines the coarse
registration on those points (register: ``registration.icp``), each facing the way the stylus
pointed when it was taken (the digitiser knows which side of the surface it is on); the
remaining fiducials, touched last, measure the TRE (navigate).

Score: the landmarks' FRE and predicted TRE (of the coarse registration), the surface RMS and
inlier fraction of ICP, the number of swept points used, the TRE measured at the validation
points, and in simulation the refined registration's true error at the targets.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from devices.sequence_file import TrackingSequence
from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials
from guidance.exercises.digitise import Digitisation, digitise, tip_track
from guidance.exercises.records import listed, rms, rounded
from guidance.exercises.register import MIN_POINTS, PointRegistration, register_points
from guidance.exercises.setup import ExerciseSetup
from guidance.exercises.simulate import skin_surface
from registration.exceptions import RegistrationError
from registration.icp import STYLUS_CONE_RAD, IcpResult, SurfaceRegistration
from registration.transforms import apply_transform
from registration.tre import predict_tre_rms
from scenes.scene import Scene
from scenes.student import HandSettings, StudentMotion
from scenes.surface import mesh_arrays

if TYPE_CHECKING:
    from guidance.exercises.live import Task
    from guidance.exercises.simulate import Stage

NAME = "surface"
LANDMARKS = 4
MAX_VALIDATION_POINTS = 2
# Swept samples farther than this from the skin after the coarse registration are the stylus in
# the air (between strokes), not on the surface.
ON_SURFACE_MM = 1.5
MIN_SPACING_MM = 2.0
# The simulated sweep: strokes of this length over the skin facing the camera.
STROKES = 5
STROKE_MM = 90.0
STROKE_STEP_MM = 3.0


@dataclass(frozen=True)
class SurfaceOrder:
    """The landmarks (registered coarsely) and the validation points, in the order asked."""

    landmarks: tuple[str, ...]
    validation: tuple[str, ...]


def surface_order(scene: Scene) -> SurfaceOrder:
    """The scene's first 4 fiducials as landmarks (3 if it has only 3), up to 2 of the others
    to validate (rigidly fixed ones first: ``fiducials.validation_choice``); GuidanceError for
    fewer than 3 fiducials."""
    labels = tuple(scene.fiducial_labels)
    if len(labels) < MIN_POINTS:
        raise GuidanceError(
            f"scene {scene.name!r} has {len(labels)} fiducials; the surface exercise needs at "
            f"least {MIN_POINTS} landmarks for its coarse registration"
        )
    count = min(LANDMARKS, len(labels))
    return SurfaceOrder(
        labels[:count],
        fiducials.validation_choice(scene, labels[count:], MAX_VALIDATION_POINTS),
    )


def check(scene: Scene) -> None:
    """Before anything starts: landmarks for the coarse registration."""
    surface_order(scene)


@dataclass(frozen=True, eq=False)
class Sweep:
    """The swept points kept (reference frame, mm), the stylus axis at each (unit, from the tip
    towards the handle, reference frame) and how many samples there were."""

    points_mm: np.ndarray
    axes: np.ndarray
    samples: int


@dataclass(frozen=True, eq=False)
class SurfaceResult:
    """Every step's record of one surface exercise."""

    order: SurfaceOrder
    digitisation: Digitisation
    coarse: PointRegistration
    sweep: Sweep
    icp: IcpResult
    validation: tuple[fiducials.ValidationPoint, ...]
    targets: tuple[fiducials.TargetError, ...]
    warnings: tuple[str, ...]


def thin(points_mm: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Indices of the points kept, in order, each only if at least ``spacing_mm`` from every
    point kept before it."""
    kept: list[int] = []
    for index, point in enumerate(points_mm):
        if kept and np.min(np.linalg.norm(points_mm[kept] - point, axis=1)) < spacing_mm:
            continue
        kept.append(index)
    return np.array(kept, dtype=np.int64)


def axis_track(sequence: TrackingSequence, setup: ExerciseSetup) -> np.ndarray:
    """The stylus axis from the tip towards the handle (the tool's origin) in the reference
    tool's frame for every frame (F, 3), NaN where either tool was not tracked."""
    stylus = sequence.poses_of(setup.stylus)[:, :3, :3]
    reference = sequence.poses_of(setup.reference)[:, :3, :3]
    towards_handle = -setup.tool_tip_mm / np.linalg.norm(setup.tool_tip_mm)
    return np.einsum("fji,fjk,k->fi", reference, stylus, towards_handle)


def swept_points(
    sequence: TrackingSequence,
    setup: ExerciseSetup,
    first: int,
    last: int,
    coarse: PointRegistration,
    vertices_mm: np.ndarray,
) -> Sweep:
    """The tip samples of frames ``first``..``last`` that the coarse registration puts within
    ``ON_SURFACE_MM`` of the skin's vertices, thinned to ``MIN_SPACING_MM``, with their stylus
    axes (reference frame)."""
    tips = tip_track(sequence, setup.tool_tip_mm, setup.stylus, setup.reference)[first : last + 1]
    axes = axis_track(sequence, setup)[first : last + 1]
    tracked = np.all(np.isfinite(tips), axis=1)
    tips, axes = tips[tracked], axes[tracked]
    if not len(tips):
        return Sweep(np.empty((0, 3)), np.empty((0, 3)), 0)
    distances, _ = cKDTree(vertices_mm).query(apply_transform(coarse.image_from_reference, tips))
    on_surface = distances <= ON_SURFACE_MM
    kept = thin(tips[on_surface], MIN_SPACING_MM)
    return Sweep(tips[on_surface][kept], axes[on_surface][kept], len(tips))


def evaluate(sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup) -> SurfaceResult:
    """Score a recording of the surface exercise (live, replayed or graded: same function)."""
    order = surface_order(scene)
    digitisation = digitise(
        sequence,
        order.landmarks + order.validation,
        setup.tool_tip_mm,
        setup.stylus,
        setup.reference,
    )
    captured = digitisation.by_label()
    landmarks = [captured[label] for label in order.landmarks if label in captured]
    ct_points = {label: np.asarray(p) for label, p in setup.ct_fiducials_mm.items()}
    if len(landmarks) < MIN_POINTS:
        raise GuidanceError(
            f"the coarse registration needs at least {MIN_POINTS} landmarks; got "
            f"{len(landmarks)}. " + " ".join(digitisation.warnings)
        )
    coarse = register_points(landmarks, ct_points)
    first = landmarks[-1].period.last + 1
    after = [captured[label].period.first for label in order.validation if label in captured]
    last = (min(after) if after else len(sequence)) - 1
    vertices, normals, triangles = mesh_arrays(skin_surface(scene))
    sweep = swept_points(sequence, setup, first, last, coarse, vertices)
    try:
        icp = SurfaceRegistration.from_mesh(vertices, normals, triangles).register(
            sweep.points_mm,
            coarse.image_from_reference,
            outward=sweep.axes,
            outward_cone_rad=STYLUS_CONE_RAD,
        )
    except RegistrationError as error:
        raise GuidanceError(
            f"ICP could not refine the registration with {len(sweep.points_mm)} swept points: "
            f"{error}"
        ) from error
    refined = dataclass_replace_transform(coarse, icp.fixed_from_moving)
    validation = fiducials.validate(digitisation, refined, order.validation, ct_points)
    coarse_fle = (
        coarse.fre_mm / math.sqrt(1.0 - 2.0 / len(coarse.labels))
        if len(coarse.labels) > 2
        else math.nan
    )
    predicted = (
        predict_tre_rms(coarse.ct_mm, coarse_fle, scene.targets_mm)
        if len(scene.targets_mm)
        else np.empty(0)
    )
    truth = fiducials.true_tre_mm(icp.fixed_from_moving, setup, scene.targets_mm)
    targets = tuple(
        fiducials.TargetError(
            label,
            np.asarray(point),
            float(predicted[k]),
            math.nan,
            None if truth is None else float(truth[k]),
        )
        for k, (label, point) in enumerate(zip(scene.target_labels, scene.targets_mm, strict=True))
    )
    warnings = [*digitisation.warnings, *icp.warnings]
    return SurfaceResult(
        order, digitisation, coarse, sweep, icp, validation, targets, tuple(warnings)
    )


def dataclass_replace_transform(
    registration: PointRegistration, image_from_reference: np.ndarray
) -> PointRegistration:
    """``registration`` with another ``image_from_reference`` (the ICP-refined one)."""
    import dataclasses

    return dataclasses.replace(registration, image_from_reference=image_from_reference)


def score(result: SurfaceResult) -> dict[str, float | int | None]:
    """The exercise's score (report.json ``score``; units in the names)."""
    validation = [point.measured_tre_mm for point in result.validation]
    true = [t.true_tre_mm for t in result.targets if t.true_tre_mm is not None]
    predicted = [t.predicted_tre_mm for t in result.targets]
    return {
        "fre_rms_mm": rounded(result.coarse.fre_mm),
        "predicted_tre_rms_mm": rounded(max(predicted, default=None)),
        "surface_rms_mm": rounded(result.icp.rmse_mm),
        "inlier_fraction": rounded(result.icp.inlier_fraction, 3),
        "n_points": len(result.sweep.points_mm),
        "validation_tre_rms_mm": rounded(rms(validation)),
        "registration_error_mm": rounded(max(true, default=None)),
    }


def report_parts(result: SurfaceResult, setup: ExerciseSetup) -> dict[str, object]:
    """The report's landmarks (as fiducials), targets, captures and the sweep."""
    from guidance.exercises.digitise import captures_report

    entries = fiducials.fiducial_entries(
        result.order.landmarks + result.order.validation,
        result.coarse,
        result.validation,
        result.digitisation,
        setup,
    )
    targets = [
        {
            "label": t.label,
            "ct_mm": listed(t.ct_mm),
            "predicted_tre_rms_mm": rounded(t.predicted_tre_mm),
            "registration_error_mm": rounded(t.true_tre_mm),
        }
        for t in result.targets
    ]
    return {
        "fiducials": entries,
        "targets": targets,
        "captures": captures_report(result.digitisation),
        "sweep": {
            "samples": result.sweep.samples,
            "points_kept": len(result.sweep.points_mm),
            "min_spacing_mm": MIN_SPACING_MM,
            "icp_iterations": result.icp.iterations,
            "icp_converged": result.icp.converged,
            "icp_start": result.icp.start,
        },
    }


def _stroke(
    vertices: np.ndarray, normals: np.ndarray, start: int, direction: np.ndarray, tree: cKDTree
) -> tuple[np.ndarray, np.ndarray]:
    """A stroke over the surface from vertex ``start``: steps along ``direction`` (kept tangent),
    each projected back to the nearest vertex."""
    points, point_normals = [vertices[start]], [normals[start]]
    position = vertices[start]
    for _ in range(int(STROKE_MM / STROKE_STEP_MM)):
        normal = point_normals[-1]
        tangent = direction - np.dot(direction, normal) * normal
        if np.linalg.norm(tangent) < 1e-6:
            break
        position = position + STROKE_STEP_MM * tangent / np.linalg.norm(tangent)
        _, nearest = tree.query(position)
        if np.linalg.norm(vertices[nearest] - points[-1]) < 0.5 * STROKE_STEP_MM:
            continue
        points.append(vertices[nearest])
        point_normals.append(normals[nearest])
        position = vertices[nearest]
    return np.array(points), np.array(point_normals)


def script(stage: "Stage", hand: HandSettings, seed: int) -> StudentMotion:
    """The simulated student's part: hold the tip on the landmarks, sweep strokes over the skin
    facing the camera, then hold it on the validation points."""
    scene = stage.scene
    order = surface_order(scene)
    touches = {t.label: t for t in stage.fiducial_touches(order.landmarks + order.validation)}
    student = stage.student_at(
        hand, seed, touches[order.landmarks[0]].point_mm, touches[order.landmarks[0]].approach
    )
    for label in order.landmarks:
        student.touch(touches[label])
    vertices = np.asarray(stage.surface.points, dtype=np.float64)
    normals = np.asarray(stage.surface.point_data["Normals"], dtype=np.float64)
    camera = stage.to_image(np.zeros((1, 3)))[0]
    to_camera = camera - vertices
    to_camera /= np.linalg.norm(to_camera, axis=1, keepdims=True)
    facing = np.flatnonzero(np.einsum("ij,ij->i", normals, to_camera) > 0.7)
    rng = np.random.default_rng(seed)
    tree = cKDTree(vertices)
    for k in range(STROKES):
        start = int(rng.choice(facing))
        points, point_normals = _stroke(vertices, normals, start, rng.normal(size=3), tree)
        if len(points) < 2:
            continue
        student.sweep(
            f"stroke-{k + 1}",
            stage.to_tracker(points),
            stage.directions_to_tracker(point_normals),
        )
    for label in order.validation:
        student.touch(touches[label])
    return student.motion(stage.tracker_from_reference)


def tasks(scene: Scene) -> tuple["Task", ...]:
    """The landmarks (registered: the coarse registration), then the sweep and the validation
    points, dwell by dwell."""
    from guidance.exercises.live import Task

    order = surface_order(scene)
    asked = [
        Task(label, f"hold the tip still on landmark {label} for a second", registers=True)
        for label in order.landmarks
    ]
    for k, label in enumerate(order.validation):
        sweep = "sweep the tip slowly over the skin (no pauses), then " if k == 0 else ""
        asked.append(Task(label, f"{sweep}hold the tip still on validation point {label}"))
    return tuple(asked)
