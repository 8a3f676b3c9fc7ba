"""What each number of a report means, in a sentence a student reads without a teacher.

Score fields are named in snake case with their unit as a suffix (``_mm``, ``_deg``, ``_s``,
``_percent``; none for a count or a ratio). This table is the one home of their explanations:
the exercise report, the class table of ``gestes grade`` and the study pages all read it, and a
test fails when an exercise scores a field that has no sentence here.
"""

from dataclasses import dataclass

UNIT_SUFFIXES = (
    ("_mm2", "mm\u00b2"),
    ("_mm", "mm"),
    ("_deg", "\u00b0"),
    ("_s", "s"),
    ("_percent", "%"),
)


@dataclass(frozen=True)
class Meaning:
    """A short name (a table header) and the sentence that says what the number tells."""

    name: str
    sentence: str


def _split_unit(field: str) -> tuple[str, str]:
    """``(field without its unit suffix, unit)``; the unit is "" for counts and ratios."""
    for suffix, unit in UNIT_SUFFIXES:
        if field.endswith(suffix):
            return field.removesuffix(suffix), unit
    return field, ""


def unit_of(field: str) -> str:
    """The unit a field's suffix names ("" for counts and ratios)."""
    return _split_unit(field)[1]


MEANINGS: dict[str, Meaning] = {
    # Pivot calibration.
    "pivot_rms_mm": Meaning(
        "pivot residual (RMS)",
        "How far, on average, the computed pivot point moved between the poses you used: "
        "small when the tip stayed in the divot and the stylus is rigid.",
    ),
    "rotation_coverage_deg": Meaning(
        "rotation coverage",
        "How widely you turned the stylus about the direction you turned it least (RMS); under "
        "about 10 degrees the tip is poorly determined along that direction, whatever the "
        "residual says.",
    ),
    "tip_offset_mm": Meaning(
        "tip offset length",
        "The distance from the stylus' marker frame to the computed tip, which every later "
        "exercise uses to know where the tip is.",
    ),
    "tip_x_mm": Meaning("tip offset, x", "The computed tip along the stylus frame's x axis."),
    "tip_y_mm": Meaning("tip offset, y", "The computed tip along the stylus frame's y axis."),
    "tip_z_mm": Meaning("tip offset, z", "The computed tip along the stylus frame's z axis."),
    "tip_error_mm": Meaning(
        "tip error (vs truth)",
        "How far the computed tip is from the true tip (known only in simulation): this error "
        "moves every point you will digitise with this stylus.",
    ),
    "frames_used": Meaning(
        "frames used",
        "How many tracked poses the calibration kept; the others were rejected as outliers "
        "(the tip slipped out of the divot, or a marker was hidden).",
    ),
    "outlier_fraction": Meaning(
        "outlier fraction",
        "The share of the pivoting poses rejected as outliers; a large share means the tip "
        "left the divot often.",
    ),
    # Registration (fiducials and surface).
    "fre_rms_mm": Meaning(
        "FRE (RMS)",
        "Fiducial registration error: how well the touched fiducials (the landmarks, in the "
        "surface exercise) agree with the CT ones after registration. It says little about the "
        "error at the target (TRE).",
    ),
    "n_points": Meaning(
        "points registered",
        "How many points the registration used (fiducials touched, or surface points kept from "
        "the sweep); more points, spread around the target, give a smaller, steadier error.",
    ),
    "fle_from_fre_mm": Meaning(
        "FLE implied by the FRE",
        "The localisation error per fiducial that explains the FRE (FRE / sqrt(1 - 2/N)); it "
        "feeds the TRE prediction.",
    ),
    "max_residual_mm": Meaning(
        "largest fiducial residual",
        "The fiducial that fits worst after registration; much larger than the others, it "
        "points to a fiducial touched in the wrong place or mislabelled.",
    ),
    "predicted_tre_rms_mm": Meaning(
        "predicted TRE, worst target",
        "The largest error expected at any target from the fiducials' layout and the FLE "
        "implied by the FRE (Fitzpatrick 1998): small when the fiducials surround the targets. "
        "It only knows the errors the FRE shows: skin markers that slid together between the "
        "scan and the session leave the FRE small and move every target, so the real TRE can "
        "be several times this.",
    ),
    "validation_tre_rms_mm": Meaning(
        "measured TRE at validation points (RMS)",
        "The registration's error measured at fiducials that were not used to compute it "
        "(bone-anchored ones where the scene has them): the honest check of how well "
        "navigation will match the CT, and the only one that sees a shift of the skin markers.",
    ),
    "registration_error_mm": Meaning(
        "true TRE, worst target",
        "How far the registered CT is from the true one at the worst target (known only in "
        "simulation): the error this run really had. Compare it with the prediction: the "
        "prediction comes from the FRE, which cannot see the skin markers' common shift, so "
        "it misses that part.",
    ),
    "surface_rms_mm": Meaning(
        "surface distance (RMS)",
        "How far the swept points lie from the CT's skin or bone surface after ICP; points "
        "pressed into soft skin or swept off the surface raise it.",
    ),
    "inlier_fraction": Meaning(
        "inlier fraction",
        "The share of swept points close enough to the surface to be trusted by ICP; a low "
        "value means many points were off the surface or the start was poor.",
    ),
    "refinement_mm": Meaning(
        "moved by the sweep",
        "How far the surface registration moved the targets from where the landmarks put "
        "them (the largest). The skin markers' slide makes a few millimetres normal; far more "
        "means one of the two registrations is wrong, and the run warns.",
    ),
    # Targeting.
    "tip_to_target_mm": Meaning(
        "tip to target",
        "The distance from the navigated tip to the target at the end of the approach, as the "
        "navigation system saw it.",
    ),
    "angle_error_deg": Meaning(
        "angle to the planned path",
        "The angle between the tool and the planned trajectory at the end; a large angle moves "
        "the tip sideways as it advances.",
    ),
    "lateral_offset_mm": Meaning(
        "lateral offset",
        "How far the tip is from the planned line, measured across it.",
    ),
    "depth_error_mm": Meaning(
        "depth error",
        "How far beyond (positive) or short of (negative) the target the tip stopped, along the "
        "planned path.",
    ),
    "closest_structure_mm": Meaning(
        "closest approach to a structure",
        "The smallest distance between the navigated tip and the surface of a structure to "
        "avoid during the approach; negative means the tip went inside.",
    ),
    "true_tip_to_target_mm": Meaning(
        "true tip to target",
        "Where the tip really was, against the target (known only in simulation): the "
        "navigated distance plus the registration and tracking errors navigation cannot show.",
    ),
    "breaches": Meaning(
        "breaches",
        "How many structures to avoid the tip entered or came within their safety margin of; "
        "any breach is a failed gesture, whatever the distance to the target.",
    ),
    "path_length_mm": Meaning(
        "path length",
        "How far the tip travelled during the approach; hesitations and corrections lengthen it.",
    ),
    "time_s": Meaning(
        "time",
        "How long the approach took, from the first movement to the final position.",
    ),
}

