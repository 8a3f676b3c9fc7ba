"""The navigation loop: every frame recorded and navigated, the newest state in a slot, extra
sinks after the navigator, the watchdog (missing tools, stale data, an unseen reference) and clean
ends (source ended, duration, failure, window closed, Ctrl-C) with the recording complete.

Time is a FakeClock: the tracker below advances it by one period per frame. Waiting for the
acquisition thread uses threading events, and nothing asserts a wall-clock time.
"""

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import FakeClock
from devices.exceptions import (
    ConfigurationError,
    FrameNotDue,
    RecordingError,
    StreamEnded,
    TrackerDisconnected,
)
from devices.frame import PoseStatus
from devices.sequence_file import read_sequence
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.session import NavigationSession, SessionEnd, SessionSettings
from registration.transforms import make_rigid

PERIOD_S = 0.02
TIP = ToolTip(np.array([0.0, 0.0, -100.0]), np.array([0.0, 0.0, -1.0]))
PLAN = NavigationPlan(("target",), np.array([[0.0, 0.0, -100.0]]))
REFERENCE = make_rigid(np.eye(3), [0.0, 0.0, -1000.0])


def stylus_at(k: int) -> np.ndarray:
    """The stylus pose of frame k: 1 mm further along x per frame."""
    return make_rigid(np.eye(3), [float(k), 0.0, -900.0])


class ScriptedTracker(TrackerDevice):
    """``count`` frames, each read taking one period of the fake clock (plus ``delays_s[k]``),
    stamped in its own time base from 100 s. ``missing`` lists the frames without the stylus;
    ``reference=False`` never shows the reference; ``fail_at`` raises a disconnection there;
    ``hold_at`` stops delivering (a stalled device) until ``release`` is set; ``stamps_s[k]``
    shifts frame k's timestamp (a frame older than its place in the stream)."""

    def __init__(
        self,
        clock,
        count=20,
        delays_s=None,
        missing=(),
        reference=True,
        fail_at=None,
        hold_at=None,
        tools=("stylus", "reference"),
        stamps_s=None,
    ):
        super().__init__(tools, clock=clock)
        self.count, self.delays_s, self.stamps_s = count, delays_s or {}, stamps_s or {}
        self.missing, self.reference, self.fail_at = set(missing), reference, fail_at
        self.hold_at, self.held, self.release = hold_at, threading.Event(), threading.Event()

    def _open(self):
        self.k = 0

    def _read_raw(self, timeout_s):
        k = self.k
        if k == self.hold_at and not self.release.is_set():
            self.held.set()
            self.release.wait(timeout_s)
            raise FrameNotDue("held")
        if k == self.fail_at:
            raise TrackerDisconnected("the scripted tracker was unplugged")
        if k >= self.count:
            raise StreamEnded("end of the script")
        self.k += 1
        self.clock.advance(PERIOD_S + self.delays_s.get(k, 0.0))
        poses = {}
        if k not in self.missing:
            poses["stylus"] = RawPose(stylus_at(k), PoseStatus.OK)
        if self.reference:
            poses["reference"] = RawPose(REFERENCE, PoseStatus.OK)
        stamp = 100.0 + k * PERIOD_S + self.stamps_s.get(k, 0.0)
        return RawFrame(k, stamp, poses, filtered_time_s=stamp)  # a source that knows its times

    def _close(self):
        pass


DEFAULTS = SessionSettings()


def _session(tmp_path, tracker, sinks=(), settings=DEFAULTS, **navigator_names):
    navigator = Navigator(PLAN, np.eye(4), TIP, **navigator_names)
    return NavigationSession(
        tracker, navigator, tmp_path / "run.igs.mha", sinks, tracker.clock, settings
    )


@dataclass
class Collector:
    """A state sink that keeps what it is given."""

    calls: list

    def __call__(self, frame, state):
        self.calls.append((frame, state))


def test_every_frame_is_recorded_navigated_and_given_to_the_sinks_in_order(tmp_path):
    clock = FakeClock(5.0)
    sink = Collector([])
    session = _session(tmp_path, ScriptedTracker(clock, count=30), [sink])
    summary = session.run()
    assert summary.end is SessionEnd.SOURCE_ENDED and summary.error is None
    assert summary.frames_recorded == 30 and summary.path == tmp_path / "run.igs.mha"
    recording = read_sequence(summary.path)
    assert len(recording) == 30
    np.testing.assert_array_equal(recording.frame_numbers, np.arange(30))
    np.testing.assert_allclose(
        recording.tracker_from_tool[:, recording.tools.index("stylus")],
        [stylus_at(k) for k in range(30)],
        atol=1e-4,
    )
    assert [frame.frame_number for frame, _ in sink.calls] == list(range(30))
    for k, (frame, state) in enumerate(sink.calls):
        assert state.frame_number == frame.frame_number == k
        # the tip 100 mm below the stylus origin, in the reference frame (identity registration)
        np.testing.assert_allclose(state.tip_mm, [k, 0.0, 0.0], atol=1e-9)
    assert session.latest_state() is sink.calls[-1][1]  # the newest state, nothing queued
    assert summary.alerts_seen == {} and summary.tools_never_seen == ()


