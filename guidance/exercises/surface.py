"""The surface exercise: a coarse registration on a few landmarks, refined by sweeping the stylus
over the phantom (ICP).

Steps: the student holds the tip still on 4 landmarks (the first fiducials, digitise) and they
are registered to the CT (register: paired points, the coarse registration); the stylus is then
swept over the skin. Of the tip samples between the landmarks and the validation points, those
the coarse registration puts within 3 mm of the CT's skin (its distance to the surface facing
the stylus, as ICP measures it) are kept at a minimum spacing (digitise), and ICP refines the
coarse registration on them (register: ``registration.icp``), each facing the way the stylus
pointed when it was taken (the digitiser knows which side of the surface it is on). The
samples are then chosen again at the refined pose, within 1 mm of the skin, the nearest first,
and ICP runs once more from there: the coarse registration is off by up to ~3 mm at the skin
(the skin markers slide: ``ErrorSources.skin_shift``; so does the swept skin, by the same
field, and the refined pose follows it), too far to tell the tip on the skin from
the tip in the air as it comes down to a stroke or lifts off, which the refined pose can. The
remaining fiducials, touched last, measure the TRE (navigate).

A warning says when the refined pose is not to be trusted: ICP's own (no convergence, few
points on the surface, another pose as good), too few swept points, or the refined pose moving
the targets farther from the landmark registration than the landmarks' errors explain (one of
the two registrations is wrong).

Score: the landmarks' FRE and predicted TRE (of the coarse registration), the surface RMS and
inlier fraction of ICP, the number of swept points used, how far the refinement moved the
targets, the TRE measured at the validation points, and in simulation the refined
registration's true error at the targets.
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
from registration.closest_point import ClosestPointField
from registration.exceptions import RegistrationError
from registration.icp import (
    STYLUS_CONE_RAD,
    IcpMethod,
    IcpResult,
    IcpSettings,
    SurfaceRegistration,
)
from registration.transforms import apply_transform, invert_rigid
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
# Swept samples are kept when the coarse registration puts them this close to the skin (mm): it
# rests on skin markers, which slide between the scan and the session (1.5 mm RMS), so at the
# skin it is off by up to ~3 mm (benchmarks/README.md, "The surface exercise's tail").
COARSE_BAND_MM = 3.0
# ... and again at the refined pose, closer: farther is the stylus in the air, coming down to a
# stroke or lifting off (the hand's tremor keeps the tip on the skin within ~0.4 mm).
ON_SURFACE_MM = 1.0
MIN_SPACING_MM = 2.0
# Fewer swept points than this do not pin the pose down (a stroke or two): sweep more.
MIN_SWEPT_POINTS = 40
# The refined pose moving a target farther than this (mm) from where the landmarks put it: one
# of the two registrations is wrong (the landmarks' own error, skin shift included, stays
# within ~3 mm at the skull's targets; a patch that slid goes farther).
MAX_REFINEMENT_MM = 5.0
# Point-to-point ICP (Besl & McKay 1992): it crawls from the landmarks' pose to the sweep's best
# fit. A sweep of a few strokes over a smooth skull hardly constrains some directions; since
# registration.icp checks every point-to-plane step against its objective, point-to-plane no
# longer wanders off the best fit, but on the same recordings (100 seeds) it was no better: true
# error at the worst target 1.69 mm (expert) and 1.70 mm (novice) against 1.57 and 1.64
# (benchmarks/README.md, "The surface exercise's tail").
ICP_SETTINGS = IcpSettings(method=IcpMethod.POINT_TO_POINT)
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
    """Swept tip samples (reference frame, mm), the stylus axis at each (unit, from the tip
    towards the handle, reference frame) and how many samples the sweep had."""

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
    refinement_mm: float
    validation: tuple[fiducials.ValidationPoint, ...]
    targets: tuple[fiducials.TargetError, ...]
    warnings: tuple[str, ...]


def thin(points_mm: np.ndarray, spacing_mm: float, order: np.ndarray | None = None) -> np.ndarray:
    """Indices of the points kept, ascending: visited in ``order`` (default: as given), each is
    kept only if at least ``spacing_mm`` from every point kept before it."""
    kept: list[int] = []
    for index in range(len(points_mm)) if order is None else order:
        point = points_mm[index]
        if kept and np.min(np.linalg.norm(points_mm[kept] - point, axis=1)) < spacing_mm:
            continue
        kept.append(int(index))
    return np.sort(np.array(kept, dtype=np.int64))


def towards_handle(setup: ExerciseSetup) -> np.ndarray:
    """The stylus axis, unit, from the tip towards the handle (the tool's origin), in the
    stylus frame: the way the tip faces away from a surface it touches."""
    return -setup.tool_tip_mm / np.linalg.norm(setup.tool_tip_mm)


def axis_track(sequence: TrackingSequence, setup: ExerciseSetup) -> np.ndarray:
    """The stylus axis from the tip towards the handle (the tool's origin) in the reference
    tool's frame for every frame (F, 3), NaN where either tool was not tracked."""
    stylus = sequence.poses_of(setup.stylus)[:, :3, :3]
    reference = sequence.poses_of(setup.reference)[:, :3, :3]
    return np.einsum("fji,fjk,k->fi", reference, stylus, towards_handle(setup))


def swept_samples(sequence: TrackingSequence, setup: ExerciseSetup, first: int, last: int) -> Sweep:
    """Every tracked tip sample of frames ``first``..``last`` with its stylus axis (reference
    frame), before any is chosen."""
    tips = tip_track(sequence, setup.tool_tip_mm, setup.stylus, setup.reference)[first : last + 1]
    axes = axis_track(sequence, setup)[first : last + 1]
    tracked = np.all(np.isfinite(tips), axis=1)
    return Sweep(tips[tracked], axes[tracked], len(tips))


def skin_distances(
    field: ClosestPointField, image_from_reference: np.ndarray, sweep: Sweep, band_mm: float
) -> np.ndarray:
    """Each sample's distance (mm) to the skin facing its stylus axis, as ``image_from_reference``
    puts it in the CT (the distance ICP minimises); inf where no such skin is within
    ``band_mm``."""
    planes = field.tangent_planes(
        apply_transform(image_from_reference, sweep.points_mm),
        sweep.axes @ image_from_reference[:3, :3].T,
        band_mm,
    )
    return np.where(np.isfinite(planes.residuals_mm), np.abs(planes.residuals_mm), np.inf)


def on_skin(
    field: ClosestPointField, image_from_reference: np.ndarray, sweep: Sweep, band_mm: float
) -> Sweep:
    """The samples of ``sweep`` that ``image_from_reference`` puts within ``band_mm`` of the
    skin, thinned to ``MIN_SPACING_MM`` keeping the nearest to the skin first (in time order
    among equals)."""
    distances = skin_distances(field, image_from_reference, sweep, band_mm)
    near = np.flatnonzero(distances <= band_mm)
    nearest_first = np.argsort(distances[near], kind="stable")
    kept = near[thin(sweep.points_mm[near], MIN_SPACING_MM, nearest_first)]
    return Sweep(sweep.points_mm[kept], sweep.axes[kept], sweep.samples)


def refine(
    registration: SurfaceRegistration, sweep: Sweep, image_from_reference: np.ndarray
) -> IcpResult:
    """ICP on the swept points from ``image_from_reference``, each facing its stylus axis;
    GuidanceError when it cannot run. ICP's warnings are in the result, for the caller to pass
    on: ``evaluate`` reports only the final pose's (those of the first choice of points speak of
    samples the second choice drops, the stylus in the air)."""
    try:
        return registration.register(
            sweep.points_mm,
            image_from_reference,
            outward=sweep.axes,
            outward_cone_rad=STYLUS_CONE_RAD,
        )
    except RegistrationError as error:
        raise GuidanceError(
            f"ICP could not refine the registration with {len(sweep.points_mm)} swept points: "
            f"{error}. Sweep the tip slowly over more of the skin (forehead, nose, cheekbones) "
            "between the landmarks and the validation points"
        ) from error


def refinement_mm(coarse: np.ndarray, refined: np.ndarray, points_mm: np.ndarray) -> float:
    """How far (mm) the refined ``image_from_reference`` moves the CT points ``points_mm`` from
    where the ``coarse`` one puts them (the largest)."""
    moved = apply_transform(refined @ invert_rigid(coarse), points_mm)
    return float(np.max(np.linalg.norm(moved - points_mm, axis=1)))


def trust_warnings(sweep: Sweep, moved_mm: float) -> list[str]:
    """Why the refined pose is not to be trusted, besides what ICP says: too few swept points,
    or a refinement that moved the targets farther than the landmarks' errors explain."""
    warnings = []
    if len(sweep.points_mm) < MIN_SWEPT_POINTS:
        warnings.append(
            f"only {len(sweep.points_mm)} swept points lie on the skin (want at least "
            f"{MIN_SWEPT_POINTS}, {MIN_SPACING_MM:g} mm apart): they do not pin the pose down; "
            "sweep the tip slowly over more of the skin (forehead, nose, cheekbones), keeping it "
            "on the skin"
        )
    if moved_mm > MAX_REFINEMENT_MM:
        warnings.append(
            f"the surface registration moved the targets {moved_mm:.1f} mm from where the "
            f"landmarks put them (more than {MAX_REFINEMENT_MM:g} mm): one of the two is wrong, "
            "do not trust this pose; check it on the validation points, then sweep again over "
            "more of the face or redo the landmarks"
        )
    return warnings


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
    registration = SurfaceRegistration.from_mesh(
        *mesh_arrays(skin_surface(scene)), settings=ICP_SETTINGS
    )
    samples = swept_samples(sequence, setup, first, last)
    first_pose = refine(
        registration,
        on_skin(registration.field, coarse.image_from_reference, samples, COARSE_BAND_MM),
        coarse.image_from_reference,
    ).fixed_from_moving
    sweep = on_skin(registration.field, first_pose, samples, ON_SURFACE_MM)
    icp = refine(registration, sweep, first_pose)
    refined = dataclass_replace_transform(coarse, icp.fixed_from_moving)
    checked = scene.targets_mm if len(scene.targets_mm) else coarse.ct_mm
    moved_mm = refinement_mm(coarse.image_from_reference, icp.fixed_from_moving, checked)
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
    warnings = [*digitisation.warnings, *icp.warnings, *trust_warnings(sweep, moved_mm)]
    return SurfaceResult(
        order, digitisation, coarse, sweep, icp, moved_mm, validation, targets, tuple(warnings)
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
        "refinement_mm": rounded(result.refinement_mm),
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
    facing the camera (where it lies in the session: ``Stage.session_skin``), then hold it on
    the validation points."""
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
            stage.to_tracker(stage.session_skin(points)),
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
