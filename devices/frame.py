"""The vocabulary every tracking source shares: pose status, one tool's pose, one frame, a tracker.

A tool that is not seen is ``MISSING`` with a NaN matrix: never held at its last pose. Which
statuses carry a usable pose is decided once, by ``carries_pose``; tool names given by a user
are matched to a source's tools once, by ``match_tool``.
"""

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np

from devices.exceptions import ConfigurationError


class PoseStatus(enum.Enum):
    """What the tracker says about one tool in one frame."""

    OK = "ok"
    MISSING = "missing"
    OUT_OF_VOLUME = "out_of_volume"
    PARTIALLY_OUT_OF_VOLUME = "partially_out_of_volume"
    DISABLED = "disabled"


# A tool partly out of the measurement volume is still tracked (NDI reports its transform, with
# a warning bit); every other status but OK has no pose to navigate with.
_CARRYING_A_POSE = frozenset({PoseStatus.OK, PoseStatus.PARTIALLY_OUT_OF_VOLUME})


def carries_pose(status: PoseStatus) -> bool:
    """True when a tool with this status has a matrix that can be used for navigation."""
    return status in _CARRYING_A_POSE


# No tracker measures a tool farther than a few metres (an NDI TX reply cannot even write 10 m):
# a translation beyond this is corrupt data, not a pose.
MAX_TRACKED_DISTANCE_MM = 10_000.0

NAN_POSE = np.full((4, 4), np.nan)
NAN_POSE.setflags(write=False)


@dataclass(frozen=True)
class ToolPose:
    """One tool in one frame: ``tracker_from_tool`` (4x4, mm), NaN-filled unless it carries a pose.

    ``error_rms`` is the marker-fit RMS error in mm as the device reports it (NaN if unknown).
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
        """True when the matrix can be used for navigation (``carries_pose(status)``)."""
        return self.status in _CARRYING_A_POSE


@dataclass(frozen=True)
class Frame:
    """Poses of all tools sampled together.

    ``timestamp`` (s) is the filtered time of the sample: the device's own time when it has one
    (a simulation's sample time, a recording's ``Timestamp``), else the host clock at arrival
    with its jitter removed (see ``devices.acquisition.TimestampFilter``).
    ``unfiltered_timestamp`` (s) is the raw time before filtering (NaN when unknown).
    ``frame_number`` is the device's own counter, which says when the sample was taken.
    """

    timestamp: float
    frame_number: int
    poses: Mapping[str, ToolPose]
    unfiltered_timestamp: float = math.nan


class Tracker(Protocol):
    """A source of frames: NDI hardware, the emulator, a simulation or a recording.

    Use as a context manager (``start`` on enter, ``stop`` on exit) and iterate for frames.
    """

    tools: Sequence[str]

    def start(self) -> None: ...

    def read(self, timeout: float | None = None) -> Frame: ...

    def stop(self) -> None: ...


def _folded(name: str) -> str:
    """A tool name as compared: case, '_', '-' and spaces ignored (``NeedleTip`` = needle_tip)."""
    return "".join(character for character in name.casefold() if character not in "_- ")


def match_tool(name: str, available: Iterable[str], where: str = "the tracker") -> str:
    """The name among ``available`` that ``name`` means, compared case-insensitively.

    A user copies tool names from a file or a device (``Pointer`` for a recording's
    ``PointerToTracker``, ``NeedleTip`` for ``needle_tip``): an exact match wins, else the one
    name equal once case, '_', '-' and spaces are ignored. Raises ``ConfigurationError`` naming
    ``where`` and the available names when there is none, or more than one.
    """
    names = tuple(available)
    if name in names:
        return name
    matches = [candidate for candidate in names if _folded(candidate) == _folded(name)]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(candidate) for candidate in names) or "none"
    if matches:
        raise ConfigurationError(
            f"tool {name!r} is ambiguous in {where}: it could be any of {matches}; "
            "write it exactly as one of them"
        )
    raise ConfigurationError(f"no tool {name!r} in {where}; its tools are {listed}")
