"""The 58-byte OpenIGTLink message header, and its 64-bit timestamp.

Layout (big-endian, as the protocol's header page draws it)::

    bytes  0-1   V            uint16   header version (1; 2 adds an extended header and metadata)
           2-13  TYPE         char[12] message type, e.g. "TRANSFORM", NUL-padded
          14-33  DEVICE_NAME  char[20] name of the message, e.g. "StylusToTracker", NUL-padded
          34-41  TIME_STAMP   uint64   seconds since 1970-01-01 UTC as 32.32 fixed point (0: unused)
          42-49  BODY_SIZE    uint64   bytes that follow the header
          50-57  CRC          uint64   CRC-64/ECMA-182 of those bytes

The timestamp's upper 32 bits are whole seconds and the lower 32 bits the fraction of a second
in units of 2^-32 s (0.23 ns), the NTP layout the protocol's timestamp page cites.
"""

import math
import struct
from dataclasses import dataclass

from devices.exceptions import ConfigurationError, ProtocolError

HEADER_SIZE = 58
HEADER_VERSIONS = (1, 2)
TYPE_SIZE = 12
DEVICE_NAME_SIZE = 20
_LAYOUT = struct.Struct(">H12s20sQQQ")
_FRACTION = 1 << 32


@dataclass(frozen=True)
class Header:
    """One message header: ``timestamp_s`` in seconds since 1970 UTC (0.0 when unused)."""

    version: int
    type: str
    device_name: str
    timestamp_s: float
    body_size: int
    crc: int


def timestamp_to_fixed(seconds: float) -> int:
    """Seconds since 1970 as the header's 32.32 fixed-point uint64 (nearest 2^-32 s)."""
    if not (math.isfinite(seconds) and 0.0 <= seconds < _FRACTION):
        raise ValueError(
            f"an OpenIGTLink timestamp must be between 0 and 2^32 s since 1970; got {seconds!r}"
        )
    whole = math.floor(seconds)
    fraction = round((seconds - whole) * _FRACTION)
    return min((whole << 32) + fraction, (1 << 64) - 1)


def fixed_to_timestamp(fixed: int) -> float:
    """The header's 32.32 fixed-point uint64 as seconds since 1970."""
    return (fixed >> 32) + (fixed & (_FRACTION - 1)) / _FRACTION


def pack_header(
    message_type: str, device_name: str, timestamp_s: float, body_size: int, crc: int
) -> bytes:
    """The 58 header bytes of a version 1 message (names are ASCII, checked by ``ascii_field``)."""
    return _LAYOUT.pack(
        1,
        ascii_field(message_type, TYPE_SIZE, "message type"),
        ascii_field(device_name, DEVICE_NAME_SIZE, "device name"),
        timestamp_to_fixed(timestamp_s) if timestamp_s else 0,
        body_size,
        crc,
    )


def ascii_field(text: str, size: int, what: str) -> bytes:
    """``text`` as printable ASCII of at most ``size`` bytes (``struct`` pads it with NULs)."""
    if len(text) > size or not text.isascii() or not text.isprintable():
        raise ConfigurationError(
            f"an OpenIGTLink {what} holds at most {size} printable ASCII characters; "
            f"got {text!r} ({len(text)} characters)"
        )
    return text.encode("ascii")


def parse_header(data: bytes | bytearray | memoryview) -> Header:
    """Decode 58 header bytes; raises ``ProtocolError`` when they cannot be an OpenIGTLink
    header (unknown version, a type that is not printable ASCII), since the stream cannot be
    trusted after that. An empty device name is allowed (``GET_`` queries use it).
    """
    if len(data) != HEADER_SIZE:
        raise ProtocolError(f"an OpenIGTLink header has {HEADER_SIZE} bytes; got {len(data)}")
    version, raw_type, raw_name, stamp, body_size, crc = _LAYOUT.unpack(data)
    if version not in HEADER_VERSIONS:
        raise ProtocolError(
            f"OpenIGTLink header version {version}; expected one of {HEADER_VERSIONS} "
            "(is the peer speaking OpenIGTLink?)"
        )
    message_type = _text(raw_type, "message type")
    if not message_type:
        raise ProtocolError("OpenIGTLink header with an empty message type")
    return Header(
        version,
        message_type,
        _text(raw_name, "device name"),
        fixed_to_timestamp(stamp),
        body_size,
        crc,
    )


def _text(raw: bytes, what: str) -> str:
    """A NUL-terminated header field as text: printable ASCII up to the first NUL."""
    text = raw.split(b"\0", 1)[0]
    if not all(32 <= byte < 127 for byte in text):
        raise ProtocolError(f"OpenIGTLink {what} {text!r} is not printable ASCII")
    return text.decode("ascii")
