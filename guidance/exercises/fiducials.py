"""The fiducials exercise: touch each fiducial bead the program names, register, and measure.

Steps: the program names each CT fiducial in turn and the student holds the tip still on it
(digitise: one point per dwell, in order); the first ones are registered to their CT positions
(register: paired points), the last ones are kept apart as validation points; the registration's
own numbers estimate its errors (estimate); the validation points measure the error where it
matters, at points the registration never saw, as a real navigation system can (navigate).

Score: the FRE and each fiducial's residual; the FLE the FRE implies; the TRE predicted at each
target; the TRE measured at the validation points; and, in simulation, the true TRE at each
target (where the registration maps the target's true position, against the target).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from devices.sequence_file import TrackingSequence
from guidance.exceptions import GuidanceError
from guidance.exercises.digitise import Digitisation, captures_report, digitise
from guidance.exercises.estimate import ErrorEstimate, estimate_errors
from guidance.exercises.records import listed, rms, rounded
from guidance.exercises.register import MIN_POINTS, PointRegistration, register_points
from guidance.exercises.setup import ExerciseSetup
from registration.digitize import StillnessSettings
from registration.transforms import apply_transform, invert_rigid
from scenes.scene import Scene
from scenes.student import HandSettings, StudentMotion

if TYPE_CHECKING:
    from guidance.exercises.live import Task
    from guidance.exercises.simulate import Stage
    from guidance.navigator import NavigationPlan, NavigationState

NAME = "fiducials"
# At most this many fiducials are kept apart to validate, never leaving fewer than 3 to register.
MAX_VALIDATION_POINTS = 2


@dataclass(frozen=True)
class FiducialsSettings:
    """How many fiducials validate rather than register (None: up to 2, keeping at least 3 to
    register) and when the tip counts as still."""

    validation_points: int | None = None
    stillness: StillnessSettings = field(default_factory=StillnessSettings)

    def __post_init__(self) -> None:
        if self.validation_points is not None and self.validation_points < 0:
            raise GuidanceError(f"validation_points must be >= 0; got {self.validation_points}")


@dataclass(frozen=True)
class CaptureOrder:
    """The fiducials in the order the student is asked for them: ``registered`` then
    ``validation`` labels."""

    registered: tuple[str, ...]
    validation: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.registered + self.validation


def validation_choice(scene: Scene, candidates: Sequence[str], count: int) -> tuple[str, ...]:
    """``count`` of the ``candidates`` (labels, in order) to keep apart as validation points:
    the last rigidly fixed ones first, then the last skin markers. A skin marker slides with the
    registered ones, so it would hide their common shift; a bone-anchored one shows it. In the
    candidates' order."""
    last_first = list(reversed(candidates))
    preferred = sorted(last_first, key=lambda label: label in scene.skin_fiducials)
    chosen = set(preferred[:count])
    return tuple(label for label in candidates if label in chosen)


def capture_order(scene: Scene, settings: FiducialsSettings = FiducialsSettings()) -> CaptureOrder:
    """The scene's fiducials in label order, some kept apart to validate (``validation_choice``)
    and asked last; GuidanceError for a scene with fewer than 3 fiducials (before anything
    starts)."""
    labels = tuple(scene.fiducial_labels)
    if len(labels) < MIN_POINTS:
        raise GuidanceError(
            f"scene {scene.name!r} has {len(labels)} fiducials; the fiducials exercise needs at "
            f"least {MIN_POINTS} (add them to the scene's fiducials markups)"
        )
    spare = len(labels) - MIN_POINTS
    wanted = (
        MAX_VALIDATION_POINTS if settings.validation_points is None else settings.validation_points
    )
    validation = validation_choice(scene, labels, min(wanted, spare))
    return CaptureOrder(tuple(label for label in labels if label not in validation), validation)


def check(scene: Scene) -> None:
    """Before anything starts: the scene must have fiducials to touch (at least 3)."""
    capture_order(scene)


@dataclass(frozen=True, eq=False)
class ValidationPoint:
    """A fiducial kept out of the registration: where the navigation puts the tip held on it
    (CT, mm) and its distance to the fiducial's CT point (the measured TRE there)."""

    label: str
    navigated_mm: np.ndarray
    measured_tre_mm: float


@dataclass(frozen=True, eq=False)
class TargetError:
    """A target (CT, mm): the TRE predicted there (RMS, mm), and in simulation the true one."""

    label: str
    ct_mm: np.ndarray
    predicted_tre_mm: float
    predicted_tre_from_scatter_mm: float
    true_tre_mm: float | None