def test_latency_is_the_delay_beyond_the_first_frame_on_the_session_clock(tmp_path):
    """The source stamps its own time (from 100 s); frame 7 arrives 40 ms late."""
    clock = FakeClock(5.0)
    sink = Collector([])
    session = _session(tmp_path, ScriptedTracker(clock, count=10, delays_s={7: 0.04}), [sink])
    session.run()
    latencies = [state.latency_s for _, state in sink.calls]
    np.testing.assert_allclose(latencies[:7], 0.0, atol=1e-9)
    np.testing.assert_allclose(latencies[7:], 0.04, atol=1e-9)  # the clock stays 40 ms behind
    assert session.time_offset_s == pytest.approx(5.0 + PERIOD_S - 100.0)


def test_a_first_frame_that_came_late_does_not_make_the_next_ones_look_early(tmp_path):
    """The first frame arrives 0.5 s after its timestamp (a device starting up, a first call
    compiling), the next ones on time: their latency is 0, not -0.5 s."""
    clock = FakeClock(5.0)
    sink = Collector([])
    session = _session(tmp_path, ScriptedTracker(clock, count=10, stamps_s={0: -0.5}), [sink])
    session.run()
    latencies = [state.latency_s for _, state in sink.calls]
    np.testing.assert_allclose(latencies, 0.0, atol=1e-9)
    assert session.time_offset_s == pytest.approx(5.0 + 2 * PERIOD_S - (100.0 + PERIOD_S))


def test_a_missing_stylus_is_shown_missing_never_at_its_last_pose(tmp_path):
    clock = FakeClock()
    sink = Collector([])
    session = _session(tmp_path, ScriptedTracker(clock, count=12, missing=(8, 9, 10, 11)), [sink])
    summary = session.run()
    tracked = [state.tracked for _, state in sink.calls]
    assert tracked == [True] * 8 + [False] * 4
    last = session.latest_state()
    assert last.frame_number == 11 and not last.tracked and np.all(np.isnan(last.tip_mm))
    assert last.tools["stylus"].status is PoseStatus.MISSING
    assert summary.alerts_seen == {"stylus missing": 4}
    assert read_sequence(summary.path).statuses[8, 0] is PoseStatus.MISSING


def test_the_watchdog_flags_data_older_than_the_tolerance(tmp_path):
    clock = FakeClock()
    tracker = ScriptedTracker(clock, count=10, hold_at=5)
    session = _session(tmp_path, tracker, settings=SessionSettings(stale_after_s=0.25))
    session.start()
    try:
        assert tracker.held.wait(10.0)
        fresh = session.latest_state()
        assert fresh.frame_number == 4 and fresh.alerts == ()
        clock.advance(0.3)
        stale = session.latest_state()
        assert stale.frame_number == 4
        assert stale.alerts == ("no tracking data for more than 0.25 s",)
        tracker.release.set()
        assert session.wait(10.0)
    finally:
        session.stop()
    summary = session.summary()
    assert summary.alerts_seen == {"no tracking data for more than 0.25 s": 1}
    assert summary.frames_recorded == 10


def test_a_reference_never_seen_is_flagged_during_the_run_and_in_the_summary(tmp_path):
    clock = FakeClock()
    sink = Collector([])
    tracker = ScriptedTracker(clock, count=150, reference=False)
    session = _session(tmp_path, tracker, [sink], SessionSettings(reference_grace_s=2.0))
    summary = session.run()
    assert summary.tools_never_seen == ("reference",)
    assert summary.alerts_seen["reference missing"] == 150
    assert not any(state.tracked for _, state in sink.calls)
    watchdog = session.latest_state().alerts[-1]  # 3 s of fake time have passed
    assert watchdog.startswith("the reference tool 'reference' has not been seen since the start")


