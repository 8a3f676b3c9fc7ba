"""Surface registration of digitised points to a CT surface: the iterative closest point
algorithm (Besl & McKay 1992, IEEE PAMI 14(2)) with

- for each point, the tangent plane of the closest surface point facing the same way as the
  digitised patch, from a field built once per surface (``registration.closest_point``), so
  that a patch on the outer table of a bone is never captured by the inner table;
- rejection by distance and by normal compatibility, and of outliers by Hampel's X84 rule
  (residuals farther than 5.2 median absolute deviations from the median; used for ICP by
  Trucco et al. 1999, Pattern Recognition Letters 20(9)). Once the steps are small the pairs
  keep their weights, so that the last steps minimise one fixed objective. (A hard trim of a
  fixed share of the worst residuals, or weights re-decided at every step, make the kept set
  flicker and ICP crawl near the optimum.)
- a point-to-plane Gauss-Newton step (Chen & Medioni 1992; small-angle linearisation as in
  Low 2004, UNC TR04-004, eq. 6-8) or a point-to-point one (the residual vector to the foot of
  the perpendicular as a fixed target: the textbook ICP error, linearised the same way), the
  whole iteration one Numba kernel;
- a multi-start fallback when the run from the given pose does not fit well: coarse runs from
  rotations about and shifts along the patch around that pose, scored by inlier fraction and
  RMS, the best few refined on all points.

``SurfaceRegistration`` binds the structure to a surface for repeated calls;
``register_surface`` is the one-shot convenience.
"""

import enum
import logging
import math
from dataclasses import dataclass, field, replace

import numba
import numpy as np

from registration.closest_point import (
    ClosestPointField,
    FieldSettings,
    band_planes,
    coarse_planes,
    moved_pair,
)
from registration.exceptions import RegistrationError
from registration.mesh import as_unit_normals
from registration.point_normals import away_from, estimate_patch_normals
from registration.transforms import apply_transform, as_points, as_rigid, rotation_from_vector

logger = logging.getLogger(__name__)

MIN_POINTS = 6
# A run has also converged when its last STALL_STEPS steps all stayed under STALL_FACTOR times
# the tolerances.
STALL_STEPS = 2
STALL_FACTOR = 5.0
# ... or when what is left of a geometric series of steps, shrinking as its last two did (by at
# most this ratio), is within STALL_FACTOR times the tolerances: on a bumpy CT surface each step
# closes only about three quarters of the gap, so waiting for a step within them costs passes
# that move the pose by less than the field's facets do.
MAX_TAIL_RATIO = 0.5
# Longest rotation of one point-to-plane step: its small-angle model is good to ~1% up to here.
MAX_STEP_RAD = math.radians(10.0)
# The first pass of a point-to-plane run looks at an even subsample of about this many points
# (when it has at least twice as many): a step from a start a few mm off is about as good from
# them, at a fraction of the cost (see _icp).
SUBSAMPLE_POINTS = 250
# Points the robust noise estimate of each step looks at (plenty for a median and a MAD).
SCALE_SAMPLES = 128
# Once a step is within this many times the tolerances, the pairs keep their weights.
KEEP_WEIGHTS_FACTOR = 100.0
# Levenberg-Marquardt damping (a share of each diagonal term of the normal equations) after a
# step that raised the objective, grown by DAMPING_GROWTH at each one more, shrunk by it at each
# step kept, and 0 again below MIN_DAMPING: a share of 1 about halves the step along the
# directions the points pin down, and all but stops it along those they hardly constrain.
REJECTED_DAMPING = 1.0
DAMPING_GROWTH = 4.0
MIN_DAMPING = 1e-3
# A stylus touching a surface is held within about this angle of its normal: its axis bounds
# the patch normal (see registration.point_normals); so does the surface's normal at a pose.
STYLUS_CONE_RAD = math.radians(45.0)


class IcpMethod(enum.Enum):
    """The error each ICP step minimises."""

    POINT_TO_PLANE = "point_to_plane"
    POINT_TO_POINT = "point_to_point"


class Facing(enum.Enum):
    """Which way the patch faces when no stylus axis or approach direction is given:
    ``AWAY_FROM_CENTRE`` of the whole surface (right for a convex bone such as a skull, from
    any start; wrong for much of a patch on non-convex anatomy far from that centre, such as
    the posterior elements of a vertebra) or ``SURFACE_AT_POSE``, like the surface nearest to
    each point at the pose being tried (right on any anatomy from a start within a few mm, such
    as a paired-point registration; wrong from a start nearer another surface)."""

    AWAY_FROM_CENTRE = "away_from_centre"
    SURFACE_AT_POSE = "surface_at_pose"


