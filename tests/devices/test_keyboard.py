"""The keyboard tracker: a virtual stylus moved, pushed and tilted by keys and drags (from another
thread), sampled at its rate on the injected clock like a live device."""

import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.acquisition import Acquisition
from devices.clock import FakeClock
from devices.exceptions import ConfigurationError, FrameNotDue
from devices.keyboard import KEY_MAP, STEP_MM, TILT_STEP_RAD, KeyboardTracker
from devices.sources import open_tracker
from devices.tools import BUILTIN_TOOLS
from registration.transforms import make_rigid, rotation_angle_rad

STYLUS = BUILTIN_TOOLS["stylus"]
START = make_rigid(np.eye(3), [10.0, 20.0, 30.0])


def _pointing(tracker: KeyboardTracker) -> np.ndarray:
    shaft = STYLUS.tip_mm - STYLUS.centroid_mm
    return tracker.tracker_from_stylus[:3, :3] @ (shaft / np.linalg.norm(shaft))


def test_frames_are_sampled_at_the_rate_on_the_clock_with_both_tools():
    clock = FakeClock(100.0)
    with KeyboardTracker(START, rate_hz=50.0, clock=clock) as tracker:
        frames = [tracker.read() for _ in range(5)]
    assert [frame.frame_number for frame in frames] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([f.timestamp for f in frames], 100.0 + 0.02 * np.arange(5))
    for frame in frames:
        assert set(frame.poses) == {"stylus", "reference"}
        assert all(pose.valid for pose in frame.poses.values())
        np.testing.assert_array_equal(frame.poses["stylus"].tracker_from_tool, START)
        np.testing.assert_array_equal(frame.poses["reference"].tracker_from_tool, np.eye(4))


@pytest.mark.parametrize(
    ("key", "move"),
    [
        ("Right", [1.0, 0.0, 0.0]),
        ("Left", [-1.0, 0.0, 0.0]),
        ("Up", [0.0, 0.0, 1.0]),
        ("Down", [0.0, 0.0, -1.0]),
        ("Prior", [0.0, -1.0, 0.0]),
        ("Next", [0.0, 1.0, 0.0]),
    ],
)
def test_arrow_and_page_keys_move_the_stylus_one_step(key, move):
    tracker = KeyboardTracker(START, clock=FakeClock())
    tip = tracker.tip_mm
    assert tracker.press(key)
    np.testing.assert_allclose(tracker.tip_mm - tip, STEP_MM * np.array(move), atol=1e-12)
    np.testing.assert_array_equal(tracker.tracker_from_stylus[:3, :3], np.eye(3))


def test_w_and_s_push_and_pull_along_the_stylus():
    tracker = KeyboardTracker(START, clock=FakeClock())
    tip, pointing = tracker.tip_mm, _pointing(tracker)
    for _ in range(3):
        tracker.press("w")
    tracker.press("s")
    np.testing.assert_allclose(tracker.tip_mm - tip, 2.0 * STEP_MM * pointing, atol=1e-12)


@pytest.mark.parametrize("key", ["i", "k", "j", "l", "u", "o"])
def test_tilt_keys_turn_the_stylus_about_its_tip(key):
    tracker = KeyboardTracker(START, clock=FakeClock())
    tip = tracker.tip_mm
    tracker.press(key)
    np.testing.assert_allclose(tracker.tip_mm, tip, atol=1e-9)
    turned = rotation_angle_rad(tracker.tracker_from_stylus[:3, :3])
    assert turned == pytest.approx(TILT_STEP_RAD, abs=1e-12)
    axis = np.array(KEY_MAP[key].tilt_rad) / TILT_STEP_RAD
    np.testing.assert_allclose(
        tracker.tracker_from_stylus[:3, :3] @ axis, axis, atol=1e-12
    )  # the rotation is about the key's axis


def test_unknown_keys_do_nothing_and_reset_goes_back():
    tracker = KeyboardTracker(START, clock=FakeClock())
    assert not tracker.press("q")
    np.testing.assert_array_equal(tracker.tracker_from_stylus, START)
    tracker.press("Up")
    tracker.press("i")
    tracker.reset()
    np.testing.assert_array_equal(tracker.tracker_from_stylus, START)


