"""NDI status bits and the one function that turns them into a ``PoseStatus``.

Port status is a u32 in ``BX`` (8 hex digits in ``TX``), system status a u16 (4 hex digits);
bit meanings from the NDI Combined API (ndicapi.h).
"""

import enum

from devices.frame import PoseStatus


class HandleState(enum.IntEnum):
    """The per-handle status byte of a ``BX`` reply (``TX`` spells it as text or a transform)."""

    VALID = 0x01
    MISSING = 0x02
    DISABLED = 0x04


class PortStatus(enum.IntFlag):
    """Port-status bits of one port handle."""

    OCCUPIED = 0x01
    SWITCH_1_ON = 0x02
    SWITCH_2_ON = 0x04
    SWITCH_3_ON = 0x08
    INITIALIZED = 0x10
    ENABLED = 0x20
    OUT_OF_VOLUME = 0x40
    PARTIALLY_IN_VOLUME = 0x80


class SystemStatus(enum.IntFlag):
    """System-status bits sent at the end of every ``BX`` / ``TX`` reply."""

    COMM_SYNC_ERROR = 0x0001
    TOO_MUCH_EXTERNAL_INFRARED = 0x0002
    COMM_CRC_ERROR = 0x0004
    RECOVERABLE_COMM_ERROR = 0x0008
    HARDWARE_FAILURE = 0x0010
    HARDWARE_CHANGE = 0x0020
    PORT_OCCUPIED = 0x0040
    PORT_UNOCCUPIED = 0x0080


# Plain ints: testing bits against an IntFlag member costs microseconds per call.
_OUT_OF_VOLUME = int(PortStatus.OUT_OF_VOLUME)
_PARTIALLY_IN_VOLUME = int(PortStatus.PARTIALLY_IN_VOLUME)


def pose_status(state: HandleState, port_status: int) -> PoseStatus:
    """The ``PoseStatus`` of one handle from its reply state and port-status bits.

    A disabled handle is DISABLED; a missing one is OUT_OF_VOLUME when the out-of-volume bit is
    set, else MISSING; a valid transform is OUT_OF_VOLUME (reported only with option 0800, not
    for navigation), PARTIALLY_OUT_OF_VOLUME (still valid) or OK. Switch, occupied,
    initialised and enabled bits do not change the status.
    """
    if state is HandleState.DISABLED:
        return PoseStatus.DISABLED
    if port_status & _OUT_OF_VOLUME:
        return PoseStatus.OUT_OF_VOLUME
    if state is HandleState.MISSING:
        return PoseStatus.MISSING
    if port_status & _PARTIALLY_IN_VOLUME:
        return PoseStatus.PARTIALLY_OUT_OF_VOLUME
    return PoseStatus.OK
