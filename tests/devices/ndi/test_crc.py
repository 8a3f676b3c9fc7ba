"""CRC-16/ARC as the NDI Combined API uses it: known literals and the residue property."""

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.ndi.crc import crc16, crc16_hex


def _bitwise_crc(data: bytes) -> int:
    """Reference CRC-16/ARC, bit by bit (the definition in the protocol reference)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_standard_check_value():
    assert crc16(b"123456789") == 0xBB3D


def test_literals_seen_on_the_wire():
    known = {
        b"INIT:": b"E3A5",
        b"OKAY": b"A896",
        b"RESET": b"BE6F",
        b"VER:0": b"65EE",
        b"GETINFO:Features.Firmware.Version": b"0492",
        b"PENA:0AD": b"AD1E",
        b"ERROR0D": b"8C03",
        b"TSTART:": b"5423",
    }
    for text, crc in known.items():
        assert crc16_hex(text) == crc, text


def test_empty_input_has_zero_crc():
    assert crc16(b"") == 0


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=300))
def test_table_matches_bitwise_definition(data):
    assert crc16(data) == _bitwise_crc(data)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc_continues_across_chunks(first, second):
    assert crc16(second, crc16(first)) == crc16(first + second)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=300))
def test_residue_of_data_followed_by_its_little_endian_crc_is_zero(data):
    assert crc16(data + crc16(data).to_bytes(2, "little")) == 0