@given(st.lists(st.sampled_from(sorted(KEY_MAP)), max_size=40))
def test_any_key_sequence_keeps_a_rigid_pose(keys):
    tracker = KeyboardTracker(START, clock=FakeClock())
    for key in keys:
        tracker.press(key)
    rotation = tracker.tracker_from_stylus[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_a_drag_moves_and_a_right_drag_tilts_toward_it():
    tracker = KeyboardTracker(START, clock=FakeClock())
    tip = tracker.tip_mm
    tracker.drag(np.array([3.0, -4.0, 0.0]))
    np.testing.assert_allclose(tracker.tip_mm - tip, [3.0, -4.0, 0.0], atol=1e-12)
    tip, pointing = tracker.tip_mm, _pointing(tracker)  # the built-in stylus points along -z
    tracker.drag(np.array([10.0, 0.0, 0.0]), tilt=True)
    np.testing.assert_allclose(tracker.tip_mm, tip, atol=1e-9)
    turned = _pointing(tracker)
    assert math.acos(turned @ pointing) == pytest.approx(0.1, abs=1e-9)  # 10 mm / 100 mm
    assert turned[0] > 0.0  # toward the drag


def test_moves_from_another_thread_reach_the_acquisition():
    """The window's thread moves the stylus while the acquisition thread reads it: frames up to
    the moment of the key presses show the old pose, every later frame the new one."""
    clock = FakeClock()
    tracker = KeyboardTracker(START, rate_hz=100.0, clock=clock)
    reached, moved = threading.Event(), threading.Event()
    seen = []

    def sink(frame):
        seen.append(frame.poses["stylus"].tracker_from_tool[0, 3])
        if frame.frame_number == 10:
            reached.set()
            assert moved.wait(10.0)

    acquisition = Acquisition(tracker, [sink], clock, duration_s=0.5)
    acquisition.start()
    assert reached.wait(10.0)
    for _ in range(5):
        tracker.press("Right")
    moved.set()
    acquisition.wait()
    assert acquisition.error is None and len(seen) == 51
    assert seen[:11] == [START[0, 3]] * 11
    assert seen[11:] == [START[0, 3] + 5.0] * 40


def test_a_held_tracker_hands_out_no_frame_until_released():
    """While the window draws, the keys pressed meanwhile wait in its queue: a frame then
    would show the stylus still where they would have moved it. A read on a held tracker waits
    for the release (at most its timeout) and says to read again: the sample it was for has
    passed; the next read has the keys taken meanwhile, and the newest sample's number."""
    clock = FakeClock()
    with KeyboardTracker(START, rate_hz=10.0, clock=clock) as tracker:
        tracker.hold()
        with pytest.raises(FrameNotDue, match="waits for its window"):
            tracker.read(timeout=0.0)
        tracker.press("Right")
        clock.advance(1.0)
        tracker.release()
        frame = tracker.read(timeout=0.0)
    assert frame.poses["stylus"].tracker_from_tool[0, 3] == START[0, 3] + STEP_MM
    assert frame.frame_number == 10 and frame.timestamp == pytest.approx(1.0)


def test_a_read_waiting_on_a_held_tracker_ends_once_it_is_released():
    tracker = KeyboardTracker(START, clock=FakeClock())
    tracker.start()
    tracker.hold()
    said = []
    reader = threading.Thread(target=lambda: said.append(_read_or_not_due(tracker)))
    reader.start()
    for _ in range(3):
        tracker.press("Up")
    tracker.release()
    reader.join(timeout=60.0)  # bounds a hang only: the release ends the wait at once
    frame = tracker.read()
    tracker.stop()
    assert not reader.is_alive()
    np.testing.assert_allclose(
        frame.poses["stylus"].tracker_from_tool[:3, 3], START[:3, 3] + [0.0, 0.0, 3.0 * STEP_MM]
    )


def _read_or_not_due(tracker: KeyboardTracker) -> str:
    try:
        tracker.read()
    except FrameNotDue:
        return "not due"
    return "read"


def test_the_keyboard_spec_opens_it():
    tracker = open_tracker("keyboard", clock=FakeClock())
    assert isinstance(tracker, KeyboardTracker) and tracker.tools == ("stylus", "reference")
    with pytest.raises(ConfigurationError, match="takes no argument"):
        open_tracker("keyboard:fast")


def test_a_stylus_without_a_tip_is_refused():
    with pytest.raises(ConfigurationError, match="needs a tip"):
        KeyboardTracker(tracker_from_stylus=START, stylus=BUILTIN_TOOLS["reference"])
