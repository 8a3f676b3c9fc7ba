"""A byte stream cut into messages: any chunking, bad CRC, unknown types, oversize bodies,
version 2 bodies, and fuzzed garbage (only ``ProtocolError``, memory always bounded)."""

import contextlib
import itertools

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ProtocolError
from devices.igtl.crc import crc64
from devices.igtl.header import HEADER_SIZE, pack_header
from devices.igtl.messages import Point, pack_message, pack_points, pack_transform
from devices.igtl.stream import PLAUSIBLE_BODY_BYTES, MessageReader

LIMIT = 1024


def _transform(name: str, value: float) -> bytes:
    return pack_message("TRANSFORM", name, 100.0 + value, pack_transform(np.eye(4) * value))


def _stream() -> list[bytes]:
    return [
        _transform("StylusToTracker", 1.0),
        pack_message("POINT", "Targets", 3.0, pack_points([Point("a", (1.0, 2.0, 3.0))])),
        pack_message("GET_IMAGE", "", 0.0, b""),
        _transform("ReferenceToTracker", 2.0),
    ]


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _feed_all(reader: MessageReader, chunks) -> list:
    messages = []
    for chunk in chunks:
        messages += reader.feed(chunk)
        assert reader.buffered_bytes <= HEADER_SIZE + LIMIT
    return messages


@given(st.lists(st.integers(0, 10_000), max_size=30))
def test_any_chunking_gives_the_same_messages(cuts):
    data = b"".join(_stream())
    messages = _feed_all(MessageReader(LIMIT), _chunks(data, cuts))
    assert [(m.type, m.device_name) for m in messages] == [
        ("TRANSFORM", "StylusToTracker"),
        ("POINT", "Targets"),
        ("GET_IMAGE", ""),
        ("TRANSFORM", "ReferenceToTracker"),
    ]
    assert messages[0].header.timestamp_s == 101.0
    assert messages[3].content == pack_transform(np.eye(4) * 2.0)
    assert messages[2].content == b""


def test_wrong_crc_is_skipped_and_the_next_message_still_read(caplog):
    bad = bytearray(_transform("StylusToTracker", 1.0))
    bad[-1] ^= 0x01
    reader = MessageReader(LIMIT)
    messages = reader.feed(bytes(bad) + _transform("ReferenceToTracker", 2.0))
    assert [m.device_name for m in messages] == ["ReferenceToTracker"]
    assert reader.skipped == {"wrong CRC": 1}
    assert "CRC-64 does not match" in caplog.text


def test_unwanted_types_are_skipped_without_being_held():
    reader = MessageReader(LIMIT, wanted_types={"TRANSFORM"})
    image = pack_message("IMAGE", "Video", 1.0, bytes(100_000))
    messages = []
    for start in range(0, len(image), 4096):
        messages += reader.feed(image[start : start + 4096])
        assert reader.buffered_bytes <= HEADER_SIZE
    messages += reader.feed(_transform("StylusToTracker", 1.0))
    assert [m.type for m in messages] == ["TRANSFORM"]
    assert reader.skipped == {"unwanted type": 1}


def test_oversize_body_is_skipped_as_it_passes(caplog):
    reader = MessageReader(LIMIT)
    big = pack_message("TRANSFORM", "Huge", 1.0, bytes(LIMIT + 1))
    messages = _feed_all(reader, _chunks(big + _transform("Small", 1.0), [100, 600, 1100]))
    assert [m.device_name for m in messages] == ["Small"]
    assert reader.skipped == {"oversize body": 1}
    assert "exceeds the 1024-byte limit" in caplog.text


def test_garbage_instead_of_a_header_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="version"):
        MessageReader(LIMIT).feed(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2)


def test_implausible_body_size_is_a_protocol_error():
    header = pack_header("TRANSFORM", "T", 0.0, PLAUSIBLE_BODY_BYTES + 1, 0)
    with pytest.raises(ProtocolError, match="corrupt header"):
        MessageReader(LIMIT).feed(header)


def test_version_2_message_from_pyigtl_is_unwrapped():
    message = pyigtl.TransformMessage(np.diag([2.0, 3.0, 4.0, 1.0]), device_name="Tool")
    message.header_version = 2
    message.metadata = {"TransformStatus": "MISSING", "Note": "text"}
    (received,) = MessageReader(LIMIT).feed(message.pack())
    assert received.header.version == 2
    assert received.content == pack_transform(np.diag([2.0, 3.0, 4.0, 1.0]))
    assert dict(received.metadata) == {"TransformStatus": "MISSING", "Note": "text"}


def test_inconsistent_version_2_body_is_skipped():
    body = (1000).to_bytes(2, "big") + bytes(10) + pack_transform(np.eye(4))
    header = bytearray(pack_header("TRANSFORM", "T", 0.0, len(body), 0))
    header[:2] = b"\x00\x02"
    header[50:58] = crc64(body).to_bytes(8, "big")
    reader = MessageReader(LIMIT)
    assert reader.feed(bytes(header) + body) == []
    assert reader.skipped == {"bad version 2 body": 1}


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=10))
def test_fuzzed_bytes_raise_only_protocol_errors_and_memory_stays_bounded(data, cuts):
    reader = MessageReader(LIMIT)
    with contextlib.suppress(ProtocolError):
        _feed_all(reader, _chunks(data, cuts))


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), min_size=1, max_size=5),
    st.lists(st.integers(0, 3000), max_size=10),
)
def test_corrupted_valid_streams_raise_only_protocol_errors(flips, cuts):
    data = bytearray(b"".join(_stream()))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    reader = MessageReader(LIMIT)
    try:
        messages = _feed_all(reader, _chunks(bytes(data), cuts))
    except ProtocolError:
        return
    assert len(messages) + sum(reader.skipped.values()) <= len(_stream()) + len(flips)
