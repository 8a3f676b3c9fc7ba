"""One serial connection to an NDI device: commands out, CRC-checked replies in, with timeouts.

Every read has a deadline (``TrackerTimeout`` when it passes) and an unplugged device raises
``TrackerDisconnected``; nothing here can hang. Deadlines are on the operating system's
monotonic clock, as ``select`` waits on it: a port is real time (the tracker that owns the link
stamps its frames on its own, injectable clock).
"""

import logging
import os
import select
import termios
import time

import serial

from devices.exceptions import TrackerDisconnected, TrackerError, TrackerTimeout
from devices.ndi.bx import HEADER_SIZE, START_BYTES, bx_reply_size
from devices.ndi.exceptions import MalformedReply
from devices.ndi.framing import decode_reply, encode_command

logger = logging.getLogger(__name__)

RESET_TIMEOUT_S = 5.0
MAX_ASCII_REPLY = 65536
READ_CHUNK = 4096
# The bytes of one reply come together: a reply silent this long after it started has lost
# bytes on the line, and the next poll starts afresh instead of waiting for the full timeout.
# (Above a USB-serial adapter's 16 ms latency timer, below two 60 Hz frames.)
REPLY_GAP_S = 0.03
# Bytes skipped, looking for the start of a BX reply, before giving up on the reply.
MAX_SKIPPED_BYTES = 4096


