"""``NDITracker``: a Polaris or Aurora over a serial port, as a gestes ``Tracker``.

``start`` runs the NDI set-up sequence (break/INIT, COMM, VER/APIREV, free stale handles,
PHRQ + PVWR for passive tools, PINIT until no handle is left uninitialised, PHINF + PENA with
a priority from the tool type, TSTART); ``read`` polls one ``BX`` frame (``TX`` if the device
does not know ``BX``); ``stop`` sends TSTOP, restores 9600 baud and closes the port.

Line noise is expected: a set-up command whose reply is garbled (bad CRC, cut short) is sent
again, up to 3 times, as a garbled frame is skipped while streaming. A resent command may find
its first sending done (TSTART answered "invalid mode", a handle already freed; a handle
requested twice is freed when it cannot be initialised).
"""

import logging
import math
import os
from collections.abc import Mapping

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import Clock
from devices.exceptions import ConfigurationError, ProtocolError, TrackerError, TrackerTimeout
from devices.frame import carries_pose
from devices.ndi.bx import parse_bx
from devices.ndi.exceptions import NDICommandError
from devices.ndi.framing import decode_reply
from devices.ndi.link import SerialLink
from devices.ndi.parameters import BAUD_DIGITS, ROM_CHUNK, is_hex
from devices.ndi.quaternion import rigid_from_quaternion
from devices.ndi.readings import TrackingReply
from devices.ndi.status import HandleState, SystemStatus, pose_status
from devices.ndi.tool_specs import AuroraSensor, PassiveTool, ToolSpec, parse_tool_specs
from devices.ndi.tx import parse_tx
from devices.tools import ToolDefinition

logger = logging.getLogger(__name__)

REPLY_OPTIONS = "0801"  # transforms, and transforms of tools out of volume
COMM_SETTLE_S = 0.05
MAX_INIT_ROUNDS = 8
MAX_BAD_REPLIES = 3
PRIORITY_BY_MAIN_TYPE = {1: "S", 3: "B"}  # reference: static, button box; others dynamic
INVALID_COMMAND = 0x01
INVALID_HANDLE = 0x08
INVALID_MODE = 0x0C
# Errors a resent command gets when its first sending, whose reply was garbled, took effect.
ALREADY_DONE = {"TSTART": INVALID_MODE, "TSTOP": INVALID_MODE, "PHF": INVALID_HANDLE}


