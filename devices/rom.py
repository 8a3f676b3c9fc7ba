"""NDI ``.rom`` tool definition files: the one home of their layout; read them (with checksum
validation) and write them for tools known only by their geometry.

A .rom file is 752 little-endian bytes: ASCII ``NDI`` at 0; a uint16 checksum at 4-5 equal to
the sum of bytes 6..751 modulo 65536; the tool sub-type at 12 and main type at 15; the maximum
marker angle (degrees) at 24; the marker count at 28 and the minimum number of markers at 32; the
maximum marker error (float32, mm) at 36; 20 marker positions (float32 x, y, z, mm) from 72; 20
marker normals from 312; the manufacturer (12 ASCII) at 580, the part number (20 ASCII) at 592;
the marker type at 655. Offsets as documented by the JHU optical-tracker-utilities ``ndi_tool.py``
and checked on PLUS's NDI tool definitions; we read only the fields we can verify.
``rom_image`` writes such a file from marker positions, for loading gestes' built-in tools into
a device (or the emulator) with ``PVWR``.
"""

import enum
import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.exceptions import ConfigurationError, RomError
from devices.tools import ToolDefinition

logger = logging.getLogger(__name__)

ROM_SIZE = 752
MAGIC = b"NDI"
MAX_MARKERS = 20
MIN_MARKERS = 3

# The layout (byte offsets); every reader and writer of .rom bytes uses these names.
CHECKSUM = struct.Struct("<H")
CHECKSUM_OFFSET = 4
SUBTYPE_OFFSET = 12
TYPE_OFFSET = 15
MAX_ANGLE_OFFSET = 24
COUNT_OFFSET = 28
MIN_MARKERS_OFFSET = 32
MAX_ERROR = struct.Struct("<f")
MAX_ERROR_OFFSET = 36
MARKERS_OFFSET = 72
NORMALS_OFFSET = 312
MANUFACTURER_OFFSET, MANUFACTURER_LENGTH = 580, 12
PART_OFFSET, PART_LENGTH = 592, 20
MARKER_TYPE_OFFSET = 655
# What ``rom_image`` writes: NDI's defaults for a passive tool.
FIXED_TIP = 1  # sub-type byte
DEFAULT_MAX_ANGLE_DEG = 90
DEFAULT_MAX_ERROR_MM = 2.0


class ToolType(enum.Enum):
    """NDI main tool type (byte 15)."""

    REFERENCE = 1
    POINTER = 2
    BUTTON_BOX = 3
    USER_DEFINED = 4
    MICROSCOPE = 5
    CALIBRATION_BLOCK = 7
    DOCK = 8
    C_ARM = 10
    CATHETER = 11
    GPIO = 12
    SCAN_REFERENCE = 14


class MarkerType(enum.Enum):
    """What the markers are (byte 655)."""

    PASSIVE_SPHERE = 41
    PASSIVE_DISC = 49
    RADIX_LENS = 57


@dataclass(frozen=True, eq=False)
class RomFile:
    """The fields of an NDI tool definition that gestes uses, plus its raw bytes (for ``PVWR``).

    ``markers_mm`` and ``normals`` are ``(N, 3)`` in the tool frame; angles are in radians.
    """

    data: bytes
    tool_type: ToolType
    marker_type: MarkerType | None
    part_number: str
    manufacturer: str
    markers_mm: np.ndarray
    normals: np.ndarray
    min_markers: int
    max_marker_angle_rad: float
    max_marker_error_mm: float

    def tool_definition(self, name: str) -> ToolDefinition:
        """The geometry as a ``ToolDefinition`` named ``name``; the tip is unknown (None).

        NDI tool definitions do not carry a pointer's tip: find it by pivot calibration. Marker
        normals are kept unless one of them is zero (not specified in the file).
        """
        known = bool(np.all(np.linalg.norm(self.normals, axis=1) > 0.0))
        return ToolDefinition(
            name,
            self.markers_mm,
            None,
            self.part_number,
            self.normals if known else None,
            self.max_marker_angle_rad,
        )


def rom_checksum(data: bytes) -> int:
    """The checksum NDI stores at bytes 4-5: the sum of bytes 6..751 modulo 65536."""
    return sum(data[CHECKSUM_OFFSET + 2 : ROM_SIZE]) & 0xFFFF


def rom_part_number(data: bytes) -> str:
    """The part number field of tool definition bytes, as text ('' if there is none)."""
    raw = bytes(data[PART_OFFSET : PART_OFFSET + PART_LENGTH]).split(b"\0", 1)[0]
    return raw.decode("ascii", errors="replace")


def read_rom(path: str | Path) -> RomFile:
    """Read and validate the ``.rom`` file at ``path``; raises ``RomError`` naming the file."""
    path = Path(path)
    data = path.read_bytes()
    return parse_rom(data, source=str(path))


