"""The binary ``BX`` reply (reply option 0001, optionally with 0800): encode and parse.

Layout (all little-endian): ``C4 A5``, u16 body length L, u16 header CRC, then the body: u8
handle count, per handle u8 handle, u8 state (1 valid, 2 missing, 4 disabled), for a valid
handle 8 float32 (q0, qx, qy, qz, tx, ty, tz in mm, RMS error in mm), for a non-disabled handle
u32 port status and u32 frame number; u16 system status; then the u16 CRC of the body.
"""

import math
import struct
from collections.abc import Sequence

from devices.ndi.crc import crc16
from devices.ndi.exceptions import CRCMismatch, MalformedReply
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState

START = 0xA5C4
START_BYTES = b"\xc4\xa5"
HEADER_SIZE = 6
_HEADER = struct.Struct("<HHH")
_HANDLE_HEAD = struct.Struct("<BB")
_TRANSFORM = struct.Struct("<8f")
_PORT_FRAME = struct.Struct("<II")
# What follows the handle and state bytes, by state (sizes include those 2 bytes).
_RECORDS = {
    HandleState.VALID: struct.Struct("<2x8fII"),
    HandleState.MISSING: struct.Struct("<2xII"),
    HandleState.DISABLED: struct.Struct("<2x"),
}
_U16 = struct.Struct("<H")
_STATES = {int(state): state for state in HandleState}
QUATERNION_NORM_TOLERANCE = 1e-3


def bx_reply_size(header: bytes) -> int:
    """Total size in bytes (header, body and body CRC) of the ``BX`` reply starting with ``header``.

    ``header`` holds at least the first 6 bytes. Raises MalformedReply when they do not start
    with ``C4 A5`` and CRCMismatch when the header CRC is wrong.
    """
    if len(header) < HEADER_SIZE:
        raise MalformedReply(f"BX header needs {HEADER_SIZE} bytes, got {len(header)}")
    start, length, header_crc = _HEADER.unpack_from(header)
    if start != START:
        raise MalformedReply(f"BX reply must start with C4 A5, got {header[:2].hex(' ')}")
    expected = crc16(header[:4])
    if header_crc != expected:
        raise CRCMismatch(f"BX header CRC is {header_crc:04X}, expected {expected:04X}")
    return HEADER_SIZE + length + 2


def parse_bx(reply: bytes) -> TrackingReply:
    """Parse one complete ``BX`` reply (header to body CRC) sent with options 0001 or 0801.

    Raises CRCMismatch for a wrong header or body CRC and MalformedReply for anything that does
    not follow the layout: wrong length, unknown handle state, non-finite or non-unit values.
    """
    size = bx_reply_size(reply)
    if len(reply) != size:
        raise MalformedReply(f"BX reply announces {size} bytes but {len(reply)} were given")
    body_end = size - 2
    (body_crc,) = _U16.unpack_from(reply, body_end)
    expected = crc16(memoryview(reply)[HEADER_SIZE:body_end])
    if body_crc != expected:
        raise CRCMismatch(f"BX body CRC is {body_crc:04X}, expected {expected:04X}")
    if body_end - HEADER_SIZE < 3:
        raise MalformedReply(f"BX body of {body_end - HEADER_SIZE} bytes is too short")
    count = reply[HEADER_SIZE]
    offset = HEADER_SIZE + 1
    status_at = body_end - 2
    readings = []
    try:
        for _ in range(count):
            reading, offset = _parse_handle(reply, offset, status_at)
            readings.append(reading)
    except struct.error:
        raise MalformedReply(
            f"BX reply ends inside handle {len(readings) + 1} of {count}"
        ) from None
    if offset != status_at:
        raise MalformedReply(
            f"BX body has {status_at - offset} unexpected bytes after {count} handles"
        )
    (system_status,) = _U16.unpack_from(reply, status_at)
    return TrackingReply(tuple(readings), system_status)


def _parse_handle(reply: bytes, offset: int, limit: int) -> tuple[HandleReading, int]:
    """The reading of the handle record at ``offset`` and the offset just after it.

    Raises struct.error when the record runs past ``limit`` (the system status).
    """
    if offset + 2 > limit:
        raise struct.error("handle record past the end")
    handle, state_byte = reply[offset], reply[offset + 1]
    state = _STATES.get(state_byte)
    if state is None:
        raise MalformedReply(f"BX handle {handle:02X} has unknown state byte 0x{state_byte:02X}")
    record = _RECORDS[state]
    end = offset + record.size
    if end > limit:
        raise struct.error("handle record past the end")
    if state is HandleState.DISABLED:
        return HandleReading(handle, state, 0, 0), end
    if state is HandleState.MISSING:
        port_status, frame_number = record.unpack_from(reply, offset)
        return HandleReading(handle, state, port_status, frame_number), end
    *values, port_status, frame_number = record.unpack_from(reply, offset)
    return valid_reading(handle, port_status, frame_number, values, "BX"), end


def valid_reading(
    handle: int, port_status: int, frame_number: int, values: Sequence[float], source: str
) -> HandleReading:
    """A VALID reading from the 8 numbers (q0, qx, qy, qz, tx, ty, tz, error), checked.

    Raises MalformedReply for non-finite numbers or a quaternion whose norm is not 1.
    """
    if not all(map(math.isfinite, values)):
        raise MalformedReply(f"{source} handle {handle:02X} has a non-finite transform {values}")
    q0, qx, qy, qz, tx, ty, tz, error = values
    norm = math.sqrt(q0 * q0 + qx * qx + qy * qy + qz * qz)
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise MalformedReply(
            f"{source} handle {handle:02X} quaternion has norm {norm:.6f}, expected 1"
        )
    return HandleReading(
        handle, HandleState.VALID, port_status, frame_number, (q0, qx, qy, qz), (tx, ty, tz), error
    )


def encode_bx(reply: TrackingReply) -> bytes:
    """The wire bytes of ``reply`` as a ``BX`` reply with option 0001 (what a device sends)."""
    body = bytearray([len(reply.handles)])
    for reading in reply.handles:
        body += _HANDLE_HEAD.pack(reading.handle, reading.state)
        if reading.state is HandleState.DISABLED:
            continue
        if reading.state is HandleState.VALID:
            body += _TRANSFORM.pack(
                *reading.quaternion, *reading.translation_mm, reading.error_rms_mm
            )
        body += _PORT_FRAME.pack(reading.port_status, reading.frame_number)
    body += _U16.pack(reply.system_status)
    head = struct.pack("<HH", START, len(body))
    return head + _U16.pack(crc16(head)) + body + _U16.pack(crc16(body))
