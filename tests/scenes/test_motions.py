"""Scripted stylus motions: the tip is where the script says, poses are rigid and continuous, the
hand style stays within its stated limits, and bad scripts are refused."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.transforms import as_rigid, make_rigid, rotation_angle_rad
from scenes.exceptions import SceneError
from scenes.motions import (
    StylusGeometry,
    Touch,
    TouchSettings,
    aligning_rotation,
    minimum_jerk,
    touch_fiducials_then_targets,
)

CENTRE = np.array([0.0, 0.0, -1500.0])
RADIUS_MM = 90.0
STYLUS = StylusGeometry(
    tip_mm=np.array([0.0, 0.0, -95.0]),
    shaft_axis=np.array([0.0, 0.0, 1.0]),
    facing_axis=np.array([1.0, 0.0, 0.0]),
)
TRACKER_FROM_REFERENCE = make_rigid(np.eye(3), CENTRE + np.array([0.0, 120.0, 60.0]))


def _surface_touches(directions: np.ndarray, prefix: str) -> list[Touch]:
    units = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return [Touch(f"{prefix}{i}", CENTRE + RADIUS_MM * unit, unit) for i, unit in enumerate(units)]


FIDUCIALS = _surface_touches(
    np.array([[1, 0, 1], [-1, 0, 1], [0, 1, 1], [0, -1, 1], [1, 1, 0.3], [-1, -1, 0.3]], float),
    "F",
)
TARGETS = [
    Touch("T0", CENTRE + np.array([10.0, 0.0, 20.0]), np.array([0.0, 0.0, 1.0])),
    Touch("T1", CENTRE + np.array([-20.0, 15.0, 0.0]), np.array([-1.0, 0.0, 1.0])),
]


def _motion(seed: int = 0):
    return touch_fiducials_then_targets(
        FIDUCIALS, TARGETS, TRACKER_FROM_REFERENCE, STYLUS, CENTRE, TouchSettings(), seed
    )


def _tip(pose: np.ndarray) -> np.ndarray:
    return pose[:3, :3] @ STYLUS.tip_mm + pose[:3, 3]


def test_duration_is_the_sum_of_the_phases():
    s = TouchSettings()
    n = len(FIDUCIALS) + len(TARGETS)
    expected = n * (2 * s.approach_s + s.dwell_s) + (n - 1) * s.travel_s
    assert _motion().duration_s == pytest.approx(expected, abs=1e-12)


def test_dwells_follow_touch_order_and_do_not_overlap():
    dwells = _motion().dwells
    assert [d.label for d in dwells] == [t.label for t in (*FIDUCIALS, *TARGETS)]
    for before, after in itertools.pairwise(dwells):
        assert before.end_s < after.start_s
    assert all(d.end_s - d.start_s == pytest.approx(TouchSettings().dwell_s) for d in dwells)


def test_tip_holds_exactly_on_the_point_during_each_dwell():
    motion = _motion()
    for dwell in motion.dwells:
        for t in np.linspace(dwell.start_s, dwell.end_s, 17):
            tip = _tip(motion(t)["stylus"])
            np.testing.assert_allclose(tip, dwell.tip_mm, atol=1e-9)


def test_hand_pivots_about_the_tip_during_a_dwell():
    motion = _motion()
    dwell = motion.dwells[0]
    start = motion(dwell.start_s)["stylus"]
    middle = motion(0.5 * (dwell.start_s + dwell.end_s))["stylus"]
    angle = rotation_angle_rad(middle[:3, :3] @ start[:3, :3].T)
    assert 0.1 * TouchSettings().pivot_rad < angle <= TouchSettings().pivot_rad + 1e-9


def test_every_pose_is_rigid_and_the_reference_never_moves():
    motion = _motion()
    for t in np.linspace(-1.0, motion.duration_s + 1.0, 301):
        poses = motion(t)
        as_rigid(poses["stylus"])
        np.testing.assert_array_equal(poses["reference"], TRACKER_FROM_REFERENCE)


def test_motion_is_continuous():
    """At 500 Hz sampling the tip moves < 2 mm and turns < 1 degree between samples (tolerance
    from the peak minimum-jerk speed: 1.875 x distance / time, arcs of ~250 mm in 1.2 s)."""
    motion = _motion()
    times = np.arange(0.0, motion.duration_s, 2e-3)
    poses = [motion(t)["stylus"] for t in times]
    for before, after in itertools.pairwise(poses):
        assert np.linalg.norm(_tip(after) - _tip(before)) < 2.0
        assert rotation_angle_rad(after[:3, :3] @ before[:3, :3].T) < math.radians(1.0)


def test_travel_stays_outside_the_phantom():
    """Between points the tip keeps at least the hover radius from the centre (0.1 mm tolerance);
    the deep target hovers at its own, larger distance so its path starts outside too."""
    deep = Touch(
        "T0", CENTRE + np.array([0.0, 0.0, 20.0]), np.array([0.0, 0.0, 1.0]), hover_mm=110.0
    )
    motion = touch_fiducials_then_targets(FIDUCIALS, [deep], TRACKER_FROM_REFERENCE, STYLUS, CENTRE)
    hover_radius = RADIUS_MM + TouchSettings().hover_mm
    for t in np.linspace(0.0, motion.duration_s, 1001):
        tip = _tip(motion(t)["stylus"])
        on_a_point = any(d.start_s - 0.5 < t < d.end_s + 0.5 for d in motion.dwells)
        if not on_a_point:
            assert np.linalg.norm(tip - CENTRE) > hover_radius - 0.1


def test_shaft_tilt_and_marker_facing_stay_within_the_settings():
    settings = TouchSettings()
    motion = _motion(seed=3)
    for dwell, touch in zip(motion.dwells, (*FIDUCIALS, *TARGETS), strict=True):
        rotation = motion(dwell.start_s)["stylus"][:3, :3]
        shaft = rotation @ STYLUS.shaft_axis
        tilt = math.acos(np.clip(shaft @ touch.approach, -1.0, 1.0))
        assert tilt <= settings.max_tilt_rad + 1e-9
        to_camera = -touch.point_mm - (-touch.point_mm @ shaft) * shaft
        facing = rotation @ STYLUS.facing_axis
        roll = math.acos(np.clip(facing @ to_camera / np.linalg.norm(to_camera), -1.0, 1.0))
        assert roll <= settings.roll_jitter_rad + 1e-9


def test_same_seed_same_motion_other_seed_other_orientations():
    t = _motion().dwells[2].start_s
    np.testing.assert_array_equal(_motion(1)(t)["stylus"], _motion(1)(t)["stylus"])
    assert not np.allclose(_motion(1)(t)["stylus"], _motion(2)(t)["stylus"])


def test_stylus_geometry_from_markers_points_shaft_to_the_markers():
    markers = np.array([[0, 0, 0], [0, 0, 45], [0, 30, 95], [0, -30, 125]], float)
    geometry = StylusGeometry.from_markers(markers, np.array([0.0, 0.0, -95.0]))
    centroid = markers.mean(axis=0)
    expected_shaft = (centroid - geometry.tip_mm) / np.linalg.norm(centroid - geometry.tip_mm)
    np.testing.assert_allclose(geometry.shaft_axis, expected_shaft, atol=1e-12)
    assert abs(geometry.facing_axis @ geometry.shaft_axis) < 1e-12
    assert abs(abs(geometry.facing_axis[0]) - 1.0) < 0.01  # markers lie in the y-z plane


def test_stylus_geometry_faces_where_the_marker_normals_point():
    markers = np.array([[0, 0, 0], [0, 0, 45], [0, 30, 95], [0, -30, 125]], float)
    for sign in (1.0, -1.0):
        normals = np.tile([sign, 0.0, 0.0], (4, 1))
        geometry = StylusGeometry.from_markers(markers, np.array([0.0, 0.0, -95.0]), normals)
        np.testing.assert_allclose(geometry.facing_axis, [sign, 0.0, 0.0], atol=1e-12)


unit_vectors = (
    st.tuples(*[st.floats(-1, 1)] * 3).map(np.array).filter(lambda v: np.linalg.norm(v) > 0.1)
)


@given(unit_vectors, unit_vectors, unit_vectors, unit_vectors)
def test_aligning_rotation_maps_the_primary_axis_exactly(a_tool, b_tool, a_world, b_world):
    rotation = aligning_rotation(a_tool, b_tool, a_world, b_world)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-9)
    mapped = rotation @ (a_tool / np.linalg.norm(a_tool))
    np.testing.assert_allclose(mapped, a_world / np.linalg.norm(a_world), atol=1e-9)


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_minimum_jerk_rises_from_zero_to_one(s1, s2):
    assert minimum_jerk(0.0) == 0.0
    assert minimum_jerk(1.0) == 1.0
    low, high = sorted((s1, s2))
    assert minimum_jerk(low) <= minimum_jerk(high) + 1e-15


def test_rejects_fewer_than_three_fiducials():
    with pytest.raises(SceneError, match="at least 3 fiducials"):
        touch_fiducials_then_targets(FIDUCIALS[:2], TARGETS, TRACKER_FROM_REFERENCE, STYLUS, CENTRE)


def test_rejects_an_approach_without_direction():
    with pytest.raises(SceneError, match="zero length"):
        Touch("F0", CENTRE, np.zeros(3))


def test_rejects_a_negative_dwell():
    with pytest.raises(SceneError, match="dwell_s must be > 0"):
        TouchSettings(dwell_s=-1.0)


def test_rejects_a_tilt_that_lays_the_shaft_flat():
    with pytest.raises(SceneError, match="max_tilt_rad must be below pi/2"):
        TouchSettings(max_tilt_rad=math.pi / 2)


def test_rejects_a_facing_axis_along_the_shaft():
    with pytest.raises(SceneError, match="perpendicular"):
        StylusGeometry(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.1, 1.0]))


def test_rejects_a_non_finite_time():
    with pytest.raises(SceneError, match="finite"):
        _motion()(math.nan)
