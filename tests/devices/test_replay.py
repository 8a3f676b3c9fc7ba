"""ReplayTracker: frames as recorded, timing by original timestamps and speed, looping."""

import logging

import numpy as np
import pytest

from devices.clock import FakeClock
from devices.exceptions import ConfigurationError, StreamEnded, TrackerError, TrackerTimeout
from devices.frame import Frame, PoseStatus, ToolPose
from devices.replay import FALLBACK_FRAME_INTERVAL_S, MAX_PAUSE_S, ReplayTracker
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


def played_at(tracker, clock):
    """(clock time, frame) of every frame of ``tracker``, read as fast as it allows."""
    with tracker:
        return [(clock.now(), frame) for frame in tracker]


def test_real_time_follows_the_original_timestamps():
    clock = FakeClock(50.0)
    played = played_at(ReplayTracker(evenly_timed(11, 0.25), speed=1.0, clock=clock), clock)
    assert [at for at, _ in played] == [50.0 + 0.25 * k for k in range(11)]
    # The frames carry the recorded times, not the clock's.
    assert [frame.timestamp for _, frame in played] == [10.0 + 0.25 * k for k in range(11)]


def test_speed_factor_scales_the_timing():
    clock = FakeClock()
    played = played_at(ReplayTracker(evenly_timed(5, 0.5), speed=4.0, clock=clock), clock)
    assert [at for at, _ in played] == [0.0, 0.125, 0.25, 0.375, 0.5]


def test_as_fast_as_possible_never_waits():
    clock = FakeClock()
    played = played_at(ReplayTracker(evenly_timed(5, 0.5), speed=None, clock=clock), clock)
    assert [at for at, _ in played] == [0.0] * 5


def test_read_times_out_before_a_late_frame_and_delivers_it_later():
    clock = FakeClock()
    tracker = ReplayTracker(evenly_timed(2, 2.0), speed=1.0, clock=clock)
    with tracker:
        tracker.read()
        with pytest.raises(TrackerTimeout):
            tracker.read(timeout=0.5)
        assert clock.now() == 0.5  # it waited the timeout, not the 2 s
        frame = tracker.read()
        assert clock.now() == 2.0
        assert frame.frame_number == 101  # the late frame was not skipped


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


def timed(timestamps_s):
    """A one-tool recording with these timestamps (frame numbers 0, 1, ...)."""
    pose = ToolPose("stylus", make_rigid(np.eye(3), [0.0, 0.0, 0.0]), PoseStatus.OK)
    frames = [Frame(t, k, {"stylus": pose}) for k, t in enumerate(timestamps_s)]
    return TrackingSequence.from_frames(frames, ["stylus"])


def test_a_huge_jump_in_time_is_waited_only_up_to_the_pause_cap(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, "devices.replay"):
        tracker = ReplayTracker(timed([0.0, 1e8, 1e8 + 0.5]), speed=1.0, clock=clock)
    assert "1 pauses longer than 2 s (the longest, 1e+08 s, before frame 1)" in caplog.text
    played = played_at(tracker, clock)
    assert [at for at, _ in played] == [0.0, MAX_PAUSE_S, MAX_PAUSE_S + 0.5]
    assert [frame.timestamp for _, frame in played] == [0.0, 1e8, 1e8 + 0.5]


def test_a_timestamp_of_1e12_neither_overflows_nor_stalls():
    # time.sleep(1e12) raises OverflowError: the cap keeps every wait short.
    clock = FakeClock()
    played = played_at(ReplayTracker(timed([1.0, 1e12]), speed=1.0, clock=clock), clock)
    assert [at for at, _ in played] == [0.0, MAX_PAUSE_S]


def test_timestamps_running_backwards_are_reported_and_not_waited(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, "devices.replay"):
        tracker = ReplayTracker(timed([0.0, 1.0, 0.5, 1.5]), speed=1.0, clock=clock)
    assert "timestamps run backwards 1 times (first at frame 2: 0.500000 s after 1.000000 s)" in (
        caplog.text
    )
    assert [at for at, _ in played_at(tracker, clock)] == [0.0, 1.0, 1.0, 2.0]


def test_a_regular_recording_raises_no_timing_warning(caplog):
    with caplog.at_level(logging.WARNING, "devices.replay"):
        ReplayTracker(evenly_timed(20, 0.25))
    assert caplog.text == ""


@pytest.mark.parametrize("timestamps", [[4.0], [4.0, 4.0, 4.0]])
def test_looping_a_recording_without_a_frame_rate_does_not_spin(timestamps):
    clock = FakeClock()
    tracker = ReplayTracker(timed(timestamps), speed=1.0, loop=True, clock=clock)
    frames = []
    with tracker:
        for _ in range(3 * len(timestamps)):
            frame = tracker.read()
            frames.append((clock.now(), frame))
    # Each lap lasts one frame interval of a 60 Hz tracker: time moves, frames come paced.
    laps = [at for at, _ in frames[:: len(timestamps)]]
    np.testing.assert_allclose(np.diff(laps), FALLBACK_FRAME_INTERVAL_S)
    stamps = [frame.timestamp for _, frame in frames[:: len(timestamps)]]
    np.testing.assert_allclose(np.diff(stamps), FALLBACK_FRAME_INTERVAL_S)
    numbers = [frame.frame_number for _, frame in frames]
    assert numbers == sorted(numbers)
