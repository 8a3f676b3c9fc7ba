"""NDI .rom tool definitions: real PLUS files, corrupted copies, and write/read round trips."""

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ConfigurationError, RomError
from devices.rom import (
    CHECKSUM_OFFSET,
    COUNT_OFFSET,
    MARKERS_OFFSET,
    PART_OFFSET,
    ROM_SIZE,
    TYPE_OFFSET,
    MarkerType,
    ToolType,
    parse_rom,
    read_rom,
    rom_checksum,
    rom_image,
)
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA / "rom"

# From the data README (markers of NDI 8700339, float32 values in the file).
MARKERS_8700339_MM = [[0.0, 0.0, 0.0], [0.0, 28.59, 41.02], [0.0, 0.0, 88.0], [0.0, -44.32, 40.45]]


def real_bytes(name="8700339.rom"):
    return (DATA / name).read_bytes()


def with_checksum(data: bytearray) -> bytes:
    """Fix the checksum after an edit, so that only the edited field is wrong."""
    struct.pack_into("<H", data, 4, rom_checksum(data))
    return bytes(data)


def test_reads_reference_8700339():
    rom = read_rom(DATA / "8700339.rom")
    assert rom.part_number == "8700339"
    assert rom.manufacturer == "NDI"
    assert rom.tool_type is ToolType.REFERENCE
    assert rom.marker_type is MarkerType.PASSIVE_SPHERE
    # float32 storage: 1e-5 mm.
    np.testing.assert_allclose(rom.markers_mm, MARKERS_8700339_MM, atol=1e-5)
    np.testing.assert_allclose(rom.normals, np.tile([1.0, 0.0, 0.0], (4, 1)))
    assert rom.max_marker_angle_rad == pytest.approx(math.pi / 2)
    assert rom.data == real_bytes()


@pytest.mark.parametrize(
    ("name", "tool_type"),
    [
        ("8700339.rom", ToolType.REFERENCE),
        ("8700340.rom", ToolType.POINTER),
        ("8700449.rom", ToolType.REFERENCE),
    ],
)
def test_reads_every_shared_rom(name, tool_type):
    rom = read_rom(DATA / name)
    assert rom.part_number == name.removesuffix(".rom")
    assert rom.tool_type is tool_type
    assert rom.markers_mm.shape == (4, 3)
    tool = rom.tool_definition("tool")
    assert tool.tip_mm is None
    np.testing.assert_array_equal(tool.markers_mm, rom.markers_mm)


def test_rejects_flipped_byte_by_checksum():
    data = bytearray(real_bytes())
    data[100] ^= 0x01
    with pytest.raises(RomError, match="checksum mismatch"):
        parse_rom(bytes(data), source="flipped.rom")


def test_rejects_truncated_file():
    with pytest.raises(RomError, match="752 bytes long; got 700"):
        parse_rom(real_bytes()[:700])


def test_rejects_bad_magic():
    data = bytearray(real_bytes())
    data[0:3] = b"XYZ"
    with pytest.raises(RomError, match="expected 'NDI'"):
        parse_rom(with_checksum(data))


def test_rejects_marker_count_above_twenty():
    data = bytearray(real_bytes())
    data[28] = 21
    with pytest.raises(RomError, match="marker count must be 3 to 20; got 21"):
        parse_rom(with_checksum(data))


def test_rejects_unknown_tool_type():
    data = bytearray(real_bytes())
    data[15] = 99
    with pytest.raises(RomError, match="unknown tool type code 99"):
        parse_rom(with_checksum(data))


def test_rejects_non_finite_marker():
    data = bytearray(real_bytes())
    struct.pack_into("<f", data, 72 + 4, math.nan)
    with pytest.raises(RomError, match="not finite"):
        parse_rom(with_checksum(data))


def test_rejects_non_ascii_part_number():
    data = bytearray(real_bytes())
    data[592] = 0xE9
    with pytest.raises(RomError, match="not ASCII"):
        parse_rom(with_checksum(data))


def test_read_rom_names_the_file_in_errors(tmp_path):
    path = tmp_path / "empty.rom"
    path.write_bytes(b"")
    with pytest.raises(RomError, match=r"empty\.rom"):
        read_rom(path)