class NDITracker(TrackerDevice):
    """An NDI tracker on serial ``port`` tracking ``tools`` (name -> .rom / definition / port).

    ``baud_rate`` is agreed with COMM after INIT (9600 ... 921600, 1228739 where the platform
    allows); ``timeout_s`` bounds every reply. ``five_dof_tools`` names the Aurora sensors
    whose roll is undefined; ``system_status`` holds the system-status bits of the last frame
    (logged as a warning when they change to non-zero). A reply with a bad CRC or layout is
    skipped with a warning, up to 3 in a row, then raised. Frames are stamped on ``clock`` at
    arrival and filtered against the device's frame numbers (``TrackerDevice``).
    """

    def __init__(
        self,
        port: str,
        tools: Mapping[str, str | os.PathLike | bytes | ToolDefinition | AuroraSensor],
        baud_rate: int = 921600,
        timeout_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if baud_rate not in BAUD_DIGITS:
            raise ConfigurationError(
                f"NDI devices accept the baud rates {sorted(BAUD_DIGITS)}; got {baud_rate}"
            )
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise ConfigurationError(f"timeout_s must be > 0 s; got {timeout_s}")
        self._specs: dict[str, ToolSpec] = parse_tool_specs(tools)
        super().__init__(tuple(self._specs), clock=clock)
        self.five_dof_tools = frozenset(
            name
            for name, spec in self._specs.items()
            if isinstance(spec, AuroraSensor) and spec.five_dof
        )
        self.port = port
        self.baud_rate = baud_rate
        self.timeout_s = timeout_s
        self.firmware = ""
        self.api_revision = ""
        self.uses_bx = True
        self.system_status = SystemStatus(0)
        self._link: SerialLink | None = None
        self._handles: dict[int, str] = {}
        self._tracking = False

    def __str__(self) -> str:
        return f"the NDI tracker on {self.port}"

    # --- TrackerDevice --------------------------------------------------------------------------

    def _open(self) -> None:
        """Open the port and bring the device into tracking mode with every tool enabled."""
        self._handles = {}
        self._orphans = 0
        self._link = SerialLink(self.port, self.timeout_s)
        try:
            self._initialise()
            self._change_baud(self.baud_rate)
            self.firmware = self._command("VER", "0").decode("ascii", "replace")
            self.api_revision = self._api_revision()
            self._free_stale_handles()
            self._load_passive_tools()
            self._initialise_handles()
            self._enable_handles()
            self._command("TSTART")
            self._tracking = True
        except BaseException:
            self._close_link()
            raise
        logger.info("NDI tracker on %s tracking %s", self.port, ", ".join(self.tools))

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """One BX (or TX) frame; ``timeout_s`` (default ``timeout_s``) for each reply."""
        for attempt in range(1, MAX_BAD_REPLIES + 1):
            try:
                reply = self._poll(timeout_s)
                break
            except ProtocolError as error:
                if attempt == MAX_BAD_REPLIES:
                    raise
                logger.warning("bad reply from the NDI device skipped: %s", error)
        if reply.system_status != self.system_status:
            self.system_status = SystemStatus(reply.system_status)
            if self.system_status:
                logger.warning("NDI system status: %s", self.system_status)
        return raw_frame_from_reply(reply, self._handles)

    def _close(self) -> None:
        """Stop tracking, restore 9600 baud and close the port; safe on a vanished device."""
        if self._link is None:
            return
        try:
            if self._tracking:
                self._command("TSTOP")
            self._change_baud(9600)
        except (TrackerError, ProtocolError) as error:
            logger.warning("NDI device on %s did not stop cleanly: %s", self.port, error)
        finally:
            self._close_link()

    # --- set-up ---------------------------------------------------------------------------------

    def _command(self, name: str, params: str = "") -> bytes:
        """Send a set-up command and return its reply body; a garbled reply (bad CRC, cut
        short) sends it again, up to ``MAX_BAD_REPLIES`` times in all."""
        for attempt in range(1, MAX_BAD_REPLIES + 1):
            try:
                return self._link.command(name, params)
            except ProtocolError as error:
                if attempt == MAX_BAD_REPLIES:
                    raise ProtocolError(
                        f"{error} ({MAX_BAD_REPLIES} garbled replies to {name} in a row: check "
                        "the cable and the baud rate)"
                    ) from error
                logger.warning("garbled reply from the NDI device, %s sent again: %s", name, error)
            except NDICommandError as error:
                if attempt > 1 and ALREADY_DONE.get(name) == error.code:
                    logger.info("%s was done at its first sending (its reply was garbled)", name)
                    return b"OKAY"
                raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _initialise(self) -> None:
        """INIT; if the device does not answer at 9600 baud, reset it with a break and retry."""
        try:
            self._link.command("INIT", timeout_s=self.timeout_s)
            return
        except (TrackerTimeout, ProtocolError, NDICommandError) as error:
            logger.info("INIT failed (%s): resetting the device with a serial break", error)
        self._link.serial_break()
        self._command("INIT")

    def _change_baud(self, baud_rate: int) -> None:
        """COMM, then switch the port. A garbled reply to COMM still shows the device heard it:
        switch, and check with VER that it answers at the new rate (else go back, resend)."""
        previous = self._link.baud_rate
        if previous == baud_rate:
            return
        for _ in range(MAX_BAD_REPLIES):
            try:
                self._link.command("COMM", f"{BAUD_DIGITS[baud_rate]}0000")
                garbled = False
            except ProtocolError as error:
                logger.warning("garbled reply to COMM: checking the new baud rate (%s)", error)
                garbled = True
            self.clock.sleep(COMM_SETTLE_S)
            self._link.set_baud_rate(baud_rate)
            if not garbled or self._answers():
                return
            self._link.set_baud_rate(previous)
        raise ProtocolError(
            f"the NDI device on {self.port} did not agree to {baud_rate} baud after "
            f"{MAX_BAD_REPLIES} tries"
        )

    def _answers(self) -> bool:
        """Whether the device answers VER at the port's current baud rate (garbled counts)."""
        try:
            self._link.command("VER", "0")
        except ProtocolError:
            return True
        except TrackerTimeout:
            return False
        return True

    def _api_revision(self) -> str:
        try:
            return self._command("APIREV").decode("ascii", "replace")
        except NDICommandError:
            return ""

    def _free_stale_handles(self) -> None:
        for handle, _ in self._handle_list("01"):
            self._command("PHF", f"{handle:02X}")

    def _load_passive_tools(self) -> None:
        """PHRQ a wireless handle for each passive tool and write its definition with PVWR."""
        for name, spec in self._specs.items():
            if not isinstance(spec, PassiveTool):
                continue
            handle = self._request_handle()
            padded = spec.rom + bytes(-len(spec.rom) % ROM_CHUNK)
            for address in range(0, len(padded), ROM_CHUNK):
                chunk = padded[address : address + ROM_CHUNK].hex().upper()
                self._command("PVWR", f"{handle:02X}{address:04X}{chunk}")
            self._handles[handle] = name
            logger.info("tool %r (%s) loaded on handle %02X", name, spec.source, handle)

    def _request_handle(self) -> int:
        """PHRQ a wireless handle. When a garbled reply makes us ask again, the device may
        have given the first handle too: it is counted, and freed by ``_initialise_handles``."""
        for attempt in range(1, MAX_BAD_REPLIES + 1):
            try:
                reply = self._link.command("PHRQ", "*********1****")
            except ProtocolError as error:
                if attempt == MAX_BAD_REPLIES:
                    raise
                logger.warning("garbled reply to PHRQ, sent again: %s", error)
                self._orphans += 1
                continue
            if not is_hex(reply[:2].decode("ascii", "replace")):
                raise ProtocolError(f"PHRQ reply is not a handle: {reply[:20]!r}")
            return int(reply[:2], 16)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _initialise_handles(self) -> None:
        """PINIT every uninitialised handle, again until none is left (Aurora 5DOF pairs).

        A handle we did not load that cannot be initialised, while a garbled PHRQ may have
        left one behind, is that handle: it is freed.
        """
        for _ in range(MAX_INIT_ROUNDS):
            pending = self._handle_list("02")
            if not pending:
                return
            for handle, _ in pending:
                try:
                    self._command("PINIT", f"{handle:02X}")
                except NDICommandError:
                    if handle in self._handles or not self._orphans:
                        raise
                    logger.info("freeing handle %02X, left by a garbled PHRQ reply", handle)
                    self._command("PHF", f"{handle:02X}")
                    self._orphans -= 1
        raise TrackerError(f"handles still uninitialised after {MAX_INIT_ROUNDS} PINIT rounds")

    def _enable_handles(self) -> None:
        """PENA each initialised handle that tracks a named tool, with its tool-type priority."""
        for handle, _ in self._handle_list("03"):
            info = self._command("PHINF", f"{handle:02X}0021").decode("ascii", "replace")
            name = self._handles.get(handle) or self._aurora_name(info[33:47])
            if name is None:
                continue
            self._handles[handle] = name
            main_type = int(info[:2], 16) if is_hex(info[:2]) else 0
            self._command("PENA", f"{handle:02X}{PRIORITY_BY_MAIN_TYPE.get(main_type, 'D')}")
        missing = sorted(set(self.tools) - set(self._handles.values()))
        if missing:
            raise TrackerError(
                f"the NDI device on {self.port} has no port handle for {missing}: "
                "check the tool files, the Aurora ports or the cables"
            )

    def _aurora_name(self, location: str) -> str | None:
        """The user's name for the sensor at a PHINF port location (``...PP CC``), if any."""
        if len(location) != 14 or not location[10:].isalnum():
            return None
        port, channel = int(location[10:12], 10), int(location[12:14], 16)
        for name, spec in self._specs.items():
            if isinstance(spec, AuroraSensor) and (spec.port, spec.channel) == (port, channel):
                return name
        return None

    def _handle_list(self, mode: str) -> list[tuple[int, int]]:
        """PHSR: (handle, port status) pairs in the requested state."""
        reply = self._command("PHSR", mode).decode("ascii", "replace")
        try:
            count = int(reply[:2], 16)
            entries = [reply[2 + 5 * i : 7 + 5 * i] for i in range(count)]
            pairs = [(int(entry[:2], 16), int(entry[2:], 16)) for entry in entries]
        except ValueError:
            pairs = None
        if pairs is None or len(reply) != 2 + 5 * len(pairs):
            raise ProtocolError(f"PHSR reply is malformed: {reply[:60]!r}")
        return pairs

    # --- tracking -------------------------------------------------------------------------------

    def _poll(self, timeout: float | None) -> TrackingReply:
        if self.uses_bx:
            try:
                self._link.send("BX", REPLY_OPTIONS)
                return parse_bx(self._link.read_bx(timeout))
            except NDICommandError as error:
                if error.code != INVALID_COMMAND:
                    raise
                logger.info("device does not know BX: falling back to TX")
                self.uses_bx = False
        self._link.send("TX", REPLY_OPTIONS)
        line = self._link.read_line(timeout, "TX")
        if line.startswith(b"ERROR"):
            decode_reply(line, "TX")  # raises NDICommandError when the reply is a valid ERRORxx
        return parse_tx(line)

    def _close_link(self) -> None:
        self._tracking = False
        if self._link is not None:
            self._link.close()
            self._link = None


def raw_frame_from_reply(reply: TrackingReply, names: Mapping[int, str]) -> RawFrame:
    """The ``RawFrame`` of one BX/TX reply: a pose per named handle (``names``: handle -> tool).

    A named handle absent from the reply is left out (MISSING); a matrix is kept only when
    the status carries a pose (``carries_pose``). ``frame_number`` is the device's, or -1 when
    every handle is disabled. The device sends no time: the host stamps the frame at arrival.
    """
    readings = {reading.handle: reading for reading in reply.handles}
    poses = {}
    for handle, name in names.items():
        reading = readings.get(handle)
        if reading is None:
            continue
        status = pose_status(reading.state, reading.port_status)
        if reading.state is HandleState.VALID and carries_pose(status):
            matrix = rigid_from_quaternion(reading.quaternion, reading.translation_mm)
            poses[name] = RawPose(matrix, status, reading.error_rms_mm)
        else:
            poses[name] = RawPose(None, status)
    frame_number = reply.frame_number
    return RawFrame(-1 if frame_number is None else frame_number, None, poses)
