"""sim:demo: the built-in scripted session (scenes.demo_session), opened as a tracker spec once
guidance.demo_source has registered it: smooth and rigid, its pivot calibrates the stylus tip."""

import numpy as np
import pytest

from devices.clock import FakeClock
from devices.exceptions import ConfigurationError
from devices.frame import PoseStatus
from devices.simulated import SimulatedTracker
from devices.sources import open_tracker
from devices.tools import BUILTIN_TOOLS
from guidance.demo_source import demo_tracker
from guidance.simulation import stylus_geometry
from registration.pivot import pivot_calibration
from registration.transforms import apply_transform, as_rigid
from scenes.demo_session import PIVOT_POINT_MM, TOUCH_POINTS_MM, demo_motion
from scenes.student import Phase

MOTION = demo_motion(stylus_geometry(BUILTIN_TOOLS["stylus"]))
TIMES = np.arange(0.0, MOTION.duration_s, 1.0 / 60.0)
TIP = BUILTIN_TOOLS["stylus"].tip_mm


def tip_at(t_s):
    return apply_transform(MOTION(t_s)["stylus"], TIP)


def test_every_pose_is_rigid():
    for t_s in TIMES[::7]:
        for pose in MOTION(t_s).values():
            as_rigid(pose)


def test_the_motion_is_smooth_at_60_hz():
    tips = np.array([tip_at(t) for t in TIMES])
    # A hand's reach, at most 180 mm/s: under 3 mm between frames.
    assert np.max(np.linalg.norm(np.diff(tips, axis=0), axis=1)) < 3.0


def test_a_pivot_then_a_dwell_on_each_of_the_four_points():
    events = MOTION.events
    assert [(e.label, e.phase) for e in events] == [
        ("pivot", Phase.PIVOT),
        *((f"P{k}", Phase.DWELL) for k in range(1, 5)),
    ]
    pivot = events[0]
    during = TIMES[(pivot.start_s + 0.2 < TIMES) & (pivot.end_s - 0.2 > TIMES)]
    # The expert's tip stays in the divot (in contact, tremor only rocks the shaft).
    assert max(np.linalg.norm(tip_at(t) - PIVOT_POINT_MM) for t in during) < 1e-6
    for event, point in zip(events[1:], TOUCH_POINTS_MM, strict=True):
        # Resting within a millimetre of the point (the expert's placement error), still.
        assert np.linalg.norm(event.tip_mm - point) < 1.0
        middle = 0.5 * (event.start_s + event.end_s)
        np.testing.assert_allclose(tip_at(middle), event.tip_mm, atol=1e-9)


def test_sim_demo_is_the_builtin_stylus_and_reference_paced_on_the_clock():
    clock = FakeClock(3.0)
    tracker = open_tracker("sim:demo", realtime=True, clock=clock)
    assert isinstance(tracker, SimulatedTracker)
    assert tracker.tools == ("stylus", "reference")
    assert tracker.clock is clock
    with tracker:
        assert tracker.read().frame_number == 0
        tracker.read()
    assert clock.now() == pytest.approx(3.0 + 1 / 60.0)


@pytest.mark.parametrize("spec", ["sim:skull", "sim"])
def test_rejects_an_unknown_simulation(spec):
    with pytest.raises(
        ConfigurationError, match=r"unknown simulation .* the built-in one is 'demo'"
    ):
        open_tracker(spec)


def test_the_noisy_pivot_recovers_the_stylus_tip():
    pivot = MOTION.events[0]
    with demo_tracker(realtime=False) as tracker:
        frames = [f for f in tracker if pivot.start_s + 1.0 < f.timestamp < pivot.end_s - 1.0]
    assert all(f.poses["stylus"].status is PoseStatus.OK for f in frames)
    poses = np.array([f.poses["stylus"].tracker_from_tool for f in frames])
    result = pivot_calibration(poses)
    # 360 frames, 0.25 mm marker jitter, the tip 161 mm from the markers: within 0.3 mm.
    assert np.linalg.norm(result.tip_in_tool_mm - TIP) < 0.3
    assert np.linalg.norm(result.pivot_in_tracker_mm - PIVOT_POINT_MM) < 0.3
