"""Binary BX replies: the worked example, round trips, each rejected input and fuzzing."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ProtocolError
from devices.ndi.bx import bx_reply_size, encode_bx, parse_bx
from devices.ndi.crc import crc16
from devices.ndi.exceptions import CRCMismatch, MalformedReply
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState
from tests.devices.ndi.strategies import mutations, tracking_replies

# One valid tool 0x0A, one missing 0x0B, frame 101, as accepted by ndicapi (protocol reference).
EXAMPLE = bytes.fromhex(
    "c4a537003b23020a01ea46773f0000000000000000ee83843ea4704541b81e63c20088bbc424b9fc3d"
    "31000000650000000b0211000000650000000000a1c2"
)
FLOAT32_TOLERANCE = 1e-6  # relative, of values sent as float32


def _sealed(body: bytes) -> bytes:
    """``body`` wrapped in a BX header and CRCs, so parsing reaches the layout checks."""
    head = struct.pack("<HH", 0xA5C4, len(body))
    return head + struct.pack("<H", crc16(head)) + body + struct.pack("<H", crc16(body))


def test_worked_example_values():
    reply = parse_bx(EXAMPLE)
    valid, missing = reply.handles
    assert (valid.handle, valid.state, valid.port_status, valid.frame_number) == (
        0x0A,
        HandleState.VALID,
        0x31,
        101,
    )
    assert valid.quaternion == pytest.approx((0.96593, 0, 0, 0.25882), abs=1e-5)
    assert valid.translation_mm == pytest.approx((12.34, -56.78, -1500.25), abs=1e-4)
    assert valid.error_rms_mm == pytest.approx(0.1234, abs=1e-6)
    assert (missing.handle, missing.state, missing.port_status) == (0x0B, HandleState.MISSING, 0x11)
    assert reply.system_status == 0
    assert reply.frame_number == 101


def test_encoding_the_example_gives_the_same_bytes():
    assert encode_bx(parse_bx(EXAMPLE)) == EXAMPLE


def test_reply_size_from_header():
    assert bx_reply_size(EXAMPLE[:6]) == len(EXAMPLE) == 63


def test_disabled_handle_has_no_port_status():
    reply = TrackingReply((HandleReading(3, HandleState.DISABLED, 0, 0),), 0)
    assert encode_bx(reply) == _sealed(bytes([1, 3, 4, 0, 0]))
    assert parse_bx(encode_bx(reply)) == reply
    assert reply.frame_number is None


@settings(deadline=None)  # timing varies on a loaded machine
@given(tracking_replies())
def test_round_trip(reply):
    parsed = parse_bx(encode_bx(reply))
    assert parsed.system_status == reply.system_status
    assert len(parsed.handles) == len(reply.handles)
    for got, sent in zip(parsed.handles, reply.handles, strict=True):
        assert (got.handle, got.state, got.port_status) == (
            sent.handle,
            sent.state,
            sent.port_status,
        )
        assert got.frame_number == sent.frame_number
        if sent.state is HandleState.VALID:
            expected = (*sent.quaternion, *sent.translation_mm, sent.error_rms_mm)
            received = (*got.quaternion, *got.translation_mm, got.error_rms_mm)
            assert received == pytest.approx(expected, rel=FLOAT32_TOLERANCE, abs=1e-6)


def test_wrong_start_bytes_are_malformed():
    with pytest.raises(MalformedReply, match="C4 A5"):
        parse_bx(b"\xc4\xa6" + EXAMPLE[2:])


def test_wrong_header_crc_is_a_crc_mismatch():
    with pytest.raises(CRCMismatch, match="header CRC"):
        parse_bx(EXAMPLE[:4] + b"\x00\x00" + EXAMPLE[6:])


def test_wrong_body_crc_is_a_crc_mismatch():
    with pytest.raises(CRCMismatch, match="body CRC"):
        parse_bx(EXAMPLE[:-1] + b"\x00")


def test_truncated_reply_is_malformed():
    with pytest.raises(MalformedReply, match="announces 63 bytes but 40"):
        parse_bx(EXAMPLE[:40])


def test_header_shorter_than_six_bytes_is_malformed():
    with pytest.raises(MalformedReply, match="needs 6 bytes"):
        parse_bx(EXAMPLE[:3])


def test_handle_count_larger_than_the_body_is_malformed():
    with pytest.raises(MalformedReply, match="ends inside handle 3 of 3"):
        parse_bx(_sealed(bytes([3]) + EXAMPLE[7:-2]))


def test_extra_bytes_after_the_handles_are_malformed():
    with pytest.raises(MalformedReply, match="unexpected bytes"):
        parse_bx(_sealed(bytes([1]) + EXAMPLE[7:-2]))


def test_unknown_handle_state_is_malformed():
    with pytest.raises(MalformedReply, match="unknown state byte 0x08"):
        parse_bx(_sealed(bytes([1, 0x0A, 0x08, 0, 0])))


def test_body_too_short_is_malformed():
    with pytest.raises(MalformedReply, match="too short"):
        parse_bx(_sealed(b"\x00"))


def test_non_unit_quaternion_is_malformed():
    values = struct.pack("<8f", 2.0, 0, 0, 0, 1, 2, 3, 0.1)
    body = bytes([1, 0x0A, 1]) + values + struct.pack("<IIH", 0x31, 7, 0)
    with pytest.raises(MalformedReply, match=r"norm 2\.000000"):
        parse_bx(_sealed(body))


def test_nan_translation_is_malformed():
    values = struct.pack("<8f", 1.0, 0, 0, 0, math.nan, 2, 3, 0.1)
    body = bytes([1, 0x0A, 1]) + values + struct.pack("<IIH", 0x31, 7, 0)
    with pytest.raises(MalformedReply, match="non-finite"):
        parse_bx(_sealed(body))


def _parse_or_protocol_error(data: bytes) -> None:
    """The fuzzing contract: a TrackingReply or a ProtocolError, nothing else."""
    try:
        reply = parse_bx(data)
    except ProtocolError:
        return
    assert isinstance(reply, TrackingReply)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data):
    _parse_or_protocol_error(data)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_behind_a_valid_start(data):
    _parse_or_protocol_error(b"\xc4\xa5" + data)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.data())
def test_fuzz_mutated_valid_replies(data):
    wire = encode_bx(data.draw(tracking_replies()))
    _parse_or_protocol_error(data.draw(mutations(wire)))


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.data())
def test_fuzz_mutated_bodies_with_correct_crcs(data):
    wire = encode_bx(data.draw(tracking_replies()))
    _parse_or_protocol_error(_sealed(data.draw(mutations(wire[6:-2]))))
