"""Hypothesis strategies for frames and rigid poses, shared by the recording and replay tests."""

import numpy as np
from hypothesis import strategies as st

from devices.frame import Frame, PoseStatus, ToolPose

TOOL_NAMES = ("stylus", "reference", "needle_tip", "probe")


@st.composite
def rigid_matrices(draw):
    """A random rigid 4x4: a unit quaternion (NDI order) and a translation within 2 m."""
    quaternion = np.array(draw(st.tuples(*[st.floats(-1.0, 1.0)] * 4)))
    norm = np.linalg.norm(quaternion)
    if norm < 1e-3:
        quaternion, norm = np.array([1.0, 0.0, 0.0, 0.0]), 1.0
    w, x, y, z = quaternion / norm
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    matrix[:3, 3] = draw(st.tuples(*[st.floats(-2000.0, 2000.0)] * 3))
    return matrix


@st.composite
def tool_poses(draw, tool):
    status = draw(st.sampled_from(list(PoseStatus)))
    if status in (PoseStatus.OK, PoseStatus.PARTIALLY_OUT_OF_VOLUME):
        error = draw(st.one_of(st.just(float("nan")), st.floats(0.0, 5.0)))
        return ToolPose(tool, draw(rigid_matrices()), status, error)
    return ToolPose.missing(tool, status)


@st.composite
def frame_lists(draw, min_frames=0):
    """(frames, tools): up to 6 frames of 1-3 tools, some tools absent from some frames."""
    tools = tuple(draw(st.lists(st.sampled_from(TOOL_NAMES), min_size=1, max_size=3, unique=True)))
    count = draw(st.integers(min_frames, 6))
    start = draw(st.floats(0.0, 1e5))
    frames = []
    for index in range(count):
        present = [tool for tool in tools if draw(st.booleans()) or index == 0]
        poses = {tool: draw(tool_poses(tool)) for tool in present}
        frames.append(Frame(start + index / 60.0, draw(st.integers(0, 2**40)), poses))
    return frames, tools
