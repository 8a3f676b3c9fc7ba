"""Hypothesis strategies for BX/TX replies shared by the parser tests."""

import math

from hypothesis import strategies as st

from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState


@st.composite
def unit_quaternions(draw) -> tuple[float, float, float, float]:
    """Unit quaternions with q0 >= 0, as float32-representable values."""
    raw = draw(st.lists(st.floats(-1.0, 1.0, width=32), min_size=4, max_size=4))
    norm = math.sqrt(sum(value * value for value in raw))
    if norm < 0.1:
        return (1.0, 0.0, 0.0, 0.0)
    sign = 1.0 if raw[0] >= 0 else -1.0
    return tuple(sign * value / norm for value in raw)


@st.composite
def handle_readings(draw, handle: int) -> HandleReading:
    """One handle in any of the three states, with a frame number and port status."""
    state = draw(st.sampled_from(list(HandleState)))
    if state is HandleState.DISABLED:
        return HandleReading(handle, state, 0, 0)
    port_status = draw(st.integers(0, 0xFF))
    frame_number = draw(st.integers(0, 2**32 - 1))
    if state is HandleState.MISSING:
        return HandleReading(handle, state, port_status, frame_number)
    translation = tuple(draw(st.lists(st.floats(-9000, 9000), min_size=3, max_size=3)))
    error = draw(st.floats(0, 9.0))
    quaternion = draw(unit_quaternions())
    return HandleReading(handle, state, port_status, frame_number, quaternion, translation, error)


@st.composite
def tracking_replies(draw, max_handles: int = 6) -> TrackingReply:
    """A whole reply with distinct handles 0x01..0xFF."""
    handles = draw(st.lists(st.integers(1, 0xFF), max_size=max_handles, unique=True))
    readings = tuple(draw(handle_readings(handle)) for handle in handles)
    return TrackingReply(readings, draw(st.integers(0, 0xFFFF)))


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """``data`` with bytes flipped, inserted, deleted or cut off."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(1, 8))]
        else:
            del data[position:]
    return bytes(data)
