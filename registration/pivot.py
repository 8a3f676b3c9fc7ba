"""Pivot calibration: the tip of a tracked tool from a stream of poses taken while the tool pivots
about its tip resting in a divot.

For every pose ``tracker_from_tool_i = [R_i, t_i]`` the tip maps to the same fixed point:
``R_i @ tip_in_tool + t_i = pivot_in_tracker``, i.e. ``[R_i  -I] [tip; pivot] = -t_i``. Stacking the
frames gives an over-determined linear system solved by least squares (the "algebraic" pivot
calibration; Yaniv 2015, "Which pivot calibration?", Proc. SPIE 9415, eq. 2).

A recording holds more than the pivoting (the tool brought to the divot, points touched after)
and the tip may slip. The frames that pivot are found without a threshold chosen in advance:

1. hypotheses from minimal samples of 3 poses turned at least ``min_sample_angle_rad`` from each
   other are scored by a low quantile of all frames' tip distances (least quantile of squares,
   Rousseeuw 1984), so the pivoting need only be a fifth of the recording;
2. the outlier threshold then follows the data's own noise: the median tip distance of the
   inliers plus ``outlier_mads`` times their scaled median absolute deviation (Hampel's
   identifier), iterated with the refit; a fixed ``inlier_threshold_mm`` replaces it if given;
3. the pivoting segment is the longest stretch of inliers interrupted by no more than
   ``max_gap_frames``; frames before and after it are another activity, not outliers. Inside it,
   a run of at least ``min_slip_frames`` rejected frames, or a rejected share above
   ``max_outlier_fraction``, is a slip and is warned about; isolated rejected frames are not.

The tip offset along a direction the tool was never rotated about is not observable: the result
carries a warning when the rotation coverage (see ``rotation_coverage_rad``) is too small.
"""

from dataclasses import dataclass

import numpy as np

from registration.exceptions import RegistrationError
from registration.transforms import RECORDED_ORTHONORMAL_TOL, as_pose_stack

MIN_FRAMES = 6
SAMPLE_SIZE = 3
# Below this rotation coverage the recording is not a pivot motion at all: refuse, not warn.
REFUSE_COVERAGE_RAD = np.radians(2.0)
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation


@dataclass(frozen=True)
class PivotSettings:
    """How pivot calibration finds the pivoting frames, rejects slipped ones and warns.

    ``outlier_mads``: a frame is an outlier when its tip lands farther from the pivot than the
    inliers' median distance plus this many scaled MADs (5: noise alone passes it about once in
    50,000 frames); ``min_threshold_mm`` floors that threshold (noise-free data);
    ``inlier_threshold_mm``: a fixed threshold instead (None: follow the data);
    ``quantile``: the share of frames the pivoting must at least make up;
    ``ransac_iterations`` minimal samples (seeded by ``seed``) whose poses differ by at least
    ``min_sample_angle_rad``; ``max_gap_frames``: rejected or missing frames that may interrupt
    the pivoting segment; ``min_slip_frames``: a run of rejected frames this long inside it is a
    slip; ``max_outlier_fraction``: warn when more of its frames than this were rejected;
    ``min_coverage_rad``: warn when the tool turned less than this (RMS) about its least-covered
    direction; ``max_rms_mm``: refuse a result whose tips stray more than this (RMS) from the
    pivot, which no tip resting in a divot does.
    """

    outlier_mads: float = 5.0
    min_threshold_mm: float = 0.05
    inlier_threshold_mm: float | None = None
    quantile: float = 0.2
    ransac_iterations: int = 300
    min_sample_angle_rad: float = np.radians(5.0)
    seed: int = 0
    max_gap_frames: int = 60
    min_slip_frames: int = 3
    max_outlier_fraction: float = 0.2
    min_coverage_rad: float = np.radians(10.0)
    max_rms_mm: float = 5.0

    def __post_init__(self) -> None:
        positive = {
            "outlier_mads": self.outlier_mads,
            "min_threshold_mm": self.min_threshold_mm,
            "max_rms_mm": self.max_rms_mm,
            "inlier_threshold_mm": 1.0
            if self.inlier_threshold_mm is None
            else self.inlier_threshold_mm,
        }
        for name, value in positive.items():
            if not (np.isfinite(value) and value > 0.0):
                raise RegistrationError(f"{name} must be > 0; got {value}")
        if not 0.0 < self.quantile <= 0.5:
            raise RegistrationError(f"quantile must be in (0, 0.5]; got {self.quantile}")
        if self.ransac_iterations < 1:
            raise RegistrationError(f"ransac_iterations must be >= 1; got {self.ransac_iterations}")
        if self.max_gap_frames < 0 or self.min_slip_frames < 1:
            raise RegistrationError(
                f"max_gap_frames must be >= 0 and min_slip_frames >= 1; got "
                f"{self.max_gap_frames} and {self.min_slip_frames}"
            )
        for name in ("min_coverage_rad", "min_sample_angle_rad"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise RegistrationError(f"{name} must be >= 0; got {value}")
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
    False); ``segment`` (first, last) frame indices of the pivoting; ``threshold_mm`` the outlier
    threshold used; ``rotation_coverage_rad`` RMS rotation about the least-covered direction;
    ``warnings`` sentences for the user (empty when all is well).
    """

    tip_in_tool_mm: np.ndarray
    pivot_in_tracker_mm: np.ndarray
    rms_mm: float
    frames_used: int
    inliers: np.ndarray
    segment: tuple[int, int]
    threshold_mm: float
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


def _spread_samples(rotations: np.ndarray, settings: PivotSettings) -> np.ndarray:
    """``ransac_iterations`` draws of 3 frame indices (seeded), keeping those whose rotations
    differ pairwise by at least ``min_sample_angle_rad`` (3 poses nearly alike leave the tip
    undetermined): (S, 3)."""
    rng = np.random.default_rng(settings.seed)
    count = rotations.shape[0]
    samples = np.array(
        [rng.choice(count, SAMPLE_SIZE, replace=False) for _ in range(settings.ransac_iterations)]
    )
    spread = np.ones(len(samples), dtype=bool)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        # trace(R_a^T R_b) = 1 + 2 cos(angle between them)
        traces = np.einsum("sij,sij->s", rotations[samples[:, a]], rotations[samples[:, b]])
        spread &= (traces - 1.0) / 2.0 <= np.cos(settings.min_sample_angle_rad)
    return samples[spread]


def _solve_minimal(
    rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_solve`` for each of S minimal samples at once: rotations (S, 3, 3, 3), translations
    (S, 3, 3) give tips and pivots (S, 3) (least squares by the pseudo-inverse, stacked)."""
    count = rotations.shape[0]
    system = np.empty((count, 3, 3, 6))
    system[..., :3] = rotations
    system[..., 3:] = -np.eye(3)
    system = system.reshape(count, 9, 6)
    solution = np.linalg.pinv(system) @ -translations.reshape(count, 9, 1)
    return solution[:, :3, 0], solution[:, 3:, 0]


