"""Building blocks of scripted tool motions: how a stylus is held (``StylusGeometry``), a point
to touch and the way to it (``Touch``), turning a tool to face a direction (``aligning_rotation``)
and the minimum-jerk profile of a reach (Flash & Hogan 1985, J Neurosci 5(7), eq. 3).

A motion is a callable ``motion(t_s) -> {tool name: tracker_from_tool}`` (4x4, mm) with an
attribute ``duration_s``: the ``Motion`` protocol that ``devices.simulated.SimulatedTracker``
samples. The scripted motions themselves are the simulated student's (``scenes.student``) and
the ``sim:demo`` session (``scenes.demo_session``). Tracker frame, mm.
"""

from dataclasses import dataclass

import numpy as np

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


def minimum_jerk(fraction: float | np.ndarray) -> float | np.ndarray:
    """Position fraction along a minimum-jerk move at time fraction(s) in [0, 1] (Flash & Hogan
    eq. 3): ``10 s^3 - 15 s^4 + 6 s^5``, starting and ending with zero speed and acceleration."""
    s = np.clip(fraction, 0.0, 1.0)
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
    Tracker frame, mm."""

    label: str
    point_mm: np.ndarray
    approach: np.ndarray

    def __post_init__(self) -> None:
        point = np.array(self.point_mm, dtype=np.float64)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            raise SceneError(f"touch {self.label!r}: point must be 3 finite coordinates")
        approach = _unit(self.approach, f"touch {self.label!r} approach direction")
        point.setflags(write=False)
        approach.setflags(write=False)
        object.__setattr__(self, "point_mm", point)
        object.__setattr__(self, "approach", approach)
