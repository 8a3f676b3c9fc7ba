"""The NDI device state machine: one command line in, the reply bytes out.

It keeps what a Polaris or Aurora keeps between commands: operating mode (reset, set-up,
tracking), baud rate, port handles with their tool definition, initialised / enabled state
and tracking priority; and it answers ``BX`` / ``TX`` with the next frame of a pose source (any
``Tracker``). A source that ends is restarted, with frame numbers still increasing.
"""

import enum
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from devices import rom as rom_layout
from devices.exceptions import StreamEnded
from devices.frame import Frame, PoseStatus, ToolPose, Tracker
from devices.ndi.bx import encode_bx
from devices.ndi.emulator.settings import EmulatorSettings, Model
from devices.ndi.exceptions import MalformedReply
from devices.ndi.framing import encode_error, encode_reply, parse_command
from devices.ndi.parameters import (
    BAUD_CODES,
    OPTION_OUT_OF_VOLUME,
    OPTION_TRANSFORMS,
    ROM_CHUNK,
    is_hex,
)
from devices.ndi.quaternion import quaternion_from_rigid
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState, PortStatus
from devices.ndi.tx import MAX_TRANSLATION_MM, encode_tx

logger = logging.getLogger(__name__)

ROM_MEMORY = 1024  # bytes of tool definition a port handle holds (PVWR addresses)
FIRST_HANDLE = 0x0A
COMMAND_LOG_SIZE = 1000
WIRELESS_PORTS = "ABCDEFGHI"
MAX_WIRELESS_HANDLES = 9
# Error codes the emulator sends (all in ndicapi's table, so that its clients never crash).
INVALID_COMMAND = 0x01
INVALID_CRC = 0x04
UNABLE_TO_SET_COMM = 0x06
WRONG_PARAMETER_COUNT = 0x07
INVALID_HANDLE = 0x08
INVALID_PRIORITY = 0x09
INVALID_MODE = 0x0C
NOT_INITIALIZED = 0x0E
CANNOT_INITIALIZE_TOOL = 0x13
OUT_OF_RANGE = 0x23
ALL_HANDLES_ALLOCATED = 0x2D
TOOL_FILE_ERROR = 0x40
SENT_ERROR_CODES = (
    INVALID_COMMAND,
    INVALID_CRC,
    UNABLE_TO_SET_COMM,
    WRONG_PARAMETER_COUNT,
    INVALID_HANDLE,
    INVALID_PRIORITY,
    INVALID_MODE,
    NOT_INITIALIZED,
    CANNOT_INITIALIZE_TOOL,
    OUT_OF_RANGE,
    ALL_HANDLES_ALLOCATED,
    TOOL_FILE_ERROR,
)

OKAY = encode_reply(b"OKAY")
RESET_REPLY = encode_reply(b"RESET")


class Mode(enum.Enum):
    """Operating mode: after power-up/reset, after INIT (set-up), after TSTART (tracking)."""

    RESET = "reset"
    SETUP = "setup"
    TRACKING = "tracking"


@dataclass
class _Slot:
    """One port handle and what the device knows about it (mutable device state)."""

    handle: int
    tool: str | None
    wireless: bool
    port: int
    channel: int
    rom: bytearray | None = None
    initialized: bool = False
    enabled: bool = False
    priority: str = ""

    def port_status(self) -> int:
        occupied = bool(self.rom) if self.wireless else self.tool is not None
        status = PortStatus.OCCUPIED if occupied else PortStatus(0)
        if self.initialized:
            status |= PortStatus.INITIALIZED
        if self.enabled:
            status |= PortStatus.ENABLED
        return int(status)