# Hypotheses scored together: (this many) x (frames) tip distances at a time.
HYPOTHESES_AT_ONCE = 64


def _best_hypothesis(
    rotations: np.ndarray, translations: np.ndarray, settings: PivotSettings
) -> np.ndarray:
    """Tip distances of every frame under the minimal-sample hypothesis whose ``quantile`` of
    tip distances is the smallest (least quantile of squares; the first of equals)."""
    samples = _spread_samples(rotations, settings)
    if len(samples) == 0:
        raise RegistrationError(
            f"no 3 poses differ by {np.degrees(settings.min_sample_angle_rad):.0f} deg in "
            f"{settings.ransac_iterations} draws: the tool hardly turned, this is not a pivot "
            "recording"
        )
    rank = max(MIN_FRAMES, int(settings.quantile * rotations.shape[0])) - 1
    tips, pivots = _solve_minimal(rotations[samples], translations[samples])
    best, best_score = None, np.inf
    for first in range(0, len(samples), HYPOTHESES_AT_ONCE):
        chosen = slice(first, first + HYPOTHESES_AT_ONCE)
        tips_in_tracker = (rotations @ tips[chosen].T).transpose(2, 0, 1) + translations
        distances = np.linalg.norm(tips_in_tracker - pivots[chosen, None, :], axis=2)
        scores = np.partition(distances, rank, axis=1)[:, rank]
        k = int(np.argmin(scores))
        if scores[k] < best_score:
            best, best_score = distances[k], scores[k]
    return best


def _threshold(distances: np.ndarray, inliers: np.ndarray, settings: PivotSettings) -> float:
    """The outlier threshold (mm): fixed, or the inliers' median + outlier_mads scaled MADs."""
    if settings.inlier_threshold_mm is not None:
        return settings.inlier_threshold_mm
    inside = distances[inliers]
    median = float(np.median(inside))
    mad = float(np.median(np.abs(inside - median)))
    return max(settings.min_threshold_mm, median + settings.outlier_mads * MAD_TO_SIGMA * mad)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _segment(inliers: np.ndarray, max_gap: int) -> tuple[int, int]:
    """The stretch of frames holding the most inliers with no gap longer than ``max_gap``."""
    runs = _runs(inliers)
    best, best_count = runs[0], 0
    first, count = runs[0][0], 0
    for index, (a, b) in enumerate(runs):
        if index and a - runs[index - 1][1] - 1 > max_gap:
            first, count = a, 0
        count += b - a + 1
        if count > best_count:
            best, best_count = (first, b), count
    return best


