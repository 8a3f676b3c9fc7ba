"""The plain geometry behind the views (numpy only, no rendering), so that it can be tested alone.
The display convention of the slices (and their edge letters) lives in ``guidance.orientation``.

Everything is in the image frame (CT, LPS, mm) unless a name says otherwise. Screen directions
of a view are given by the direction it looks along and its up vector; screen right is
``direction x up`` (a right-handed camera).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SUPERIOR = np.array([0.0, 0.0, 1.0])
ANTERIOR = np.array([0.0, -1.0, 0.0])
# A tool tilted more than ~87 deg from its trajectory has no useful point of arrival.
MIN_ALONG = 0.05


def screen_right(direction: Sequence[float], up: Sequence[float]) -> np.ndarray:
    """Screen right of a view looking along ``direction`` with ``up`` up: ``direction x up``."""
    return np.cross(np.asarray(direction, dtype=np.float64), np.asarray(up, dtype=np.float64))


def plane_offsets_mm(
    points_mm: np.ndarray, origin_mm: Sequence[float], normal: Sequence[float]
) -> np.ndarray:
    """Signed distance (mm) of each point ``(N, 3)`` from the plane through ``origin_mm`` with
    unit ``normal``; positive on the side the normal points to."""
    points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    return (points - np.asarray(origin_mm, dtype=np.float64)) @ np.asarray(normal, dtype=float)


def nice_length_mm(at_most_mm: float) -> float:
    """The longest 1, 2 or 5 x 10^k mm not above ``at_most_mm`` (> 0): a scale bar's length."""
    if not at_most_mm > 0.0:
        raise ValueError(f"a scale bar needs a positive length; got {at_most_mm!r} mm")
    power = 10.0 ** math.floor(math.log10(at_most_mm))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= at_most_mm * 1.000001)


@dataclass(frozen=True)
class BullseyeFrame:
    """The target-alignment view's frame: the trajectory seen from its entry.

    ``forward`` is the unit trajectory direction (entry to target, the way the view looks);
    ``right`` and ``up`` span the screen plane (mm in the image frame). ``up`` is the patient's
    superior direction seen in that plane, or anterior when the trajectory runs head to foot.
    """

    entry_mm: np.ndarray
    target_mm: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray

    @classmethod
    def of(cls, entry_mm: Sequence[float], target_mm: Sequence[float]) -> "BullseyeFrame":
        """The frame of the trajectory from ``entry_mm`` to ``target_mm`` (distinct points)."""
        entry = np.asarray(entry_mm, dtype=np.float64)
        target = np.asarray(target_mm, dtype=np.float64)
        forward = (target - entry) / np.linalg.norm(target - entry)
        # Superior projected on the screen plane, unless the trajectory is within ~25 deg of S-I.
        hint = SUPERIOR if abs(forward @ SUPERIOR) < 0.9 else ANTERIOR
        up = hint - (hint @ forward) * forward
        up /= np.linalg.norm(up)
        return cls(entry, target, forward, screen_right(forward, up), up)

    def screen_mm(self, point_mm: np.ndarray) -> np.ndarray:
        """(right, up) of a point's offset from the trajectory line, mm on the screen plane."""
        offset = np.asarray(point_mm, dtype=np.float64) - self.target_mm
        return np.array([offset @ self.right, offset @ self.up])

    def reach_mm(self, tip_mm: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """Where the tool would cross the plane through the target, across the trajectory, if
        pushed straight along ``axis`` (unit, the way it points): (right, up) mm on the screen
        plane (behind the tip once the tip is past that plane); NaN when the tool points
        sideways or back (more than ~87 deg from the trajectory)."""
        tip = np.asarray(tip_mm, dtype=np.float64)
        axis = np.asarray(axis, dtype=np.float64)
        along = float(axis @ self.forward)
        if along < MIN_ALONG:
            return np.full(2, np.nan)
        ahead = float((self.target_mm - tip) @ self.forward)
        return self.screen_mm(tip + (ahead / along) * axis)


@dataclass(frozen=True)
class VoxelSlices:
    """A CT's voxel planes across a slice view's unit ``normal``: the planes through its voxel
    centres, ``step_mm`` apart, one of them through ``origin_mm`` (the first voxel's centre).

    ``nearest(point_mm)`` is the voxel plane nearest to a point, given by a point on it that
    stays the same for every point between two planes: a slice panel resamples the CT only
    when the tip crosses into another voxel slice, not each time it moves (a reslice and a
    texture upload per panel). A normal oblique to the CT's voxel axes has no such planes
    (``step_mm`` 0): ``nearest`` returns the point itself.
    """

    origin_mm: np.ndarray
    normal: np.ndarray
    step_mm: float

    @classmethod
    def across(
        cls,
        origin_mm: Sequence[float],
        spacing_mm: Sequence[float],
        direction: np.ndarray,
        normal: Sequence[float],
    ) -> "VoxelSlices":
        """The voxel planes of a CT (origin, spacing, 3x3 direction matrix whose columns are
        the voxel axes in LPS) across ``normal``."""
        normal = np.asarray(normal, dtype=np.float64)
        normal = normal / np.linalg.norm(normal)
        along = np.reshape(np.asarray(direction, dtype=np.float64), (3, 3)).T @ normal
        axis = int(np.argmax(np.abs(along)))
        parallel = abs(abs(along[axis]) - 1.0) < 1e-9
        step = float(spacing_mm[axis]) if parallel else 0.0
        return cls(np.asarray(origin_mm, dtype=np.float64), normal, step)

    def nearest(self, point_mm: Sequence[float]) -> np.ndarray:
        """A point (mm) on the voxel plane nearest to ``point_mm`` (the same point for every
        ``point_mm`` nearest to that plane)."""
        point = np.asarray(point_mm, dtype=np.float64)
        if self.step_mm == 0.0:
            return point
        index = round(float((point - self.origin_mm) @ self.normal) / self.step_mm)
        return self.origin_mm + (index * self.step_mm) * self.normal
