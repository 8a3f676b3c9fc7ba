"""CRC-64/ECMA-182 as OpenIGTLink uses it: the catalogue's check value, the bit-by-bit
definition, and crcmod (the library pyigtl uses) as an independent peer."""

import crcmod
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.igtl.crc import POLYNOMIAL, crc64

_CRCMOD = crcmod.mkCrcFun((1 << 64) | POLYNOMIAL, rev=False, initCrc=0, xorOut=0)


def _bitwise_crc(data: bytes) -> int:
    """Reference: polynomial division bit by bit, MSB first, initial value 0, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte << 56
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc >> 63 else crc << 1
            crc &= (1 << 64) - 1
    return crc


def test_catalogue_check_value():
    assert crc64(b"123456789") == 0x6C40DF5F0B497347


def test_empty_input_has_zero_crc():
    assert crc64(b"") == 0


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_table_matches_bitwise_definition_and_crcmod(data):
    assert crc64(data) == _bitwise_crc(data) == _CRCMOD(data)


@settings(deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc_continues_across_chunks(first, second):
    assert crc64(second, crc64(first)) == crc64(first + second)


def test_large_body_matches_crcmod():
    data = bytes(range(256)) * 4099
    assert crc64(data) == _CRCMOD(data)
