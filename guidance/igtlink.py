"""Stream a navigation session to 3D Slicer (or any OpenIGTLink client): a session sink.

``IgtlSender(settings, tools, scene)`` serves OpenIGTLink (``devices.igtl.server``) and, called
as ``sender(frame, state)`` for every tracker frame, streams TRANSFORM messages named as PLUS
names them, so that SlicerIGT set-ups work unchanged:

- ``<Tool>ToTracker`` for every tool the tracker sees (``tracker_from_tool``);
- ``<Tool>ToReference`` for every other tool when the reference is seen;
- with a ``NavigationState``: ``<Tool>ToImage`` for every tool the navigator places in the CT,
  and ``StylusTipToImage`` (the tip, with the stylus's orientation).

"Image" is the CT's frame *as Slicer shows it*: RAS. gestes works in LPS (as ITK and DICOM), so
every ``...ToImage`` matrix is ``ras_from_lps @ image_from_tool``, the CT goes out as an IMAGE
message ``CT`` with its RAS geometry, and the scene's fiducials and targets as POINT messages
``Fiducials`` and ``Targets`` in RAS: everything overlays in Slicer without a transform. The CT
and the points are sent to each client when it connects (and again when it asks with a
``GET_IMAGE`` or ``GET_POINT``). A tool that is not seen in a frame is not sent (as PlusServer
does): a client watching for fresh messages sees it go missing rather than a stale pose.

Header timestamps are seconds since 1970 UTC, as the protocol asks: the frame's timestamp plus
``epoch_offset_s`` (by default the wall clock minus the monotonic clock, the time base of live
frames).
"""

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Self

import numpy as np
import SimpleITK as sitk

from devices.exceptions import ConfigurationError
from devices.frame import Frame
from devices.igtl.header import DEVICE_NAME_SIZE
from devices.igtl.messages import (
    IMAGE,
    POINT,
    TRANSFORM,
    Coordinate,
    ImageContent,
    Point,
    pack_image,
    pack_message,
    pack_points,
    pack_transform,
)
from devices.igtl.server import IgtlServer, Outgoing
from devices.igtl.settings import ServerSettings
from devices.sequence_file import tool_to_plus
from registration.transforms import invert_rigid
from scenes.markups import RAS_FROM_LPS
from scenes.physical import physical_from_index
from scenes.scene import Scene

if TYPE_CHECKING:
    from guidance.navigator import NavigationState

logger = logging.getLogger(__name__)

IMAGE_NAME = "CT"
FIDUCIALS_NAME = "Fiducials"
TARGETS_NAME = "Targets"
_RAS_FROM_LPS_4X4 = np.diag([*RAS_FROM_LPS, 1.0])
_FIDUCIAL_RGBA = (51, 102, 255, 255)
_TARGET_RGBA = (255, 51, 51, 255)
_POINT_DIAMETER_MM = 3.0


def ras_image(ct: sitk.Image) -> ImageContent:
    """The CT as an IMAGE volume: voxels ``[k, j, i]`` and ``ras_from_ijk`` (LPS -> RAS)."""
    return ImageContent(
        sitk.GetArrayViewFromImage(ct),
        _RAS_FROM_LPS_4X4 @ physical_from_index(ct),
        Coordinate.RAS,
    )


def ras_points(points_lps_mm: np.ndarray, labels: Sequence[str], group: str, rgba) -> list[Point]:
    """Labelled LPS points (mm) as POINT items in RAS, owned by the CT."""
    return [
        Point(
            label,
            tuple(float(v) for v in point * RAS_FROM_LPS),
            group,
            rgba,
            _POINT_DIAMETER_MM,
            IMAGE_NAME,
        )
        for label, point in zip(labels, points_lps_mm, strict=True)
    ]


def scene_greeting(scene: Scene, timestamp_s: float) -> list[Outgoing]:
    """What a client receives when it connects: the CT, then its fiducials and targets."""
    greeting = [
        Outgoing(
            IMAGE,
            IMAGE_NAME,
            pack_message(IMAGE, IMAGE_NAME, timestamp_s, pack_image(ras_image(scene.ct))),
        )
    ]
    for name, group, points, labels, rgba in (
        (FIDUCIALS_NAME, "Fiducial", scene.fiducials_mm, scene.fiducial_labels, _FIDUCIAL_RGBA),
        (TARGETS_NAME, "Target", scene.targets_mm, scene.target_labels, _TARGET_RGBA),
    ):
        if len(points):
            content = pack_points(ras_points(points, labels, group, rgba))
            greeting.append(Outgoing(POINT, name, pack_message(POINT, name, timestamp_s, content)))
    return greeting


