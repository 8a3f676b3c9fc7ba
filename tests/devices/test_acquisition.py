"""The one acquisition path: timestamp filtering, the TrackerDevice base, the Acquisition thread.

Time is a FakeClock everywhere: pacing and stamps are asserted exactly, never on a wall clock.
"""

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.acquisition import (
    Acquisition,
    AcquisitionEnd,
    RawFrame,
    RawPose,
    TimestampFilter,
    TrackerDevice,
)
from devices.clock import FakeClock, MonotonicClock, clock_or_monotonic
from devices.exceptions import (
    ConfigurationError,
    FrameNotDue,
    StreamEnded,
    TrackerDisconnected,
    TrackerError,
)
from devices.frame import PoseStatus, ToolPose, carries_pose, match_tool
from registration.transforms import make_rigid

POSE = make_rigid(np.eye(3), [1.0, 2.0, 3.0])
PERIOD_S = 1.0 / 60.0


class LiveDevice(TrackerDevice):
    """A device that sends no time: each read takes one period plus ``jitter_s[k]`` of the
    fake clock (the serial line's delay), and reports frame k with a stylus at POSE."""

    def __init__(self, clock, jitter_s=(), count=None, poses=None):
        super().__init__(("stylus", "reference"), clock=clock)
        self.jitter_s = list(jitter_s)
        self.count = count
        self.poses = poses
        self.opened = self.closed = 0

    def _open(self):
        self.opened += 1
        self.next = 0

    def _read_raw(self, timeout_s):
        if self.count is not None and self.next >= self.count:
            raise StreamEnded("done")
        k = self.next
        self.next += 1
        jitter = self.jitter_s[k] if k < len(self.jitter_s) else 0.0
        self.clock.advance(PERIOD_S + jitter)
        poses = self.poses if self.poses is not None else {"stylus": RawPose(POSE, PoseStatus.OK)}
        return RawFrame(k, None, poses)

    def _close(self):
        self.closed += 1


# -- the clock -----------------------------------------------------------------------------------


def test_fake_clock_sleeps_instantly_and_never_goes_back():
    clock = FakeClock(5.0)
    clock.sleep(0.25)
    clock.sleep(-1.0)
    clock.advance(0.5)
    assert clock.now() == 5.75
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-0.1)


def test_no_clock_means_the_monotonic_one():
    assert isinstance(clock_or_monotonic(None), MonotonicClock)
    fake = FakeClock()
    assert clock_or_monotonic(fake) is fake


# -- the status rule and tool names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "carries"),
    [
        (PoseStatus.OK, True),
        (PoseStatus.PARTIALLY_OUT_OF_VOLUME, True),
        (PoseStatus.MISSING, False),
        (PoseStatus.OUT_OF_VOLUME, False),
        (PoseStatus.DISABLED, False),
    ],
)
def test_which_statuses_carry_a_pose(status, carries):
    assert carries_pose(status) is carries
    assert ToolPose("t", POSE, status).valid is carries


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("Pointer", "pointer"),
        ("pointer", "pointer"),
        ("NeedleTip", "needle_tip"),
        ("STYLUS", "stylus"),
    ],
)
def test_tool_names_match_whatever_their_case(given_name, expected):
    assert match_tool(given_name, ["stylus", "pointer", "needle_tip"]) == expected


def test_an_exact_match_wins_over_a_folded_one():
    assert match_tool("Probe", ["probe", "Probe"]) == "Probe"


def test_an_unknown_tool_names_the_available_ones():
    with pytest.raises(
        ConfigurationError,
        match=r"no tool 'needle' in r\.igs\.mha; its tools are 'stylus', 'pointer'",
    ):
        match_tool("needle", ["stylus", "pointer"], "r.igs.mha")


def test_an_ambiguous_tool_name_is_refused():
    with pytest.raises(ConfigurationError, match="ambiguous"):
        match_tool("NEEDLETIP", ["needle_tip", "needletip"])


# -- timestamp filtering --------------------------------------------------------------------------


def test_filtering_times_on_a_line_changes_nothing():
    line = TimestampFilter()
    for number in range(100, 160, 2):
        assert line(number, 3.0 + 0.01 * number) == pytest.approx(3.0 + 0.01 * number, abs=1e-12)


@settings(deadline=None, max_examples=50)
@given(
    st.floats(30.0, 250.0),  # frame rate, Hz
    st.floats(0.0, 1e5),  # clock offset, s
    st.floats(1e-4, 5e-3),  # arrival jitter, s
    st.integers(0, 2**32),  # seed
)
def test_filtering_removes_most_of_the_arrival_jitter(rate_hz, offset_s, jitter_s, seed):
    rng = np.random.default_rng(seed)
    numbers = np.arange(400)
    truth = offset_s + numbers / rate_hz
    arrivals = truth + rng.uniform(0.0, jitter_s, len(numbers))  # delays are never negative
    fitted = TimestampFilter()
    filtered = np.array([fitted(int(n), float(t)) for n, t in zip(numbers, arrivals, strict=True)])
    # Compare the spread around the true rhythm (a constant delay is the host's time base).
    raw_spread = np.std((arrivals - truth)[40:])
    filtered_spread = np.std((filtered - truth)[40:])
    assert filtered_spread < 0.6 * raw_spread