def _fit_inliers(
    rotations: np.ndarray, translations: np.ndarray, settings: PivotSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Inlier mask, tip, pivot and threshold, refitting and re-thresholding until stable."""
    distances = _best_hypothesis(rotations, translations, settings)
    rank = max(MIN_FRAMES, int(settings.quantile * len(distances))) - 1
    inliers = distances <= np.partition(distances, rank)[rank]
    for _ in range(10):
        tip, pivot = _solve(rotations[inliers], translations[inliers])
        distances = _tip_distances(rotations, translations, tip, pivot)
        threshold = _threshold(distances, inliers, settings)
        updated = distances <= threshold
        if updated.sum() < MIN_FRAMES:
            raise RegistrationError(
                f"only {int(updated.sum())} frames agree on one pivot point within "
                f"{threshold:.2f} mm (need {MIN_FRAMES}): the tip slipped, or the recording is "
                "not a pivot motion"
            )
        if np.array_equal(updated, inliers):
            break
        inliers = updated
    return inliers, tip, pivot, threshold


def pivot_calibration(
    tracker_from_tool: np.ndarray, settings: PivotSettings | None = None
) -> PivotResult:
    """Tip offset and pivot point from ``(M, 4, 4)`` tracker_from_tool poses (mm), in time order,
    of a tool pivoting about its tip for at least a ``quantile`` of the frames.

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
    inliers_seen, _, _, threshold = _fit_inliers(rotations, translations, settings)
    inliers = np.zeros(len(poses_in), dtype=bool)
    inliers[np.flatnonzero(seen)] = inliers_seen
    first, last = _segment(inliers, settings.max_gap_frames)
    inliers[:first] = False
    inliers[last + 1 :] = False
    used = inliers[seen]
    if used.sum() < MIN_FRAMES:
        raise RegistrationError(f"only {int(used.sum())} frames pivot together (need {MIN_FRAMES})")
    tip, pivot = _solve(rotations[used], translations[used])
    distances = _tip_distances(rotations[used], translations[used], tip, pivot)
    rms = float(np.sqrt(np.mean(distances**2)))
    if rms > settings.max_rms_mm:
        raise RegistrationError(
            f"the {int(used.sum())} frames that agree best still stray {rms:.1f} mm RMS from one "
            f"pivot point (a tip resting in a divot stays within {settings.max_rms_mm} mm): the "
            "frames have no common pivot, or the tip slipped throughout"
        )
    coverage = rotation_coverage_rad(rotations[used])
    if coverage < REFUSE_COVERAGE_RAD:
        raise RegistrationError(
            f"the tool hardly turned ({np.degrees(coverage):.1f} deg RMS about its least-covered "
            f"direction over {int(used.sum())} frames): this is not a pivot recording; pivot "
            "the tool about its tip in a cone of 20-30 deg, in two directions"
        )
    warnings = _warnings(settings, coverage, inliers, seen, (first, last), threshold)
    return PivotResult(
        tip_in_tool_mm=tip,
        pivot_in_tracker_mm=pivot,
        rms_mm=rms,
        frames_used=int(used.sum()),
        inliers=inliers,
        segment=(first, last),
        threshold_mm=threshold,
        rotation_coverage_rad=coverage,
        warnings=warnings,
    )


def _warnings(
    settings: PivotSettings,
    coverage_rad: float,
    inliers: np.ndarray,
    seen: np.ndarray,
    segment: tuple[int, int],
    threshold_mm: float,
) -> tuple[str, ...]:
    """Too little rotation; a slip inside the pivoting segment (a run of rejected frames, or too
    many of them); frames of the segment without a pose."""
    warnings = []
    if coverage_rad < settings.min_coverage_rad:
        warnings.append(
            f"the tool was rotated only {np.degrees(coverage_rad):.1f} deg (RMS) about its "
            f"least-covered direction (want >= {np.degrees(settings.min_coverage_rad):.1f} deg): "
            "the tip offset along that direction is poorly determined; pivot in a wider cone, "
            "in two directions"
        )
    first, last = segment
    inside = slice(first, last + 1)
    rejected = seen[inside] & ~inliers[inside]
    slips = [
        (a + first, b + first) for a, b in _runs(rejected) if b - a + 1 >= settings.min_slip_frames
    ]
    count, frames = int(rejected.sum()), int(seen[inside].sum())
    if slips or count > settings.max_outlier_fraction * frames:
        where = ", ".join(f"{a}-{b}" for a, b in slips[:5]) or "scattered"
        warnings.append(
            f"the tip left the pivot point: {count} of the {frames} pivoting frames were farther "
            f"than {threshold_mm:.2f} mm from it and were left out (frames {where}); check that "
            "the tip stays in the divot"
        )
    missing = int((~seen[inside]).sum())
    if missing:
        warnings.append(
            f"{missing} frames of the pivoting had no pose for the tool and were skipped"
        )
    return tuple(warnings)
