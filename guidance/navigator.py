"""The navigator: from one tracker frame to where the stylus tip is in the CT.

The chain, read right to left:
``image_from_stylus = image_from_reference @ reference_from_tracker @ tracker_from_stylus``.
``image_from_reference`` comes from registration; the two tracker poses come from each frame.
Working in the reference frame makes navigation immune to the camera or the patient moving,
since the reference tool is fixed to the patient.

A ``NavigationState`` (tip in image frame, distance to each target and structure) is everything
the views, exercises and an OpenIGTLink sender need; they read it and keep no state of their own.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from devices.frame import Frame
from guidance.exceptions import GuidanceError
from registration.exceptions import RegistrationError
from registration.transforms import apply_transform, as_points, as_rigid, invert_rigid

if TYPE_CHECKING:
    from scenes.scene import Structure


def _tool_pose(frame: Frame, tool: str) -> np.ndarray | None:
    """``tracker_from_tool`` when ``tool`` has a valid pose in ``frame``; None when it is lost."""
    pose = frame.poses.get(tool)
    if pose is None:
        raise GuidanceError(
            f"frame {frame.frame_number} has no tool named {tool!r}; "
            f"it tracks {sorted(frame.poses)}"
        )
    return pose.tracker_from_tool if pose.valid else None


def reference_from_stylus(
    frame: Frame, stylus: str = "stylus", reference: str = "reference"
) -> np.ndarray | None:
    """``reference_from_tracker @ tracker_from_stylus`` (4x4, mm) in ``frame``, or None when
    either tool is not tracked (never a stale pose)."""
    tracker_from_stylus = _tool_pose(frame, stylus)
    tracker_from_reference = _tool_pose(frame, reference)
    if tracker_from_stylus is None or tracker_from_reference is None:
        return None
    return invert_rigid(tracker_from_reference) @ tracker_from_stylus


def tip_in_reference_mm(
    frame: Frame, tip_in_stylus_mm: np.ndarray, stylus: str = "stylus", reference: str = "reference"
) -> np.ndarray | None:
    """Stylus tip (3,) in the reference tool's frame (mm), or None when either tool is lost."""
    pose = reference_from_stylus(frame, stylus, reference)
    return None if pose is None else apply_transform(pose, tip_in_stylus_mm)


@dataclass(frozen=True, eq=False)
class NavigationState:
    """What the navigator knows at one frame, all in the image (CT, LPS) frame, mm.

    ``tracked`` is False when the stylus or the reference is lost; then ``image_from_stylus`` and
    ``tip_mm`` are NaN and the distances too. ``target_distances_mm`` (M,) are tip-to-target
    distances; ``structure_distances_mm`` (K,) are distances to each structure's surface,
    negative inside it.
    """

    timestamp: float
    frame_number: int
    tracked: bool
    image_from_stylus: np.ndarray
    tip_mm: np.ndarray
    target_distances_mm: np.ndarray
    structure_distances_mm: np.ndarray


@dataclass(frozen=True, eq=False)
class Navigator:
    """Turns frames into ``NavigationState``s once registration has given ``image_from_reference``.

    ``tip_in_stylus_mm`` (3,) is the calibrated tip; ``targets_mm`` (M, 3) and ``structures`` are in
    the image frame.
    """

    image_from_reference: np.ndarray
    tip_in_stylus_mm: np.ndarray
    targets_mm: np.ndarray
    structures: Sequence["Structure"] = ()
    stylus: str = "stylus"
    reference: str = "reference"

    def __post_init__(self) -> None:
        try:
            registration = as_rigid(self.image_from_reference, "image_from_reference")
            tip = as_points(np.reshape(self.tip_in_stylus_mm, (1, 3)), "tip_in_stylus_mm")[0]
            targets = (
                as_points(self.targets_mm, "targets_mm")
                if len(self.targets_mm)
                else np.empty((0, 3))
            )
        except (RegistrationError, ValueError) as error:
            raise GuidanceError(f"navigator: {error}") from error
        object.__setattr__(self, "image_from_reference", registration)
        object.__setattr__(self, "tip_in_stylus_mm", tip)
        object.__setattr__(self, "targets_mm", targets)
        object.__setattr__(self, "structures", tuple(self.structures))

    def navigate(self, frame: Frame) -> NavigationState:
        """The navigation state in ``frame``."""
        pose = reference_from_stylus(frame, self.stylus, self.reference)
        if pose is None:
            return NavigationState(
                frame.timestamp,
                frame.frame_number,
                False,
                np.full((4, 4), np.nan),
                np.full(3, np.nan),
                np.full(len(self.targets_mm), np.nan),
                np.full(len(self.structures), np.nan),
            )
        image_from_stylus = self.image_from_reference @ pose
        tip = apply_transform(image_from_stylus, self.tip_in_stylus_mm)
        structure_distances = np.array(
            [float(s.signed_distance_mm(tip[None])[0]) for s in self.structures]
        )
        return NavigationState(
            frame.timestamp,
            frame.frame_number,
            True,
            image_from_stylus,
            tip,
            np.linalg.norm(self.targets_mm - tip, axis=1),
            structure_distances.reshape(len(self.structures)),
        )