def test_a_pause_longer_than_the_tolerance_restarts_the_fit():
    fitted = TimestampFilter(max_deviation_s=0.1)
    for number in range(10):
        fitted(number, number / 60.0)
    # The device paused 1 s but its counter did not: the arrival time is the truth now.
    assert fitted(10, 1.0 + 10 / 60.0) == 1.0 + 10 / 60.0
    assert fitted(11, 1.0 + 11 / 60.0) == 1.0 + 11 / 60.0  # two pairs: not yet a fit


def test_a_counter_that_goes_back_or_is_unknown_restarts_the_fit():
    fitted = TimestampFilter()
    for number in range(10):
        fitted(number, number / 60.0)
    assert fitted(3, 7.0) == 7.0
    assert fitted(-1, 8.0) == 8.0


@pytest.mark.parametrize(("window", "deviation"), [(2, 0.1), (20, 0.0), (20, math.nan)])
def test_filter_settings_are_checked(window, deviation):
    with pytest.raises(ConfigurationError):
        TimestampFilter(window, deviation)


# -- the TrackerDevice base ---------------------------------------------------------------------


def test_a_live_device_is_stamped_on_the_clock_and_filtered_by_frame_number():
    clock = FakeClock(1000.0)
    jitter = [0.004 if k % 3 == 0 else 0.0 for k in range(60)]
    with LiveDevice(clock, jitter) as device:
        frames = [device.read() for _ in range(60)]
    arrivals = 1000.0 + np.cumsum(PERIOD_S + np.array(jitter))
    np.testing.assert_allclose([f.unfiltered_timestamp for f in frames], arrivals, atol=1e-9)
    assert [f.frame_number for f in frames] == list(range(60))
    # The arrival times jump by 4 ms every third frame; the filtered times keep a steady step.
    steps = np.diff([f.timestamp for f in frames])[30:]
    assert np.ptp(steps) < 0.2 * 0.004
    assert np.ptp(np.diff(arrivals)[30:]) == pytest.approx(0.004)


def test_every_tool_gets_a_pose_built_in_one_place():
    clock = FakeClock()
    poses = {
        "reference": RawPose(np.zeros((4, 4)), PoseStatus.DISABLED, 0.3),  # a matrix is ignored
        "stylus": RawPose(POSE, PoseStatus.PARTIALLY_OUT_OF_VOLUME, 0.2),
        "needle": RawPose(POSE, PoseStatus.OK),  # not one of the device's tools: left out
    }
    with LiveDevice(clock, poses=poses) as device:
        frame = device.read()
    assert set(frame.poses) == {"stylus", "reference"}
    assert frame.poses["stylus"].valid
    np.testing.assert_array_equal(frame.poses["stylus"].tracker_from_tool, POSE)
    assert frame.poses["stylus"].error_rms == 0.2
    assert frame.poses["reference"].status is PoseStatus.DISABLED
    assert np.isnan(frame.poses["reference"].tracker_from_tool).all()
    with pytest.raises(TypeError):
        frame.poses["stylus"] = None  # sinks share the frame: nobody can change it


def test_an_absent_tool_is_missing_never_held():
    with LiveDevice(FakeClock(), poses={}) as device:
        pose = device.read().poses["stylus"]
    assert pose.status is PoseStatus.MISSING
    assert np.isnan(pose.tracker_from_tool).all()


def test_a_valid_status_without_a_pose_is_an_error():
    device = LiveDevice(FakeClock(), poses={"stylus": RawPose(None, PoseStatus.OK)})
    with device, pytest.raises(TrackerError, match="'stylus' ok without a pose"):
        device.read()


def test_start_read_stop_lifecycle():
    device = LiveDevice(FakeClock(), count=2)
    with pytest.raises(TrackerError, match="not started: call start"):
        device.read()
    device.start()
    with pytest.raises(TrackerError, match="already started"):
        device.start()
    assert [f.frame_number for f in device] == [0, 1]
    device.stop()
    device.stop()
    assert (device.opened, device.closed) == (1, 1)
    with device:
        assert device.read().frame_number == 0  # started again from the beginning


@pytest.mark.parametrize(
    "settings_", [{"rate_hz": 0.0}, {"rate_hz": math.inf}, {"speed": -1.0}, {"max_pause_s": 0.0}]
)
def test_pacing_settings_are_checked(settings_):
    class Nothing(LiveDevice):
        def __init__(self):
            TrackerDevice.__init__(self, ("stylus",), **settings_)

    with pytest.raises(ConfigurationError):
        Nothing()


# -- the Acquisition thread ------------------------------------------------------------------------


class Collect:
    """A sink that keeps what it is given and notes when it is closed."""

    def __init__(self, log, name):
        self.log, self.name, self.frames = log, name, []

    def __call__(self, frame):
        self.log.append((self.name, frame.frame_number))
        self.frames.append(frame)

    def close(self):
        self.log.append((self.name, "closed"))


