"""One trial of a TRE study: the fiducials exercise, simulated from end to end, on the
configuration's fiducials, scored against the truth.

A trial is the exercise's own pipeline, step by step (``guidance.exercises``): the phantom
placed in front of the simulated camera, the CT points of the fiducials localised with the
clinical-scan error, the stylus tip from a simulated pivot calibration, a simulated student who
touches each fiducial in turn, the simulated tracker filming it with its jitter, drift and
trueness errors, then the exercise's digitise, register and estimate steps on that recording.
Nothing is written to disk; the trial returns the numbers a study needs:
- the true TRE at each target (where the registration maps the target's true position);
- the TRE a navigation system would predict from its own FRE (Fitzpatrick 1998, eq. 46 with
  the FLE the FRE implies) and from the dwells' covariances (the anisotropic propagation);
- each fiducial's true localisation error: its CT point minus where the true registration maps
  its digitised point (CT frame, mm), from which the study measures the FLE.

The FLE of a configuration is set by scaling every error source together (``scaled_model``):
by ``fle / nominal_fle_mm`` where the nominal FLE is that of the two sources that differ from
one fiducial to the next by design, the tip placement and the CT localisation. The tracker and
the pivot calibration add their own share on top (scaled alike), which the measured FLE shows.
"""

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials, simulate
from guidance.exercises.errors import SOURCES, ErrorSources
from guidance.exercises.setup import ExerciseSetup, Truth
from registration.transforms import apply_transform
from scenes.scene import Scene
from scenes.student import HandSettings, Skill

TRIAL_SKILL = Skill.NOVICE


@dataclass(frozen=True, eq=False)
class TrialResult:
    """What one trial measured (mm): ``true_tre_mm`` (M,) at the targets,
    ``predicted_from_fre_mm`` and ``predicted_from_scatter_mm`` (M,) as the exercise predicts
    them, ``fre_mm``, and ``fle_vectors_mm`` (N, 3, CT frame); or, for a trial whose exercise
    could not be scored (a dwell not captured), only its ``failure``."""

    true_tre_mm: np.ndarray | None = None
    predicted_from_fre_mm: np.ndarray | None = None
    predicted_from_scatter_mm: np.ndarray | None = None
    fre_mm: float = math.nan
    fle_vectors_mm: np.ndarray | None = None
    failure: str | None = None


def nominal_fle_mm(errors: ErrorSources, hand: HandSettings) -> float:
    """The RMS FLE (mm, 3D) of the sources that differ from one fiducial to the next by design:
    the tip placement (``hand.placement_error_mm``, across the skin) and the CT localisation
    (its in-slice and across-slice standard deviations)."""
    ct = (
        math.sqrt(2.0 * errors.ct_in_slice_sd_mm**2 + errors.ct_across_slice_sd_mm**2)
        if errors.ct_localisation
        else 0.0
    )
    placement = hand.placement_error_mm if errors.tip_placement else 0.0
    return math.hypot(placement, ct)


def scaled_model(
    fle_mm: float, errors: ErrorSources, hand: HandSettings
) -> tuple[ErrorSources, HandSettings]:
    """The error model with every magnitude scaled by ``fle_mm / nominal_fle_mm``: the tracker's
    jitter, drift and trueness, the CT localisation, the tip placement, and the tip's slips
    while pivoting (so the pivot calibration's error, made of the tracker's and the slips',
    scales too). GuidanceError when the per-fiducial sources are off."""
    nominal = nominal_fle_mm(errors, hand)
    if nominal == 0.0:
        raise GuidanceError(
            "a study sets the FLE by scaling the tip placement and CT localisation errors; "
            "switch at least one of tip_placement and ct_localisation on"
        )
    factor = fle_mm / nominal
    scaled = dataclasses.replace(
        errors,
        marker_jitter_rms_mm=errors.marker_jitter_rms_mm * factor,
        marker_drift_rms_mm=errors.marker_drift_rms_mm * factor,
        trueness_rms_mm=errors.trueness_rms_mm * factor,
        ct_in_slice_sd_mm=errors.ct_in_slice_sd_mm * factor,
        ct_across_slice_sd_mm=errors.ct_across_slice_sd_mm * factor,
    )
    hand = dataclasses.replace(
        hand,
        placement_error_mm=hand.placement_error_mm * factor,
        slip_mm=hand.slip_mm * factor,
    )
    return scaled, hand


