"""The scene of an exercise: a CT with ground-truth fiducials, targets and structures to avoid.

Everything is in physical LPS millimetres, the frame of the CT (``SimpleITK`` origin, spacing and
direction); no voxel index leaves ``scenes``.
"""

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from scenes.exceptions import SceneFormatError


def _frozen_points(points: np.ndarray, what: str) -> np.ndarray:
    array = np.array(points, dtype=np.float64, copy=True)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 3)
    if array.ndim != 2 or array.shape[1] != 3:
        raise SceneFormatError(f"{what} must have shape (N, 3); got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SceneFormatError(f"{what} contains NaN or infinite coordinates")
    array.setflags(write=False)
    return array


def _check_labels(labels: tuple[str, ...], count: int, what: str) -> None:
    if len(labels) != count:
        raise SceneFormatError(f"{what}: {len(labels)} labels for {count} points")
    if len(set(labels)) != len(labels):
        raise SceneFormatError(f"{what}: labels must be unique; got {list(labels)}")


@dataclass(frozen=True, eq=False)
class Structure:
    """A structure to avoid: a tube of ``radius_mm`` around a polyline (one point: a ball), LPS mm.

    Vessels, nerves, ventricles and the spinal canal are all modelled this way, so that the
    distance of a tool tip to them is exact and cheap.
    """

    name: str
    centreline_mm: np.ndarray
    radius_mm: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "centreline_mm", _frozen_points(self.centreline_mm, f"{self.name} centreline")
        )
        if len(self.centreline_mm) == 0:
            raise SceneFormatError(f"structure {self.name}: the centreline needs at least 1 point")
        if not (np.isfinite(self.radius_mm) and self.radius_mm > 0):
            raise SceneFormatError(
                f"structure {self.name}: radius must be a positive number of mm; "
                f"got {self.radius_mm}"
            )

    def signed_distance_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Distance from each point ``(N, 3)`` to the surface of the tube; negative inside."""
        points = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        line = self.centreline_mm
        starts = line[:-1] if len(line) > 1 else line
        ends = line[1:] if len(line) > 1 else line
        segment = ends - starts
        length_sq = np.maximum(np.einsum("ij,ij->i", segment, segment), 1e-300)
        offset = points[:, None, :] - starts[None, :, :]
        t = np.clip(np.einsum("nsj,sj->ns", offset, segment) / length_sq, 0.0, 1.0)
        closest = starts[None] + t[..., None] * segment[None]
        distance = np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)
        return distance - self.radius_mm


@dataclass(frozen=True, eq=False)
class Scene:
    """A CT (int16 HU, LPS) with ground-truth bead centres, targets and structures to avoid.

    ``fiducials_mm`` are the true centres of the CT-visible beads, ``targets_mm`` the points to
    reach; ``bone_threshold_hu`` and ``skin_threshold_hu`` are the isovalues of the bone and skin
    surfaces. Arrays are read-only copies.
    """

    name: str
    ct: sitk.Image
    fiducials_mm: np.ndarray
    fiducial_labels: tuple[str, ...]
    targets_mm: np.ndarray
    target_labels: tuple[str, ...]
    structures: tuple[Structure, ...] = ()
    bone_threshold_hu: float = 300.0
    skin_threshold_hu: float = -300.0
    description: str = field(default="")

    def __post_init__(self) -> None:
        if self.ct.GetDimension() != 3:
            raise SceneFormatError(f"scene {self.name}: the CT must be 3D")
        object.__setattr__(
            self, "fiducials_mm", _frozen_points(self.fiducials_mm, f"scene {self.name} fiducials")
        )
        object.__setattr__(
            self, "targets_mm", _frozen_points(self.targets_mm, f"scene {self.name} targets")
        )
        object.__setattr__(self, "fiducial_labels", tuple(self.fiducial_labels))
        object.__setattr__(self, "target_labels", tuple(self.target_labels))
        object.__setattr__(self, "structures", tuple(self.structures))
        _check_labels(self.fiducial_labels, len(self.fiducials_mm), f"scene {self.name} fiducials")
        _check_labels(self.target_labels, len(self.targets_mm), f"scene {self.name} targets")
        _check_labels(
            tuple(s.name for s in self.structures),
            len(self.structures),
            f"scene {self.name} structures",
        )
        if not self.skin_threshold_hu < self.bone_threshold_hu:
            raise SceneFormatError(
                f"scene {self.name}: skin threshold {self.skin_threshold_hu} HU must be below the "
                f"bone threshold {self.bone_threshold_hu} HU"
            )
