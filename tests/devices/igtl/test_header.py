"""The 58-byte header: layout, the 32.32 timestamp, names, and headers that cannot be one."""

import struct

import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ConfigurationError, ProtocolError
from devices.igtl.header import (
    HEADER_SIZE,
    fixed_to_timestamp,
    pack_header,
    parse_header,
    timestamp_to_fixed,
)

NAMES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
TYPES = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12
)
SECONDS = st.floats(min_value=0.0, max_value=4.0e9, allow_nan=False)


def test_layout_field_by_field():
    data = pack_header("TRANSFORM", "StylusToTracker", 1.5, 48, 0x0123456789ABCDEF)
    assert len(data) == HEADER_SIZE
    assert data[:2] == b"\x00\x01"
    assert data[2:14] == b"TRANSFORM\0\0\0"
    assert data[14:34] == b"StylusToTracker" + b"\0" * 5
    assert data[34:42] == bytes.fromhex("0000000180000000")  # 1 s + 0.5 * 2^32
    assert data[42:50] == (48).to_bytes(8, "big")
    assert data[50:58] == bytes.fromhex("0123456789ABCDEF")


@given(SECONDS)
def test_timestamp_round_trip_within_half_a_fixed_point_step(seconds):
    assert (
        abs(fixed_to_timestamp(timestamp_to_fixed(seconds)) - seconds)
        <= 2.0**-33 + abs(seconds) * 2.0**-52
    )


def test_timestamp_of_a_whole_second_carries():
    assert timestamp_to_fixed(1.0 - 2.0**-40) == 1 << 32


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf"), 2.0**32])
def test_timestamp_out_of_range_is_refused(seconds):
    with pytest.raises(ValueError, match="between 0 and 2"):
        timestamp_to_fixed(seconds)


@settings(deadline=None)
@given(TYPES, NAMES, st.floats(min_value=1.0, max_value=4.0e9), st.integers(0, 2**40))
def test_round_trip_and_pyigtl_reads_the_same_fields(message_type, name, seconds, size):
    data = pack_header(message_type, name, seconds, size, 77)
    header = parse_header(data)
    assert (header.version, header.type, header.device_name) == (1, message_type, name)
    assert (header.body_size, header.crc) == (size, 77)
    theirs = pyigtl.MessageBase.parse_header(data)
    assert theirs["message_type"] == message_type.rstrip(" ")
    assert theirs["device_name"] == name.rstrip(" ")
    assert theirs["body_size"] == size
    # pyigtl converts the fraction through nanoseconds by halving 10^9 with rounding up, as the
    # reference library does: a few nanoseconds off the exact 32.32 value.
    assert theirs["timestamp"] == pytest.approx(header.timestamp_s, abs=1e-8)


def test_reads_pyigtl_header():
    message = pyigtl.TransformMessage(device_name="NeedleToTracker", timestamp=1234.25)
    header = parse_header(message.pack()[:HEADER_SIZE])
    assert (header.type, header.device_name, header.timestamp_s) == (
        "TRANSFORM",
        "NeedleToTracker",
        1234.25,
    )
    assert header.body_size == 48


@pytest.mark.parametrize(
    ("name", "reason"),
    [("StylusTipToReferenceXY", "21 characters"), ("Stylé", "not ASCII"), ("a\nb", "control")],
)
def test_device_names_that_do_not_fit_are_refused(name, reason):
    with pytest.raises(ConfigurationError, match="at most 20 printable ASCII"):
        pack_header("TRANSFORM", name, 0.0, 0, 0)


def _raw_header(version=1, message_type=b"TRANSFORM", name=b"Tool", size=48):
    return struct.pack(">H12s20sQQQ", version, message_type, name, 0, size, 0)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_raw_header(version=0), "version 0"),
        (_raw_header(version=0x4745), "version 18245"),  # "GE": an HTTP request, say
        (_raw_header(message_type=b""), "empty message type"),
        (_raw_header(message_type=b"TRANS\x01FORM"), "not printable ASCII"),
        (_raw_header(name=b"Tool\xff"), "not printable ASCII"),
        (_raw_header()[:57], "58 bytes"),
    ],
)
def test_headers_that_cannot_be_one_raise_protocol_error(data, match):
    with pytest.raises(ProtocolError, match=match):
        parse_header(data)


def test_bytes_after_the_terminating_nul_are_ignored():
    header = parse_header(_raw_header(name=b"Tool\0garbage\xff"))
    assert header.device_name == "Tool"
