"""The demo's outputs for people: ``report.json`` and a short summary table (a string; the CLI
prints it). Distances in mm, angles in degrees, times in seconds; file paths relative to the
output folder."""

import json
import math
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from guidance.exceptions import OutputFolderError

if TYPE_CHECKING:
    from guidance.demo import DemoResult

FLE_METHOD = (
    "measured: RMS over fiducials of the standard error of each dwell's mean tip position, "
    "sqrt(sum |x_i - mean|^2 / (n (n - 1))), valid for frame-to-frame independent noise; "
    "noise_model: marker jitter propagated to the tip by Fitzpatrick 1998 eq. 46 for the stylus "
    "and the reference fits, times the square root of the variance factor of a mean of n "
    "(correlated) frames; from_fre: FRE / sqrt(1 - 2/N), which sees every error that differs "
    "between fiducials"
)

TRE_METHOD = (
    "each fiducial's measured 3x3 error covariance (dwell sample covariance / n) propagated to "
    "the targets to first order (Danilchenko & Fitzpatrick 2011); Fitzpatrick 1998 eq. 46 would "
    "assume the same isotropic FLE at every fiducial, which a stylus (errs across its shaft) and a "
    "reference (errs more far from it) do not have"
)


def _gestes_version() -> str:
    try:
        return version("gestes")
    except PackageNotFoundError:
        return "unknown"


def _rounded(array: np.ndarray, decimals: int = 4) -> list:
    return np.round(np.asarray(array, dtype=np.float64), decimals).tolist()


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def report_dict(result: "DemoResult") -> dict[str, Any]:
    """The JSON-ready content of ``report.json``."""
    root = result.out_dir
    settings = result.settings
    return {
        "gestes_version": _gestes_version(),
        "scene": {
            "name": result.scene_name,
            "description": result.scene_description,
            "folder": _relative(result.scene_dir, root),
            "ct_file": _relative(result.ct_path, root),
            "n_fiducials": len(result.fiducials),
            "n_targets": len(result.targets),
        },
        "simulation": {
            "seed": settings.seed,
            "marker_jitter_rms_mm": settings.marker_jitter_rms_mm,
            "noise_correlation_s": settings.noise_correlation_s,
            "rate_hz": settings.rate_hz,
            "dwell_s": settings.touch.dwell_s,
            "n_frames": result.n_frames,
            "n_frames_with_a_tool_lost": result.n_frames_lost,
        },
        "ground_truth": {
            "tracker_from_image": _rounded(result.tracker_from_image_true, 6),
            "image_from_reference": _rounded(result.image_from_reference_true, 6),
        },
        "registration": {
            "method": "paired-point (Arun 1987 / Umeyama 1991), bead centres from dwell means",
            "image_from_reference": _rounded(result.image_from_reference, 6),
            "fre_rms_mm": round(result.fre_rms_mm, 4),
            "expected_fre_rms_mm": {
                "from_measured_fle": round(result.expected_fre_measured_mm, 4),
                "from_noise_model": round(result.expected_fre_model_mm, 4),
            },
            "fle_rms_mm": {
                "measured": round(result.fle_measured_mm, 4),
                "noise_model": round(result.fle_model_mm, 4),
                "from_fre": round(result.fle_from_fre_mm, 4),
                "method": FLE_METHOD,
            },
            "predicted_tre_method": TRE_METHOD,
            "error_vs_truth": {
                "rotation_deg": round(math.degrees(result.registration_error.rotation_rad), 5),
                "translation_mm": round(result.registration_error.translation_mm, 4),
            },
        },
        "fiducials": [
            {
                "label": f.label,
                "true_mm": _rounded(f.true_mm),
                "digitized_in_reference_mm": _rounded(f.digitized.point_mm),
                "residual_mm": round(f.residual_mm, 4),
                "n_samples": f.digitized.n_samples,
                "n_lost": f.digitized.n_lost,
                "scatter_rms_mm": round(f.digitized.scatter_rms_mm, 4),
                "fle_measured_mm": round(f.digitized.standard_error_mm, 4),
                "fle_noise_model_mm": round(f.model_fle_mm, 4),
            }
            for f in result.fiducials
        ],
        "targets": [
            {
                "label": t.label,
                "true_mm": _rounded(t.true_mm),
                "predicted_tre_rms_mm": round(t.predicted_tre_rms_mm, 4),
                "tre_mm": round(t.tre_mm, 4),
                "navigated_mm": _rounded(t.navigated_mm),
                "measured_error_mm": round(t.error_mm, 4),
                "expected_error_rms_mm": round(t.expected_error_rms_mm, 4),
                "dwell_standard_error_mm": round(t.dwell_standard_error_mm, 4),
                "n_samples": t.n_samples,
            }
            for t in result.targets
        ],
        "structures": [
            {
                "name": structure.name,
                "closest_navigated_distance_mm": round(structure.closest_mm, 3),
                "at_s": round(structure.at_s, 3),
            }
            for structure in result.structures
        ],
        "picture": _relative(result.picture_path, root),
        "warnings": list(result.warnings),
        "timing_s": {step: round(seconds, 3) for step, seconds in result.timing_s.items()},
    }


