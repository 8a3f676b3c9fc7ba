"""Settings of the NDI emulator: which device it plays and which faults it injects."""

import enum
import math
from dataclasses import dataclass, field

from devices.exceptions import ConfigurationError


class Model(enum.Enum):
    """The NDI device the emulator behaves like."""

    POLARIS = "polaris"
    AURORA = "aurora"


@dataclass(frozen=True)
class Faults:
    """Faults injected by the emulator; the defaults inject none.

    ``*_every`` = n affects every n-th reply (0 never). ``split_replies`` writes replies in
    small pieces with pauses; ``reply_delay_s`` delays every reply; ``silent_after_frames`` stops
    answering after that many BX/TX frames (a hung device), ``vanish_after_frames`` closes the
    port instead (an unplugged cable). ``missing_tools`` / ``out_of_volume_tools`` force the
    status of tools by name; ``error_command`` is answered with ``ERROR{error_code:02X}``;
    ``system_status`` bits (e.g. 0x0002, too much external infrared) go with every frame.
    """

    corrupt_crc_every: int = 0
    drop_byte_every: int = 0
    split_replies: bool = False
    reply_delay_s: float = 0.0
    silent_after_frames: int | None = None
    vanish_after_frames: int | None = None
    missing_tools: frozenset[str] = field(default_factory=frozenset)
    out_of_volume_tools: frozenset[str] = field(default_factory=frozenset)
    error_command: str | None = None
    error_code: int = 0x01
    system_status: int = 0

    def __post_init__(self) -> None:
        for name in ("corrupt_crc_every", "drop_byte_every"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must be >= 0; got {getattr(self, name)}")
        for name in ("silent_after_frames", "vanish_after_frames"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigurationError(f"{name} must be >= 0 or None; got {value}")
        if not math.isfinite(self.reply_delay_s) or self.reply_delay_s < 0:
            raise ConfigurationError(f"reply_delay_s must be >= 0 s; got {self.reply_delay_s}")
        if not 0x01 <= self.error_code <= 0xFF:
            raise ConfigurationError(f"error_code must be 0x01..0xFF; got {self.error_code:#x}")
        if not 0 <= self.system_status <= 0xFFFF:
            raise ConfigurationError(f"system_status is 16 bits; got {self.system_status:#x}")
        if self.error_command is not None and not self.error_command.isupper():
            raise ConfigurationError(
                f"error_command is an upper-case NDI command name; got {self.error_command!r}"
            )
        object.__setattr__(self, "missing_tools", frozenset(self.missing_tools))
        object.__setattr__(self, "out_of_volume_tools", frozenset(self.out_of_volume_tools))


@dataclass(frozen=True)
class EmulatorSettings:
    """What the emulator plays: ``model``, ``faults``, and timing.

    Aurora: ``aurora_sensors`` gives each source tool its (port, channel); by default tool i
    is on port i + 1, channel 0. A channel-1 sensor shares its port with the channel-0 one (a
    split 5DOF tool) and gets a handle only once that one is initialised, as on the device.
    ``wire_timing`` paces replies as a serial line at the agreed baud rate would (10 bits per
    byte).
    """

    model: Model = Model.POLARIS
    faults: Faults = field(default_factory=Faults)
    aurora_sensors: tuple[tuple[int, int], ...] | None = None
    wire_timing: bool = False

    def __post_init__(self) -> None:
        if self.aurora_sensors is None:
            return
        if self.model is not Model.AURORA:
            raise ConfigurationError("aurora_sensors only applies to the Aurora model")
        seen = set()
        for port, channel in self.aurora_sensors:
            if not 1 <= port <= 12 or channel not in (0, 1):
                raise ConfigurationError(
                    f"Aurora sensors sit on ports 1..12, channel 0 or 1; got ({port}, {channel})"
                )
            if (port, channel) in seen:
                raise ConfigurationError(f"two sensors on port {port} channel {channel}")
            seen.add((port, channel))
        for port, channel in seen:
            if channel == 1 and (port, 0) not in seen:
                raise ConfigurationError(f"port {port} has a channel-1 sensor without channel 0")
