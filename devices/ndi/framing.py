"""ASCII framing of NDI commands and replies: ``NAME:params`` + 4 hex CRC + ``\\r``.

The host sends ``NAME:params<CRC>\\r`` (or ``NAME params\\r`` with a space and no CRC); the
device answers ``<body><CRC>\\r``, where a body of ``ERRORxx`` reports a refused command.
"""

import re
from dataclasses import dataclass

from devices.ndi.crc import crc16_hex
from devices.ndi.exceptions import CRCMismatch, MalformedReply, NDICommandError

_COMMAND_NAME = re.compile(rb"[A-Z][A-Z0-9]*")
_ERROR_BODY = re.compile(rb"ERROR([0-9A-F]{2})")
_HEX4 = re.compile(rb"[0-9A-F]{4}")


def encode_command(name: str, params: str = "") -> bytes:
    """The wire bytes of ``name`` with ``params`` in the CRC form ``NAME:params<CRC>\\r``."""
    text = f"{name}:{params}".encode("ascii")
    if not _COMMAND_NAME.fullmatch(name.encode("ascii")):
        raise ValueError(f"NDI command names are upper-case letters and digits, got {name!r}")
    return text + crc16_hex(text) + b"\r"


@dataclass(frozen=True)
class Command:
    """One command as the device receives it; ``crc_ok`` is None for the space form (no CRC)."""

    name: str
    params: str
    crc_ok: bool | None


def parse_command(line: bytes) -> Command:
    """Split a received command line (without its ``\\r``) into name, parameters and CRC check.

    Raises MalformedReply when the line has no upper-case command name.
    """
    match = _COMMAND_NAME.match(line)
    if match is None:
        raise MalformedReply(f"not an NDI command: {line[:40]!r}")
    name = match.group().decode("ascii")
    rest = line[match.end() :]
    if rest.startswith(b":"):
        if len(rest) < 5:
            return Command(name, "", False)
        body, crc_text = line[:-4], rest[-4:]
        params = rest[1:-4].decode("ascii", errors="replace")
        return Command(name, params, crc16_hex(body) == crc_text.upper())
    if rest.startswith(b" ") or not rest:
        return Command(name, rest[1:].decode("ascii", errors="replace"), None)
    raise MalformedReply(f"NDI command name must be followed by ':' or ' ': {line[:40]!r}")


def encode_reply(body: bytes) -> bytes:
    """A device reply: ``body`` + 4 hex CRC + ``\\r``."""
    return body + crc16_hex(body) + b"\r"


def encode_error(code: int) -> bytes:
    """The device's ``ERRORxx`` reply for error ``code``."""
    return encode_reply(b"ERROR%02X" % code)


def check_reply_crc(raw: bytes, command: str = "") -> bytes:
    """The body of an ASCII reply ``raw`` (with or without its final ``\\r``) after its CRC check.

    Raises CRCMismatch for a wrong CRC and MalformedReply for a reply without 4 hex CRC digits.
    """
    name = command or "command"
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) < 4:
        raise MalformedReply(f"reply to {name} too short for a CRC: {raw!r}")
    body, crc_text = raw[:-4], raw[-4:]
    expected = crc16_hex(body)
    if crc_text != expected:
        if _HEX4.fullmatch(crc_text) is None:
            raise MalformedReply(f"reply to {name} does not end in 4 hex CRC digits: {raw[-40:]!r}")
        raise CRCMismatch(
            f"reply to {name} has CRC {crc_text.decode('ascii')}, "
            f"expected {expected.decode('ascii')} for its {len(body)} bytes"
        )
    return body


def decode_reply(raw: bytes, command: str = "") -> bytes:
    """The body of an ASCII reply ``raw``, CRC checked; an ``ERRORxx`` body raises NDICommandError.

    ``command`` names the request in error messages.
    """
    body = check_reply_crc(raw, command)
    error = _ERROR_BODY.fullmatch(body)
    if error is not None:
        raise NDICommandError(int(error.group(1), 16), command)
    return body
