"""Pivot calibration: the tip of a tracked tool from a stream of poses taken while the tool pivots
about its tip resting in a divot.

For every pose ``tracker_from_tool_i = [R_i, t_i]`` the tip maps to the same fixed point:
``R_i @ tip_in_tool + t_i = pivot_in_tracker``, i.e. ``[R_i  -I] [tip; pivot] = -t_i``. Stacking the
frames gives an over-determined linear system solved by least squares (the "algebraic" pivot
calibration; Yaniv 2015, "Which pivot calibration?", Proc. SPIE 9415, eq. 2). Frames where the tip
slipped are rejected with RANSAC (Fischler & Bolles 1981) on minimal samples of 3 poses, then the
system is re-solved on the inliers.

The tip offset along a direction the tool was never rotated about is not observable: the result
carries a warning when the rotation coverage (see ``rotation_coverage_rad``) is too small.
"""

import logging
from dataclasses import dataclass

import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import RECORDED_ORTHONORMAL_TOL, as_pose_stack

logger = logging.getLogger(__name__)

MIN_FRAMES = 6
SAMPLE_SIZE = 3
# Below this rotation coverage the recording is not a pivot motion at all: refuse, not warn.
REFUSE_COVERAGE_RAD = np.radians(2.0)


@dataclass(frozen=True)
class PivotSettings:
    """How pivot calibration rejects slipped frames and when it warns.

    ``inlier_threshold_mm``: a frame is an inlier when its tip lands within this distance of the
    pivot point; ``ransac_iterations`` minimal samples are tried (seeded by ``seed``);
    ``min_coverage_rad``: warn when the tool turned less than this (RMS) about its least-covered
    direction; ``max_outlier_fraction``: warn when more frames than this were rejected.
    """

    inlier_threshold_mm: float = 2.0
    ransac_iterations: int = 200
    seed: int = 0
    min_coverage_rad: float = np.radians(10.0)
    max_outlier_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not (np.isfinite(self.inlier_threshold_mm) and self.inlier_threshold_mm > 0.0):
            raise RegistrationError(
                f"inlier_threshold_mm must be > 0 mm; got {self.inlier_threshold_mm}"
            )
        if self.ransac_iterations < 1:
            raise RegistrationError(f"ransac_iterations must be >= 1; got {self.ransac_iterations}")
        if not (np.isfinite(self.min_coverage_rad) and self.min_coverage_rad >= 0.0):
            raise RegistrationError(f"min_coverage_rad must be >= 0; got {self.min_coverage_rad}")
        if not 0.0 <= self.max_outlier_fraction <= 1.0:
            raise RegistrationError(
                f"max_outlier_fraction must be in [0, 1]; got {self.max_outlier_fraction}"
            )


@dataclass(frozen=True)
class PivotResult:
    """A pivot calibration.

    ``tip_in_tool_mm`` (3,) tip in the tool frame; ``pivot_in_tracker_mm`` (3,) divot in the tracker
    frame; ``rms_mm`` RMS distance of the inlier frames' tips from the pivot point;
    ``frames_used`` inlier count; ``inliers`` (M,) mask over the input frames (missing frames are
    False); ``rotation_coverage_rad`` RMS rotation about the least-covered direction;
    ``warnings`` sentences for the user (empty when all is well).
    """

    tip_in_tool_mm: np.ndarray
    pivot_in_tracker_mm: np.ndarray
    rms_mm: float
    frames_used: int
    inliers: np.ndarray
    rotation_coverage_rad: float
    warnings: tuple[str, ...]


