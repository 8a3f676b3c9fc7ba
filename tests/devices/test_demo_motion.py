"""sim:demo: a smooth, rigid scripted session whose pivot phase calibrates the stylus tip."""

import numpy as np

from devices.demo_motion import (
    DWELL_DURATION_S,
    MOVE_DURATION_S,
    PIVOT_DURATION_S,
    PIVOT_POINT_MM,
    TOUCH_POINTS_MM,
    DemoMotion,
    demo_tracker,
)
from devices.frame import PoseStatus
from devices.tools import BUILTIN_TOOLS
from registration.pivot import pivot_calibration
from registration.transforms import apply_transform, as_rigid

MOTION = DemoMotion()
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
    # At most 100 mm/s: under 2 mm between frames.
    assert np.max(np.linalg.norm(np.diff(tips, axis=0), axis=1)) < 2.0


def test_the_tip_stays_on_the_pivot_point_while_pivoting():
    tips = np.array([tip_at(t) for t in TIMES[TIMES < PIVOT_DURATION_S]])
    np.testing.assert_allclose(tips, np.broadcast_to(PIVOT_POINT_MM, tips.shape), atol=1e-9)


def test_the_tip_rests_on_each_touch_point():
    step = MOVE_DURATION_S + DWELL_DURATION_S
    for index, point in enumerate(TOUCH_POINTS_MM):
        mid_dwell = PIVOT_DURATION_S + index * step + MOVE_DURATION_S + DWELL_DURATION_S / 2
        np.testing.assert_allclose(tip_at(mid_dwell), point, atol=1e-9)


def test_noisy_pivot_phase_recovers_the_stylus_tip():
    with demo_tracker(realtime=False) as tracker:
        frames = [frame for frame in tracker if frame.timestamp < PIVOT_DURATION_S]
    assert all(f.poses["stylus"].status is PoseStatus.OK for f in frames)
    poses = np.array([f.poses["stylus"].tracker_from_tool for f in frames])
    result = pivot_calibration(poses)
    # 361 frames, 0.25 mm marker jitter, tip 161 mm from the markers: within 0.2 mm.
    assert np.linalg.norm(result.tip_in_tool_mm - TIP) < 0.2
    assert np.linalg.norm(result.pivot_in_tracker_mm - PIVOT_POINT_MM) < 0.2