@dataclass(frozen=True)
class MultiStartSettings:
    """When and how to look beyond the given initial pose.

    The run from the initial pose is accepted when it converged with at least
    ``accept_inlier_fraction`` inliers. Otherwise coarse runs (``coarse_points`` points,
    ``coarse_iterations`` iterations) start from the initial pose turned by each of
    ``rotation_steps_rad`` (both senses) about each principal axis of the patch, combined with
    shifts of each of ``shift_steps_mm`` (both senses) along the patch normal, all about the
    patch centroid; the ``refine_count`` best are run to convergence on all points. A refined
    run that ends at another pose (more than 1 mm or 1 deg from the best) with an inlier fraction
    within ``rival_margin`` of the best's is a rival: the patch does not tell them apart, and
    the result says so.
    """

    enabled: bool = True
    accept_inlier_fraction: float = 0.9
    rotation_steps_rad: tuple[float, ...] = (math.radians(20.0),)
    shift_steps_mm: tuple[float, ...] = (8.0, 16.0)
    coarse_points: int = 256
    coarse_iterations: int = 10
    refine_count: int = 3
    rival_margin: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.accept_inlier_fraction <= 1.0:
            raise RegistrationError(
                f"accept_inlier_fraction must be in [0, 1]; got {self.accept_inlier_fraction}"
            )
        if any(not (math.isfinite(a) and a > 0.0) for a in self.rotation_steps_rad):
            raise RegistrationError(
                f"rotation_steps_rad must be > 0; got {self.rotation_steps_rad}"
            )
        if any(not (math.isfinite(s) and s > 0.0) for s in self.shift_steps_mm):
            raise RegistrationError(f"shift_steps_mm must be > 0 mm; got {self.shift_steps_mm}")
        if self.coarse_points < MIN_POINTS:
            raise RegistrationError(
                f"coarse_points must be >= {MIN_POINTS}; got {self.coarse_points}"
            )
        if not 0.0 <= self.rival_margin <= 1.0:
            raise RegistrationError(f"rival_margin must be in [0, 1]; got {self.rival_margin}")
        if self.coarse_iterations < 1 or self.refine_count < 1:
            raise RegistrationError(
                "coarse_iterations and refine_count must be >= 1; got "
                f"{self.coarse_iterations} and {self.refine_count}"
            )