def fiducial_labels(count: int) -> tuple[str, ...]:
    """The labels of a configuration's fiducials: P1, P2, ..."""
    return tuple(f"P{k + 1}" for k in range(count))


def configuration_scene(
    scene: Scene, fiducials_mm: np.ndarray, targets: Sequence[str] | None = None
) -> Scene:
    """``scene`` with the configuration's fiducials (CT mm) in place of its own, and only the
    ``targets`` named (default: all). The configuration's points are fixed rigidly (none on
    the skin): a study measures how the localisation error of each fiducial reaches the
    targets (Fitzpatrick's FLE -> TRE), which the skin's common shift would swamp."""
    labels = list(scene.target_labels)
    chosen = labels if targets is None else list(targets)
    rows = [labels.index(label) for label in chosen]
    return dataclasses.replace(
        scene,
        fiducials_mm=np.asarray(fiducials_mm, dtype=np.float64),
        fiducial_labels=fiducial_labels(len(fiducials_mm)),
        skin_fiducials=(),
        targets_mm=scene.targets_mm[rows].reshape(-1, 3),
        target_labels=tuple(chosen),
    )


def run_trial(
    stage: simulate.Stage,
    fle_mm: float,
    seed: int,
    errors: ErrorSources = ErrorSources(),  # noqa: B008 (frozen)
    skill: Skill = TRIAL_SKILL,
) -> TrialResult:
    """One simulated fiducials exercise on ``stage`` (a configuration's scene placed for this
    trial, ``simulate.stage``) with the error model scaled to ``fle_mm``, every draw from
    ``seed`` (split by purpose as in the exercises: ``simulate.Stream``)."""
    scene = stage.scene
    errors, hand = scaled_model(fle_mm, errors, errors.hand(skill))
    ct_direction = np.array(scene.ct.GetDirection()).reshape(3, 3)
    rng = np.random.default_rng(simulate.stream_seed(seed, simulate.Stream.CT))
    ct_points = scene.fiducials_mm + errors.ct_error_mm(ct_direction, len(scene.fiducials_mm), rng)
    tip = simulate.calibrate_tip(stage, hand, errors, seed).tip_mm
    motion = fiducials.script(stage, hand, simulate.stream_seed(seed, simulate.Stream.STUDENT))
    tracker_seed = simulate.stream_seed(seed, simulate.Stream.TRACKER)
    sequence = stage.tracker(motion, errors, tracker_seed).sequence()
    placement = stage.placement
    setup = ExerciseSetup(
        fiducials.NAME,
        scene.name,
        "sim",
        seed,
        skill.value,
        tip,
        "simulated pivot calibration",
        ct_fiducials_mm=dict(zip(scene.fiducial_labels, ct_points, strict=True)),
        errors={name: getattr(errors, name) for name in SOURCES},
        truth=Truth(
            placement.tracker_from_image,
            placement.image_from_reference,
            np.array(stage.tools["stylus"].tip_mm),
        ),
    )
    settings = fiducials.FiducialsSettings(validation_points=0)
    try:
        result = fiducials.evaluate(sequence, scene, setup, settings)
    except GuidanceError as error:
        return TrialResult(failure=str(error))
    digitisation = result.digitisation
    if digitisation.missing or digitisation.extra:
        return TrialResult(failure=" ".join(digitisation.warnings))
    registration = result.registration
    truly_mapped = apply_transform(placement.image_from_reference, registration.reference_mm)
    return TrialResult(
        true_tre_mm=np.array([target.true_tre_mm for target in result.targets]),
        predicted_from_fre_mm=np.array(result.estimate.predicted_tre_mm),
        predicted_from_scatter_mm=np.array(result.estimate.predicted_tre_from_scatter_mm),
        fre_mm=float(registration.fre_mm),
        fle_vectors_mm=registration.ct_mm - truly_mapped,
    )
