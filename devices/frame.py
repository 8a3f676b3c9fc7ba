"""The vocabulary every tracking source shares: pose status, one tool's pose, one frame, a tracker.

A tool that is not seen is ``MISSING`` with a NaN matrix: never held at its last pose.
"""

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np


class PoseStatus(enum.Enum):
    """What the tracker says about one tool in one frame."""

    OK = "ok"
    MISSING = "missing"
    OUT_OF_VOLUME = "out_of_volume"
    PARTIALLY_OUT_OF_VOLUME = "partially_out_of_volume"
    DISABLED = "disabled"


NAN_POSE = np.full((4, 4), np.nan)
NAN_POSE.setflags(write=False)


@dataclass(frozen=True)
class ToolPose:
    """One tool in one frame: ``tracker_from_tool`` (4x4, mm), NaN-filled unless status is OK.

    ``error_rms`` is the marker-fit RMS error in mm as the device reports it (NaN if unknown).
    A status of ``PARTIALLY_OUT_OF_VOLUME`` still carries a valid pose, as NDI trackers do.
    """

    tool: str
    tracker_from_tool: np.ndarray
    status: PoseStatus
    error_rms: float = math.nan

    @classmethod
    def missing(cls, tool: str, status: PoseStatus = PoseStatus.MISSING) -> Self:
        """A pose with no valid matrix, for a tool that is missing, disabled or out of volume."""
        return cls(tool, NAN_POSE, status)

    @property
    def valid(self) -> bool:
        """True when the matrix can be used for navigation."""
        return self.status in (PoseStatus.OK, PoseStatus.PARTIALLY_OUT_OF_VOLUME)


@dataclass(frozen=True)
class Frame:
    """Poses of all tools sampled together.

    ``timestamp`` is in seconds (``time.monotonic()`` for live sources, the recorded time on
    replay); ``frame_number`` is the device's own counter, which says when the sample was taken.
    """

    timestamp: float
    frame_number: int
    poses: Mapping[str, ToolPose]


class Tracker(Protocol):
    """A source of frames: NDI hardware, the emulator, a simulation or a recording.

    Use as a context manager (``start`` on enter, ``stop`` on exit) and iterate for frames.
    """

    tools: Sequence[str]

    def start(self) -> None: ...

    def read(self, timeout: float | None = None) -> Frame: ...

    def stop(self) -> None: ...