@dataclass(frozen=True)
class IcpSettings:
    """Settings of one surface registration (mm, rad).

    ``max_correspondence_mm``: pairs farther apart are rejected; pairs whose residual is
    farther than max(``kernel_sigmas`` x sigma, ``min_kernel_mm``) from the median residual are
    outliers (sigma = 1.4826 x the median absolute deviation: 3.5 sigmas is Hampel's X84 rule;
    the floor keeps noise-free points from being cut by their own rounding);
    ``inlier_distance_mm``: a point is an inlier of the result when it ends this close to a
    facing surface point (``inlier_fraction``, ``rmse_mm`` use these); iteration stops when a
    step turns less than ``rotation_tol_rad`` and moves the patch's centroid less than
    ``translation_tol_mm`` (point-to-plane: or two steps in a row stay within five times that,
    or the steps shrink so that what is left of their geometric series is, see ``_icp``),
    or after ``max_iterations``. The defaults match: 1e-4 rad moves a point 50 mm away by
    5 um, a fiftieth of the tenth of a millimetre we answer for, and about the error of the
    closest-point field itself (asking for less makes ICP chase the field's facets).
    ``normal_window_mm`` sets the neighbourhood of the patch-normal fit (None: one that follows
    the point spacing, see ``registration.point_normals``); ``facing`` which way the patch faces
    when the caller cannot tell.
    More than twice ``coarse_points`` points are registered coarse to fine: an even subsample
    of about that many first, then all of them from where it converged.
    """

    method: IcpMethod = IcpMethod.POINT_TO_PLANE
    max_iterations: int = 50
    rotation_tol_rad: float = 1e-4
    translation_tol_mm: float = 5e-3
    max_correspondence_mm: float = 30.0
    kernel_sigmas: float = 3.5
    min_kernel_mm: float = 0.5
    inlier_distance_mm: float = 1.0
    normal_window_mm: float | None = None
    coarse_points: int = 1000
    facing: Facing = Facing.AWAY_FROM_CENTRE
    multi_start: MultiStartSettings = field(default_factory=MultiStartSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.method, IcpMethod):
            raise RegistrationError(f"method must be an IcpMethod; got {self.method!r}")
        if not isinstance(self.facing, Facing):
            raise RegistrationError(f"facing must be a Facing; got {self.facing!r}")
        if self.max_iterations < 1:
            raise RegistrationError(f"max_iterations must be >= 1; got {self.max_iterations}")
        for name in (
            "rotation_tol_rad",
            "translation_tol_mm",
            "max_correspondence_mm",
            "inlier_distance_mm",
            "kernel_sigmas",
            "min_kernel_mm",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise RegistrationError(f"{name} must be > 0; got {value}")
        if self.coarse_points < MIN_POINTS:
            raise RegistrationError(
                f"coarse_points must be >= {MIN_POINTS}; got {self.coarse_points}"
            )
        window = self.normal_window_mm
        if window is not None and not (math.isfinite(window) and window > 0.0):
            raise RegistrationError(f"normal_window_mm must be > 0 or None; got {window}")


@dataclass(frozen=True)
class IcpResult:
    """A surface registration.

    ``fixed_from_moving`` maps the digitised points (moving) onto the surface (fixed), 4x4 mm;
    ``rmse_mm`` RMS point-to-surface distance of the inliers; ``inlier_fraction`` share of all
    points ending within ``inlier_distance_mm`` of a facing surface point; ``iterations`` of the
    winning run; ``converged`` whether it met the tolerances; ``start`` which start won
    ("initial" or the perturbation of it); ``starts_tried`` how many starts were run;
    ``warnings`` sentences for the user when the result should not be trusted as it is (empty
    when all is well).
    """

    fixed_from_moving: np.ndarray
    rmse_mm: float
    inlier_fraction: float
    iterations: int
    converged: bool
    start: str
    starts_tried: int
    warnings: tuple[str, ...] = ()


@numba.njit(cache=True)
def _about(rotation: np.ndarray, centre: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The rigid motion ``p -> rotation (p - centre) + centre + shift`` (4x4)."""
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = centre - rotation @ centre + shift
    return out


@numba.njit(cache=True)
def _moved(a_from_b, point_b):
    """The point (3,) mapped by the 4x4 ``a_from_b``."""
    return np.array(
        [
            a_from_b[k, 0] * point_b[0]
            + a_from_b[k, 1] * point_b[1]
            + a_from_b[k, 2] * point_b[2]
            + a_from_b[k, 3]
            for k in range(3)
        ]
    )


@numba.njit(cache=True, inline="always")
def _moment(px, py, pz, nx, ny, nz):
    """The rotation part of a linearised residual's Jacobian: (p - c) x n, p - c = (px, py, pz)
    (scalars only: an inlined helper taking arrays costs several ns per call in a hot loop)."""
    return py * nz - pz * ny, pz * nx - px * nz, px * ny - py * nx


@numba.njit(cache=True)
def _pass(
    points,
    directions,
    fixed_from_moving,
    field,
    point_to_plane,
    cos_max,
    max_d2,
    weights,
    reweigh,
    sigmas,
    min_mm,
    centre,
    inlier_mm,
    rows,
    previous,
    residuals,
):
    """One ICP pass over the points at ``fixed_from_moving``: each point's tangent plane, and

    - the rows of the step's least-squares problem, linearised about ``centre`` (mm, fixed
      frame), into ``rows`` (7, capacity), for the pairs with a weight (``weights``; with
      ``reweigh``, first set to 1 for residuals in the X84 band of this pass's residuals (see
      _x84_band, ``sigmas``, ``min_mm``), else 0): column k
      holds the Jacobian of the linearised residual ``r + ((p - c) x n) . w + n . t``, then r;
      one row per pair (point-to-plane) or three (point-to-point: the residual vector to the
      foot of the perpendicular as a fixed target, one row per axis);
    - the score: pairs within ``inlier_mm`` of their plane, and their sum of squares;
    - each point's residual into ``residuals`` (NaN: no pair), and how much the last step
      changed the sum of squares it minimised: over the pairs weighed before this pass that
      still have a plane within the correspondence limit, their squared residuals here less
      those at the pose before (``previous``), so that a step that raised it is seen.

    The planes come first, for all points at once: the band's (``band_planes``), then the coarse
    grids' for the points the band cannot answer, in one call each (lean loops over arrays
    are much faster than a helper called per point). Pairs without a plane get weight 0.
    Returns (rows written, inliers, inlier sum of squares mm^2, change mm^2).
    """
    m = fixed_from_moving
    answers = np.empty((points.shape[0], 4))
    misses = band_planes(points, directions, m, field, cos_max, answers)
    coarse_planes(points, directions, m, misses, field, cos_max, max_d2, answers)
    count = inliers = 0
    sum_sq = change = 0.0
    lo, hi = _x84_band(answers[:, 0], max_d2, sigmas, min_mm) if reweigh else (0.0, 0.0)
    cx, cy, cz = centre[0], centre[1], centre[2]
    for i in range(points.shape[0]):
        r = answers[i, 0]
        # No plane (NaN), or near the surface but beyond the correspondence limit.
        if not r * r <= max_d2:
            weights[i] = 0.0
            residuals[i] = np.nan
            continue
        residuals[i] = r
        if weights[i] != 0.0:
            change += r * r - previous[i] * previous[i]
        if abs(r) <= inlier_mm:
            inliers += 1
            sum_sq += r * r
        if reweigh:
            weights[i] = 1.0 if lo <= r <= hi else 0.0
        if weights[i] == 0.0:
            continue
        qx, qy, qz, _, _, _ = moved_pair(m, points, directions, i)
        px, py, pz = qx - cx, qy - cy, qz - cz
        nx, ny, nz = answers[i, 1], answers[i, 2], answers[i, 3]
        if point_to_plane:  # one row: the residual along the normal
            rows[0, count], rows[1, count], rows[2, count] = _moment(px, py, pz, nx, ny, nz)
            rows[3, count], rows[4, count], rows[5, count], rows[6, count] = nx, ny, nz, r
            count += 1
            continue
        # Three: the residual vector to the foot of the perpendicular, as a fixed target.
        normal = (nx, ny, nz)
        for a in range(3):
            ex, ey, ez = (
                (1.0 if a == 0 else 0.0),
                (1.0 if a == 1 else 0.0),
                (1.0 if a == 2 else 0.0),
            )
            rows[0, count], rows[1, count], rows[2, count] = _moment(px, py, pz, ex, ey, ez)
            rows[3, count], rows[4, count], rows[5, count] = ex, ey, ez
            rows[6, count] = r * normal[a]
            count += 1
    return count, inliers, sum_sq, change


@numba.njit(cache=True)
def _normal_equations(rows, count):
    """J^T J (6x6) and J^T r (6,) of the first ``count`` rows: 27 dot products of contiguous
    columns (BLAS), much cheaper than adding each row into the sums as it comes."""
    ata = np.empty((6, 6))
    atb = np.empty(6)
    for a in range(6):
        column = rows[a, :count]
        atb[a] = np.dot(column, rows[6, :count])
        for b in range(a, 6):
            ata[a, b] = ata[b, a] = np.dot(column, rows[b, :count])
    return ata, atb


@numba.njit(cache=True)
def _x84_band(residuals, max_d2, sigmas, min_mm):
    """The residuals (mm) a step uses, (lo, hi): within max(sigmas x sigma, min_mm) of the
    median residual, sigma = 1.4826 x the median absolute deviation (Hampel's X84 rule), both
    estimated from every max(1, N // SCALE_SAMPLES)-th of the N ``residuals`` (about
    SCALE_SAMPLES; NaN: no plane; those beyond sqrt(max_d2) mm are left out too); all
    residuals when none is left. The sample is gathered and turned into deviations in one
    array (numpy's slicing, masking and abs would allocate four more)."""
    stride = max(1, residuals.shape[0] // SCALE_SAMPLES)
    sample = np.empty((residuals.shape[0] + stride - 1) // stride)
    count = 0
    for i in range(0, residuals.shape[0], stride):
        r = residuals[i]
        if r * r <= max_d2:  # False for NaN
            sample[count] = r
            count += 1
    if count == 0:
        return -np.inf, np.inf
    sample = sample[:count]
    centre = np.median(sample)
    for k in range(count):
        sample[k] = abs(sample[k] - centre)
    width = max(sigmas * 1.4826 * np.median(sample), min_mm)
    return centre - width, centre + width


@numba.njit(cache=True)
def _solve_step(ata, atb, damping, max_step_rad, max_shift_mm):
    """The Levenberg-Marquardt step (6,) of the normal equations ``ata x = -atb``: rotation
    vector (rad) about the linearisation centre, then shift (mm). ``damping`` (Marquardt 1963)
    adds that share of each diagonal term: 0 is the Gauss-Newton step; more shortens the step,
    most along the directions the points constrain least. The small-angle model only holds for
    small steps, so a longer one is shortened along the same direction."""
    damped = ata.copy()
    # A whisker of damping keeps directions the surface does not constrain (sliding) at zero.
    whisker = 1e-9 * (np.trace(ata) + 1e-12)
    for a in range(6):
        damped[a, a] += whisker + damping * ata[a, a]
    x = np.linalg.solve(damped, -atb)
    angle = math.sqrt(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)
    shift = math.sqrt(x[3] ** 2 + x[4] ** 2 + x[5] ** 2)
    return x * min(1.0, max_step_rad / max(angle, 1e-300), max_shift_mm / max(shift, 1e-300))


@numba.njit(cache=True)
def _step(ata, atb, damping, max_shift_mm, rotation_tol, translation_tol):
    """The step (``_solve_step``) and its size: the larger of its rotation and its shift, each
    in its tolerance."""
    x = _solve_step(ata, atb, damping, MAX_STEP_RAD, max_shift_mm)
    angle = math.sqrt(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)
    shift = math.sqrt(x[3] ** 2 + x[4] ** 2 + x[5] ** 2)
    return x, max(angle / rotation_tol, shift / translation_tol)


@numba.njit(cache=True)
def _stage(points, directions, initial, field, to_plane, budget, limits, centroid, size, settle):
    """ICP passes over the points from ``initial`` until a step is below the tolerances or
    ``budget`` passes (``to_plane``: point-to-plane, else point-to-point; ``limits``: _icp's
    cos_max to inlier_mm); with ``settle``, one pass only, whose step is taken when it is at
    least KEEP_WEIGHTS_FACTOR times them (see ``_icp``). Steps are measured at ``centroid`` (mm,
    moving frame); ``size`` is the size of the step that led to ``initial``
    (np.inf: none), in tolerances.

    A run has converged when its step turned
    less than ``rotation_tol`` rad and moved the points' centroid less than ``translation_tol``
    mm, or (point-to-plane) when STALL_STEPS steps in a row stayed within STALL_FACTOR times
    that (a weakly constrained direction, or pairs flickering between neighbouring planes), or
    when the steps shrink geometrically (the last at most MAX_TAIL_RATIO of the one before, with
    the pairs' weights kept) and what is left of that series, the last step times
    ratio / (1 - ratio), is within STALL_FACTOR times the tolerances (on a bumpy patch each step
    closes only about three quarters of the gap: waiting for a step within the tolerances
    costs passes that move the pose less than the field's facets do; on a smooth one a step
    closes nearly all of it, and the run ends one pass sooner).
    Point-to-point steps are always small: it crawls, it does not stall.
    Each step uses the pairs in the X84 band of the residuals at its pose. Once a step is within
    KEEP_WEIGHTS_FACTOR times the tolerances, the pairs keep their weights: the objective then
    stays the same from step to step and Gauss-Newton converges quadratically (re-deciding
    them, the ~1% of pairs near the band's edges would flicker in and out and hold each step
    at about the tolerance).
    Each point-to-plane pass also checks the step that led to it, on the sum of squares that
    step minimised (the same pairs, their planes taken again at the new pose). Where the points
    hardly constrain a direction (a few strokes over a smooth, nearly spherical skin), the
    Gauss-Newton step along it is the small, systematic error of the field's piecewise planes
    divided by a tiny curvature: unchecked, such steps climbed away from the optimum one after
    the other. A step that raised the sum is taken back; if it was within KEEP_WEIGHTS_FACTOR
    times the tolerances, the run ends there, converged, at the pose before it (what is left
    is the field's facets, not the points' information: on a bumpy CT surface a step of a few
    tolerances raises or lowers the sum by chance, by a few per cent), else it is tried again
    shorter, with Levenberg-Marquardt damping (Marquardt 1963; REJECTED_DAMPING, then
    DAMPING_GROWTH times more at each failure, divided by it at each step kept). Where every
    direction is pinned down the steps lower the sum and the run is the Gauss-Newton one.
    Returns (fixed_from_moving, iterations, converged (with ``settle``: the step taken),
    inliers, inlier sum of squares mm^2, the last step's size in tolerances), the score at the
    pose of the last pass kept.
    """
    cos_max, max_d2, kernel_sigmas, min_kernel_mm, rotation_tol, translation_tol, inlier_mm = limits
    pose = initial.copy()  # the last pose whose step was kept
    trial = initial.copy()  # the pose this pass looks at
    rows = np.empty((7, (1 if to_plane else 3) * points.shape[0]))
    max_shift = math.sqrt(max_d2)
    small_steps = 0
    weights = np.zeros(points.shape[0])
    kept = np.zeros(points.shape[0])
    previous = np.full(points.shape[0], np.nan)  # the residuals at ``pose``
    residuals = np.empty(points.shape[0])  # at ``trial``
    damping = 0.0
    inliers, sum_sq = 0, 0.0  # at ``pose``
    ata, atb = np.zeros((6, 6)), np.zeros(6)
    centre = centroid
    for iteration in range(1, budget + 2):
        kept[:] = weights
        used, trial_inliers, trial_sum_sq, change = _pass(
            points, directions, trial, field, to_plane, cos_max, max_d2, weights,
            size >= KEEP_WEIGHTS_FACTOR, kernel_sigmas, min_kernel_mm, _moved(trial, centroid),
            inlier_mm, rows, previous, residuals,
        )  # fmt: skip
        if to_plane and change > 0.0:  # the step raised the objective: take it back
            weights[:] = kept
            if iteration > budget:
                return pose, budget, False, inliers, sum_sq, size
            if size < KEEP_WEIGHTS_FACTOR:
                # A short step no better than where it started: what is left is the field's
                # facets, not the pose.
                return pose, iteration, True, inliers, sum_sq, size
            damping = max(REJECTED_DAMPING, damping * DAMPING_GROWTH)
            x, size = _step(ata, atb, damping, max_shift, rotation_tol, translation_tol)
            trial = _about(rotation_from_vector(x[:3]), centre, x[3:]) @ pose
            continue
        pose, inliers, sum_sq = trial, trial_inliers, trial_sum_sq
        previous, residuals = residuals, previous
        if iteration > budget:  # the last step, checked: the score at its pose
            return pose, budget, False, inliers, sum_sq, size
        if used < MIN_POINTS * (1 if to_plane else 3):  # rows: one or three per pair
            return pose, iteration, False, inliers, sum_sq, size
        damping = damping / DAMPING_GROWTH if damping > MIN_DAMPING else 0.0
        centre = _moved(pose, centroid)
        ata, atb = _normal_equations(rows, used)
        before = size
        x, size = _step(ata, atb, damping, max_shift, rotation_tol, translation_tol)
        trial = _about(rotation_from_vector(x[:3]), centre, x[3:]) @ pose
        if settle:  # its step is taken when the subsample's noise cannot account for it
            long = size >= KEEP_WEIGHTS_FACTOR
            return (trial if long else pose), iteration, long, inliers, sum_sq, size
        small_steps = small_steps + 1 if size < STALL_FACTOR else 0
        ratio = size / before  # 0 after the first pass (``before`` infinite)
        settled = 0.0 < ratio <= MAX_TAIL_RATIO and size < KEEP_WEIGHTS_FACTOR
        tail = size * ratio / (1.0 - ratio) if settled else np.inf
        if size < 1.0 or (to_plane and (small_steps >= STALL_STEPS or tail < STALL_FACTOR)):
            # The last step moved the points by less than the tolerance: its score still holds.
            return trial, iteration, True, inliers, sum_sq, size
    return pose, budget, False, inliers, sum_sq, size


@numba.njit(cache=True)
def _icp(
    points,
    directions,
    initial,
    field,
    point_to_plane,
    max_iterations,
    cos_max,
    max_d2,
    kernel_sigmas,
    min_kernel_mm,
    rotation_tol,
    translation_tol,
    inlier_mm,
):
    """ICP from ``initial`` until a step is below the tolerances or ``max_iterations`` (see
    ``_stage``). Point-to-plane with at least twice SUBSAMPLE_POINTS points: the first pass
    looks at an even subsample of them, and its step is taken when it is long (at least
    KEEP_WEIGHTS_FACTOR tolerances, as from a start a few mm off: the subsample's noise moves
    the pose far less); then all points go on from there, their weights decided at their first
    pass. From 2 mm/2 deg that is one pass of three to five at about a third of the cost.
    Returns (fixed_from_moving, iterations, converged, inliers, inlier sum of squares mm^2).
    """
    limits = (cos_max, max_d2, kernel_sigmas, min_kernel_mm,
              rotation_tol, translation_tol, inlier_mm)  # fmt: skip
    centroid = np.array([points[:, a].mean() for a in range(3)])
    stride = points.shape[0] // SUBSAMPLE_POINTS if point_to_plane else 1
    start, spent, size = initial, 0, np.inf
    if stride >= 2 and max_iterations >= 2:
        subsample = np.ascontiguousarray(points[::stride])
        along = np.ascontiguousarray(directions[::stride])
        start, spent, taken, _, _, size = _stage(
            subsample, along, initial, field, True, 1, limits, centroid, np.inf, True
        )
        if not taken:  # a short step, or too few pairs: all points from the start
            size = np.inf
    pose, iterations, converged, inliers, sum_sq, _ = _stage(
        points, directions, start, field, point_to_plane, max_iterations - spent, limits,
        centroid, size, False,
    )  # fmt: skip
    return pose, spent + iterations, converged, inliers, sum_sq


@dataclass(frozen=True)
class _Run:
    fixed_from_moving: np.ndarray
    rmse_mm: float
    inlier_fraction: float
    iterations: int
    converged: bool

    def better_than(self, other: "_Run | None") -> bool:
        """More inliers wins; within 2% of the inliers, the lower RMS wins."""
        if other is None:
            return True
        if abs(self.inlier_fraction - other.inlier_fraction) > 0.02:
            return self.inlier_fraction > other.inlier_fraction
        return self.rmse_mm < other.rmse_mm


class SurfaceRegistration:
    """ICP against one surface, with its closest-point structure built once.

    ``field`` is the surface's ``ClosestPointField`` (``from_mesh`` builds it). ``register``
    may be called any number of times with new points.
    """

    def __init__(self, field: ClosestPointField, settings: IcpSettings | None = None) -> None:
        self.field = field
        self.settings = settings or IcpSettings()
        self._centre = field.vertices_mm.mean(axis=0)
        self._cos_max = math.cos(field.max_normal_angle_rad)

    @classmethod
    def from_mesh(
        cls,
        vertices_mm: np.ndarray,
        normals: np.ndarray,
        triangles: np.ndarray,
        settings: IcpSettings | None = None,
        field_settings: FieldSettings | None = None,
    ) -> "SurfaceRegistration":
        """Build the closest-point field of a triangle mesh (outward unit vertex normals)."""
        return cls(ClosestPointField(vertices_mm, normals, triangles, field_settings), settings)

    def register(
        self,
        points_mm: np.ndarray,
        fixed_from_moving_initial: np.ndarray | None = None,
        normals: np.ndarray | None = None,
        outward: np.ndarray | None = None,
        outward_cone_rad: float = math.pi / 2,
    ) -> IcpResult:
        """Register the digitised ``(N, 3)`` points (mm, moving frame) to the surface.

        ``fixed_from_moving_initial`` is the starting pose (identity if None), e.g. from a
        paired-point registration. Which way the patch faces, in the moving frame, from the
        best that is known: ``normals``, the patch's outward unit normals, used as they are; or
        ``outward`` (N, 3), a direction per point the normals should agree with (the stylus
        axis from the tip towards the handle when each point was taken, or an approach
        direction), from which they are estimated (and which bounds them to within
        ``outward_cone_rad``: STYLUS_CONE_RAD for a stylus axis; pi/2 for a side only, and then
        the surface's normals where the first run ended bound them for a second run); or,
        with neither, they are estimated and turned as ``settings.facing`` says, at the pose
        being tried.
        Raises RegistrationError for fewer than 6 points, NaN, or a patch that is a line.
        """
        points = as_points(points_mm, "points_mm", MIN_POINTS)
        initial = (
            np.eye(4)
            if fixed_from_moving_initial is None
            else as_rigid(fixed_from_moving_initial, "fixed_from_moving_initial")
        )
        window = self.settings.normal_window_mm

        def from_surface(fixed_from_moving: np.ndarray) -> np.ndarray:
            """The patch's normals, bounded by the surface's nearest to the points at that pose
            (a start far off may get some of them the wrong way)."""
            hints = self.field.nearest_normals(points, fixed_from_moving)
            return estimate_patch_normals(points, hints, window, STYLUS_CONE_RAD)

        if normals is not None:
            given = as_unit_normals(normals, len(points), "normals")

            def normals_at(fixed_from_moving: np.ndarray) -> np.ndarray:
                return given

        elif outward is not None:
            hinted = estimate_patch_normals(points, outward, window, outward_cone_rad)

            def normals_at(fixed_from_moving: np.ndarray) -> np.ndarray:
                return hinted

        elif self.settings.facing is Facing.SURFACE_AT_POSE:
            normals_at = from_surface
        else:

            def normals_at(fixed_from_moving: np.ndarray) -> np.ndarray:
                """The patch's normals, pointed away from the surface's centre as seen from the
                patch at that pose."""
                rotation, shift = fixed_from_moving[:3, :3], fixed_from_moving[:3, 3]
                centre = rotation.T @ (self._centre - shift)  # the surface's centre, moving frame
                return estimate_patch_normals(points, away_from(points, centre), window)

        # Normals taken from the surface at a start a few mm off are wrong on thin processes
        # (the other side is nearer), and hints that only tell the side (an approach direction)
        # leave the fitted normals as poor as the fit: where a run ended, the surface's normals
        # bound them, and a second run settles there.
        side_only = outward is not None and outward_cone_rad >= math.pi / 2
        at_pose = normals is None and outward is None
        at_pose &= self.settings.facing is Facing.SURFACE_AT_POSE

        def refine(pose: np.ndarray) -> _Run:
            """ICP from ``pose``, then again with the surface's normals where it ended, when
            the normals are not known well (see above)."""
            run = self._coarse_to_fine(points, normals_at(pose), pose)
            if not (at_pose or side_only):
                return run
            end = run.fixed_from_moving
            return self._coarse_to_fine(points, from_surface(end), end, run.iterations)

        best = refine(initial)
        multi = self.settings.multi_start
        accepted = best.converged and best.inlier_fraction >= multi.accept_inlier_fraction
        if accepted or not multi.enabled:
            return self._result(best, "initial", 1)
        label, best, tried, rival = self._multi_start(points, normals_at, refine, initial, best)
        return self._result(best, label, tried, rival)

    def _result(self, run: _Run, start: str, tried: int, rival: str = "") -> IcpResult:
        logger.debug(
            "ICP: start %s won of %d, %d iterations, rmse %.3f mm, inliers %.3f",
            start,
            tried,
            run.iterations,
            run.rmse_mm,
            run.inlier_fraction,
        )
        warnings = self._warnings(run, rival)
        return IcpResult(
            fixed_from_moving=run.fixed_from_moving,
            rmse_mm=run.rmse_mm,
            inlier_fraction=run.inlier_fraction,
            iterations=run.iterations,
            converged=run.converged,
            start=start,
            starts_tried=tried,
            warnings=warnings,
        )

    def _warnings(self, run: _Run, rival: str) -> tuple[str, ...]:
        """Why the pose should not be trusted, if it should not (``rival``: another pose that
        fits almost as well, described; empty if none). A pose found from another start than
        the given one is no reason by itself: the multi-start compares every start it tried."""
        settings = self.settings
        warnings = []
        if not run.converged:
            warnings.append(
                f"ICP stopped after {run.iterations} iterations without converging: the pose may "
                "be off; check it, or start closer (an initial pose from paired points)"
            )
        if run.inlier_fraction < settings.multi_start.accept_inlier_fraction:
            warnings.append(
                f"only {100 * run.inlier_fraction:.0f}% of the points end within "
                f"{settings.inlier_distance_mm:g} mm of the surface: the pose may be wrong (the "
                "points off the surface, in other units, or a patch too small or too smooth to "
                "pin the pose down)"
            )
        if rival:
            warnings.append(
                f"{rival}: the patch does not pin the pose down; check it against landmarks, or "
                "digitise a wider or more curved area"
            )
        return tuple(warnings)

    def _run(self, points, patch_normals, initial, max_iterations) -> _Run:
        """ICP from ``initial`` until the step is below tolerance or ``max_iterations``; inliers
        are pairs within ``inlier_distance_mm`` of their plane."""
        settings = self.settings
        fixed_from_moving, iterations, converged, inliers, sum_sq = _icp(
            points,
            patch_normals,
            initial,
            self.field.arrays,
            settings.method is IcpMethod.POINT_TO_PLANE,
            max_iterations,
            self._cos_max,
            settings.max_correspondence_mm**2,
            settings.kernel_sigmas,
            settings.min_kernel_mm,
            settings.rotation_tol_rad,
            settings.translation_tol_mm,
            settings.inlier_distance_mm,
        )
        rmse = math.sqrt(sum_sq / inliers) if inliers else math.inf
        return _Run(fixed_from_moving, rmse, inliers / len(points), iterations, converged)

    def _coarse_to_fine(self, points, patch_normals, initial, iterations_before=0) -> _Run:
        """ICP on an even subsample of ``coarse_points`` points to convergence, then on all of
        them from there (usually one or two more iterations); the iterations reported include
        ``iterations_before``."""
        settings = self.settings
        stride = len(points) // settings.coarse_points
        if stride < 2:
            run = self._run(points, patch_normals, initial, settings.max_iterations)
            return (
                replace(run, iterations=run.iterations + iterations_before)
                if iterations_before
                else run
            )
        coarse = self._run(
            np.ascontiguousarray(points[::stride]),
            np.ascontiguousarray(patch_normals[::stride]),
            initial,
            settings.max_iterations,
        )
        fine = self._run(points, patch_normals, coarse.fixed_from_moving, settings.max_iterations)
        return _Run(
            fine.fixed_from_moving,
            fine.rmse_mm,
            fine.inlier_fraction,
            iterations_before + coarse.iterations + fine.iterations,
            fine.converged,
        )

    def _starts(self, points, patch_normals, initial):
        """Labelled perturbations of ``initial`` about the patch centroid (fixed frame)."""
        multi = self.settings.multi_start
        moved = apply_transform(initial, points)
        centre = moved.mean(axis=0)
        _, axes = np.linalg.eigh(np.cov((moved - centre).T))
        normal = (patch_normals @ initial[:3, :3].T).mean(axis=0)
        normal /= np.linalg.norm(normal)
        rotations = [("", np.eye(3))]
        for angle in multi.rotation_steps_rad:
            for k in range(3):
                for sign in (1.0, -1.0):
                    label = f"turn {math.degrees(sign * angle):+.0f} deg about patch axis {k}"
                    rotations.append((label, rotation_from_vector(sign * angle * axes[:, k])))
        shifts = [("", np.zeros(3))]
        for step in multi.shift_steps_mm:
            for sign in (1.0, -1.0):
                shifts.append(
                    (
                        f"shift {sign * step:+.0f} mm along the normal",
                        sign * step * normal,
                    )
                )
        for rotation_label, rotation in rotations:
            for shift_label, shift in shifts:
                if not rotation_label and not shift_label:
                    continue
                label = ", ".join(part for part in (rotation_label, shift_label) if part)
                yield label, _about(rotation, centre, shift) @ initial

    def _multi_start(self, points, normals_at, refine, initial, from_initial: _Run):
        """Coarse runs from every start (patch normals as at ``initial``), the best few refined
        on all points by ``refine(pose)``; returns the winner's label, its run, the number of
        starts and a description of a rival pose ("" if none)."""
        multi = self.settings.multi_start
        patch_normals = normals_at(initial)
        stride = max(1, len(points) // multi.coarse_points)
        coarse_points = np.ascontiguousarray(points[::stride])
        coarse_normals = np.ascontiguousarray(patch_normals[::stride])
        coarse = []
        for label, start in self._starts(points, patch_normals, initial):
            run = self._run(coarse_points, coarse_normals, start, multi.coarse_iterations)
            coarse.append((label, run))
        coarse.sort(key=lambda item: (-round(item[1].inlier_fraction, 2), item[1].rmse_mm))
        candidates = [("initial", from_initial)]
        for label, run in coarse[: multi.refine_count]:
            pose = run.fixed_from_moving
            candidates.append((label, refine(pose)))
        best_label, best = "initial", from_initial
        for label, run in candidates[1:]:
            if run.better_than(best):
                best_label, best = label, run
        centre = points.mean(axis=0)
        rival = ""
        for _, run in candidates:
            if run.inlier_fraction < best.inlier_fraction - multi.rival_margin:
                continue
            angle, shift = _pose_difference(run.fixed_from_moving, best.fixed_from_moving, centre)
            if angle > math.radians(1.0) or shift > 1.0:
                rival = (
                    f"another pose {shift:.1f} mm and {math.degrees(angle):.1f} deg away fits "
                    f"almost as well ({100 * run.inlier_fraction:.0f}% of the points on the "
                    f"surface, against {100 * best.inlier_fraction:.0f}%)"
                )
                break
        return best_label, best, len(coarse) + 1, rival


def _pose_difference(a_from_b: np.ndarray, c_from_b: np.ndarray, centre_b: np.ndarray):
    """The angle (rad) between two poses of the same points, and how far apart (mm) they put
    ``centre_b``."""
    rotation = a_from_b[:3, :3].T @ c_from_b[:3, :3]
    cosine = min(max((np.trace(rotation) - 1.0) / 2.0, -1.0), 1.0)
    shift = np.linalg.norm(
        apply_transform(a_from_b, centre_b) - apply_transform(c_from_b, centre_b)
    )
    return math.acos(cosine), float(shift)


def register_surface(
    vertices_mm: np.ndarray,
    normals: np.ndarray,
    triangles: np.ndarray,
    points_mm: np.ndarray,
    fixed_from_moving_initial: np.ndarray | None = None,
    settings: IcpSettings | None = None,
) -> IcpResult:
    """One-shot ICP of digitised ``points_mm`` to a triangle mesh (outward unit vertex normals).

    Builds the closest-point field each call: for repeated registrations to one surface, build
    a ``SurfaceRegistration`` once instead.
    """
    registration = SurfaceRegistration.from_mesh(vertices_mm, normals, triangles, settings)
    return registration.register(points_mm, fixed_from_moving_initial)
