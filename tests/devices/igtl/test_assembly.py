"""TRANSFORM messages into frames: complete frames, a tool that comes again, a tool that never
comes, the watchdog, PLUS's status metadata, bad matrices, and header times on the local clock."""

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.exceptions import ConfigurationError
from devices.frame import PoseStatus
from devices.igtl.assembly import OFFSET_WINDOW, FrameAssembler
from devices.igtl.messages import pack_message, pack_transform
from devices.igtl.settings import ClientSettings
from devices.igtl.stream import Message, MessageReader
from registration.transforms import make_rigid, rotation_from_vector

TOOLS = {"stylus": "StylusToTracker", "reference": "ReferenceToTracker"}
SETTINGS = ClientSettings(batch_wait_s=0.002, missing_after_s=0.2)


def _pose(seed: float) -> np.ndarray:
    return make_rigid(rotation_from_vector(np.array([seed, 0.2, -0.1])), np.array([seed, 2, 3.0]))


def _message(name: str, header_s: float, matrix=None, message_type="TRANSFORM") -> Message:
    matrix = _pose(1.0) if matrix is None else matrix
    data = pack_message(message_type, name, header_s, pack_transform(matrix))
    (message,) = MessageReader(1024).feed(data)
    return message


def _v2_message(name: str, status: str) -> Message:
    """A version 2 TRANSFORM with PLUS's status metadata, as pyigtl packs it."""
    message = pyigtl.TransformMessage(_pose(1.0), 5.0, name)
    message.header_version = 2
    message.metadata = {"TransformStatus": status}
    (received,) = MessageReader(1024).feed(message.pack())
    return received


def test_a_frame_is_complete_when_every_tool_has_come():
    assembler = FrameAssembler(TOOLS, SETTINGS)
    assert assembler.add(_message("StylusToTracker", 100.0, _pose(1.0)), 10.0) == []
    (frame,) = assembler.add(_message("ReferenceToTracker", 100.0, _pose(2.0)), 10.001)
    assert frame.frame_number == 0
    assert frame.device_time_s == 100.0
    assert frame.filtered_time_s == pytest.approx(10.0)  # header + smallest arrival offset
    assert {tool: pose.status for tool, pose in frame.poses.items()} == {
        "stylus": PoseStatus.OK,
        "reference": PoseStatus.OK,
    }
    np.testing.assert_allclose(frame.poses["reference"].tracker_from_tool, _pose(2.0), atol=1e-4)


def test_a_tool_that_comes_again_ends_the_frame_the_other_is_missing():
    assembler = FrameAssembler(TOOLS, SETTINGS)
    assembler.add(_message("StylusToTracker", 100.0), 10.0)
    (frame,) = assembler.add(_message("StylusToTracker", 100.02), 10.02)
    assert frame.poses["stylus"].status is PoseStatus.OK and "reference" not in frame.poses
    (second,) = assembler.add(_message("ReferenceToTracker", 100.02), 10.021)
    assert set(second.poses) == {"stylus", "reference"} and second.device_time_s == pytest.approx(
        100.02
    )


def test_a_tool_that_does_not_come_is_missing_after_the_batch_wait():
    assembler = FrameAssembler(TOOLS, SETTINGS)
    assembler.add(_message("StylusToTracker", 100.0), 10.0)
    assert assembler.due(10.0015) is None
    assert assembler.next_due_s() == pytest.approx(10.002)
    frame = assembler.due(10.002)
    assert set(frame.poses) == {"stylus"}
    assert assembler.due(10.0021) is None


