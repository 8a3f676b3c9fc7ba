"""Errors of the NDI protocol layer, as subclasses of the ``devices`` exceptions."""

from devices.exceptions import ProtocolError, TrackerError
from devices.ndi.error_codes import error_meaning


class NDICommandError(TrackerError):
    """The device refused a command with ``ERRORxx`` (``code``, and ``meaning`` in words)."""

    def __init__(self, code: int, command: str = "") -> None:
        self.code = code
        self.meaning = error_meaning(code)
        self.command = command
        where = f" to {command!r}" if command else ""
        super().__init__(f"NDI device replied ERROR{code:02X}{where}: {self.meaning}")


class CRCMismatch(ProtocolError):
    """A reply whose CRC-16 does not match its bytes (line noise, a wrong baud rate)."""


class MalformedReply(ProtocolError):
    """A reply that does not have the layout of the NDI Combined API (truncated, garbled)."""