class SerialLink:
    """Serial port speaking the NDI Combined API at 8N1; opened at 9600 baud, as after reset."""

    def __init__(self, port: str, timeout_s: float) -> None:
        self.port = port
        self.timeout_s = timeout_s
        try:
            self._serial = serial.Serial(port, 9600, timeout=timeout_s, exclusive=True)
        except (serial.SerialException, OSError) as error:
            raise TrackerError(f"cannot open serial port {port!r}: {error}") from error

    @property
    def baud_rate(self) -> int:
        """The host side's current baud rate."""
        return self._serial.baudrate

    def set_baud_rate(self, baud_rate: int) -> None:
        """Switch the host side to ``baud_rate`` (after the device agreed with COMM)."""
        try:
            self._serial.baudrate = baud_rate
        except (serial.SerialException, OSError, ValueError) as error:
            raise TrackerError(f"cannot set {self.port} to {baud_rate} baud: {error}") from error

    def close(self) -> None:
        """Close the port (safe to call twice)."""
        self._serial.close()

    def command(self, name: str, params: str = "", timeout_s: float | None = None) -> bytes:
        """Send ``name:params`` and return the reply body; ``ERRORxx`` raises NDICommandError."""
        self.send(name, params)
        return decode_reply(self.read_line(timeout_s, name), name)

    def send(self, name: str, params: str = "") -> None:
        """Discard stale input, then write one command with its CRC."""
        try:
            if self._serial.in_waiting:  # stale bytes of an earlier reply
                self._serial.reset_input_buffer()
            self._serial.write(encode_command(name, params))
        except (serial.SerialException, OSError, termios.error) as error:
            raise TrackerDisconnected(f"NDI device on {self.port} vanished: {error}") from error

    def read_line(self, timeout_s: float | None, name: str) -> bytes:
        """Bytes up to and including the next ``\\r`` within ``timeout_s`` (None: the default).

        Raises TrackerTimeout when nothing arrives and MalformedReply when the line stops short.
        """
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        reply = bytearray()
        while not reply.endswith(b"\r"):
            if len(reply) > MAX_ASCII_REPLY:
                raise MalformedReply(f"reply to {name} has no end after {len(reply)} bytes")
            try:
                reply += self._read_some(deadline, name, 1 if not reply else None)
            except TrackerTimeout:
                if reply:
                    raise MalformedReply(
                        f"reply to {name} stopped after {len(reply)} bytes: {bytes(reply[:40])!r}"
                    ) from None
                raise
        return bytes(reply)

    def read_exact(
        self, size: int, deadline: float, name: str, gap_s: float | None = None
    ) -> bytes:
        """Exactly ``size`` bytes before ``deadline`` (a ``time.monotonic()`` value); with
        ``gap_s``, each byte must also come within ``gap_s`` of the one before."""
        data = bytearray()
        while len(data) < size:
            wait_until = deadline if gap_s is None else min(deadline, time.monotonic() + gap_s)
            data += self._read_some(wait_until, name, size - len(data))
        return bytes(data)

    def read_bx(self, timeout_s: float | None) -> bytes:
        """One whole ``BX`` reply; an ASCII ``ERRORxx`` reply raises NDICommandError.

        Raises TrackerTimeout when nothing arrives within ``timeout_s``, and MalformedReply as
        soon as a started reply pauses for ``REPLY_GAP_S`` (a byte was lost: it will never be
        complete, and the next poll can start afresh). Stray bytes before the reply's start
        (the end of an earlier, broken reply) are skipped.
        """
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        head = self.read_exact(2, deadline, "BX")
        try:
            head = self._find_bx_start(head, deadline)
            if head is None:
                return self._read_error_line(deadline)
            head += self.read_exact(HEADER_SIZE - 2, deadline, "BX", REPLY_GAP_S)
            size = bx_reply_size(head) - HEADER_SIZE
            return head + self.read_exact(size, deadline, "BX", REPLY_GAP_S)
        except TrackerTimeout:
            raise MalformedReply(
                f"BX reply stopped short (nothing for {REPLY_GAP_S * 1e3:.0f} ms): a byte was "
                "lost on the line"
            ) from None

    def _find_bx_start(self, head: bytes, deadline: float) -> bytes | None:
        """``C4 A5`` once found (bytes before it are skipped), or None for an ASCII reply."""
        skipped = 0
        while head != START_BYTES:
            if head == b"ER":  # ERRORxx: the device refused BX
                return None
            skipped += 1
            if skipped > MAX_SKIPPED_BYTES:
                raise MalformedReply(f"no BX reply start in {skipped} bytes")
            head = head[1:] + self.read_exact(1, deadline, "BX", REPLY_GAP_S)
        if skipped:
            logger.warning("%d stray bytes before a BX reply skipped", skipped)
        return head

    def _read_error_line(self, deadline: float) -> bytes:
        """The rest of an ASCII reply to BX starting ``ER``: raises NDICommandError if it is a
        valid ``ERRORxx``, else MalformedReply."""
        line = b"ER" + self.read_line(max(deadline - time.monotonic(), 0.0), "BX")
        decode_reply(line, "BX")
        raise MalformedReply(f"BX reply is neither binary nor an error: {line[:40]!r}")

    def _read_some(self, deadline: float, name: str, size: int | None) -> bytes:
        """What arrives before ``deadline``: up to ``size`` bytes (None: up to 4 KiB, >= 1).

        Waits with ``select`` on the port's descriptor: changing pyserial's timeout per read
        would reconfigure the port (a ``tcsetattr``) every time.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TrackerTimeout(f"no complete reply to {name} from {self.port} in time")
        try:
            descriptor = self._serial.fileno()
            readable, _, _ = select.select([descriptor], [], [], remaining)
            if not readable:
                raise TrackerTimeout(f"no complete reply to {name} from {self.port} in time")
            data = os.read(descriptor, size or READ_CHUNK)
        except (serial.SerialException, OSError, ValueError) as error:
            raise TrackerDisconnected(f"NDI device on {self.port} vanished: {error}") from error
        if not data:  # readable but empty: the other end hung up
            raise TrackerDisconnected(f"NDI device on {self.port} vanished (end of file)")
        return data

    def serial_break(self) -> None:
        """Reset the device with a serial break at 9600 baud and wait for ``RESET``."""
        self.set_baud_rate(9600)
        try:
            termios.tcflush(self._serial.fileno(), termios.TCIOFLUSH)
            self._serial.send_break(0.25)
        except (serial.SerialException, OSError, termios.error) as error:
            raise TrackerDisconnected(f"cannot send a break on {self.port}: {error}") from error
        deadline = time.monotonic() + RESET_TIMEOUT_S
        while True:  # a late reply to an earlier command may arrive first
            line = self.read_line(max(deadline - time.monotonic(), 0.0), "break")
            if decode_reply(line, "break") == b"RESET":
                return
            logger.debug("stale reply skipped while waiting for RESET: %r", line[:40])
