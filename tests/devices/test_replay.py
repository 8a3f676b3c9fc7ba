"""ReplayTracker: frames as recorded, timing by original timestamps and speed, looping."""

import time

import numpy as np
import pytest

from devices.exceptions import ConfigurationError, StreamEnded, TrackerError, TrackerTimeout
from devices.frame import Frame, PoseStatus, ToolPose
from devices.replay import ReplayTracker
from devices.sequence_file import TrackingSequence, write_sequence
from registration.transforms import make_rigid
from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA / "tracking"


def evenly_timed(count, interval_s, start_s=10.0):
    """``count`` frames of one stylus moving 1 mm per frame, every other frame out of volume."""
    frames = []
    for index in range(count):
        if index % 2:
            pose = ToolPose.missing("stylus", PoseStatus.OUT_OF_VOLUME)
        else:
            pose = ToolPose("stylus", make_rigid(np.eye(3), [index, 0.0, 0.0]), PoseStatus.OK, 0.1)
        frames.append(Frame(start_s + index * interval_s, 100 + index, {"stylus": pose}))
    return TrackingSequence.from_frames(frames, ["stylus"])


def play(tracker):
    with tracker:
        return list(tracker)


def test_as_fast_as_possible_gives_every_frame_as_recorded():
    sequence = evenly_timed(6, 0.5)
    frames = play(ReplayTracker(sequence, speed=None))
    assert [f.frame_number for f in frames] == list(range(100, 106))
    assert [f.timestamp for f in frames] == sequence.timestamps_s.tolist()
    assert frames[2].poses["stylus"].tracker_from_tool[0, 3] == 2.0
    assert frames[3].poses["stylus"].status is PoseStatus.OUT_OF_VOLUME
    assert np.all(np.isnan(frames[3].poses["stylus"].tracker_from_tool))


def test_replays_a_file_and_reports_invalid_frames_missing(tmp_path):
    path = tmp_path / "r.igs.mha"
    write_sequence(path, [Frame(0.0, 0, {})], ["stylus"])
    (frame,) = play(ReplayTracker(path, speed=None))
    assert frame.poses["stylus"].status is PoseStatus.MISSING


def test_replays_a_real_plus_recording():
    frames = play(
        ReplayTracker(DATA / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha", speed=None)
    )
    assert len(frames) == 801
    assert frames[0].frame_number == 332203
    assert set(frames[0].poses) == {"probe", "reference", "stylus"}


def test_ends_with_stream_ended():
    tracker = ReplayTracker(evenly_timed(2, 0.1), speed=None)
    with tracker:
        tracker.read()
        tracker.read()
        with pytest.raises(StreamEnded):
            tracker.read()


def test_looping_keeps_time_and_frame_numbers_increasing():
    tracker = ReplayTracker(evenly_timed(3, 0.5), speed=None, loop=True)
    with tracker:
        frames = [tracker.read() for _ in range(7)]
    # One loop lasts the span (1.0 s) plus one interval (0.5 s), and 3 frame numbers.
    assert [f.timestamp for f in frames] == [10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0]
    assert [f.frame_number for f in frames] == [100, 101, 102, 103, 104, 105, 106]
    np.testing.assert_array_equal(
        frames[3].poses["stylus"].tracker_from_tool, frames[0].poses["stylus"].tracker_from_tool
    )


def test_real_time_follows_the_original_timestamps():
    begin = time.monotonic()
    frames = play(ReplayTracker(evenly_timed(11, 0.02), speed=1.0))
    elapsed = time.monotonic() - begin
    assert len(frames) == 11
    # Never early; the upper bound only says it is not grossly late (loaded CI machines).
    assert 0.2 <= elapsed < 2.0


def test_speed_factor_scales_the_timing():
    begin = time.monotonic()
    play(ReplayTracker(evenly_timed(11, 0.08), speed=4.0))
    elapsed = time.monotonic() - begin
    # 0.8 s of recording at 4x: 0.2 s (it would be 0.8 s at 1x).
    assert 0.2 <= elapsed < 0.6


def test_read_times_out_before_a_late_frame():
    tracker = ReplayTracker(evenly_timed(2, 2.0), speed=1.0)
    with tracker:
        tracker.read()
        begin = time.monotonic()
        with pytest.raises(TrackerTimeout):
            tracker.read(timeout=0.05)
        # The next frame is 2 s away: returning well before it shows the timeout acted.
        assert time.monotonic() - begin < 1.0


def test_restart_rewinds():
    tracker = ReplayTracker(evenly_timed(3, 0.1), speed=None)
    assert [f.frame_number for f in play(tracker)] == [f.frame_number for f in play(tracker)]


def test_reading_before_start_is_an_error():
    with pytest.raises(TrackerError, match="start"):
        ReplayTracker(evenly_timed(2, 0.1)).read()


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan")])
def test_rejects_a_speed_that_is_not_positive(speed):
    with pytest.raises(ConfigurationError, match="speed"):
        ReplayTracker(evenly_timed(2, 0.1), speed=speed)


def test_rejects_looping_an_empty_recording():
    with pytest.raises(ConfigurationError, match="no frames"):
        ReplayTracker(evenly_timed(0, 0.1), loop=True)


def test_replayed_poses_cannot_be_changed_by_a_reader():
    with ReplayTracker(evenly_timed(1, 0.1), speed=None) as tracker:
        frame = tracker.read()
    with pytest.raises(TypeError):
        frame.poses["stylus"] = None
    with pytest.raises(ValueError, match="read-only"):
        frame.poses["stylus"].tracker_from_tool[0, 0] = 2.0
