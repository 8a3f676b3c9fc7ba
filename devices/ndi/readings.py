"""What one ``BX`` or ``TX`` reply says: a reading per port handle plus the system status."""

import math
from dataclasses import dataclass

from devices.ndi.status import HandleState


@dataclass(frozen=True, slots=True)
class HandleReading:
    """One port handle in one reply.

    ``quaternion`` is (q0, qx, qy, qz), ``translation_mm`` (x, y, z) in the tracker frame and
    ``error_rms_mm`` the marker-fit RMS error; all three are set only when ``state`` is VALID.
    ``port_status`` holds the raw port-status bits and ``frame_number`` the device's counter
    (0 for a disabled handle, which reports neither).
    """

    handle: int
    state: HandleState
    port_status: int
    frame_number: int
    quaternion: tuple[float, float, float, float] | None = None
    translation_mm: tuple[float, float, float] | None = None
    error_rms_mm: float = math.nan


@dataclass(frozen=True, slots=True)
class TrackingReply:
    """A whole ``BX``/``TX`` reply: the handles in the order sent, then the system-status bits."""

    handles: tuple[HandleReading, ...]
    system_status: int

    @property
    def frame_number(self) -> int | None:
        """The frame number of the first handle that reports one (None if all are disabled)."""
        for reading in self.handles:
            if reading.state is not HandleState.DISABLED:
                return reading.frame_number
        return None
