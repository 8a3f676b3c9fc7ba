"""The pivot exercise: find where the stylus tip is, from its markers, by pivoting it in a divot.

Steps: the student rests the tip in a divot fixed to the phantom and pivots the stylus about it
(acquire); the pivoting frames are found as the stretch where the nominal tip (the tool
definition's) stays within a few millimetres of one point relative to the reference (digitise:
the same stillness detector, loosened, since the tip is what is being calibrated); the stylus
poses relative to the reference are solved for the tip and the pivot point (register: Yaniv
2015's algebraic calibration with RANSAC, ``registration.pivot``).

Score: the RMS residual (how far the computed tip strays from the pivot point over the poses),
the rotation coverage (how widely the stylus turned about its least-covered direction), the tip
offset, and in simulation its error against the true tip. ``pivot.json`` in the output folder
is what ``gestes pivot`` prints, for the other exercises' ``--tool-tip``.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devices.sequence_file import TrackingSequence
from guidance.exceptions import GuidanceError
from guidance.exercises.digitise import tip_track
from guidance.exercises.records import listed, rounded
from guidance.exercises.setup import ExerciseSetup
from registration.digitize import StillnessSettings, find_still_periods
from registration.exceptions import RegistrationError
from registration.pivot import PivotResult, pivot_calibration
from scenes.scene import Scene
from scenes.student import HandSettings, StudentMotion

if TYPE_CHECKING:
    from guidance.exercises.live import Task
    from guidance.exercises.simulate import Stage

NAME = "pivot"
PIVOT_FILE = "pivot.json"
# The nominal tip is off the true one by at most a few mm: while pivoting it stays within this
# RMS of one point (the tip offset error times the tilt), for at least this long.
PIVOTING = StillnessSettings(still_mm=3.0, still_s=2.0)
# Where the calibration divot is: on a block beside the phantom, from the phantom's centre
# (CT frame, mm), the stylus pivoting about the anterior-superior direction (toward the camera).
DIVOT_OFFSET_MM = np.array([-110.0, -40.0, 40.0])
DIVOT_UP = np.array([0.0, -1.0, 1.0]) / math.sqrt(2.0)


@dataclass(frozen=True, eq=False)
class PivotOutcome:
    """The pivot exercise's record: the frames pivoting (``first``..``last``), the calibration,
    and in simulation the tip's error against the true tip (mm)."""

    first: int
    last: int
    calibration: PivotResult
    tip_error_mm: float | None
    warnings: tuple[str, ...]


def reference_from_stylus(sequence: TrackingSequence, stylus: str, reference: str) -> np.ndarray:
    """The stylus pose in the reference frame (F, 4, 4) for every frame, NaN where lost."""
    stylus_poses = sequence.poses_of(stylus)
    reference_poses = sequence.poses_of(reference)
    tracked = np.all(np.isfinite(stylus_poses), axis=(1, 2)) & np.all(
        np.isfinite(reference_poses), axis=(1, 2)
    )
    # inverse([R t]) = [R^T  -R^T t], for every tracked frame at once
    rotations_t = reference_poses[tracked, :3, :3].transpose(0, 2, 1)
    reference_from_tracker = np.zeros((len(rotations_t), 4, 4))
    reference_from_tracker[:, :3, :3] = rotations_t
    translations = reference_poses[tracked, :3, 3, None]
    reference_from_tracker[:, :3, 3] = -(rotations_t @ translations)[..., 0]
    reference_from_tracker[:, 3, 3] = 1.0
    relative = np.full(stylus_poses.shape, np.nan)
    relative[tracked] = reference_from_tracker @ stylus_poses[tracked]
    return relative


def check(scene: Scene) -> None:
    """Any scene will do: the divot is on a block beside the phantom."""


