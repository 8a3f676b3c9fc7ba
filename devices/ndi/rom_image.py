"""Build the bytes of an NDI passive-tool definition (.rom, 752 bytes) from marker positions.

Used to load tools that exist only as geometry (gestes' built-in tools) with ``PVWR``. Field
offsets follow the protocol reference (section 11): ``NDI`` magic, u16 checksum of bytes
6..751 at 4, main type at 15, marker count at 28, float32 marker xyz from 72, normals from 312,
manufacturer at 580, part number at 592, marker type (41 = passive sphere) at 655.
"""

import struct

import numpy as np

from devices.exceptions import ConfigurationError

ROM_SIZE = 752
MAX_MARKERS = 20
PASSIVE_SPHERE = 41
MAIN_TYPE_REFERENCE = 1
MAIN_TYPE_POINTER = 2


def rom_checksum(rom: bytes) -> int:
    """The checksum NDI stores at bytes 4-5: the sum of bytes 6..751, modulo 65536."""
    return sum(rom[6:ROM_SIZE]) & 0xFFFF


def rom_image(
    markers_mm: np.ndarray,
    main_type: int = MAIN_TYPE_POINTER,
    part_number: str = "",
    manufacturer: str = "gestes",
) -> bytes:
    """A 752-byte passive-tool definition for ``markers_mm`` ((N, 3), tool frame, 3 <= N <= 20).

    Markers face +x (normal (1, 0, 0)), the maximum marker angle is 90 degrees and the maximum
    3D error 2 mm, NDI's defaults. Raises ConfigurationError for a bad marker array or text.
    """
    markers = np.asarray(markers_mm, dtype=np.float64)
    if markers.ndim != 2 or markers.shape[1] != 3 or not 3 <= len(markers) <= MAX_MARKERS:
        raise ConfigurationError(
            f"a .rom holds 3 to {MAX_MARKERS} markers of shape (N, 3); got {markers.shape}"
        )
    if not np.all(np.isfinite(markers)):
        raise ConfigurationError("marker coordinates must be finite")
    if (
        len(part_number) > 20
        or len(manufacturer) > 12
        or not (part_number + manufacturer).isascii()
    ):
        raise ConfigurationError("part number (20) and manufacturer (12) are short ASCII texts")
    rom = bytearray(ROM_SIZE)
    rom[0:3] = b"NDI"
    rom[12] = 1  # fixed tip
    rom[15] = main_type
    rom[24] = 90  # maximum marker angle, degrees
    rom[28] = len(markers)
    rom[32] = 3  # minimum markers for a pose
    rom[36:40] = struct.pack("<f", 2.0)  # maximum 3D marker error, mm
    rom[72 : 72 + 12 * len(markers)] = markers.astype("<f4").tobytes()
    normals = np.tile(np.array([1.0, 0.0, 0.0], dtype="<f4"), (len(markers), 1))
    rom[312 : 312 + 12 * len(markers)] = normals.tobytes()
    rom[580 : 580 + len(manufacturer)] = manufacturer.encode("ascii")
    rom[592 : 592 + len(part_number)] = part_number.encode("ascii")
    rom[655] = PASSIVE_SPHERE
    rom[4:6] = struct.pack("<H", rom_checksum(rom))
    return bytes(rom)
