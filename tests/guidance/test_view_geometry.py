"""The geometry behind the views: patient directions, plane offsets, scale bars and the
target-alignment frame, checked against the navigator's own numbers where they meet."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guidance.views.geometry import (
    BullseyeFrame,
    VoxelSlices,
    nice_length_mm,
    plane_offsets_mm,
)
from tests.guidance.views_scene import TRAJECTORY, navigator, small_scene, state_at

coordinates = st.floats(-200.0, 200.0, allow_nan=False)
points = st.tuples(coordinates, coordinates, coordinates).map(np.array)


def test_plane_offsets_are_signed_along_the_normal():
    offsets = plane_offsets_mm(np.array([[0, 0, 5.0], [1, 2, -3.0]]), (9, 9, 1.0), (0, 0, 1.0))
    np.testing.assert_allclose(offsets, [4.0, -4.0])


@given(st.floats(1e-3, 1e5))
def test_scale_bar_is_a_round_length_of_at_least_two_fifths_of_the_room(room_mm):
    length = nice_length_mm(room_mm)
    assert room_mm * 0.4 - 1e-9 <= length <= room_mm * (1 + 1e-6)
    mantissa = length / 10.0 ** math.floor(math.log10(length) + 1e-9)
    assert min(abs(mantissa - m) for m in (1.0, 2.0, 5.0)) < 1e-6


def test_scale_bar_needs_room():
    with pytest.raises(ValueError, match="positive length"):
        nice_length_mm(0.0)


@given(points, points)
def test_bullseye_frame_is_right_handed_and_looks_along_the_trajectory(entry, target):
    if np.linalg.norm(target - entry) < 1.0:
        return
    frame = BullseyeFrame.of(entry, target)
    axes = np.array([frame.right, frame.up, frame.forward])
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(axes) == pytest.approx(-1.0)  # right x up = -forward: seen from behind
    np.testing.assert_allclose(frame.forward, (target - entry) / np.linalg.norm(target - entry))
    np.testing.assert_allclose(frame.screen_mm(entry), [0.0, 0.0], atol=1e-9)


def test_bullseye_up_is_superior_unless_the_path_runs_head_to_foot():
    assert BullseyeFrame.of((0, 0, 0), (0, -50, 0)).up @ [0, 0, 1] == pytest.approx(1.0)
    assert BullseyeFrame.of((0, 0, 50), (0, 0, 0)).up @ [0, -1, 0] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def navigation():
    return navigator(small_scene())


@pytest.mark.parametrize(
    ("tip", "axis"),
    [
        ((7.0, 3.0, 20.0), (0.1, -0.05, -1.0)),
        ((5.0, 5.0, 30.0), (0.0, 0.0, -1.0)),
        ((-4.0, 12.0, 12.0), (0.3, 0.2, -1.0)),
    ],
)
def test_bullseye_markers_agree_with_the_navigator(navigation, tip, axis):
    """The tip marker sits at the navigator's lateral offset from the centre; the reach marker
    is where the axis crosses the target's plane; an aligned tool puts both in the centre."""
    state = state_at(navigation, np.array(tip), np.array(axis))
    frame = BullseyeFrame.of(TRAJECTORY.entry_mm, TRAJECTORY.target_mm)
    offset = frame.screen_mm(state.tip_mm)
    assert np.linalg.norm(offset) == pytest.approx(state.trajectory.lateral_offset_mm, abs=1e-9)
    reach = frame.reach_mm(state.tip_mm, state.axis)
    travel = state.trajectory.remaining_mm / math.cos(state.trajectory.angle_rad)
    expected = frame.screen_mm(state.tip_mm + travel * state.axis)
    np.testing.assert_allclose(reach, expected, atol=1e-9)
    aligned = state_at(navigation, TRAJECTORY.entry_mm, TRAJECTORY.direction)
    np.testing.assert_allclose(frame.screen_mm(aligned.tip_mm), [0, 0], atol=1e-6)
    np.testing.assert_allclose(frame.reach_mm(aligned.tip_mm, aligned.axis), [0, 0], atol=1e-6)


def test_a_tool_across_the_trajectory_has_no_point_of_arrival():
    frame = BullseyeFrame.of((0, 0, 50), (0, 0, 0))
    assert np.all(np.isnan(frame.reach_mm(np.array([0, 0, 20.0]), np.array([1.0, 0, 0]))))
    assert np.all(np.isnan(frame.reach_mm(np.array([0, 0, 20.0]), np.array([0, 0, 1.0]))))


spacings = st.floats(0.3, 3.0)
# A CT's voxel axes in LPS: a rotation (its columns), here a rotation about z by ``angle``.
angles = st.floats(-math.pi, math.pi)


def _rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@given(points, st.tuples(spacings, spacings, spacings), angles, points, st.sampled_from((1, -1)))
def test_the_nearest_voxel_slice_is_a_voxel_plane_within_half_a_voxel(
    origin, spacing, angle, point, sign
):
    """Across each voxel axis (either way): the chosen plane passes through voxel centres
    (a whole number of voxels from the origin along the axis), lies within half a voxel of the
    point, and is the same point for two points in the same voxel slice."""
    direction = _rotation_z(angle)
    for axis in range(3):
        normal = sign * direction[:, axis]
        slices = VoxelSlices.across(origin, spacing, direction, normal)
        assert slices.step_mm == pytest.approx(spacing[axis])
        on_plane = slices.nearest(point)
        index = (on_plane - origin) @ direction[:, axis] / spacing[axis]
        assert index == pytest.approx(round(index), abs=1e-6)
        depth = (point - on_plane) @ normal
        assert abs(depth) <= spacing[axis] / 2 + 1e-9
        if abs(depth) < spacing[axis] / 2 - 1e-6:  # not on the border between two slices
            shift = np.array([3.0, -2.0, 1.0])
            sideways = shift - (shift @ normal) * normal  # in the slice's plane
            nudged = point - 0.5 * depth * normal + sideways
            np.testing.assert_array_equal(slices.nearest(nudged), on_plane)


def test_a_slice_oblique_to_the_voxels_is_not_snapped():
    direction = _rotation_z(0.3)
    slices = VoxelSlices.across((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), direction, (1.0, 0.0, 0.0))
    assert slices.step_mm == 0.0
    point = np.array([0.37, 1.2, -4.0])
    np.testing.assert_array_equal(slices.nearest(point), point)