def test_the_watchdog_reports_every_tool_missing_while_the_server_is_silent():
    assembler = FrameAssembler(TOOLS, ClientSettings(missing_after_s=0.25))
    assembler.reset(now_s=8.0)
    assert assembler.due(8.24) is None
    frames = [assembler.due(t) for t in (8.25, 8.375, 8.5, 8.625)]
    assert [f is not None for f in frames] == [True, False, True, False]
    assert frames[0].poses == {} and frames[0].device_time_s is None
    assert frames[0].filtered_time_s == 8.25
    assembler.add(_message("StylusToTracker", 100.0), 8.625)
    assembler.add(_message("ReferenceToTracker", 100.0), 8.625)
    assert assembler.due(8.75) is None  # messages flow again


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("OK", PoseStatus.OK),
        ("MISSING", PoseStatus.MISSING),
        ("OUT_OF_VIEW", PoseStatus.MISSING),
        ("OUT_OF_VOLUME", PoseStatus.OUT_OF_VOLUME),
        ("INVALID", PoseStatus.MISSING),
    ],
)
def test_plus_transform_status_metadata_is_honoured(word, status):
    assembler = FrameAssembler({"stylus": "StylusToTracker"}, SETTINGS)
    (frame,) = assembler.add(_v2_message("StylusToTracker", word), 10.0)
    assert frame.poses["stylus"].status is status
    assert (frame.poses["stylus"].tracker_from_tool is None) == (status is not PoseStatus.OK)


def test_a_matrix_that_is_not_rigid_makes_the_tool_missing(caplog):
    assembler = FrameAssembler({"stylus": "StylusToTracker"}, SETTINGS)
    (frame,) = assembler.add(_message("StylusToTracker", 1.0, np.diag([2.0, 1, 1, 1])), 10.0)
    assert frame.poses["stylus"].status is PoseStatus.MISSING
    assert "not a tracker pose" in caplog.text


def test_other_messages_are_ignored():
    assembler = FrameAssembler(TOOLS, SETTINGS)
    assembler.reset(now_s=10.0)
    assert assembler.add(_message("NeedleToTracker", 1.0), 10.0) == []
    assert assembler.add(_message("StylusToTracker", 1.0, message_type="POSITION"), 10.0) == []
    assert assembler.due(10.1) is None  # nothing of ours came: no frame started, no watchdog


def test_names_match_case_insensitively_and_two_tools_cannot_share_one():
    assembler = FrameAssembler({"stylus": "stylustotracker"}, SETTINGS)
    assert len(assembler.add(_message("StylusToTracker", 1.0), 10.0)) == 1
    with pytest.raises(ConfigurationError, match="same OpenIGTLink message"):
        FrameAssembler({"a": "X", "b": "x"}, SETTINGS)


def test_header_time_zero_means_arrival_time():
    assembler = FrameAssembler({"stylus": "StylusToTracker"}, SETTINGS)
    (frame,) = assembler.add(_message("StylusToTracker", 0.0), 10.0)
    assert frame.device_time_s is None and frame.filtered_time_s == 10.0


@settings(deadline=None)
@given(
    st.floats(1.0e9, 2.0e9),
    st.floats(-1e6, 1e6),
    st.lists(st.floats(0.0, 0.005), min_size=2, max_size=OFFSET_WINDOW),
)
def test_sample_times_are_header_times_moved_to_the_local_clock(start, clock_offset, delays):
    """Messages every 4 ms, each delayed by 0-5 ms on the way (in order, as TCP delivers
    them): the sample times keep the server's rhythm on the local clock, never later than the
    arrival, never going back, off by the smallest delay seen."""
    assembler = FrameAssembler({"stylus": "StylusToTracker"}, SETTINGS)
    samples, arrivals = [], [-np.inf]
    for index, delay in enumerate(delays):
        header = start + index * 0.004
        arrival = max(arrivals[-1], header + clock_offset + delay)
        arrivals.append(arrival)
        (frame,) = assembler.add(_message("StylusToTracker", header), arrival)
        assert frame.device_time_s == pytest.approx(header, abs=1e-6)
        assert frame.filtered_time_s <= arrival + 1e-6
        samples.append(frame.filtered_time_s)
    assert np.all(np.diff(samples) >= 0.0)
    header = start + 0.004 * (len(delays) - 1)
    smallest = min(a - (start + 0.004 * i) for i, a in enumerate(arrivals[1:]))
    assert samples[-1] == pytest.approx(header + smallest, abs=1e-5)
