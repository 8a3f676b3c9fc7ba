"""Surface registration of digitised points to a CT surface: the iterative closest point
algorithm (Besl & McKay 1992, IEEE PAMI 14(2)) with

- closest points from a structure built once per surface (``registration.closest_point``),
  restricted to vertices facing the same way as the digitised patch, so that a patch on the
  outer table of a bone is never captured by the inner table;
- rejection by distance and by normal compatibility, and trimming (the worst residuals are left
  out: trimmed ICP, Chetverikov et al. 2002, ICPR);
- a point-to-plane Gauss-Newton step (Chen & Medioni 1992; small-angle linearisation as in
  Low 2004, UNC TR04-004, eq. 6-8) or a point-to-point step (Arun/Umeyama, as paired points);
- a multi-start fallback when the run from the given pose does not fit well: coarse runs from
  rotations about and shifts along the patch around that pose, scored by inlier fraction and
  RMS, the best few refined on all points.

``SurfaceRegistration`` binds the structure to a surface for repeated calls;
``register_surface`` is the one-shot convenience.
"""

import enum
import logging
import math
from dataclasses import dataclass, field

import numba
import numpy as np

from registration.closest_point import (
    ClosestPointField,
    ClosestPointIndex,
    FieldSettings,
)
from registration.exceptions import RegistrationError
from registration.mesh import as_unit_normals
from registration.paired_point import register_paired_points
from registration.point_normals import estimate_patch_normals
from registration.transforms import as_points, as_rigid, make_rigid, rotation_angle_rad

logger = logging.getLogger(__name__)

MIN_POINTS = 6
# A run has also converged when its last STALL_STEPS steps all stayed under STALL_FACTOR times
# the tolerances.
STALL_STEPS = 3
STALL_FACTOR = 5.0
# Longest rotation of one point-to-plane step: its small-angle model is good to ~1% up to here.
MAX_STEP_RAD = math.radians(10.0)


class IcpMethod(enum.Enum):
    """The error each ICP step minimises."""

    POINT_TO_PLANE = "point_to_plane"
    POINT_TO_POINT = "point_to_point"


@dataclass(frozen=True)
class MultiStartSettings:
    """When and how to look beyond the given initial pose.

    The run from the initial pose is accepted when it converged with at least
    ``accept_inlier_fraction`` inliers. Otherwise coarse runs (``coarse_points`` points,
    ``coarse_iterations`` iterations) start from the initial pose turned by each of
    ``rotation_steps_rad`` (both senses) about each principal axis of the patch, combined with
    shifts of each of ``shift_steps_mm`` (both senses) along the patch normal, all about the
    patch centroid; the ``refine_count`` best are run to convergence on all points.
    """

    enabled: bool = True
    accept_inlier_fraction: float = 0.9
    rotation_steps_rad: tuple[float, ...] = (math.radians(20.0),)
    shift_steps_mm: tuple[float, ...] = (8.0, 16.0)
    coarse_points: int = 256
    coarse_iterations: int = 10
    refine_count: int = 3

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
        if self.coarse_iterations < 1 or self.refine_count < 1:
            raise RegistrationError(
                "coarse_iterations and refine_count must be >= 1; got "
                f"{self.coarse_iterations} and {self.refine_count}"
            )


