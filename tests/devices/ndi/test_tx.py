"""ASCII TX replies: the worked example, round trips, each rejected input and fuzzing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ProtocolError
from devices.ndi.exceptions import CRCMismatch, MalformedReply
from devices.ndi.framing import encode_reply
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState
from devices.ndi.tx import encode_tx, parse_tx
from tests.devices.ndi.strategies import mutations, tracking_replies

# Parsed by ndicapi to q=(0.9659, 0, 0, 0.2588), t=(12.34, -56.78, -1500.25), frame 102.
EXAMPLE = (
    b"020A+09659+00000+00000+02588+001234-005678-150025+012340000003100000066\n"
    b"0BMISSING0000001100000066\n0000C25C\r"
)
QUATERNION_RESOLUTION = 0.5e-4 + 1e-12  # half of TX's last digit, plus float rounding
TRANSLATION_RESOLUTION_MM = 0.5e-2 + 1e-9


def test_worked_example_values():
    reply = parse_tx(EXAMPLE)
    valid, missing = reply.handles
    assert valid.quaternion == pytest.approx((0.9659, 0, 0, 0.2588), abs=1e-12)
    assert valid.translation_mm == pytest.approx((12.34, -56.78, -1500.25), abs=1e-9)
    assert valid.error_rms_mm == pytest.approx(0.1234, abs=1e-12)
    assert (valid.port_status, valid.frame_number) == (0x31, 102)
    assert (missing.handle, missing.state, missing.port_status) == (0x0B, HandleState.MISSING, 0x11)


def test_encoding_the_example_gives_the_same_bytes():
    assert encode_tx(parse_tx(EXAMPLE)) == EXAMPLE


def test_disabled_row():
    reply = parse_tx(encode_reply(b"0103DISABLED0000000000000000\n0000"))
    assert reply.handles == (HandleReading(3, HandleState.DISABLED, 0, 0),)


@pytest.mark.parametrize("tail", [b"", b"0000000100000005"])
def test_unoccupied_row_with_or_without_port_status(tail):
    reply = parse_tx(encode_reply(b"0104UNOCCUPIED" + tail + b"\n0000"))
    assert reply.handles[0].state is HandleState.MISSING
    assert reply.handles[0].handle == 4


@settings(deadline=None)  # timing varies on a loaded machine
@given(tracking_replies())
def test_round_trip_to_ascii_resolution(reply):
    parsed = parse_tx(encode_tx(reply))
    assert parsed.system_status == reply.system_status
    for got, sent in zip(parsed.handles, reply.handles, strict=True):
        assert (got.handle, got.state, got.port_status) == (
            sent.handle,
            sent.state,
            sent.port_status,
        )
        assert got.frame_number == sent.frame_number
        if sent.state is HandleState.VALID:
            assert got.quaternion == pytest.approx(sent.quaternion, abs=QUATERNION_RESOLUTION)
            assert got.translation_mm == pytest.approx(
                sent.translation_mm, abs=TRANSLATION_RESOLUTION_MM
            )


def test_translation_beyond_ten_metres_cannot_be_encoded():
    reading = HandleReading(1, HandleState.VALID, 0x31, 1, (1, 0, 0, 0), (10_000.0, 0, 0), 0.1)
    with pytest.raises(ValueError, match=r"9999\.99"):
        encode_tx(TrackingReply((reading,), 0))


def test_wrong_crc_is_a_crc_mismatch():
    with pytest.raises(CRCMismatch):
        parse_tx(EXAMPLE[:-2] + b"D\r")


def test_missing_line_feed_is_malformed():
    with pytest.raises(MalformedReply, match="row 1 of 2"):
        parse_tx(encode_reply(EXAMPLE[:-9].replace(b"66\n0B", b"660B", 1)))


def test_truncated_reply_is_malformed():
    with pytest.raises(MalformedReply, match="row 2 of 2"):
        parse_tx(encode_reply(EXAMPLE[:80]))


def test_error_reply_is_not_a_tx_reply():
    with pytest.raises(MalformedReply, match="2-hex handle count"):
        parse_tx(encode_reply(b"ERROR0C"))


def test_missing_system_status_is_malformed():
    with pytest.raises(MalformedReply, match="system-status"):
        parse_tx(encode_reply(EXAMPLE[:-9]))


def test_digits_with_underscores_are_malformed():
    with pytest.raises(MalformedReply):
        parse_tx(encode_reply(EXAMPLE[:-9].replace(b"+09659", b"+0_659") + b"0000"))


def _parse_or_protocol_error(data: bytes) -> None:
    """The fuzzing contract: a TrackingReply or a ProtocolError, nothing else."""
    try:
        reply = parse_tx(data)
    except ProtocolError:
        return
    assert isinstance(reply, TrackingReply)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data):
    _parse_or_protocol_error(data)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.data())
def test_fuzz_mutated_valid_replies(data):
    _parse_or_protocol_error(data.draw(mutations(encode_tx(data.draw(tracking_replies())))))


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.data())
def test_fuzz_mutated_bodies_with_correct_crcs(data):
    body = encode_tx(data.draw(tracking_replies()))[:-5]
    _parse_or_protocol_error(encode_reply(data.draw(mutations(body))))
