"""Scripted tool motions for simulated exercises: each tool's pose as a function of time.

A motion is a callable ``motion(t_s) -> {tool name: tracker_from_tool}`` (4x4, mm) with an attribute
``duration_s``: the ``Motion`` protocol that ``devices.simulated.SimulatedTracker`` samples.
Motions are named for the exercise they stand in for (as PLUS names its fake-tracker modes):
``touch_fiducials_then_targets`` is the paired-point registration exercise followed by navigation
to targets. Everything here is in the tracker frame; the caller composes the ground truth.

How a hand moves a stylus, as scripted here: travel between points on an arc around the phantom
(never through it), with minimum-jerk speed profiles (Flash & Hogan 1985, J Neurosci 5(7), eq. 3);
approach each point along its surface normal, the shaft tilted off the normal by a random angle
and rolled so the markers face the camera; hold still on the point (dwell) while the hand pivots
slightly about the tip; retract along the normal.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from registration.transforms import make_rigid
from scenes.exceptions import SceneError

UNIT_TOL = 1e-9


def _unit(vector: np.ndarray, name: str) -> np.ndarray:
    """``vector`` scaled to length 1, or SceneError when it has no direction."""
    array = np.asarray(vector, dtype=np.float64)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise SceneError(f"{name} must be 3 finite coordinates; got {array!r}")
    norm = float(np.linalg.norm(array))
    if norm < UNIT_TOL:
        raise SceneError(f"{name} has zero length: it gives no direction")
    return array / norm


def perpendicular(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """The unit part of ``secondary`` orthogonal to unit ``primary`` (any, if they are parallel)."""
    rest = secondary - np.dot(secondary, primary) * primary
    if np.linalg.norm(rest) < 1e-6:
        rest = np.cross(primary, np.eye(3)[int(np.argmin(np.abs(primary)))])
    return rest / np.linalg.norm(rest)


def aligning_rotation(
    primary_tool: np.ndarray,
    secondary_tool: np.ndarray,
    primary_world: np.ndarray,
    secondary_world: np.ndarray,
) -> np.ndarray:
    """3x3 rotation taking ``primary_tool`` exactly onto ``primary_world`` and turning about it so
    that ``secondary_tool`` points as close as possible to ``secondary_world``.

    Each pair of vectors is orthonormalised first (Gram-Schmidt), so only the primary
    directions must be exact; used to aim a tool's shaft and turn its markers toward the camera.
    """
    frames = []
    for primary, secondary in ((primary_tool, secondary_tool), (primary_world, secondary_world)):
        first = _unit(primary, "primary axis")
        second = perpendicular(first, _unit(secondary, "secondary axis"))
        frames.append(np.column_stack([first, second, np.cross(first, second)]))
    tool_axes, world_axes = frames
    return world_axes @ tool_axes.T


def minimum_jerk(fraction: float) -> float:
    """Position fraction along a minimum-jerk move at time fraction in [0, 1] (Flash & Hogan eq. 3):
    ``10 s^3 - 15 s^4 + 6 s^5``, starting and ending with zero speed and acceleration."""
    s = min(max(fraction, 0.0), 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


@dataclass(frozen=True, eq=False)
class StylusGeometry:
    """Where a pointer's tip is and how it is held, in the stylus frame.

    ``tip_mm`` (3,) is the tip; ``shaft_axis`` the unit direction from the tip toward the handle;
    ``facing_axis`` a unit direction perpendicular to the shaft that should point at the camera
    (the normal of a planar marker head).
    """

    tip_mm: np.ndarray
    shaft_axis: np.ndarray
    facing_axis: np.ndarray

    def __post_init__(self) -> None:
        tip = np.array(self.tip_mm, dtype=np.float64)
        if tip.shape != (3,) or not np.all(np.isfinite(tip)):
            raise SceneError(f"stylus tip must be 3 finite coordinates; got {self.tip_mm!r}")
        shaft = _unit(self.shaft_axis, "stylus shaft axis")
        facing = _unit(self.facing_axis, "stylus facing axis")
        if abs(float(np.dot(shaft, facing))) > 1e-6:
            raise SceneError("stylus facing axis must be perpendicular to its shaft axis")
        for name, array in (("tip_mm", tip), ("shaft_axis", shaft), ("facing_axis", facing)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @classmethod
    def from_markers(
        cls, markers_mm: np.ndarray, tip_mm: np.ndarray, normals: np.ndarray | None = None
    ) -> "StylusGeometry":
        """Shaft from the tip to the marker centroid; facing along the markers' mean ``normals``
        (N, 3) when the tool defines them, else along the normal of their best-fit plane (whose
        sign is then arbitrary), made perpendicular to the shaft."""
        markers = np.asarray(markers_mm, dtype=np.float64)
        tip = np.asarray(tip_mm, dtype=np.float64)
        centroid = markers.mean(axis=0)
        shaft = _unit(centroid - tip, "stylus shaft (tip to marker centroid)")
        if normals is None:
            facing = np.linalg.svd(markers - centroid)[2][-1]
        else:
            facing = _unit(np.mean(np.asarray(normals, dtype=np.float64), axis=0), "mean normal")
        return cls(tip, shaft, perpendicular(shaft, facing))


@dataclass(frozen=True, eq=False)
class Touch:
    """A point the stylus tip must reach and hold: ``point_mm`` (3,) and the unit ``approach``
    direction (3,), pointing away from the surface, along which the tip arrives and leaves.
    Tracker frame, mm.

    ``hover_mm`` is how far from the point, along ``approach``, the stylus starts and ends its
    approach (None: the settings' ``hover_mm``); a target below a surface needs its depth added,
    so that the stylus travels outside the phantom.
    """

    label: str
    point_mm: np.ndarray
    approach: np.ndarray
    hover_mm: float | None = None

    def __post_init__(self) -> None:
        if self.hover_mm is not None and not (math.isfinite(self.hover_mm) and self.hover_mm > 0):
            raise SceneError(f"touch {self.label!r}: hover_mm must be > 0; got {self.hover_mm!r}")
        point = np.array(self.point_mm, dtype=np.float64)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            raise SceneError(f"touch {self.label!r}: point must be 3 finite coordinates")
        approach = _unit(self.approach, f"touch {self.label!r} approach direction")
        point.setflags(write=False)
        approach.setflags(write=False)
        object.__setattr__(self, "point_mm", point)
        object.__setattr__(self, "approach", approach)


@dataclass(frozen=True, eq=False)
class Dwell:
    """An interval ``[start_s, end_s]`` during which the tip holds still on ``tip_mm`` (tracker,
    mm): the script's stand-in for the foot pedal that tells the navigator to collect a point."""

    label: str
    start_s: float
    end_s: float
    tip_mm: np.ndarray


@dataclass(frozen=True)
class TouchSettings:
    """Timing and hand style of a touching motion. Seconds, millimetres, radians."""

    travel_s: float = 1.2
    approach_s: float = 0.5
    dwell_s: float = 1.0
    hover_mm: float = 40.0
    max_tilt_rad: float = math.radians(20.0)
    roll_jitter_rad: float = math.radians(15.0)
    pivot_rad: float = math.radians(2.0)
    pivot_hz: float = 0.7

    def __post_init__(self) -> None:
        for name in ("travel_s", "approach_s", "dwell_s", "hover_mm"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0.0:
                raise SceneError(f"TouchSettings.{name} must be > 0; got {value!r}")
        for name in ("max_tilt_rad", "roll_jitter_rad", "pivot_rad", "pivot_hz"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise SceneError(f"TouchSettings.{name} must be >= 0; got {value!r}")
        if self.max_tilt_rad >= math.pi / 2:
            raise SceneError(
                f"TouchSettings.max_tilt_rad must be below pi/2 (the shaft would lie flat or "
                f"inside the surface); got {self.max_tilt_rad!r}"
            )


class _Phase:
    TRAVEL = 0
    APPROACH = 1
    DWELL = 2
    RETRACT = 3


@dataclass(frozen=True, eq=False)
class TouchMotion:
    """A stylus touching ``touches`` in order while the reference tool stays at
    ``tracker_from_reference``; implements the ``Motion`` protocol.

    Before time 0 and after ``duration_s`` the stylus rests at its first and last pose.
    ``dwells`` lists, in order, when the tip holds still on each touched point.
    """

    touches: tuple[Touch, ...]
    tracker_from_reference: np.ndarray
    stylus: StylusGeometry
    centre_mm: np.ndarray
    settings: TouchSettings = TouchSettings()
    camera_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    seed: int = 0
    stylus_name: str = "stylus"
    reference_name: str = "reference"
    _rotations: Rotation = field(init=False, repr=False)
    _pivot_phases: np.ndarray = field(init=False, repr=False)
    _starts_s: np.ndarray = field(init=False, repr=False)
    _phases: tuple[tuple[int, int], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.touches:
            raise SceneError("a touching motion needs at least one point to touch")
        reference = np.array(self.tracker_from_reference, dtype=np.float64)
        if reference.shape != (4, 4) or not np.all(np.isfinite(reference)):
            raise SceneError("tracker_from_reference must be a finite 4x4 matrix")
        reference.setflags(write=False)
        object.__setattr__(self, "tracker_from_reference", reference)
        object.__setattr__(self, "centre_mm", np.asarray(self.centre_mm, dtype=np.float64))
        object.__setattr__(self, "camera_mm", np.asarray(self.camera_mm, dtype=np.float64))
        rng = np.random.default_rng(self.seed)
        rotations = [self._held_rotation(touch, rng) for touch in self.touches]
        object.__setattr__(self, "_rotations", Rotation.from_matrix(np.stack(rotations)))
        object.__setattr__(self, "_pivot_phases", rng.uniform(0.0, 2.0 * np.pi, len(rotations)))
        s = self.settings
        phases, starts = [], []
        clock = 0.0
        for index in range(len(self.touches)):
            steps = [(_Phase.TRAVEL, s.travel_s)] if index > 0 else []
            steps += [(_Phase.APPROACH, s.approach_s), (_Phase.DWELL, s.dwell_s)]
            steps += [(_Phase.RETRACT, s.approach_s)]
            for phase, length in steps:
                phases.append((phase, index))
                starts.append(clock)
                clock += length
        starts.append(clock)
        object.__setattr__(self, "_phases", tuple(phases))
        object.__setattr__(self, "_starts_s", np.array(starts))

    @property
    def duration_s(self) -> float:
        """Length of the whole script in seconds."""
        return float(self._starts_s[-1])

    @property
    def dwells(self) -> tuple[Dwell, ...]:
        """When the tip holds still on each touched point, in touch order."""
        return tuple(
            Dwell(
                self.touches[index].label,
                float(self._starts_s[k]),
                float(self._starts_s[k + 1]),
                self.touches[index].point_mm,
            )
            for k, (phase, index) in enumerate(self._phases)
            if phase == _Phase.DWELL
        )

    def _held_rotation(self, touch: Touch, rng: np.random.Generator) -> np.ndarray:
        """stylus-to-tracker rotation while on ``touch``: shaft tilted off the normal by up to
        ``max_tilt_rad`` in a random direction, markers turned toward the camera +- roll jitter."""
        s = self.settings
        normal = touch.approach
        sideways = perpendicular(normal, rng.normal(size=3))
        tilt = rng.uniform(0.0, s.max_tilt_rad)
        shaft = math.cos(tilt) * normal + math.sin(tilt) * sideways
        rotation = aligning_rotation(
            self.stylus.shaft_axis,
            self.stylus.facing_axis,
            shaft,
            self.camera_mm - touch.point_mm,
        )
        roll = Rotation.from_rotvec(shaft * rng.uniform(-s.roll_jitter_rad, s.roll_jitter_rad))
        return roll.as_matrix() @ rotation

    def _hover_distance_mm(self, index: int) -> float:
        touch = self.touches[index]
        return self.settings.hover_mm if touch.hover_mm is None else touch.hover_mm

    def _hover_mm(self, index: int) -> np.ndarray:
        touch = self.touches[index]
        return touch.point_mm + self._hover_distance_mm(index) * touch.approach

    def _travel_tip_mm(self, index: int, fraction: float) -> np.ndarray:
        """Tip on the arc around ``centre_mm`` from hover point index-1 to hover point index."""
        start = self._hover_mm(index - 1) - self.centre_mm
        end = self._hover_mm(index) - self.centre_mm
        r0, r1 = float(np.linalg.norm(start)), float(np.linalg.norm(end))
        u0, u1 = start / r0, end / r1
        angle = math.acos(min(max(float(np.dot(u0, u1)), -1.0), 1.0))
        axis = np.cross(u0, u1)
        if np.linalg.norm(axis) < 1e-9:
            axis = perpendicular(u0, np.array([0.0, 0.0, 1.0]))
        axis = axis / np.linalg.norm(axis)
        direction = Rotation.from_rotvec(axis * angle * fraction).apply(u0)
        return self.centre_mm + (r0 + (r1 - r0) * fraction) * direction

    def _pivot(self, index: int, t_in_dwell_s: float) -> Rotation:
        """The hand's small circular pivot about the tip, zero at both ends of the dwell."""
        s = self.settings
        shaft = self._rotations[index].as_matrix() @ self.stylus.shaft_axis
        u = perpendicular(shaft, np.array([1.0, 0.0, 0.0]))
        v = np.cross(shaft, u)
        envelope = math.sin(math.pi * t_in_dwell_s / s.dwell_s)
        phase = 2.0 * math.pi * s.pivot_hz * t_in_dwell_s + self._pivot_phases[index]
        rotvec = s.pivot_rad * envelope * (math.cos(phase) * u + math.sin(phase) * v)
        return Rotation.from_rotvec(rotvec)

    def _tip_and_rotation(self, t_s: float) -> tuple[np.ndarray, Rotation]:
        """True stylus tip (tracker, mm) and stylus-to-tracker rotation at ``t_s``."""
        if not math.isfinite(t_s):
            raise SceneError(f"motion time must be finite; got {t_s!r}")
        t = min(max(t_s, 0.0), self.duration_s)
        k = min(int(np.searchsorted(self._starts_s, t, side="right")) - 1, len(self._phases) - 1)
        phase, index = self._phases[k]
        elapsed = t - self._starts_s[k]
        length = self._starts_s[k + 1] - self._starts_s[k]
        move = minimum_jerk(elapsed / length)
        touch = self.touches[index]
        hover = self._hover_distance_mm(index)
        if phase == _Phase.TRAVEL:
            pair = Slerp([0.0, 1.0], self._rotations[[index - 1, index]])
            return self._travel_tip_mm(index, move), pair([move])[0]
        if phase == _Phase.APPROACH:
            return touch.point_mm + hover * (1.0 - move) * touch.approach, self._rotations[index]
        if phase == _Phase.DWELL:
            return touch.point_mm.copy(), self._pivot(index, elapsed) * self._rotations[index]
        return touch.point_mm + hover * move * touch.approach, self._rotations[index]

    def __call__(self, t_s: float) -> Mapping[str, np.ndarray]:
        """``tracker_from_tool`` (4x4, mm) of the stylus and the reference at ``t_s`` seconds."""
        tip, rotation = self._tip_and_rotation(t_s)
        matrix = rotation.as_matrix()
        tracker_from_stylus = make_rigid(matrix, tip - matrix @ self.stylus.tip_mm)
        return {
            self.stylus_name: tracker_from_stylus,
            self.reference_name: self.tracker_from_reference.copy(),
        }


def touch_fiducials_then_targets(
    fiducials: Sequence[Touch],
    targets: Sequence[Touch],
    tracker_from_reference: np.ndarray,
    stylus: StylusGeometry,
    centre_mm: np.ndarray,
    settings: TouchSettings = TouchSettings(),
    seed: int = 0,
) -> TouchMotion:
    """The paired-point registration exercise: touch each fiducial with a dwell, then visit each
    target, all with the tip arriving along the given approach directions (tracker frame).

    ``centre_mm`` is the phantom's centre, around which the stylus travels. The first
    ``len(fiducials)`` dwells of the result are the fiducials, the rest the targets.
    """
    if len(fiducials) < 3:
        raise SceneError(
            f"paired-point registration needs at least 3 fiducials to touch; got {len(fiducials)}"
        )
    return TouchMotion(
        touches=(*fiducials, *targets),
        tracker_from_reference=tracker_from_reference,
        stylus=stylus,
        centre_mm=centre_mm,
        settings=settings,
        seed=seed,
    )