def parse_rom(data: bytes, source: str = "tool definition") -> RomFile:
    """Decode and validate 752 bytes of a tool definition (``source`` names it in errors)."""
    if len(data) != ROM_SIZE:
        raise RomError(f"{source}: an NDI .rom file is {ROM_SIZE} bytes long; got {len(data)}")
    if data[: len(MAGIC)] != MAGIC:
        raise RomError(
            f"{source}: not an NDI tool definition (expected 'NDI' at byte 0; "
            f"got {data[: len(MAGIC)]!r})"
        )
    (stored,) = CHECKSUM.unpack_from(data, CHECKSUM_OFFSET)
    computed = rom_checksum(data)
    if stored != computed:
        raise RomError(
            f"{source}: checksum mismatch (stored 0x{stored:04X}, computed 0x{computed:04X}): "
            "the file is corrupt"
        )
    count = data[COUNT_OFFSET]
    if not MIN_MARKERS <= count <= MAX_MARKERS:
        raise RomError(
            f"{source}: marker count must be {MIN_MARKERS} to {MAX_MARKERS}; got {count}"
        )
    try:
        tool_type = ToolType(data[TYPE_OFFSET])
    except ValueError:
        raise RomError(f"{source}: unknown tool type code {data[TYPE_OFFSET]}") from None
    markers = _read_vectors(data, MARKERS_OFFSET, count)
    normals = _read_vectors(data, NORMALS_OFFSET, count)
    if not (np.all(np.isfinite(markers)) and np.all(np.isfinite(normals))):
        raise RomError(f"{source}: marker positions or normals are not finite numbers")
    min_markers = data[MIN_MARKERS_OFFSET]
    if not MIN_MARKERS <= min_markers <= count:
        raise RomError(
            f"{source}: minimum marker count must be {MIN_MARKERS} to {count}; got {min_markers}"
        )
    max_angle_deg = data[MAX_ANGLE_OFFSET]
    if not 0 < max_angle_deg <= 180:
        raise RomError(
            f"{source}: maximum marker angle must be 1 to 180 degrees; got {max_angle_deg}"
        )
    marker_code = data[MARKER_TYPE_OFFSET]
    marker_type = next((kind for kind in MarkerType if kind.value == marker_code), None)
    if marker_type is None:
        logger.info("%s: marker type code %d is not one gestes knows", source, marker_code)
    (max_error,) = MAX_ERROR.unpack_from(data, MAX_ERROR_OFFSET)
    return RomFile(
        data=bytes(data),
        tool_type=tool_type,
        marker_type=marker_type,
        part_number=_read_text(data, PART_OFFSET, PART_LENGTH, source),
        manufacturer=_read_text(data, MANUFACTURER_OFFSET, MANUFACTURER_LENGTH, source),
        markers_mm=markers,
        normals=normals,
        min_markers=min_markers,
        max_marker_angle_rad=math.radians(max_angle_deg),
        max_marker_error_mm=float(max_error),
    )


def _read_vectors(data: bytes, offset: int, count: int) -> np.ndarray:
    """``count`` float32 (x, y, z) triples from ``offset``, as a read-only (count, 3) array."""
    vectors = np.frombuffer(data, dtype="<f4", count=3 * count, offset=offset)
    vectors = vectors.reshape(count, 3).astype(np.float64)
    vectors.setflags(write=False)
    return vectors


def _read_text(data: bytes, offset: int, length: int, source: str) -> str:
    """A NUL-padded ASCII field."""
    raw = data[offset : offset + length].split(b"\0", 1)[0]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise RomError(f"{source}: text field at byte {offset} is not ASCII: {raw!r}") from None


def rom_image(
    markers_mm: np.ndarray,
    tool_type: ToolType = ToolType.POINTER,
    part_number: str = "",
    manufacturer: str = "gestes",
) -> bytes:
    """A 752-byte passive-tool definition for ``markers_mm`` ((N, 3), tool frame, 3 <= N <= 20).

    Markers face +x (normal (1, 0, 0)), the maximum marker angle is 90 degrees and the maximum
    3D error 2 mm, NDI's defaults; ``parse_rom`` reads it back. Raises ConfigurationError for a
    bad marker array or text.
    """
    markers = np.asarray(markers_mm, dtype=np.float64)
    if markers.ndim != 2 or markers.shape[1] != 3 or not MIN_MARKERS <= len(markers) <= MAX_MARKERS:
        raise ConfigurationError(
            f"a .rom holds {MIN_MARKERS} to {MAX_MARKERS} markers of shape (N, 3); "
            f"got {markers.shape}"
        )
    if not np.all(np.isfinite(markers)):
        raise ConfigurationError("marker coordinates must be finite")
    if (
        len(part_number) > PART_LENGTH
        or len(manufacturer) > MANUFACTURER_LENGTH
        or not (part_number + manufacturer).isascii()
    ):
        raise ConfigurationError(
            f"part number ({PART_LENGTH}) and manufacturer ({MANUFACTURER_LENGTH}) are short "
            "ASCII texts"
        )
    rom = bytearray(ROM_SIZE)
    rom[: len(MAGIC)] = MAGIC
    rom[SUBTYPE_OFFSET] = FIXED_TIP
    rom[TYPE_OFFSET] = tool_type.value
    rom[MAX_ANGLE_OFFSET] = DEFAULT_MAX_ANGLE_DEG
    rom[COUNT_OFFSET] = len(markers)
    rom[MIN_MARKERS_OFFSET] = MIN_MARKERS
    MAX_ERROR.pack_into(rom, MAX_ERROR_OFFSET, DEFAULT_MAX_ERROR_MM)
    rom[MARKERS_OFFSET : MARKERS_OFFSET + 12 * len(markers)] = markers.astype("<f4").tobytes()
    normals = np.tile(np.array([1.0, 0.0, 0.0], dtype="<f4"), (len(markers), 1))
    rom[NORMALS_OFFSET : NORMALS_OFFSET + 12 * len(markers)] = normals.tobytes()
    rom[MANUFACTURER_OFFSET : MANUFACTURER_OFFSET + len(manufacturer)] = manufacturer.encode()
    rom[PART_OFFSET : PART_OFFSET + len(part_number)] = part_number.encode("ascii")
    rom[MARKER_TYPE_OFFSET] = MarkerType.PASSIVE_SPHERE.value
    CHECKSUM.pack_into(rom, CHECKSUM_OFFSET, rom_checksum(rom))
    return bytes(rom)
