"""TRANSFORM messages from an OpenIGTLink server, put together into tracker frames.

A server such as PlusServer sends, for every tracker frame, one TRANSFORM per tool it sees
(``StylusToTracker``, ``ReferenceToTracker``, ...), back to back and with the frame's time in
their headers. ``FrameAssembler`` rebuilds those frames: a frame holds at most one message per
tool, and is complete when every tool has one; it also ends when a tool comes again (that
message starts the next frame), or ``batch_wait_s`` after its first message (the tools whose
message has not come are missing: a server sends nothing for a tool it does not see). A tool
absent from a frame is MISSING in it, never held at an earlier pose. PLUS's ``TransformStatus``
metadata (version 2 headers) is honoured; a matrix that is not rigid makes the tool MISSING,
with a warning.

Times: each frame carries the server's header time as the device's (unfiltered) time, and its
sample time on the local clock: the header time plus the smallest (arrival - header) offset of
the last ``OFFSET_WINDOW`` messages, which removes the network's jitter and the two computers'
clock difference (the two clocks are assumed to run at the same rate over a window). A header
time of 0 (unused) falls back to the arrival time.

When no message comes for ``missing_after_s``, ``due`` makes a frame with every tool missing
(the watchdog), and again at that interval while the server stays silent.
"""

import logging
from collections import deque
from collections.abc import Mapping

import numpy as np

from devices.acquisition import RawFrame, RawPose
from devices.exceptions import ConfigurationError, ProtocolError
from devices.frame import PoseStatus
from devices.igtl.messages import TRANSFORM, unpack_transform
from devices.igtl.settings import ClientSettings
from devices.igtl.stream import Message
from registration.exceptions import RegistrationError
from registration.transforms import RECORDED_ORTHONORMAL_TOL, as_rigid

logger = logging.getLogger(__name__)

OFFSET_WINDOW = 256
# PLUS's tool status words (igsioCommon) that gestes has a status for; any other is MISSING.
_PLUS_STATUSES = {
    "OK": PoseStatus.OK,
    "OUT_OF_VOLUME": PoseStatus.OUT_OF_VOLUME,
    "DISABLED": PoseStatus.DISABLED,
}


class FrameAssembler:
    """Builds ``RawFrame``s from messages (see the module docstring).

    ``tools`` maps each tool name to the device name of its messages (``"StylusToTracker"``;
    matched case-insensitively). Times are seconds on the caller's clock.
    """

    def __init__(self, tools: Mapping[str, str], settings: ClientSettings) -> None:
        self._tool_of = {name.lower(): tool for tool, name in tools.items()}
        if len(self._tool_of) != len(tools):
            raise ConfigurationError(f"two tools read the same OpenIGTLink message: {dict(tools)}")
        self._tools = tuple(tools)
        self._settings = settings
        self._unknown: set[str] = set()
        self._not_rigid: set[str] = set()
        self._frame_number = 0
        self._last_sample_s = -np.inf
        self.reset(now_s=0.0)

    def reset(self, now_s: float) -> None:
        """Forget the frame being built and the clock offsets (a new connection); frame numbers
        go on and sample times never go back."""
        self._batch: dict[str, RawPose] = {}
        self._batch_header_s = 0.0
        self._batch_started_s = 0.0
        self._offsets: deque[float] = deque(maxlen=OFFSET_WINDOW)
        self._last_message_s = now_s
        self._last_frame_s = now_s

    def add(self, message: Message, arrival_s: float) -> list[RawFrame]:
        """Take one message that arrived at ``arrival_s``; returns the frames it completes."""
        tool = self._tool_of.get(message.device_name.lower())
        if message.type != TRANSFORM or tool is None:
            if message.device_name not in self._unknown:
                self._unknown.add(message.device_name)
                logger.info(
                    "ignoring OpenIGTLink %s %r: not one of the tools' messages %s",
                    message.type,
                    message.device_name,
                    sorted(self._tool_of),
                )
            return []
        self._last_message_s = arrival_s
        header_s = message.header.timestamp_s
        if header_s > 0.0:
            self._offsets.append(arrival_s - header_s)
        frames = []
        if tool in self._batch:
            frames.append(self._finish(arrival_s))
        if not self._batch:
            self._batch_started_s = arrival_s
        self._batch[tool] = self._pose(tool, message)
        self._batch_header_s = max(self._batch_header_s, header_s)
        if len(self._batch) == len(self._tools):
            frames.append(self._finish(arrival_s))
        return frames

    def due(self, now_s: float) -> RawFrame | None:
        """A frame whose time has come at ``now_s``: one still waiting for a tool after
        ``batch_wait_s``, or the watchdog's frame of missing tools; else None."""
        if self._batch:
            if now_s - self._batch_started_s >= self._settings.batch_wait_s:
                return self._finish(now_s)
            return None
        interval = self._settings.missing_after_s
        if now_s - self._last_message_s >= interval and now_s - self._last_frame_s >= interval:
            return self._frame({}, None, now_s, now_s)
        return None

    def next_due_s(self) -> float:
        """The time at which ``due`` will next have a frame, if no message comes before."""
        if self._batch:
            return self._batch_started_s + self._settings.batch_wait_s
        interval = self._settings.missing_after_s
        return max(self._last_message_s, self._last_frame_s) + interval

    def _pose(self, tool: str, message: Message) -> RawPose:
        status = _PLUS_STATUSES.get(message.metadata.get("TransformStatus", "OK").upper())
        if status is not PoseStatus.OK:
            return RawPose(None, status or PoseStatus.MISSING)
        try:
            matrix = as_rigid(unpack_transform(message.content), tool, RECORDED_ORTHONORMAL_TOL)
        except (ProtocolError, RegistrationError) as error:
            if tool not in self._not_rigid:
                self._not_rigid.add(tool)
                logger.warning(
                    "OpenIGTLink %r is not a tracker pose, %s is missing: %s",
                    message.device_name,
                    tool,
                    error,
                )
            return RawPose(None, PoseStatus.MISSING)
        return RawPose(matrix, PoseStatus.OK)

    def _finish(self, arrival_s: float) -> RawFrame:
        """The frame of the current batch; starts an empty one."""
        batch, header_s = self._batch, self._batch_header_s
        self._batch, self._batch_header_s = {}, 0.0
        if header_s > 0.0:
            return self._frame(batch, header_s, header_s + min(self._offsets), arrival_s)
        return self._frame(batch, None, arrival_s, arrival_s)

    def _frame(
        self, poses: Mapping[str, RawPose], device_s: float | None, sample_s: float, now_s: float
    ) -> RawFrame:
        sample_s = max(sample_s, self._last_sample_s)  # never back in time
        self._last_sample_s = sample_s
        self._last_frame_s = now_s
        number = self._frame_number
        self._frame_number += 1
        return RawFrame(number, device_s, dict(poses), filtered_time_s=sample_s)