class _CommandRejected(Exception):
    """Internal: a command the device answers with ``ERRORxx``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class NDIDevice:
    """A Polaris or Aurora in memory; ``respond`` answers one command line (without ``\\r``).

    Polaris: a passive tool definition initialised with PINIT tracks the source tool named by
    its part number, or else the first source tool not yet tracked. Aurora: the k-th tool of
    ``source`` sits on the k-th sensor port (see ``EmulatorSettings``). ``command_log`` keeps
    the last 1000 command lines received, for tests and debugging.
    """

    def __init__(self, source: Tracker, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self._source = source
        self._source_started = False
        self._frame_offset = 0
        self._last_frame_number = -1
        self.frames_served = 0
        self.command_log: deque[bytes] = deque(maxlen=COMMAND_LOG_SIZE)
        self.power_up()

    def power_up(self) -> None:
        """The state after power-on, a serial break or RESET: 9600 baud, no handles."""
        self.mode = Mode.RESET
        self.baud_rate = 9600
        self._slots: dict[int, _Slot] = {}

    def serial_break(self) -> bytes:
        """Reset on a serial break and answer ``RESET``."""
        self.power_up()
        return RESET_REPLY

    def close(self) -> None:
        """Stop the pose source."""
        if self._source_started:
            self._source.stop()
            self._source_started = False

    def respond(self, line: bytes) -> bytes:
        """The reply to one received command line (CRC form or space form, no ``\\r``)."""
        self.command_log.append(line)
        try:
            command = parse_command(line)
        except MalformedReply:
            return encode_error(INVALID_COMMAND)
        if command.crc_ok is False:
            return encode_error(INVALID_CRC)
        faults = self.settings.faults
        if faults.error_command == command.name:
            return encode_error(faults.error_code)
        handler = getattr(self, f"_do_{command.name.lower()}", None)
        if handler is None:
            return encode_error(INVALID_COMMAND)
        try:
            return handler(command.params)
        except _CommandRejected as rejected:
            return encode_error(rejected.code)

    # --- commands valid in every mode ---------------------------------------------------------

    def _do_reset(self, params: str) -> bytes:
        return self.serial_break()

    def _do_init(self, params: str) -> bytes:
        self._require(Mode.RESET, Mode.SETUP)
        self._slots = {}  # INIT starts a session afresh: tools are loaded again
        self._create_wired_slots()
        self.mode = Mode.SETUP
        return OKAY

    def _do_comm(self, params: str) -> bytes:
        if len(params) != 5:
            raise _CommandRejected(WRONG_PARAMETER_COUNT)
        baud = BAUD_CODES.get(params[0])
        if baud is None or params[4] not in "01":
            raise _CommandRejected(OUT_OF_RANGE)
        if params[1:4] != "000":
            raise _CommandRejected(UNABLE_TO_SET_COMM)  # a pty carries 8N1 only
        self.baud_rate = baud
        return OKAY

    def _do_ver(self, params: str) -> bytes:
        if params not in ("0", "4", "5"):
            raise _CommandRejected(OUT_OF_RANGE)
        name = "Polaris" if self.settings.model is Model.POLARIS else "Aurora"
        text = (
            f"{name} Control Firmware\nNDI S/N: GE-00001\nFreeze Tag: gestes emulator\n"
            "(C) gestes contributors (emulated device)\n"
        )
        return encode_reply(text.encode("ascii"))

    def _do_apirev(self, params: str) -> bytes:
        revision = b"G.001.004" if self.settings.model is Model.POLARIS else b"D.001.007"
        return encode_reply(revision)

    # --- set-up mode ----------------------------------------------------------------------------

    def _do_phsr(self, params: str) -> bytes:
        self._require(Mode.SETUP, Mode.TRACKING)
        wanted = {
            "": lambda slot: True,
            "00": lambda slot: True,
            "01": lambda slot: False,
            "02": lambda slot: not slot.initialized,
            "03": lambda slot: slot.initialized and not slot.enabled,
            "04": lambda slot: slot.enabled,
        }.get(params)
        if wanted is None:
            raise _CommandRejected(OUT_OF_RANGE)
        slots = [slot for slot in self._slots.values() if wanted(slot)]
        body = b"%02X" % len(slots)
        body += b"".join(b"%02X%03X" % (slot.handle, slot.port_status()) for slot in slots)
        return encode_reply(body)

    def _do_phrq(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        if len(params) != 14:
            raise _CommandRejected(WRONG_PARAMETER_COUNT)
        if params[9] not in "1*":
            raise _CommandRejected(OUT_OF_RANGE)  # wired ports are allocated by the device
        wireless = [slot for slot in self._slots.values() if slot.wireless]
        if len(wireless) >= MAX_WIRELESS_HANDLES:
            raise _CommandRejected(ALL_HANDLES_ALLOCATED)
        handle = self._free_handle()
        self._slots[handle] = _Slot(handle, None, True, len(wireless), 0, bytearray())
        return encode_reply(b"%02X" % handle)

    def _do_phf(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        self._slots.pop(self._slot(params).handle)
        return OKAY

    def _do_pvwr(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        if len(params) != 6 + 2 * ROM_CHUNK:
            raise _CommandRejected(WRONG_PARAMETER_COUNT)
        slot = self._slot(params[:2])
        try:
            address = int(params[2:6], 16)
            data = bytes.fromhex(params[6:])
        except ValueError:
            raise _CommandRejected(OUT_OF_RANGE) from None
        if address % ROM_CHUNK or address + ROM_CHUNK > ROM_MEMORY:
            raise _CommandRejected(OUT_OF_RANGE)
        if slot.rom is None:
            slot.rom = bytearray()
        if len(slot.rom) < address + ROM_CHUNK:
            slot.rom.extend(bytes(address + ROM_CHUNK - len(slot.rom)))
        slot.rom[address : address + ROM_CHUNK] = data
        slot.initialized = slot.enabled = False
        return OKAY

    def _do_pinit(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        slot = self._slot(params)
        if slot.wireless:
            _check_tool_definition(slot.rom)
            slot.tool = slot.tool or self._claim_tool(_part_number(slot))
        slot.initialized = True
        self._reveal_second_channel(slot)
        return OKAY

    def _do_phinf(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        if len(params) not in (2, 6):
            raise _CommandRejected(WRONG_PARAMETER_COUNT)
        slot = self._slot(params[:2])
        if params[2:] and not is_hex(params[2:]):
            raise _CommandRejected(OUT_OF_RANGE)
        options = int(params[2:] or "0001", 16)
        return encode_reply(self._port_information(slot, options))

    def _do_pena(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        if len(params) != 3:
            raise _CommandRejected(WRONG_PARAMETER_COUNT)
        slot = self._slot(params[:2])
        if params[2] not in "SDB":
            raise _CommandRejected(INVALID_PRIORITY)
        if not slot.initialized:
            raise _CommandRejected(NOT_INITIALIZED)
        slot.enabled, slot.priority = True, params[2]
        return OKAY

    def _do_pdis(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        slot = self._slot(params)
        if not slot.initialized:
            raise _CommandRejected(NOT_INITIALIZED)
        slot.enabled = False
        return OKAY

    def _do_tstart(self, params: str) -> bytes:
        self._require(Mode.SETUP)
        if params not in ("", "80"):
            raise _CommandRejected(OUT_OF_RANGE)
        if not self._source_started:
            self._source.start()
            self._source_started = True
        if params == "80":
            self._frame_offset = -(self._last_frame_number + 1)
        self.mode = Mode.TRACKING
        return OKAY

    # --- tracking mode --------------------------------------------------------------------------

    def _do_tstop(self, params: str) -> bytes:
        self._require(Mode.TRACKING)
        self.mode = Mode.SETUP
        return OKAY

    def _do_bx(self, params: str) -> bytes:
        return encode_bx(self._tracking_reply(params))

    def _do_tx(self, params: str) -> bytes:
        return encode_tx(self._tracking_reply(params))

    # --- helpers --------------------------------------------------------------------------------

    def _require(self, *modes: Mode) -> None:
        if self.mode not in modes:
            raise _CommandRejected(INVALID_MODE)

    def _slot(self, handle_text: str) -> _Slot:
        try:
            slot = self._slots.get(int(handle_text, 16)) if len(handle_text) == 2 else None
        except ValueError:
            slot = None
        if slot is None:
            raise _CommandRejected(INVALID_HANDLE)
        return slot

    def _free_handle(self) -> int:
        handle = FIRST_HANDLE
        while handle in self._slots:
            handle += 1
        return handle

    def _claim_tool(self, part_number: str) -> str | None:
        """The source tool a passive tool definition stands for: the one named by its part
        number if there is one, else the first source tool no handle tracks yet."""
        taken = {slot.tool for slot in self._slots.values()}
        free = [tool for tool in self._source.tools if tool not in taken]
        if part_number in free:
            return part_number
        return free[0] if free else None

    def _aurora_sensors(self) -> tuple[tuple[int, int], ...]:
        if self.settings.aurora_sensors is not None:
            return self.settings.aurora_sensors
        return tuple((index + 1, 0) for index in range(len(self._source.tools)))

    def _create_wired_slots(self) -> None:
        """Aurora: one handle per occupied port (channel 0); channel 1 waits for PINIT."""
        if self.settings.model is not Model.AURORA:
            return
        for tool, (port, channel) in zip(self._source.tools, self._aurora_sensors(), strict=False):
            if channel == 0:
                handle = self._free_handle()
                self._slots[handle] = _Slot(handle, tool, False, port, 0)

    def _reveal_second_channel(self, slot: _Slot) -> None:
        """Aurora: initialising channel 0 of a split 5DOF tool makes its channel 1 appear."""
        if slot.wireless or slot.channel != 0:
            return
        known = {(other.port, other.channel) for other in self._slots.values()}
        for tool, (port, channel) in zip(self._source.tools, self._aurora_sensors(), strict=False):
            if port == slot.port and channel == 1 and (port, 1) not in known:
                handle = self._free_handle()
                self._slots[handle] = _Slot(handle, tool, False, port, 1)

    def _port_information(self, slot: _Slot, options: int) -> bytes:
        """PHINF fields in option-bit order: basic (0001), part number (0004), location (0020)."""
        model_digit = "0" if self.settings.model is Model.POLARIS else "1"
        port = f"0{WIRELESS_PORTS[slot.port]}" if slot.wireless else f"{slot.port:02d}"
        basic = f"{_main_type(slot):02X}000001{'gestes':<12}001{slot.handle:08X}"
        fields = {
            0x0001: f"{basic}{slot.port_status():02X}",
            0x0004: f"{_part_number(slot):<20}"[:20],
            0x0020: f"00000000{model_digit}{int(slot.wireless)}{port}{slot.channel:02X}",
        }
        unknown = options & ~sum(fields)
        if unknown:
            raise _CommandRejected(OUT_OF_RANGE)
        return "".join(text for bit, text in fields.items() if options & bit).encode("ascii")

    def _tracking_reply(self, params: str) -> TrackingReply:
        self._require(Mode.TRACKING)
        options = int(params, 16) if params and is_hex(params) and len(params) == 4 else None
        if params == "":
            options = OPTION_TRANSFORMS
        if options is None or options & ~(OPTION_TRANSFORMS | OPTION_OUT_OF_VOLUME):
            raise _CommandRejected(OUT_OF_RANGE)
        frame = self._next_frame()
        number = (frame.frame_number + self._frame_offset) & 0xFFFFFFFF
        readings = tuple(
            self._reading(slot, frame, number, options)
            for slot in sorted(self._slots.values(), key=lambda slot: slot.handle)
            if slot.enabled
        )
        self.frames_served += 1
        return TrackingReply(readings, self.settings.faults.system_status)

    def _next_frame(self) -> Frame:
        try:
            frame = self._source.read()
        except StreamEnded:
            self._frame_offset += self._last_frame_number + 1
            logger.info("pose source ended: restarting it at frame %d", self._frame_offset)
            self._source.stop()
            self._source.start()
            frame = self._source.read()
        self._last_frame_number = frame.frame_number
        return frame

    def _reading(self, slot: _Slot, frame: Frame, number: int, options: int) -> HandleReading:
        port_status = slot.port_status()
        pose = frame.poses.get(slot.tool) if slot.tool is not None else None
        status = pose.status if pose is not None else PoseStatus.MISSING
        faults = self.settings.faults
        if slot.tool in faults.out_of_volume_tools:
            status = PoseStatus.OUT_OF_VOLUME
        if slot.tool in faults.missing_tools:
            status = PoseStatus.MISSING
        if status is PoseStatus.DISABLED:
            return HandleReading(slot.handle, HandleState.DISABLED, 0, 0)
        finite = pose is not None and bool(np.all(np.isfinite(pose.tracker_from_tool)))
        if finite and not _within_reach(pose.tracker_from_tool):
            status, finite = PoseStatus.OUT_OF_VOLUME, False
        if status is PoseStatus.OUT_OF_VOLUME:
            port_status |= PortStatus.OUT_OF_VOLUME
            if not (options & OPTION_OUT_OF_VOLUME and finite):
                return HandleReading(slot.handle, HandleState.MISSING, port_status, number)
        elif status is PoseStatus.PARTIALLY_OUT_OF_VOLUME:
            port_status |= PortStatus.PARTIALLY_IN_VOLUME
        if status is PoseStatus.MISSING or not finite:
            return HandleReading(slot.handle, HandleState.MISSING, port_status, number)
        return _valid_reading(slot.handle, pose, port_status, number)


def _within_reach(tracker_from_tool: np.ndarray) -> bool:
    """Whether a pose is one the device could measure: its translation fits in a ``TX`` reply
    (within 10 m; every NDI volume is far smaller). Farther is out of volume, as on the device."""
    return bool(np.all(np.abs(np.round(tracker_from_tool[:3, 3], 2)) <= MAX_TRANSLATION_MM))


def _valid_reading(handle: int, pose: ToolPose, port_status: int, number: int) -> HandleReading:
    matrix = pose.tracker_from_tool
    error = pose.error_rms if np.isfinite(pose.error_rms) else 0.0
    translation = (float(matrix[0, 3]), float(matrix[1, 3]), float(matrix[2, 3]))
    return HandleReading(
        handle,
        HandleState.VALID,
        port_status,
        number,
        quaternion_from_rigid(matrix),
        translation,
        float(error),
    )


def _check_tool_definition(rom: bytearray | None) -> None:
    """A loaded .rom must start with ``NDI`` and carry a valid checksum, or PINIT fails."""
    if not rom:
        raise _CommandRejected(CANNOT_INITIALIZE_TOOL)
    if len(rom) < rom_layout.ROM_SIZE or rom[: len(rom_layout.MAGIC)] != rom_layout.MAGIC:
        raise _CommandRejected(TOOL_FILE_ERROR)
    (stored,) = rom_layout.CHECKSUM.unpack_from(rom, rom_layout.CHECKSUM_OFFSET)
    if stored != rom_layout.rom_checksum(rom):
        raise _CommandRejected(TOOL_FILE_ERROR)


def _main_type(slot: _Slot) -> int:
    """Tool main type (1 reference, 2 pointer, 3 button box...): from the .rom or the tool name."""
    if slot.rom and len(slot.rom) > rom_layout.TYPE_OFFSET:
        return slot.rom[rom_layout.TYPE_OFFSET]
    return 1 if slot.tool == "reference" else 2


def _part_number(slot: _Slot) -> str:
    if slot.rom and len(slot.rom) >= rom_layout.PART_OFFSET + rom_layout.PART_LENGTH:
        return rom_layout.rom_part_number(slot.rom)
    return f"gestes-{slot.tool or 'none'}"