def test_sinks_get_every_frame_in_order_then_are_closed():
    log = []
    first, second = Collect(log, "recorder"), Collect(log, "navigator")
    device = LiveDevice(FakeClock(), count=3)
    acquisition = Acquisition(device, [first, second], clock=device.clock)
    acquisition.start()
    acquisition.wait()
    assert log == [
        ("recorder", 0),
        ("navigator", 0),
        ("recorder", 1),
        ("navigator", 1),
        ("recorder", 2),
        ("navigator", 2),
        ("recorder", "closed"),
        ("navigator", "closed"),
    ]
    assert acquisition.end is AcquisitionEnd.SOURCE_ENDED
    assert acquisition.error is None
    assert acquisition.frame_count == 3
    assert acquisition.latest is first.frames[-1]
    assert acquisition.latest_received_s == device.clock.now()
    assert device.closed == 1
    acquisition.stop()  # after the end: harmless


def test_duration_counts_tracker_time_and_the_late_frame_is_not_delivered():
    sink = Collect([], "sink")
    device = LiveDevice(FakeClock(), count=100)
    with Acquisition(device, [sink], duration_s=10.5 * PERIOD_S) as acquisition:
        acquisition.wait()
    assert acquisition.end is AcquisitionEnd.DURATION
    assert [f.frame_number for f in sink.frames] == list(range(11))


class Failing(LiveDevice):
    def _read_raw(self, timeout_s):
        if self.next == 4:
            raise TrackerDisconnected("cable pulled")
        return super()._read_raw(timeout_s)


def test_a_tracker_error_ends_it_with_the_error_and_keeps_the_frames():
    sink = Collect([], "sink")
    device = Failing(FakeClock())
    with Acquisition(device, [sink]) as acquisition:
        acquisition.wait()
    assert isinstance(acquisition.error, TrackerDisconnected)
    assert acquisition.end is AcquisitionEnd.FAILED
    assert acquisition.frame_count == len(sink.frames) == 4
    assert device.closed == 1


def test_a_failing_sink_ends_it_and_the_others_are_still_closed():
    log = []

    def broken(frame):
        if frame.frame_number == 2:
            raise OSError("disk full")

    keeper = Collect(log, "keeper")
    with Acquisition(LiveDevice(FakeClock()), [keeper, broken]) as acquisition:
        acquisition.wait()
    assert isinstance(acquisition.error, OSError)
    assert acquisition.frame_count == 2  # frame 2 reached the keeper but not every sink
    assert log[-1] == ("keeper", "closed")


def test_stop_ends_an_endless_source_and_joins():
    delivered = threading.Event()
    count = []

    def sink(frame):
        count.append(frame)
        if len(count) == 50:
            delivered.set()

    device = LiveDevice(FakeClock())
    acquisition = Acquisition(device, [sink])
    acquisition.start()
    delivered.wait()
    acquisition.stop()
    assert acquisition.done.is_set()
    assert acquisition.end is AcquisitionEnd.STOPPED
    assert acquisition.frame_count == len(count) >= 50
    assert device.closed == 1


def test_a_sink_asking_to_stop_makes_its_frame_the_last():
    """``request_stop`` from a sink returns at once (``stop`` would join its own thread): the
    frame under way still reaches every sink, and no frame follows it, however far the endless
    source on a fake clock could run ahead."""
    log = []
    keeper = Collect(log, "keeper")
    device = LiveDevice(FakeClock())

    def stopper(frame):
        if frame.frame_number == 6:
            acquisition.request_stop()

    acquisition = Acquisition(device, [stopper, keeper])
    acquisition.start()
    acquisition.wait()
    assert acquisition.end is AcquisitionEnd.STOPPED and acquisition.error is None
    assert [f.frame_number for f in keeper.frames] == list(range(7))
    assert acquisition.frame_count == 7 and log[-1] == ("keeper", "closed")
    assert device.closed == 1


class Slow(LiveDevice):
    """A paced source: its next frame is never due within the read timeout, 3 times over."""

    def _read_raw(self, timeout_s):
        if self.next < 3:
            self.next += 1
            raise FrameNotDue("not yet")
        return super()._read_raw(timeout_s)


def test_a_frame_not_yet_due_is_not_a_failure():
    sink = Collect([], "sink")
    with Acquisition(Slow(FakeClock(), count=5), [sink]) as acquisition:
        acquisition.wait()
    assert acquisition.end is AcquisitionEnd.SOURCE_ENDED
    assert [f.frame_number for f in sink.frames] == [3, 4]


def test_a_tracker_that_cannot_start_raises_at_start():
    class Unplugged(LiveDevice):
        def _open(self):
            raise TrackerDisconnected("no device")

    acquisition = Acquisition(Unplugged(FakeClock()), [])
    with pytest.raises(TrackerDisconnected):
        acquisition.start()
    assert not acquisition.done.is_set()


@pytest.mark.parametrize("settings_", [{"read_timeout_s": 0.0}, {"duration_s": -1.0}])
def test_acquisition_settings_are_checked(settings_):
    with pytest.raises(ConfigurationError):
        Acquisition(LiveDevice(FakeClock()), [], **settings_)