@pytest.mark.parametrize("name", sorted(BUILTIN_TOOLS))
def test_builtin_tool_round_trips_through_a_generated_rom(name):
    tool = BUILTIN_TOOLS[name]
    data = rom_image(tool.markers_mm, ToolType.POINTER, tool.part_number)
    assert len(data) == ROM_SIZE
    rom = parse_rom(data)
    assert rom.part_number == tool.part_number
    assert rom.tool_type is ToolType.POINTER
    np.testing.assert_allclose(rom.markers_mm, tool.markers_mm, atol=1e-5)


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(*[st.floats(-500.0, 500.0, width=32)] * 3), min_size=3, max_size=20, unique=True
    ).filter(
        lambda points: (
            np.linalg.svd(np.array(points) - np.mean(points, axis=0), compute_uv=False)[1] > 1.0
        )
    ),
    st.sampled_from(list(ToolType)),
)
def test_encoded_markers_and_type_round_trip(points, tool_type):
    tool = ToolDefinition("t", np.array(points), part_number="P1")
    rom = parse_rom(rom_image(tool.markers_mm, tool_type, tool.part_number))
    np.testing.assert_array_equal(rom.markers_mm, np.array(points, dtype=np.float32))
    assert rom.tool_type is tool_type


@settings(deadline=None)
@given(st.integers(0, ROM_SIZE - 1).filter(lambda offset: offset != 3), st.integers(1, 255))
def test_any_single_byte_corruption_is_caught(offset, xor):
    data = bytearray(real_bytes("8700340.rom"))
    data[offset] ^= xor
    # Bytes 0-2 are the magic, 4-5 the checksum of bytes 6..751, so one changed byte is always
    # caught; byte 3 (after "NDI") is covered by neither and is not checked.
    with pytest.raises(RomError):
        parse_rom(bytes(data))


def test_rom_tool_definition_keeps_normals_and_marker_angle():
    tool = read_rom(DATA / "8700339.rom").tool_definition("reference")
    np.testing.assert_allclose(tool.normals, np.tile([1.0, 0.0, 0.0], (4, 1)))
    assert tool.max_marker_angle_rad == pytest.approx(math.pi / 2)


def test_rejects_a_maximum_marker_angle_of_zero():
    data = bytearray(real_bytes())
    data[24] = 0
    with pytest.raises(RomError, match="maximum marker angle must be 1 to 180 degrees; got 0"):
        parse_rom(with_checksum(data))


@settings(deadline=None)
@given(st.binary(min_size=ROM_SIZE - 6, max_size=ROM_SIZE - 6))
def test_random_content_with_a_valid_checksum_parses_or_raises_rom_error(body):
    data = bytearray(b"NDI\x00\x00\x00" + body)
    try:
        rom = parse_rom(with_checksum(data))
    except RomError:
        return
    assert 3 <= len(rom.markers_mm) <= 20
    assert np.all(np.isfinite(rom.markers_mm))


# -- writing .rom bytes (rom_image): the same layout the reader uses ------------------------------


def test_layout_of_a_generated_rom():
    markers = BUILTIN_TOOLS["reference"].markers_mm
    rom = rom_image(markers, ToolType.REFERENCE, part_number="gestes-ref")
    assert len(rom) == ROM_SIZE
    assert rom[:3] == b"NDI"
    assert struct.unpack_from("<H", rom, CHECKSUM_OFFSET)[0] == rom_checksum(rom)
    assert (rom[TYPE_OFFSET], rom[COUNT_OFFSET]) == (1, len(markers))
    stored = np.frombuffer(rom, "<f4", count=3 * len(markers), offset=MARKERS_OFFSET)
    np.testing.assert_allclose(stored.reshape(-1, 3), markers, atol=1e-4)  # float32, tens of mm
    assert rom[PART_OFFSET : PART_OFFSET + 10] == b"gestes-ref"
    assert parse_rom(rom).marker_type is MarkerType.PASSIVE_SPHERE


@pytest.mark.parametrize("name", ["8700339.rom", "8700340.rom", "8700449.rom"])
def test_checksum_rule_holds_for_real_files(name):
    rom = real_bytes(name)
    assert struct.unpack_from("<H", rom, CHECKSUM_OFFSET)[0] == rom_checksum(rom)


def test_the_checksum_covers_the_tool_definition_only():
    # A device's buffer may hold more than 752 bytes (PVWR writes 64-byte chunks): the rest
    # does not count, for the emulator as for the file.
    rom = real_bytes("8700340.rom")
    assert rom_checksum(rom + b"\xff" * 64) == rom_checksum(rom)


@pytest.mark.parametrize(
    ("markers", "settings_", "match"),
    [
        (np.zeros((2, 3)), {}, "3 to 20 markers"),
        (np.array([[np.nan, 0, 0], [0, 10, 0], [0, 0, 10]]), {}, "finite"),
        (np.eye(3) * 10, {"part_number": "x" * 21}, "part number"),
    ],
)
def test_bad_rom_image_input_is_rejected(markers, settings_, match):
    with pytest.raises(ConfigurationError, match=match):
        rom_image(markers, **settings_)
