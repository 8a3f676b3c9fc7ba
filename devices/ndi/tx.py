"""The ASCII ``TX`` reply (reply option 0001, optionally with 0800): encode and parse.

Body: 2 hex handle count; per handle 2 hex handle, then a transform (q0 qx qy qz as sign + 5
digits x 1e-4, tx ty tz as sign + 6 digits x 1e-2 mm, RMS error as sign + 5 digits x 1e-4 mm)
or ``MISSING`` or ``DISABLED``, 8 hex port status, 8 hex frame number and a line feed; then 4 hex
system status, the 4 hex CRC and ``\\r``. ``UNOCCUPIED`` rows are read with or without the port
status and frame number that follow, since ndicapi and sawNDITracker disagree on them.
"""

import re

from devices.ndi.bx import valid_reading
from devices.ndi.exceptions import MalformedReply
from devices.ndi.framing import check_reply_crc, encode_reply
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState

_COUNT = re.compile(rb"[0-9A-F]{2}")
_ROW = re.compile(
    rb"([0-9A-F]{2})"
    rb"(?:(?P<q>(?:[+-][0-9]{5}){4})(?P<t>(?:[+-][0-9]{6}){3})(?P<e>[+-][0-9]{5})"
    rb"|(?P<word>MISSING|DISABLED))"
    rb"([0-9A-F]{8})([0-9A-F]{8})\n"
)
_UNOCCUPIED = re.compile(rb"([0-9A-F]{2})UNOCCUPIED(?:([0-9A-F]{8})([0-9A-F]{8}))?\n")
_SYSTEM = re.compile(rb"[0-9A-F]{4}")
_WORD_STATES = {b"MISSING": HandleState.MISSING, b"DISABLED": HandleState.DISABLED}
# The largest translation the reply can write (sign + 6 digits x 0.01 mm): beyond every NDI
# device's measurement volume, so a device reports such a tool out of volume.
MAX_TRANSLATION_MM = 9999.99


def parse_tx(reply: bytes) -> TrackingReply:
    """Parse one complete ``TX`` reply (body, CRC and optional ``\\r``) sent with option 0001/0801.

    Raises CRCMismatch for a wrong CRC and MalformedReply for any other deviation from the layout.
    """
    body = check_reply_crc(reply, "TX")
    if _COUNT.match(body) is None:
        raise MalformedReply(f"TX reply must start with a 2-hex handle count: {body[:20]!r}")
    count = int(body[:2], 16)
    offset = 2
    readings = []
    for index in range(count):
        reading, offset = _parse_row(body, offset, index, count)
        readings.append(reading)
    if _SYSTEM.fullmatch(body, offset) is None:
        raise MalformedReply(
            f"TX reply must end with 4 hex system-status digits after {count} handles, "
            f"got {body[offset : offset + 40]!r}"
        )
    return TrackingReply(tuple(readings), int(body[offset:], 16))


def _parse_row(body: bytes, offset: int, index: int, count: int) -> tuple[HandleReading, int]:
    """The reading of the handle row at ``offset`` and the offset of the next row."""
    row = _ROW.match(body, offset)
    if row is None:
        unoccupied = _UNOCCUPIED.match(body, offset)
        if unoccupied is None:
            raise MalformedReply(
                f"TX handle row {index + 1} of {count} is malformed: {body[offset : offset + 70]!r}"
            )
        handle, port, frame = unoccupied.groups()
        reading = HandleReading(
            int(handle, 16),
            HandleState.MISSING,
            int(port, 16) if port else 0,
            int(frame, 16) if frame else 0,
        )
        return reading, unoccupied.end()
    handle = int(row.group(1), 16)
    port_status = int(row.group(6), 16)
    frame_number = int(row.group(7), 16)
    word = row.group("word")
    if word is not None:
        return HandleReading(handle, _WORD_STATES[word], port_status, frame_number), row.end()
    q, t, e = row.group("q"), row.group("t"), row.group("e")
    values = (
        *(int(q[i : i + 6]) * 1e-4 for i in range(0, 24, 6)),
        *(int(t[i : i + 7]) * 1e-2 for i in range(0, 21, 7)),
        int(e) * 1e-4,
    )
    return valid_reading(handle, port_status, frame_number, values, "TX"), row.end()


def encode_tx(reply: TrackingReply) -> bytes:
    """The wire bytes of ``reply`` as a ``TX`` reply with option 0001 (what a device sends).

    Values are rounded to the ASCII resolution: 1e-4 for quaternions and errors, 0.01 mm for
    translations. Raises ValueError when a translation does not fit in 6 digits (beyond
    ``MAX_TRANSLATION_MM``): the emulator reports such a tool out of volume instead.
    """
    parts = [b"%02X" % len(reply.handles)]
    for reading in reply.handles:
        parts.append(b"%02X" % reading.handle)
        if reading.state is HandleState.VALID:
            parts.append(_transform_text(reading))
        else:
            parts.append(reading.state.name.encode("ascii"))
        parts.append(b"%08X%08X\n" % (reading.port_status, reading.frame_number))
    parts.append(b"%04X" % reply.system_status)
    return encode_reply(b"".join(parts))


def _transform_text(reading: HandleReading) -> bytes:
    """The 51 characters of a valid transform in ``TX`` fixed-point notation."""
    if not all(abs(round(value, 2)) <= MAX_TRANSLATION_MM for value in reading.translation_mm):
        raise ValueError(f"TX cannot encode a translation beyond 9999.99 mm: {reading}")
    quaternion = b"".join(b"%+06d" % round(value * 1e4) for value in reading.quaternion)
    translation = b"".join(b"%+07d" % round(value * 1e2) for value in reading.translation_mm)
    return quaternion + translation + b"%+06d" % round(reading.error_rms_mm * 1e4)