@dataclass(frozen=True, eq=False)
class FiducialsResult:
    """Every step's record of one fiducials exercise."""

    order: CaptureOrder
    digitisation: Digitisation
    registration: PointRegistration
    estimate: ErrorEstimate
    validation: tuple[ValidationPoint, ...]
    targets: tuple[TargetError, ...]
    warnings: tuple[str, ...]


def validate(
    digitisation: Digitisation,
    registration: PointRegistration,
    labels: Sequence[str],
    ct_points: dict[str, np.ndarray],
) -> tuple[ValidationPoint, ...]:
    """The navigate step of this exercise: each captured validation point taken into the CT."""
    captured = digitisation.by_label()
    points = []
    for label in labels:
        if label in captured:
            navigated = apply_transform(registration.image_from_reference, captured[label].point_mm)
            distance = float(np.linalg.norm(navigated - ct_points[label]))
            points.append(ValidationPoint(label, navigated, distance))
    return tuple(points)


def true_tre_mm(
    image_from_reference: np.ndarray, setup: ExerciseSetup, points_mm: np.ndarray
) -> np.ndarray | None:
    """The registration's true error at CT points (simulation): where the estimated
    ``image_from_reference`` puts each point's true reference-frame position."""
    if setup.truth is None:
        return None
    reference_from_image = invert_rigid(setup.truth.image_from_reference)
    registered = apply_transform(image_from_reference @ reference_from_image, points_mm)
    return np.linalg.norm(registered - points_mm, axis=1)


def evaluate(
    sequence: TrackingSequence,
    scene: Scene,
    setup: ExerciseSetup,
    settings: FiducialsSettings = FiducialsSettings(),
    expected: Sequence[str] | None = None,
) -> FiducialsResult:
    """Score a recording of the fiducials exercise (live, replayed or graded: same function).
    ``expected`` names the dwells in order when the exercise asks for more than the fiducials
    (targeting holds at its target after them); by default the fiducials' capture order."""
    order = capture_order(scene, settings)
    digitisation = digitise(
        sequence,
        order.labels if expected is None else expected,
        setup.tool_tip_mm,
        setup.stylus,
        setup.reference,
        settings.stillness,
    )
    registered = [p for p in digitisation.points if p.label in order.registered]
    if len(registered) < MIN_POINTS:
        raise GuidanceError(
            f"registration needs at least {MIN_POINTS} captured points; got {len(registered)} "
            f"({', '.join(p.label for p in registered) or 'none'}). "
            + " ".join(digitisation.warnings)
        )
    ct_points = {label: np.asarray(p) for label, p in setup.ct_fiducials_mm.items()}
    registration = register_points(registered, ct_points)
    estimate = estimate_errors(registration, registered, scene.targets_mm)
    validation = validate(digitisation, registration, order.validation, ct_points)
    truth = true_tre_mm(registration.image_from_reference, setup, scene.targets_mm)
    targets = tuple(
        TargetError(
            label,
            np.asarray(point),
            float(estimate.predicted_tre_mm[k]),
            float(estimate.predicted_tre_from_scatter_mm[k]),
            None if truth is None else float(truth[k]),
        )
        for k, (label, point) in enumerate(zip(scene.target_labels, scene.targets_mm, strict=True))
    )
    warnings = list(digitisation.warnings)
    if order.validation and not validation:
        warnings.append("no validation point was captured: the TRE was not measured")
    return FiducialsResult(
        order, digitisation, registration, estimate, validation, targets, tuple(warnings)
    )


def score(result: FiducialsResult) -> dict[str, float | int | None]:
    """The exercise's score: numbers or null (report.json ``score``; units in the names).
    ``predicted_tre_rms_mm`` and ``registration_error_mm`` are at the worst target."""
    registration, estimate = result.registration, result.estimate
    validation = [point.measured_tre_mm for point in result.validation]
    true = [t.true_tre_mm for t in result.targets if t.true_tre_mm is not None]
    predicted = [t.predicted_tre_mm for t in result.targets]
    return {
        "fre_rms_mm": rounded(registration.fre_mm),
        "max_residual_mm": rounded(float(np.max(registration.residuals_mm))),
        "fle_from_fre_mm": rounded(estimate.fle_from_fre_mm),
        "n_points": len(registration.labels),
        "validation_tre_rms_mm": rounded(rms(validation)),
        "predicted_tre_rms_mm": rounded(max(predicted, default=None)),
        "registration_error_mm": rounded(max(true, default=None)),
    }