def _solve(rotations: np.ndarray, translations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (tip_in_tool, pivot_in_tracker) of ``R_i tip + t_i = pivot`` (Yaniv eq. 2)."""
    m = rotations.shape[0]
    system = np.empty((m, 3, 6))
    system[:, :, :3] = rotations
    system[:, :, 3:] = -np.eye(3)
    solution = np.linalg.lstsq(system.reshape(3 * m, 6), -translations.reshape(3 * m), rcond=None)
    return solution[0][:3], solution[0][3:]


def _tip_distances(
    rotations: np.ndarray, translations: np.ndarray, tip: np.ndarray, pivot: np.ndarray
) -> np.ndarray:
    """Distance (mm) of each frame's tip, mapped into the tracker, from the pivot point."""
    return np.linalg.norm(rotations @ tip + translations - pivot, axis=1)


def rotation_coverage_rad(rotations: np.ndarray) -> float:
    """RMS rotation (rad) of the poses about their least-covered direction.

    The tip component along direction u is determined by rotations about axes perpendicular to u:
    the normal matrix of the eliminated system is ``S = mean (R_i - R_mean)^T (R_i - R_mean)``,
    which for small rotations is ``trace(C) I - C`` with C the covariance of rotation vectors. The
    square root of its smallest eigenvalue is this coverage; 0 for rotation about one axis only.
    """
    deviations = rotations - rotations.mean(axis=0)
    normal = np.einsum("mji,mjk->ik", deviations, deviations) / rotations.shape[0]
    return float(np.sqrt(max(np.linalg.eigvalsh(normal)[0], 0.0)))


def _ransac_inliers(
    rotations: np.ndarray, translations: np.ndarray, settings: PivotSettings
) -> np.ndarray:
    """Inlier mask of the minimal-sample hypothesis that explains the most frames."""
    rng = np.random.default_rng(settings.seed)
    m = rotations.shape[0]
    best = np.ones(m, dtype=bool)
    best_count = -1
    best_rms = np.inf
    for _ in range(settings.ransac_iterations):
        sample = rng.choice(m, SAMPLE_SIZE, replace=False)
        tip, pivot = _solve(rotations[sample], translations[sample])
        distances = _tip_distances(rotations, translations, tip, pivot)
        inliers = distances < settings.inlier_threshold_mm
        count = int(inliers.sum())
        rms = float(np.sqrt(np.mean(distances[inliers] ** 2))) if count else np.inf
        if count > best_count or (count == best_count and rms < best_rms):
            best, best_count, best_rms = inliers, count, rms
    return best


def pivot_calibration(
    tracker_from_tool: np.ndarray, settings: PivotSettings | None = None
) -> PivotResult:
    """Tip offset and pivot point from ``(M, 4, 4)`` tracker_from_tool poses (mm) of a tool
    pivoting about its tip.

    Frames with NaN poses (tool not seen) are skipped. Raises RegistrationError when fewer than
    6 usable frames remain, when a pose is not rigid (to the 6 digits recordings keep), when no
    consistent set of frames exists, or when the tool turned less than 2 deg (no pivoting).
    """
    settings = settings or PivotSettings()
    poses_in = np.asarray(tracker_from_tool, dtype=np.float64)
    if poses_in.ndim != 3 or poses_in.shape[1:] != (4, 4):
        raise RegistrationError(
            f"tracker_from_tool must have shape (M, 4, 4); got {poses_in.shape}"
        )
    seen = np.all(np.isfinite(poses_in), axis=(1, 2))
    poses = as_pose_stack(
        poses_in[seen],
        "tracker_from_tool (frames with the tool seen)",
        MIN_FRAMES,
        RECORDED_ORTHONORMAL_TOL,
    )
    rotations = poses[:, :3, :3]
    translations = poses[:, :3, 3]
    inliers = _ransac_inliers(rotations, translations, settings)
    for _ in range(2):  # refit on the inliers, then re-select with the refined solution
        if inliers.sum() < MIN_FRAMES:
            raise RegistrationError(
                f"only {int(inliers.sum())} frames agree on one pivot point within "
                f"{settings.inlier_threshold_mm} mm (need {MIN_FRAMES}): the tip slipped, or the "
                "recording is not a pivot motion"
            )
        tip, pivot = _solve(rotations[inliers], translations[inliers])
        distances = _tip_distances(rotations, translations, tip, pivot)
        inliers = distances < settings.inlier_threshold_mm
    if inliers.sum() < MIN_FRAMES:
        raise RegistrationError(
            f"only {int(inliers.sum())} frames agree on the refined pivot point (need {MIN_FRAMES})"
        )
    tip, pivot = _solve(rotations[inliers], translations[inliers])
    distances = _tip_distances(rotations[inliers], translations[inliers], tip, pivot)
    coverage = rotation_coverage_rad(rotations[inliers])
    if coverage < REFUSE_COVERAGE_RAD:
        raise RegistrationError(
            f"the tool hardly turned ({np.degrees(coverage):.1f} deg RMS about its least-covered "
            f"direction over {int(inliers.sum())} frames): this is not a pivot recording; pivot "
            "the tool about its tip in a cone of 20-30 deg, in two directions"
        )
    warnings = _warnings(settings, coverage, int(inliers.sum()), len(poses), len(poses_in))
    for warning in warnings:
        logger.warning(warning)
    mask = np.zeros(len(poses_in), dtype=bool)
    mask[np.flatnonzero(seen)] = inliers
    return PivotResult(
        tip_in_tool_mm=tip,
        pivot_in_tracker_mm=pivot,
        rms_mm=float(np.sqrt(np.mean(distances**2))),
        frames_used=int(inliers.sum()),
        inliers=mask,
        rotation_coverage_rad=coverage,
        warnings=warnings,
    )


def _warnings(
    settings: PivotSettings, coverage_rad: float, used: int, seen: int, total: int
) -> tuple[str, ...]:
    warnings = []
    if coverage_rad < settings.min_coverage_rad:
        warnings.append(
            f"the tool was rotated only {np.degrees(coverage_rad):.1f} deg (RMS) about its "
            f"least-covered direction (want >= {np.degrees(settings.min_coverage_rad):.1f} deg): "
            "the tip offset along that direction is poorly determined; pivot in a wider cone, "
            "in two directions"
        )
    rejected = seen - used
    if rejected > settings.max_outlier_fraction * seen:
        warnings.append(
            f"{rejected} of {seen} frames were rejected as outliers (tip farther than "
            f"{settings.inlier_threshold_mm} mm from the pivot): the tip may have slipped"
        )
    if seen < total:
        warnings.append(
            f"{total - seen} of {total} frames had no pose for the tool and were skipped"
        )
    return tuple(warnings)