@dataclass(frozen=True)
class IcpSettings:
    """Settings of one surface registration (mm, rad).

    ``max_correspondence_mm``: pairs farther apart are rejected; ``trim_fraction``: the share of
    the remaining pairs, smallest residuals first, that each step uses; ``inlier_distance_mm``:
    a point is an inlier of the result when it ends this close to a facing surface point
    (``inlier_fraction``, ``rmse_mm`` use these); iteration stops when a step turns less than
    ``rotation_tol_rad`` and moves less than ``translation_tol_mm`` (point-to-plane: or three
    steps in a row stay within five times that), or after ``max_iterations``.
    ``normal_window_mm`` sets the neighbourhood of the patch-normal fit.
    More than twice ``coarse_points`` points are registered coarse to fine: an even subsample
    of about that many first, then all of them from where it converged.
    """

    method: IcpMethod = IcpMethod.POINT_TO_PLANE
    max_iterations: int = 50
    rotation_tol_rad: float = 1e-4
    translation_tol_mm: float = 1e-3
    max_correspondence_mm: float = 30.0
    trim_fraction: float = 0.9
    inlier_distance_mm: float = 1.0
    normal_window_mm: float = 20.0
    coarse_points: int = 1000
    multi_start: MultiStartSettings = field(default_factory=MultiStartSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.method, IcpMethod):
            raise RegistrationError(f"method must be an IcpMethod; got {self.method!r}")
        if self.max_iterations < 1:
            raise RegistrationError(f"max_iterations must be >= 1; got {self.max_iterations}")
        for name in (
            "rotation_tol_rad",
            "translation_tol_mm",
            "max_correspondence_mm",
            "inlier_distance_mm",
            "normal_window_mm",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise RegistrationError(f"{name} must be > 0; got {value}")
        if not 0.0 < self.trim_fraction <= 1.0:
            raise RegistrationError(f"trim_fraction must be in (0, 1]; got {self.trim_fraction}")
        if self.coarse_points < MIN_POINTS:
            raise RegistrationError(
                f"coarse_points must be >= {MIN_POINTS}; got {self.coarse_points}"
            )


@dataclass(frozen=True)
class IcpResult:
    """A surface registration.

    ``fixed_from_moving`` maps the digitised points (moving) onto the surface (fixed), 4x4 mm;
    ``rmse_mm`` RMS point-to-surface distance of the inliers; ``inlier_fraction`` share of all
    points ending within ``inlier_distance_mm`` of a facing surface point; ``iterations`` of the
    winning run; ``converged`` whether it met the tolerances; ``start`` which start won
    ("initial" or the perturbation of it); ``starts_tried`` how many starts were run.
    """

    fixed_from_moving: np.ndarray
    rmse_mm: float
    inlier_fraction: float
    iterations: int
    converged: bool
    start: str
    starts_tried: int


@numba.njit(cache=True)
def _transform(points, matrix):
    out = np.empty_like(points)
    for i in range(points.shape[0]):
        for a in range(3):
            out[i, a] = (
                matrix[a, 0] * points[i, 0]
                + matrix[a, 1] * points[i, 1]
                + matrix[a, 2] * points[i, 2]
                + matrix[a, 3]
            )
    return out


@numba.njit(cache=True)
def _rotate(directions, matrix):
    out = np.empty_like(directions)
    for i in range(directions.shape[0]):
        for a in range(3):
            out[i, a] = (
                matrix[a, 0] * directions[i, 0]
                + matrix[a, 1] * directions[i, 1]
                + matrix[a, 2] * directions[i, 2]
            )
    return out


@numba.njit(cache=True)
def _plane_residuals(moved, directions, closest, normals, sq_dists, found, cos_max, max_d2):
    """Signed point-to-plane residual ``n . (q - c)`` of each pair (c the closest surface point,
    n the surface normal there), and whether the pair is kept: it exists, is within the distance
    limit, and its normals agree within the angle."""
    n = moved.shape[0]
    residuals = np.zeros(n)
    valid = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not found[i] or sq_dists[i] > max_d2:
            continue
        nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
        if nx * directions[i, 0] + ny * directions[i, 1] + nz * directions[i, 2] < cos_max:
            continue
        residuals[i] = (
            nx * (moved[i, 0] - closest[i, 0])
            + ny * (moved[i, 1] - closest[i, 1])
            + nz * (moved[i, 2] - closest[i, 2])
        )
        valid[i] = True
    return residuals, valid


@numba.njit(cache=True)
def _point_to_plane_step(moved, residuals, keep, normals):
    """Gauss-Newton step of point-to-plane ICP, linearised about the kept points' centroid c:
    residual ``r + ((q - c) x n) . w + n . t``; returns (w (rad), t (mm), c, ok)."""
    centre = np.zeros(3)
    count = 0
    for i in range(moved.shape[0]):
        if keep[i]:
            centre += moved[i]
            count += 1
    centre /= max(count, 1)
    ata = np.zeros((6, 6))
    atb = np.zeros(6)
    j = np.empty(6)
    for i in range(moved.shape[0]):
        if not keep[i]:
            continue
        nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
        px, py, pz = (
            moved[i, 0] - centre[0],
            moved[i, 1] - centre[1],
            moved[i, 2] - centre[2],
        )
        j[0] = py * nz - pz * ny
        j[1] = pz * nx - px * nz
        j[2] = px * ny - py * nx
        j[3], j[4], j[5] = nx, ny, nz
        for a in range(6):
            atb[a] += j[a] * residuals[i]
            for b in range(a, 6):
                ata[a, b] += j[a] * j[b]
    for a in range(6):
        for b in range(a):
            ata[a, b] = ata[b, a]
    # A whisker of damping keeps directions the surface does not constrain (sliding) at zero.
    damping = 1e-9 * (np.trace(ata) + 1e-12)
    for a in range(6):
        ata[a, a] += damping
    x = np.linalg.solve(ata, -atb)
    return x[:3], x[3:], centre


@numba.njit(cache=True)
def _tangent_targets(moved, residuals, keep, normals):
    """Feet of the perpendiculars on each match's tangent plane (point-to-point targets: the
    closest surface points themselves, up to the surface's curvature)."""
    count = 0
    for i in range(moved.shape[0]):
        if keep[i]:
            count += 1
    sources = np.empty((count, 3))
    targets = np.empty((count, 3))
    k = 0
    for i in range(moved.shape[0]):
        if keep[i]:
            for a in range(3):
                sources[k, a] = moved[i, a]
                targets[k, a] = moved[i, a] - residuals[i] * normals[i, a]
            k += 1
    return sources, targets


def _rotation_from_vector(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: the rotation by |rotvec| rad about rotvec."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-300:
        return np.eye(3)
    axis = rotvec / angle
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def _about(rotation: np.ndarray, centre: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The rigid motion ``p -> rotation (p - centre) + centre + shift``."""
    return make_rigid(rotation, centre - rotation @ centre + shift)


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

    ``index`` is any ``ClosestPointIndex`` (a ``ClosestPointField`` for meshes, built by
    ``from_mesh``). ``register`` may be called any number of times with new points.
    """

    def __init__(self, index: ClosestPointIndex, settings: IcpSettings | None = None) -> None:
        self.index = index
        self.settings = settings or IcpSettings()
        self._centre = index.vertices_mm.mean(axis=0)
        self._cos_max = math.cos(index.max_normal_angle_rad)

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
    ) -> IcpResult:
        """Register the digitised ``(N, 3)`` points (mm, moving frame) to the surface.

        ``fixed_from_moving_initial`` is the starting pose (identity if None), e.g. from a
        paired-point registration. ``normals`` are the patch's outward unit normals in the
        moving frame; by default they are estimated and pointed away from the surface's centre.
        Raises RegistrationError for fewer than 6 points, NaN, or a patch that is a line.
        """
        points = as_points(points_mm, "points_mm", MIN_POINTS)
        initial = (
            np.eye(4)
            if fixed_from_moving_initial is None
            else as_rigid(fixed_from_moving_initial, "fixed_from_moving_initial")
        )
        if normals is None:
            centre_in_moving = np.linalg.solve(initial, np.append(self._centre, 1.0))[:3]
            patch_normals = estimate_patch_normals(
                points, centre_in_moving, self.settings.normal_window_mm
            )
        else:
            patch_normals = as_unit_normals(normals, len(points), "normals")
        best = self._coarse_to_fine(points, patch_normals, initial)
        multi = self.settings.multi_start
        accepted = best.converged and best.inlier_fraction >= multi.accept_inlier_fraction
        if accepted or not multi.enabled:
            return self._result(best, "initial", 1)
        label, best, tried = self._multi_start(points, patch_normals, initial, best)
        return self._result(best, label, tried)

    def _result(self, run: _Run, start: str, tried: int) -> IcpResult:
        logger.debug(
            "ICP: start %s won of %d, %d iterations, rmse %.3f mm, inliers %.3f",
            start,
            tried,
            run.iterations,
            run.rmse_mm,
            run.inlier_fraction,
        )
        return IcpResult(
            fixed_from_moving=run.fixed_from_moving,
            rmse_mm=run.rmse_mm,
            inlier_fraction=run.inlier_fraction,
            iterations=run.iterations,
            converged=run.converged,
            start=start,
            starts_tried=tried,
        )

    def _match(self, points, patch_normals, fixed_from_moving, hints=None):
        moved = _transform(points, fixed_from_moving)
        directions = _rotate(patch_normals, fixed_from_moving)
        matches = self.index.closest(moved, directions, hints)
        residuals, valid = _plane_residuals(
            moved,
            directions,
            matches.points_mm,
            matches.normals,
            matches.sq_dists_mm2,
            matches.found,
            self._cos_max,
            self.settings.max_correspondence_mm**2,
        )
        return moved, matches, residuals, valid

    def _trim(self, residuals: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Keep the ``trim_fraction`` of valid pairs with the smallest |residual|."""
        magnitude = np.abs(residuals[valid])
        count = magnitude.size
        keep_count = max(MIN_POINTS, math.ceil(self.settings.trim_fraction * count))
        if keep_count >= count:
            return valid
        limit = np.partition(magnitude, keep_count - 1)[keep_count - 1]
        return valid & (np.abs(residuals) <= limit)

    def _run(self, points, patch_normals, initial, max_iterations) -> _Run:
        """ICP from ``initial`` until the step is below tolerance or ``max_iterations``."""
        settings = self.settings
        current = initial.copy()
        converged = False
        iterations = 0
        hints = None
        recent: list[float] = []
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
            moved, matches, residuals, valid = self._match(points, patch_normals, current, hints)
            hints = matches.vertices
            keep = self._trim(residuals, valid)
            if keep.sum() < MIN_POINTS:
                break
            if settings.method is IcpMethod.POINT_TO_PLANE:
                rotvec, shift, centre = _point_to_plane_step(
                    moved, residuals, keep, matches.normals
                )
                # The small-angle model only holds for small steps: shorten long ones (a damped
                # Gauss-Newton step along the same direction).
                scale = min(
                    1.0,
                    MAX_STEP_RAD / max(float(np.linalg.norm(rotvec)), 1e-300),
                    settings.max_correspondence_mm / max(float(np.linalg.norm(shift)), 1e-300),
                )
                step = _about(_rotation_from_vector(scale * rotvec), centre, scale * shift)
            else:
                sources, targets = _tangent_targets(moved, residuals, keep, matches.normals)
                try:
                    step = register_paired_points(targets, sources).fixed_from_moving
                except RegistrationError:
                    break
                centre = sources.mean(axis=0)
            current = step @ current
            # Size of the step relative to the tolerances: its rotation, and how far it moves
            # the kept points' centroid.
            moved_centre = step[:3, :3] @ centre + step[:3, 3]
            size = max(
                rotation_angle_rad(step[:3, :3]) / settings.rotation_tol_rad,
                float(np.linalg.norm(moved_centre - centre)) / settings.translation_tol_mm,
            )
            recent.append(size)
            # Converged: below tolerance, or crawling just above it (a weakly constrained
            # direction, or pairs flickering between neighbouring triangles).
            # (Not for point-to-point, whose steps are always small: it crawls, it does not stall.)
            stalled = (
                settings.method is IcpMethod.POINT_TO_PLANE
                and len(recent) >= STALL_STEPS
                and max(recent[-STALL_STEPS:]) < STALL_FACTOR
            )
            if size < 1.0 or stalled:
                converged = True
                break
        if converged:
            # The last step moved the points by less than the tolerance: its matches still hold.
            return self._scored(current, residuals, valid, iterations, converged)
        _, _, residuals, valid = self._match(points, patch_normals, current, hints)
        return self._scored(current, residuals, valid, iterations, converged)

    def _scored(self, fixed_from_moving, residuals, valid, iterations, converged) -> _Run:
        """The run's result: inliers are kept pairs within ``inlier_distance_mm``."""
        inliers = valid & (np.abs(residuals) <= self.settings.inlier_distance_mm)
        count = int(inliers.sum())
        rmse = float(np.sqrt(np.mean(residuals[inliers] ** 2))) if count else math.inf
        return _Run(fixed_from_moving, rmse, count / len(residuals), iterations, converged)

    def _coarse_to_fine(self, points, patch_normals, initial) -> _Run:
        """ICP on an even subsample of ``coarse_points`` points to convergence, then on all of
        them from there (usually one or two more iterations)."""
        settings = self.settings
        stride = len(points) // settings.coarse_points
        if stride < 2:
            return self._run(points, patch_normals, initial, settings.max_iterations)
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
            coarse.iterations + fine.iterations,
            fine.converged,
        )

    def _starts(self, points, patch_normals, initial):
        """Labelled perturbations of ``initial`` about the patch centroid (fixed frame)."""
        multi = self.settings.multi_start
        moved = _transform(points, initial)
        centre = moved.mean(axis=0)
        _, axes = np.linalg.eigh(np.cov((moved - centre).T))
        normal = _rotate(patch_normals, initial).mean(axis=0)
        normal /= np.linalg.norm(normal)
        rotations = [("", np.eye(3))]
        for angle in multi.rotation_steps_rad:
            for k in range(3):
                for sign in (1.0, -1.0):
                    label = f"turn {math.degrees(sign * angle):+.0f} deg about patch axis {k}"
                    rotations.append((label, _rotation_from_vector(sign * angle * axes[:, k])))
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

    def _multi_start(self, points, patch_normals, initial, from_initial: _Run):
        multi = self.settings.multi_start
        stride = max(1, len(points) // multi.coarse_points)
        coarse_points = np.ascontiguousarray(points[::stride])
        coarse_normals = np.ascontiguousarray(patch_normals[::stride])
        coarse = []
        for label, start in self._starts(points, patch_normals, initial):
            run = self._run(coarse_points, coarse_normals, start, multi.coarse_iterations)
            coarse.append((label, run))
        coarse.sort(key=lambda item: (-round(item[1].inlier_fraction, 2), item[1].rmse_mm))
        best_label, best = "initial", from_initial
        for label, run in coarse[: multi.refine_count]:
            refined = self._coarse_to_fine(points, patch_normals, run.fixed_from_moving)
            if refined.better_than(best):
                best_label, best = label, refined
        return best_label, best, len(coarse) + 1


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