def evaluate(sequence: TrackingSequence, scene: Scene, setup: ExerciseSetup) -> PivotOutcome:
    """Calibrate the stylus from a recording of the pivot exercise (live, replayed, graded)."""
    tips = tip_track(sequence, setup.tool_tip_mm, setup.stylus, setup.reference)
    periods = find_still_periods(sequence.timestamps_s, tips, PIVOTING)
    if not periods:
        raise GuidanceError(
            "no pivoting was found: keep the tip in the divot and tilt the stylus around it for "
            f"at least {PIVOTING.still_s:g} s"
        )
    longest = max(periods, key=lambda p: p.last - p.first)
    poses = reference_from_stylus(sequence, setup.stylus, setup.reference)
    try:
        calibration = pivot_calibration(poses[longest.first : longest.last + 1])
    except RegistrationError as error:
        raise GuidanceError(f"the pivot calibration failed: {error}") from error
    tip_error = None
    if setup.truth is not None:
        tip_error = float(np.linalg.norm(calibration.tip_in_tool_mm - setup.truth.tip_in_stylus_mm))
    return PivotOutcome(longest.first, longest.last, calibration, tip_error, calibration.warnings)


def score(outcome: PivotOutcome) -> dict[str, float | int | None]:
    """The exercise's score (report.json ``score``)."""
    calibration = outcome.calibration
    frames = outcome.last - outcome.first + 1
    tip = calibration.tip_in_tool_mm
    return {
        "pivot_rms_mm": rounded(calibration.rms_mm),
        "rotation_coverage_deg": rounded(math.degrees(calibration.rotation_coverage_rad), 2),
        "tip_offset_mm": rounded(float(np.linalg.norm(tip))),
        "tip_x_mm": rounded(tip[0]),
        "tip_y_mm": rounded(tip[1]),
        "tip_z_mm": rounded(tip[2]),
        "tip_error_mm": rounded(outcome.tip_error_mm),
        "frames_used": calibration.frames_used,
        "outlier_fraction": rounded(1.0 - calibration.frames_used / frames, 3),
    }


def report_parts(outcome: PivotOutcome, setup: ExerciseSetup) -> dict[str, object]:
    """The report's pivot section: the frames used, the tip, the pivot point."""
    return {
        "pivot": {
            "frames": [outcome.first, outcome.last],
            "tip_in_stylus_mm": listed(outcome.calibration.tip_in_tool_mm),
            "pivot_in_reference_mm": listed(outcome.calibration.pivot_in_tracker_mm),
            "true_tip_in_stylus_mm": None
            if setup.truth is None
            else listed(setup.truth.tip_in_stylus_mm),
        }
    }


def write_files(outcome: PivotOutcome, setup: ExerciseSetup, folder: Path) -> Path:
    """``pivot.json`` as ``gestes pivot`` prints it, for ``--tool-tip`` in the other exercises."""
    calibration = outcome.calibration
    document = {
        "tool": setup.stylus,
        "tip_in_tool": calibration.tip_in_tool_mm.tolist(),
        "pivot_in_tracker": calibration.pivot_in_tracker_mm.tolist(),
        "rms": calibration.rms_mm,
        "frames_used": calibration.frames_used,
        "frames": outcome.last - outcome.first + 1,
        "rotation_coverage_deg": math.degrees(calibration.rotation_coverage_rad),
        "warnings": list(calibration.warnings),
        "units": "mm",
    }
    path = Path(folder) / PIVOT_FILE
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def divot_mm(scene_centre_mm: np.ndarray) -> np.ndarray:
    """Where the divot is (CT, mm) for a scene whose skin is centred at ``scene_centre_mm``;
    the stylus pivots about ``DIVOT_UP`` there."""
    return np.asarray(scene_centre_mm, dtype=np.float64) + DIVOT_OFFSET_MM


def script(stage: "Stage", hand: HandSettings, seed: int) -> StudentMotion:
    """The simulated student's part: pivot the stylus in the divot beside the phantom."""
    centre = stage.to_image(stage.centre_tracker_mm[None])[0]
    divot = stage.to_tracker(divot_mm(centre)[None])[0]
    up = stage.directions_to_tracker(DIVOT_UP[None])[0]
    student = stage.student_at(hand, seed, divot, up)
    student.pivot("pivot", divot, up)
    return student.motion(stage.tracker_from_reference)


def tasks(scene: Scene) -> tuple["Task", ...]:
    """One dwell: the tip stays in the divot while the stylus pivots, then lifts."""
    from guidance.exercises.live import Task

    return (
        Task(
            "pivot",
            "rest the tip in the divot and pivot the stylus around it in wide circles for about "
            "10 s, then lift it",
            lifts=True,
        ),
    )
