"""A small deterministic pose source for emulator and driver tests (no noise, known values)."""

import math

import numpy as np

from devices.exceptions import StreamEnded
from devices.frame import Frame, PoseStatus, ToolPose


def expected_pose(tool_index: int, frame_number: int) -> np.ndarray:
    """``tracker_from_tool`` of tool ``tool_index`` in frame ``frame_number``: a turn about z."""
    angle = math.radians(3.0 * frame_number + 40.0 * tool_index)
    pose = np.eye(4)
    pose[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    pose[:3, 3] = (
        10.0 * tool_index + frame_number,
        -20.0 - tool_index,
        -1500.0 + 0.5 * frame_number,
    )
    return pose


ERROR_RMS_MM = 0.125


class CountingSource:
    """Tools move by frame number; ``hidden`` tools are MISSING on odd frames.

    ``frames`` ends the stream after that many frames (None: endless).
    """

    def __init__(self, tools=("stylus", "reference"), frames=None, hidden=()):
        self.tools = tuple(tools)
        self._frames = frames
        self._hidden = set(hidden)
        self._next = 0

    def start(self) -> None:
        self._next = 0

    def stop(self) -> None:
        pass

    def read(self, timeout=None) -> Frame:
        if self._frames is not None and self._next >= self._frames:
            raise StreamEnded("counting source ended")
        number = self._next
        self._next += 1
        poses = {}
        for index, tool in enumerate(self.tools):
            if tool in self._hidden and number % 2:
                poses[tool] = ToolPose.missing(tool)
            else:
                poses[tool] = ToolPose(
                    tool, expected_pose(index, number), PoseStatus.OK, ERROR_RMS_MM
                )
        return Frame(float(number), number, poses)