def write_report(result: "DemoResult", path: Path) -> Path:
    """Write ``report.json``; OutputFolderError if the file cannot be written."""
    path = Path(path)
    try:
        path.write_text(json.dumps(report_dict(result), indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise OutputFolderError(f"cannot write the report {path}: {error.strerror}") from error
    return path


def summary_table(result: "DemoResult") -> str:
    """A short, readable summary of the demo: registration, fiducials, targets, files, time."""
    settings = result.settings
    width = max(10, *(len(f.label) + 2 for f in result.fiducials))
    width = max(width, *(len(t.label) + 2 for t in result.targets)) if result.targets else width
    lines = [
        f"gestes demo: {result.scene_name} phantom, {len(result.fiducials)} fiducials, "
        f"{len(result.targets)} targets; {result.n_frames} frames at {settings.rate_hz:.0f} Hz "
        f"({result.n_frames_lost} with a tool lost), marker noise "
        f"{settings.marker_jitter_rms_mm:.2f} mm RMS, seed {settings.seed}",
        "",
        f"registration: FRE {result.fre_rms_mm:.3f} mm (expected "
        f"{result.expected_fre_measured_mm:.3f} from the measured FLE "
        f"{result.fle_measured_mm:.3f} mm; noise model FLE {result.fle_model_mm:.3f} mm)",
        f"  FLE explaining the FRE: {result.fle_from_fre_mm:.3f} mm",
        f"  vs truth: {math.degrees(result.registration_error.rotation_rad):.3f} deg, "
        f"{result.registration_error.translation_mm:.3f} mm",
        "",
        f"{'fiducial':<{width}}{'residual':>10}{'FLE':>8}{'samples':>9}   (mm)",
    ]
    lines += [
        f"{f.label:<{width}}{f.residual_mm:>10.3f}{f.digitized.standard_error_mm:>8.3f}"
        f"{f.digitized.n_samples:>9d}"
        for f in result.fiducials
    ]
    lines += [
        "",
        f"{'target':<{width}}{'TRE predicted':>15}{'actual':>8}{'tip error':>11}{'expected':>10}"
        "   (mm)",
    ]
    lines += [
        f"{t.label:<{width}}{t.predicted_tre_rms_mm:>15.3f}{t.tre_mm:>8.3f}{t.error_mm:>11.3f}"
        f"{t.expected_error_rms_mm:>10.3f}"
        for t in result.targets
    ]
    if result.structures:
        lines += ["", "closest approach of the navigated tip to the structures to avoid:"]
        lines += [
            f"  {s.name:<{width + 14}}{s.closest_mm:>8.1f} mm"
            + ("  INSIDE" if s.closest_mm < 0.0 else "")
            for s in result.structures
        ]
    if result.warnings:
        lines += ["", *(f"warning: {warning}" for warning in result.warnings)]
    written = [result.report_path, result.scene_dir]
    if result.picture_path is not None:
        written.insert(0, result.picture_path)
    steps = ", ".join(
        f"{step.replace('_', ' ')} {seconds:.1f}"
        for step, seconds in result.timing_s.items()
        if step != "total"
    )
    lines += [
        "",
        "written: " + ", ".join(str(path) for path in written),
        f"time: {result.timing_s.get('total', float('nan')):.1f} s ({steps})",
    ]
    return "\n".join(lines)
