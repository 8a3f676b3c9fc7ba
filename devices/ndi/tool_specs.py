"""How the user names the tools an NDI device should track.

Polaris passive tools: a ``.rom`` file path, raw ``.rom`` bytes or a ``ToolDefinition`` (its
markers become a generated tool definition whose part number is the tool's name, which the
emulator uses to serve that tool). Aurora wired sensors: ``"PORT"`` for a 6DOF
sensor or ``"PORT:CHANNEL"`` for one of the two 5DOF sensors sharing a connector.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devices.exceptions import ConfigurationError
from devices.rom import PART_LENGTH, TYPE_OFFSET, ToolType, rom_image
from devices.tools import ToolDefinition

_AURORA_SPEC = re.compile(r"(\d{1,2})(?::([01]))?")
ROM_MIN_SIZE = 16


@dataclass(frozen=True)
class AuroraSensor:
    """A wired Aurora sensor on ``port`` (1..12), ``channel`` 0 or 1; 5DOF sensors have no roll."""

    port: int
    channel: int = 0
    five_dof: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 12 or self.channel not in (0, 1):
            raise ConfigurationError(
                f"Aurora sensors sit on ports 1..12, channel 0 or 1; got {self.port}:{self.channel}"
            )


@dataclass(frozen=True)
class PassiveTool:
    """A Polaris passive tool as the bytes of its tool definition, loaded with PVWR."""

    rom: bytes
    source: str

    @property
    def main_type(self) -> int:
        """NDI tool main type (1 reference, 2 pointer, 3 button box, ...)."""
        return self.rom[TYPE_OFFSET]


ToolSpec = AuroraSensor | PassiveTool


def parse_tool_specs(
    tools: Mapping[str, str | os.PathLike | bytes | ToolDefinition | AuroraSensor],
) -> dict[str, ToolSpec]:
    """Check and normalise the user's tool mapping (name -> spec); raises ConfigurationError."""
    if not tools:
        raise ConfigurationError("name at least one tool to track, e.g. {'stylus': '8700340.rom'}")
    specs = {name: _parse_spec(name, spec) for name, spec in tools.items()}
    kinds = {type(spec) for spec in specs.values()}
    if len(kinds) > 1:
        raise ConfigurationError("mix of Polaris .rom tools and Aurora ports: use one kind")
    sensors = [
        (spec.port, spec.channel) for spec in specs.values() if isinstance(spec, AuroraSensor)
    ]
    if len(set(sensors)) != len(sensors):
        raise ConfigurationError(f"two tools name the same Aurora port and channel: {sensors}")
    return specs


def _parse_spec(name: str, spec) -> ToolSpec:
    if isinstance(spec, AuroraSensor):
        return spec
    if isinstance(spec, ToolDefinition):
        tool_type = ToolType.REFERENCE if name == "reference" else ToolType.POINTER
        rom = rom_image(spec.markers_mm, tool_type, part_number=name[:PART_LENGTH])
        return PassiveTool(rom, f"tool definition {spec.name!r}")
    if isinstance(spec, bytes):
        return _passive(name, spec, f"tool {name!r} bytes")
    if isinstance(spec, str) and (match := _AURORA_SPEC.fullmatch(spec)):
        port, channel = match.groups()
        return AuroraSensor(int(port), int(channel or 0), five_dof=channel is not None)
    if isinstance(spec, str | os.PathLike):
        path = Path(spec)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigurationError(f"tool {name!r}: cannot read {path}: {error}") from error
        return _passive(name, data, str(path))
    raise ConfigurationError(
        f"tool {name!r}: expected a .rom path, bytes, a ToolDefinition or an Aurora "
        f"'PORT[:CHANNEL]'; got {type(spec).__name__}"
    )


def _passive(name: str, data: bytes, source: str) -> PassiveTool:
    if len(data) < ROM_MIN_SIZE or data[:3] != b"NDI":
        raise ConfigurationError(
            f"tool {name!r}: {source} is not an NDI tool definition (no 'NDI' magic at byte 0)"
        )
    if len(data) > 1024:
        raise ConfigurationError(f"tool {name!r}: {source} has {len(data)} bytes, at most 1024")
    return PassiveTool(bytes(data), source)
