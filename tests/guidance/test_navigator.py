"""The navigator's transform chain: tip in image = image_from_reference @ reference_from_tracker @
tracker_from_stylus @ tip. Every link is checked by changing it and watching the tip move."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from devices.frame import Frame, PoseStatus, ToolPose
from guidance.demo import closest_approaches
from guidance.exceptions import GuidanceError
from guidance.navigator import Navigator, reference_from_stylus, tip_in_reference_mm
from registration.transforms import apply_transform, invert_rigid, make_rigid
from scenes.scene import Structure

TIP = np.array([0.0, 0.0, -95.0])
TOL_MM = 1e-9


def _frame(tracker_from_stylus, tracker_from_reference, stylus_status=PoseStatus.OK) -> Frame:
    stylus = (
        ToolPose("stylus", tracker_from_stylus, stylus_status)
        if stylus_status is PoseStatus.OK
        else ToolPose.missing("stylus", stylus_status)
    )
    return Frame(
        timestamp=1.5,
        frame_number=90,
        poses={
            "stylus": stylus,
            "reference": ToolPose("reference", tracker_from_reference, PoseStatus.OK),
        },
    )


def _rigid(seed: int, scale_mm: float = 200.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_rigid(
        Rotation.random(random_state=rng).as_matrix(), rng.uniform(-1, 1, 3) * scale_mm
    )


IMAGE_FROM_REFERENCE = _rigid(1)
TRACKER_FROM_REFERENCE = _rigid(2, 1500.0)
TRACKER_FROM_STYLUS = _rigid(3, 1500.0)
TARGETS = np.array([[10.0, 20.0, 30.0], [-40.0, 0.0, 5.0]])


def _navigator() -> Navigator:
    return Navigator(IMAGE_FROM_REFERENCE, TIP, TARGETS)


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_tip_follows_the_chain_read_right_to_left(a, b, c):
    image_from_reference, tracker_from_reference, tracker_from_stylus = (
        _rigid(a),
        _rigid(b, 1500.0),
        _rigid(c, 1500.0),
    )
    state = Navigator(image_from_reference, TIP, TARGETS).navigate(
        _frame(tracker_from_stylus, tracker_from_reference)
    )
    expected = apply_transform(
        image_from_reference @ invert_rigid(tracker_from_reference) @ tracker_from_stylus, TIP
    )
    assert state.tracked
    np.testing.assert_allclose(state.tip_mm, expected, atol=1e-6)
    np.testing.assert_allclose(
        state.target_distances_mm, np.linalg.norm(TARGETS - expected, axis=1), atol=1e-6
    )


def test_moving_patient_and_stylus_together_leaves_the_tip_in_place():
    """The camera (or the patient) moves: both tracker poses change, the tip in the CT does not."""
    before = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    camera_motion = _rigid(7, 300.0)
    after = _navigator().navigate(
        _frame(camera_motion @ TRACKER_FROM_STYLUS, camera_motion @ TRACKER_FROM_REFERENCE)
    )
    np.testing.assert_allclose(after.tip_mm, before.tip_mm, atol=1e-6)


def test_moving_the_middle_link_alone_moves_the_tip():
    """Shift the reference tool 10 mm along tracker x with the stylus still: in the reference frame
    the stylus moved -10 mm along that axis, and the image tip moves by the rotated shift."""
    before = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    shift = make_rigid(np.eye(3), [10.0, 0.0, 0.0])
    after = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, shift @ TRACKER_FROM_REFERENCE))
    image_from_tracker = IMAGE_FROM_REFERENCE @ invert_rigid(TRACKER_FROM_REFERENCE)
    expected_move = image_from_tracker[:3, :3] @ np.array([-10.0, 0.0, 0.0])
    np.testing.assert_allclose(after.tip_mm - before.tip_mm, expected_move, atol=1e-6)


def test_changing_the_registration_moves_the_tip_by_the_same_transform():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    correction = _rigid(11, 5.0)
    before = _navigator().navigate(frame)
    after = Navigator(correction @ IMAGE_FROM_REFERENCE, TIP, TARGETS).navigate(frame)
    np.testing.assert_allclose(after.tip_mm, apply_transform(correction, before.tip_mm), atol=1e-6)


def test_tip_in_reference_is_independent_of_the_registration():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    tip = tip_in_reference_mm(frame, TIP)
    state = _navigator().navigate(frame)
    np.testing.assert_allclose(apply_transform(IMAGE_FROM_REFERENCE, tip), state.tip_mm, atol=1e-6)
    pose = reference_from_stylus(frame)
    np.testing.assert_allclose(pose @ invert_rigid(pose), np.eye(4), atol=TOL_MM)


@pytest.mark.parametrize("status", [PoseStatus.MISSING, PoseStatus.OUT_OF_VOLUME])
def test_a_lost_stylus_gives_an_untracked_state_not_a_stale_one(status):
    state = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, status))
    assert not state.tracked
    assert np.all(np.isnan(state.tip_mm))
    assert np.all(np.isnan(state.target_distances_mm))
    assert (
        tip_in_reference_mm(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, status), TIP)
        is None
    )


def test_state_carries_the_frame_clock():
    state = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    assert (state.timestamp, state.frame_number) == (1.5, 90)


def test_rejects_a_frame_without_the_named_tool():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    with pytest.raises(GuidanceError, match="no tool named 'needle'"):
        Navigator(IMAGE_FROM_REFERENCE, TIP, TARGETS, stylus="needle").navigate(frame)


def test_rejects_a_registration_that_is_not_rigid():
    scaled = IMAGE_FROM_REFERENCE.copy()
    scaled[:3, :3] *= 1.1
    with pytest.raises(GuidanceError, match="not orthonormal"):
        Navigator(scaled, TIP, TARGETS)


def test_rejects_targets_of_the_wrong_shape():
    with pytest.raises(GuidanceError, match=r"targets_mm must have shape \(N, 3\)"):
        Navigator(IMAGE_FROM_REFERENCE, TIP, np.zeros((2, 2)))


def test_structure_distances_are_to_the_surface_and_negative_inside():
    """A 5 mm ball 12 mm from the tip is 7 mm away; one around the tip is -5 mm away."""
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    tip = _navigator().navigate(frame).tip_mm
    near = Structure("near", (tip + np.array([0.0, 12.0, 0.0]))[None], 5.0)
    around = Structure("around", tip[None], 5.0)
    state = Navigator(IMAGE_FROM_REFERENCE, TIP, TARGETS, (near, around)).navigate(frame)
    np.testing.assert_allclose(state.structure_distances_mm, [7.0, -5.0], atol=1e-6)


def test_closest_approach_is_the_minimum_over_the_frames():
    """Three frames with the stylus 30, 10 and 20 mm (in tracker x) from a 2 mm ball."""
    start = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)).tip_mm
    image_from_tracker = IMAGE_FROM_REFERENCE @ invert_rigid(TRACKER_FROM_REFERENCE)
    step = image_from_tracker[:3, :3] @ np.array([1.0, 0.0, 0.0])
    ball = Structure("ball", (start + 40.0 * step)[None], 2.0)
    frames = [
        _frame(make_rigid(np.eye(3), [x, 0.0, 0.0]) @ TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
        for x in (10.0, 30.0, 20.0)
    ]
    navigator = Navigator(IMAGE_FROM_REFERENCE, TIP, TARGETS, (ball,))
    (outcome,) = closest_approaches(navigator, frames, ["ball"])
    assert outcome.closest_mm == pytest.approx(40.0 - 30.0 - 2.0, abs=1e-6)
