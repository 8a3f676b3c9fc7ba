"""The emulator's transport: a pseudo-terminal carrying an ``NDIDevice``, with faults.

The host opens the pty's slave path like a serial port. The master side runs in packet mode,
so a host flush (``tcflush(TCIOFLUSH)``, which ndicapi and our driver issue just before a
serial break) arrives as a control byte; a flush followed by 50 ms of silence (a ``select``
that times out) is taken as the break, since a pty does not carry breaks. Commands received
while the host's baud rate differs from the one agreed with ``COMM`` are dropped, as garbled
bytes would be on a wire.
"""

import fcntl
import logging
import os
import select
import struct
import termios
import tty
from collections.abc import Callable

from devices.clock import Clock, clock_or_monotonic
from devices.ndi.bx import START_BYTES
from devices.ndi.emulator.device import NDIDevice
from devices.ndi.emulator.settings import Faults

logger = logging.getLogger(__name__)

BREAK_SILENCE_S = 0.05
POLL_S = 0.05
SPLIT_CHUNK = 7
SPLIT_PAUSE_S = 0.002
_FLUSH_BOTH = termios.TIOCPKT_FLUSHREAD | termios.TIOCPKT_FLUSHWRITE


class PtyServer:
    """Serves one ``NDIDevice`` on a new pty; ``port`` is the path a host opens.

    Reply delays (faults, wire timing) are waited on ``clock`` (default: the monotonic one).
    """

    def __init__(self, device: NDIDevice, clock: Clock | None = None) -> None:
        self.device = device
        self.clock = clock_or_monotonic(clock)
        self._faults: Faults = device.settings.faults
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
        self.port = os.ttyname(self._slave)
        self._replies = 0
        self._closed = False

    def close(self) -> None:
        """Close both ends of the pty: a host still reading sees the device vanish."""
        if not self._closed:
            self._closed = True
            os.close(self._master)
            os.close(self._slave)
            self.device.close()

    def serve(self, should_stop: Callable[[], bool]) -> None:
        """Answer commands until ``should_stop()`` is true or a fault makes the device vanish."""
        pending = bytearray()
        flushed = False
        flush_flags = 0
        while not should_stop():
            wait = BREAK_SILENCE_S if flushed else POLL_S
            readable, _, _ = select.select([self._master], [], [], wait)
            if not readable:
                if flushed:  # a full flush, then BREAK_SILENCE_S without a byte: a break
                    flushed, flush_flags = False, 0
                    pending.clear()
                    logger.info("serial break (flush + silence): device reset")
                    self._send(self.device.serial_break())
                continue
            packet = os.read(self._master, 4096)
            if not packet:
                continue
            if packet[0] != termios.TIOCPKT_DATA:
                flush_flags |= packet[0] & _FLUSH_BOTH
                flushed = flush_flags == _FLUSH_BOTH
                continue
            flushed, flush_flags = False, 0
            pending += packet[1:]
            while b"\r" in pending:
                line, _, rest = bytes(pending).partition(b"\r")
                pending[:] = rest
                if not self._answer(line):
                    self.close()
                    return

    def _answer(self, line: bytes) -> bool:
        """Reply to one command line; False once the device has vanished."""
        if not self._host_baud_matches():
            logger.info("command at the wrong baud rate dropped: %r", line[:20])
            return True
        reply = self.device.respond(line)
        faults = self._faults
        served = self.device.frames_served
        if faults.vanish_after_frames is not None and served >= faults.vanish_after_frames:
            logger.info("fault: device vanishes after %d frames", served)
            return False
        if faults.silent_after_frames is not None and served > faults.silent_after_frames:
            return True
        self._send(reply)
        return True

    def _send(self, reply: bytes) -> None:
        faults = self._faults
        self._replies += 1
        if faults.corrupt_crc_every and self._replies % faults.corrupt_crc_every == 0:
            reply = _corrupt_crc(reply)
        if faults.drop_byte_every and self._replies % faults.drop_byte_every == 0:
            middle = len(reply) // 2
            reply = reply[:middle] + reply[middle + 1 :]
        delay = faults.reply_delay_s
        if self.device.settings.wire_timing:
            delay += len(reply) * 10 / self.device.baud_rate
        if delay:
            self.clock.sleep(delay)
        if not faults.split_replies:
            os.write(self._master, reply)
            return
        for start in range(0, len(reply), SPLIT_CHUNK):
            os.write(self._master, reply[start : start + SPLIT_CHUNK])
            self.clock.sleep(SPLIT_PAUSE_S)

    def _host_baud_matches(self) -> bool:
        expected = getattr(termios, f"B{self.device.baud_rate}", None)
        if expected is None:  # a non-standard rate (1228739): nothing to compare with
            return True
        return termios.tcgetattr(self._master)[4] == expected


def _corrupt_crc(reply: bytes) -> bytes:
    """``reply`` with a wrong CRC: the last CRC byte of a BX reply, or a CRC digit of ASCII."""
    if reply.startswith(START_BYTES):
        return reply[:-1] + bytes([reply[-1] ^ 0x5A])
    digit = reply[-2:-1]
    return reply[:-2] + (b"0" if digit != b"0" else b"1") + reply[-1:]