class IgtlSender:
    """Serves OpenIGTLink and streams every frame it is given (see the module docstring).

    ``tools`` are the tracker's tool names; ``stylus`` and ``reference`` those of the
    navigator. ``start()`` binds (raises ``TrackerError`` when the port is taken) and returns
    the address; ``stop()`` closes every connection. Calls before ``start`` are ignored.
    """

    def __init__(
        self,
        settings: ServerSettings,
        tools: Sequence[str],
        scene: Scene | None = None,
        *,
        stylus: str = "stylus",
        reference: str = "reference",
        epoch_offset_s: float | None = None,
    ) -> None:
        self.server = IgtlServer(settings)
        self.epoch_offset_s = (
            time.time() - time.monotonic() if epoch_offset_s is None else epoch_offset_s
        )
        self._reference = reference
        self._to_tracker = {tool: _device_name(tool, "Tracker") for tool in tools}
        self._to_reference = {
            tool: _device_name(tool, tool_to_plus(reference)) for tool in tools if tool != reference
        }
        self._to_image = {tool: _device_name(tool, "Image") for tool in tools}
        self._tip_to_image = _device_name(stylus, "Image", "Tip")
        if scene is not None:
            self.server.set_greeting(scene_greeting(scene, time.time()))

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        return self.server.address

    def start(self) -> tuple[str, int]:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def __call__(self, frame: Frame, state: "NavigationState | None" = None) -> None:
        """Stream ``frame`` (and ``state``, when navigating) to every client; returns at once."""
        if not self.server.client_count:
            return
        stamp = frame.timestamp + self.epoch_offset_s
        messages = {}
        for tool, pose in frame.poses.items():
            if pose.valid and tool in self._to_tracker:
                messages[self._to_tracker[tool]] = pose.tracker_from_tool
        reference = frame.poses.get(self._reference)
        if reference is not None and reference.valid:
            reference_from_tracker = invert_rigid(reference.tracker_from_tool)
            for tool, pose in frame.poses.items():
                if pose.valid and tool in self._to_reference:
                    messages[self._to_reference[tool]] = (
                        reference_from_tracker @ pose.tracker_from_tool
                    )
        if state is not None:
            messages.update(self._image_transforms(state))
        self.server.publish(
            {name: _transform_message(name, stamp, matrix) for name, matrix in messages.items()}
        )

    def _image_transforms(self, state: "NavigationState") -> Mapping[str, np.ndarray]:
        """``<Tool>ToImage`` and ``StylusTipToImage`` (RAS) for what the navigator placed."""
        matrices = {
            self._to_image[tool]: _RAS_FROM_LPS_4X4 @ tool_state.image_from_tool
            for tool, tool_state in state.tools.items()
            if tool in self._to_image and np.isfinite(tool_state.image_from_tool).all()
        }
        if state.tracked:
            image_from_tip = np.array(state.image_from_stylus)
            image_from_tip[:3, 3] = state.tip_mm
            matrices[self._tip_to_image] = _RAS_FROM_LPS_4X4 @ image_from_tip
        return matrices

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _transform_message(name: str, timestamp_s: float, matrix: np.ndarray) -> bytes:
    return pack_message(TRANSFORM, name, timestamp_s, pack_transform(matrix))


def _device_name(tool: str, frame: str, part: str = "") -> str:
    """PLUS's name of a transform, ``StylusToTracker``; raises when it does not fit 20 bytes."""
    name = f"{tool_to_plus(tool)}{part}To{frame}"
    if len(name) > DEVICE_NAME_SIZE:
        raise ConfigurationError(
            f"tool {tool!r} would be streamed as {name!r}, longer than the {DEVICE_NAME_SIZE} "
            "characters an OpenIGTLink device name holds: give the tool a shorter name"
        )
    return name