def test_a_tracker_failure_ends_the_session_and_keeps_the_recording(tmp_path):
    clock = FakeClock()
    session = _session(tmp_path, ScriptedTracker(clock, count=50, fail_at=17))
    summary = session.run()
    assert summary.end is SessionEnd.FAILED
    assert "unplugged" in summary.error
    assert summary.frames_recorded == 17 and len(read_sequence(summary.path)) == 17


def test_a_failing_sink_ends_the_session_and_keeps_the_recording(tmp_path):
    def broken(frame, state):
        if frame.frame_number == 3:
            raise ValueError("the exercise logic broke")

    session = _session(tmp_path, ScriptedTracker(FakeClock(), count=10), [broken])
    summary = session.run()
    assert summary.end is SessionEnd.FAILED and "exercise logic broke" in summary.error
    assert len(read_sequence(summary.path)) == summary.frames_recorded == 4


def test_a_view_draws_the_newest_state_at_its_own_rate_and_closing_it_ends(tmp_path):
    """The view draws when it wants; it sees the newest state (frame numbers only go forward)
    and its close ends the session with the recording complete."""
    clock = FakeClock()
    tracker = ScriptedTracker(clock, count=100, hold_at=60)
    drawn = []

    class Closed:
        value = "closed"

    def view(latest, stop_when):
        assert tracker.held.wait(10.0)
        for _ in range(3):
            drawn.append(latest())
        tracker.release.set()
        return Closed()

    summary = _session(tmp_path, tracker).run(view)
    assert [state.frame_number for state in drawn] == [59, 59, 59]
    assert summary.end is SessionEnd.WINDOW_CLOSED
    assert len(read_sequence(summary.path)) == summary.frames_recorded >= 60


def test_ctrl_c_ends_cleanly_with_the_recording_complete(tmp_path):
    tracker = ScriptedTracker(FakeClock(), count=100, hold_at=30)

    def view(latest, stop_when):
        assert tracker.held.wait(10.0)
        tracker.release.set()
        raise KeyboardInterrupt

    summary = _session(tmp_path, tracker).run(view)
    assert summary.end is SessionEnd.INTERRUPTED
    assert summary.frames_recorded >= 30
    assert len(read_sequence(summary.path)) == summary.frames_recorded


def test_the_duration_ends_the_session(tmp_path):
    tracker = ScriptedTracker(FakeClock(), count=1000)
    summary = _session(tmp_path, tracker, settings=SessionSettings(duration_s=0.5)).run()
    assert summary.end is SessionEnd.DURATION
    assert summary.frames_recorded == 26  # frames 0..25 are within 0.5 s of the first


def test_until_ends_the_session(tmp_path):
    tracker = ScriptedTracker(FakeClock(), count=10, hold_at=5)
    summary = _session(tmp_path, tracker).run(until=tracker.held.is_set)
    assert summary.end is SessionEnd.STOPPED and summary.frames_recorded == 5


def test_a_condition_the_frames_make_true_ends_the_session_on_that_frame(tmp_path):
    """``until`` is asked after each frame on the acquisition thread: the session ends on the
    frame that made it true, although the fake clock lets the tracker run far ahead of the
    main thread's polls."""
    tracker = ScriptedTracker(FakeClock(), count=100_000)
    seen = []
    session = _session(tmp_path, tracker, sinks=[lambda frame, state: seen.append(frame)])
    summary = session.run(until=lambda: len(seen) >= 7)
    assert summary.end is SessionEnd.STOPPED
    assert summary.frames_recorded == len(seen) == 7
    assert len(read_sequence(summary.path)) == 7


def test_tool_names_are_checked_before_anything_starts(tmp_path):
    tracker = ScriptedTracker(FakeClock(), tools=("Pointer", "Reference"))
    with pytest.raises(ConfigurationError, match=r"no tool 'stylus' in .*'Pointer', 'Reference'"):
        _session(tmp_path, tracker)
    assert not (tmp_path / "run.igs.mha").exists()
    session = _session(tmp_path, tracker, stylus="pointer")  # as the recording writes it
    assert session.navigator.stylus == "pointer"


def test_an_existing_recording_is_not_overwritten(tmp_path):
    (tmp_path / "run.igs.mha").write_text("an earlier run")
    with pytest.raises(RecordingError, match="exists"):
        _session(tmp_path, ScriptedTracker(FakeClock()))
    assert (tmp_path / "run.igs.mha").read_text() == "an earlier run"


def test_settings_are_checked():
    with pytest.raises(Exception, match="stale_after_s must be > 0 s"):
        SessionSettings(stale_after_s=0.0)
    with pytest.raises(Exception, match="duration must be > 0 s"):
        SessionSettings(duration_s=-1.0)
