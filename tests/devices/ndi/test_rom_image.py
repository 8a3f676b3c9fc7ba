"""Generated .rom images: the layout and checksum of real NDI tool definitions."""

import struct

import numpy as np
import pytest

from devices.exceptions import ConfigurationError
from devices.ndi.rom_image import ROM_SIZE, rom_checksum, rom_image
from devices.tools import BUILTIN_TOOLS
from tests.shared_data import SHARED_DATA

ROM_DIR = SHARED_DATA / "rom"


def test_layout_of_a_generated_rom():
    markers = BUILTIN_TOOLS["reference"].markers_mm
    rom = rom_image(markers, main_type=1, part_number="gestes-ref")
    assert len(rom) == ROM_SIZE
    assert rom[:3] == b"NDI"
    assert struct.unpack_from("<H", rom, 4)[0] == rom_checksum(rom)
    assert (rom[15], rom[28]) == (1, len(markers))
    stored = np.frombuffer(rom, dtype="<f4", count=3 * len(markers), offset=72).reshape(-1, 3)
    np.testing.assert_allclose(stored, markers, atol=1e-4)  # float32 of tens of mm
    assert rom[592:602] == b"gestes-ref"


@pytest.mark.parametrize("name", ["8700339.rom", "8700340.rom", "8700449.rom"])
def test_checksum_rule_holds_for_real_files(name):
    rom = (ROM_DIR / name).read_bytes()
    assert struct.unpack_from("<H", rom, 4)[0] == rom_checksum(rom)


def test_too_few_markers_are_rejected():
    with pytest.raises(ConfigurationError, match="3 to 20 markers"):
        rom_image(np.zeros((2, 3)))


def test_non_finite_markers_are_rejected():
    markers = np.eye(3) * 10
    markers[0, 0] = np.nan
    with pytest.raises(ConfigurationError, match="finite"):
        rom_image(markers)


def test_long_part_number_is_rejected():
    with pytest.raises(ConfigurationError, match="part number"):
        rom_image(np.eye(3) * 10, part_number="x" * 21)