def fiducial_entries(
    labels: Sequence[str],
    registration: PointRegistration,
    validation: Sequence[ValidationPoint],
    digitisation: Digitisation,
    setup: ExerciseSetup,
) -> list[dict[str, object]]:
    """The report's ``fiducials``: for each label asked, its CT point, whether it was registered
    (its residual) or validates (the TRE measured there), and where it was digitised."""
    captured = digitisation.by_label()
    residuals = dict(zip(registration.labels, registration.residuals_mm, strict=True))
    measured = {point.label: point.measured_tre_mm for point in validation}
    entries = []
    for label in labels:
        entry: dict[str, object] = {
            "label": label,
            "ct_mm": listed(setup.ct_fiducials_mm[label]),
            "used": label in residuals,
            "residual_mm": rounded(residuals.get(label)),
            "measured_tre_mm": rounded(measured.get(label)),
            "captured": label in captured,
        }
        if label in captured:
            entry["digitised_mm"] = listed(captured[label].point_mm)
            entry["fle_scatter_mm"] = rounded(captured[label].period.point.standard_error_mm)
        entries.append(entry)
    return entries


def report_parts(result: FiducialsResult, setup: ExerciseSetup) -> dict[str, object]:
    """The report's ``fiducials``, ``targets``, ``captures`` and ``tre_map`` entries."""
    truth_points = setup.truth is not None
    fiducials = fiducial_entries(
        result.order.labels,
        result.registration,
        result.validation,
        result.digitisation,
        setup,
    )
    targets = [
        {
            "label": t.label,
            "ct_mm": listed(t.ct_mm),
            "predicted_tre_rms_mm": rounded(t.predicted_tre_mm),
            "predicted_tre_from_scatter_mm": rounded(t.predicted_tre_from_scatter_mm),
            "registration_error_mm": rounded(t.true_tre_mm) if truth_points else None,
        }
        for t in result.targets
    ]
    parts: dict[str, object] = {
        "fiducials": fiducials,
        "targets": targets,
        "captures": captures_report(result.digitisation),
        "estimates": {
            "fle_from_fre_mm": rounded(result.estimate.fle_from_fre_mm),
            "fle_from_scatter_mm": rounded(result.estimate.fle_from_scatter_mm),
            "expected_fre_from_scatter_mm": rounded(result.estimate.expected_fre_from_scatter_mm),
        },
    }
    if result.targets:
        worst = max(result.targets, key=lambda t: t.predicted_tre_mm)
        parts["tre_map"] = {
            "target": worst.label,
            "fle_rms_mm": rounded(result.estimate.fle_from_fre_mm),
        }
    return parts


def script(stage: "Stage", hand: HandSettings, seed: int) -> StudentMotion:
    """The simulated student's part: touch each fiducial in the order asked (registered ones,
    then the validation ones), each for a dwell, arriving along the skin's normal."""
    touches = stage.fiducial_touches(capture_order(stage.scene).labels)
    first = touches[0]
    student = stage.student_at(hand, seed, first.point_mm, first.approach)
    for touch in touches:
        student.touch(touch)
    return student.motion(stage.tracker_from_reference)


def snapshot_states(
    result: FiducialsResult, sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup
) -> tuple["NavigationPlan", list[tuple["NavigationState", str]]]:
    """The navigation with the tip on the last validation point (else the last fiducial), in
    the middle of its dwell, for the report's picture."""
    from devices.tools import BUILTIN_TOOLS
    from guidance.navigator import NavigationPlan, Navigator, ToolTip

    plan = NavigationPlan.from_scene(scene)
    captured = result.digitisation.by_label()
    labels = [label for label in result.order.labels if label in captured]
    if not labels:
        return plan, []
    label = labels[-1]
    period = captured[label].period
    tip = ToolTip.pointing(setup.tool_tip_mm, BUILTIN_TOOLS["stylus"].centroid_mm)
    navigator = Navigator(
        plan, result.registration.image_from_reference, tip, setup.stylus, setup.reference
    )
    state = navigator.navigate(sequence.frame((period.first + period.last) // 2))
    distance = float(np.linalg.norm(state.tip_mm - setup.ct_fiducials_mm[label]))
    kind = "validation point" if label in result.order.validation else "fiducial"
    caption = (
        f"the tip held on {kind} {label}: navigation puts it {distance:.2f} mm from where the "
        "CT shows it"
    )
    return plan, [(state, caption)]


def tasks(scene: Scene) -> tuple["Task", ...]:
    """What the student is asked, dwell by dwell: each fiducial in the capture order, the first
    ones registered, the last ones validating."""
    from guidance.exercises.live import Task

    order = capture_order(scene)
    return tuple(
        Task(
            label,
            f"hold the tip still on fiducial {label} for a second"
            + (" (a validation point: it is not registered)" if label in order.validation else ""),
            registers=label in order.registered,
        )
        for label in order.labels
    )
