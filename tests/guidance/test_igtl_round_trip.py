"""A recording replayed, streamed out by the OpenIGTLink sender and read back in through the
``igtl:`` tracker: the same poses, to float32 precision, with their times."""

import numpy as np
import pytest

from devices.exceptions import FrameNotDue
from devices.igtl.settings import ServerSettings
from devices.igtl.tracker import IgtlTracker
from devices.replay import ReplayTracker
from devices.sequence_file import read_sequence, tool_to_plus
from guidance.cli import main
from guidance.igtlink import IgtlSender
from tests.devices.igtl.peers import wait_until

EPOCH = 1.7e9


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "demo.igs.mha"
    assert main(["record", "--tracker", "sim:demo", "--out", str(path), "--duration", "1"]) == 0
    return read_sequence(path)


def test_a_replay_streamed_out_and_read_back_through_igtl_is_the_recording(recording):
    """Frame by frame: every recorded pose comes back as its float32 value, with its time."""
    names = {tool: f"{tool_to_plus(tool)}ToTracker" for tool in recording.tools}
    with IgtlSender(ServerSettings(port=0), recording.tools, epoch_offset_s=EPOCH) as sender:
        tracker = IgtlTracker("127.0.0.1", sender.address[1], names)
        with tracker, ReplayTracker(recording, speed=None) as replay:
            wait_until(lambda: sender.server.client_count == 1, "the tracker to connect")
            compared = 0
            for frame in replay:
                sender(frame)
                if not any(pose.valid for pose in frame.poses.values()):
                    continue  # nothing to send
                received = wait_until(lambda: _next_tracked(tracker), "the frame back")
                assert received.unfiltered_timestamp == pytest.approx(
                    frame.timestamp + EPOCH, rel=0, abs=1e-6
                )
                for tool, pose in frame.poses.items():
                    back = received.poses[tool]
                    assert back.valid == pose.valid
                    if pose.valid:
                        float32 = pose.tracker_from_tool.astype(np.float32).astype(np.float64)
                        np.testing.assert_array_equal(back.tracker_from_tool[:3], float32[:3])
                compared += 1
    assert compared == len(recording) > 50


def _next_tracked(tracker: IgtlTracker):
    """The next frame with a tool in it (not a watchdog frame), or None for now."""
    try:
        frame = tracker.read(timeout=0.05)
    except FrameNotDue:
        return None
    return frame if any(pose.valid for pose in frame.poses.values()) else None