# The columns of the per-target table (one value per target, where the score has one number).
TARGET_MEANINGS: dict[str, Meaning] = {
    "predicted_tre_rms_mm": Meaning(
        "predicted TRE (RMS)",
        "The error expected at this target from the fiducials' layout and the FLE implied by "
        "the FRE (Fitzpatrick 1998, eq. 46).",
    ),
    "predicted_tre_from_scatter_mm": Meaning(
        "predicted TRE from the capture scatter",
        "The same prediction from how much the tip shook while each fiducial was captured; it "
        "misses every error that does not shake (calibration, CT, placement), so it is smaller.",
    ),
    "registration_error_mm": Meaning(
        "true TRE",
        "The registration's real error at this target (known only in simulation).",
    ),
}

# The columns of ``gestes study tre``'s table (one row per configuration and target).
STUDY_MEANINGS: dict[str, Meaning] = {
    "layout": Meaning(
        "layout",
        "Where the fiducials are: spread over the skin facing the camera, clustered on one "
        "side, or on one plane.",
    ),
    "n_fiducials": Meaning("fiducials", "How many fiducials were registered."),
    "fle_mm": Meaning(
        "FLE asked",
        "The fiducial localisation error the error model was scaled to (tip placement and CT "
        "localisation, RMS).",
    ),
    "target": Meaning("target", "The target the error is measured at."),
    "trials": Meaning("trials", "How many simulated exercises were run for this row."),
    "failed_trials": Meaning(
        "failed trials",
        "Exercises that could not be scored (a fiducial's dwell was not captured); they are "
        "left out of the numbers.",
    ),
    "target_offset_mm": Meaning(
        "target to fiducial centroid",
        "How far the target is from the centre of the fiducials: the farther, the more a small "
        "rotation error moves it.",
    ),
    "tre_rms_mm": Meaning(
        "measured TRE (RMS)",
        "The true error at the target, RMS over the trials: what the theory below predicts.",
    ),
    "tre_p95_mm": Meaning(
        "measured TRE, 95th percentile",
        "95 trials in 100 had a smaller error at the target than this.",
    ),
    "tre_below_1mm_percent": Meaning(
        "trials with TRE under 1 mm",
        "The share of trials whose error at the target was under 1 mm.",
    ),
    "predicted_tre_mm": Meaning(
        "predicted TRE (eq. 46)",
        "Fitzpatrick, West & Maurer 1998, eq. 46, for this layout at the FLE asked.",
    ),
    "fle_measured_mm": Meaning(
        "FLE measured",
        "The fiducials' true localisation error over the trials (RMS), every source counted: "
        "the tracker and the stylus calibration add to the FLE asked.",
    ),
    "predicted_tre_measured_fle_mm": Meaning(
        "predicted TRE at the measured FLE",
        "Eq. 46 at the FLE the trials really had; what is left between it and the measured "
        "TRE comes from errors that are not independent from one fiducial to the next.",
    ),
    "predicted_tre_anisotropic_mm": Meaning(
        "predicted TRE, anisotropic",
        "The first-order propagation of each fiducial's own measured error covariance "
        "(Danilchenko & Fitzpatrick 2011): it sees that errors differ by direction and by "
        "fiducial, not that they are shared.",
    ),
    "system_predicted_tre_mm": Meaning(
        "TRE the system predicts",
        "What the navigation system predicts from its own FRE (eq. 46 with FLE = FRE / "
        "sqrt(1 - 2/N)), RMS over the trials: all a real system can show.",
    ),
    "fre_rms_mm": MEANINGS["fre_rms_mm"],
}


def meaning_of(field: str, table: dict[str, Meaning] = MEANINGS) -> Meaning | None:
    """The meaning of a score field (or of a column of ``table``), or None when nobody has
    written it yet."""
    return table.get(field)


def column_title(field: str, table: dict[str, Meaning] = MEANINGS) -> str:
    """A table header for a field: its short name and unit, e.g. "FRE (RMS) (mm)"."""
    meaning = meaning_of(field, table)
    bare, unit = _split_unit(field)
    name = meaning.name if meaning else bare.replace("_", " ")
    return f"{name} ({unit})" if unit else name
