"""The navigator: tip and axis in the image through image_from_reference @ reference_from_tracker @
tracker_from_tool @ tip, distances to targets, to a planned trajectory and to structures. Every
link is checked by changing it and watching the tip move (or not move); the Numba kernel is
checked against the plain numpy ``reference_navigate``."""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from devices.exceptions import ConfigurationError
from devices.frame import Frame, PoseStatus, ToolPose
from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError
from guidance.navigator import (
    NavigationPlan,
    Navigator,
    ToolTip,
    reference_from_stylus,
    reference_navigate,
    tip_in_reference_mm,
)
from registration.transforms import apply_transform, invert_rigid, make_rigid
from scenes.phantoms import build_phantom
from scenes.scene import Scene, Structure, Trajectory


@pytest.fixture(scope="module")
def skull() -> Scene:
    return build_phantom("skull")


TIP = ToolTip(np.array([0.0, 0.0, -95.0]), np.array([0.0, 0.0, -1.0]))
TOL_MM = 1e-6


def _pose(name: str, matrix: np.ndarray | None, status: PoseStatus = PoseStatus.OK) -> ToolPose:
    if matrix is None or status not in (PoseStatus.OK, PoseStatus.PARTIALLY_OUT_OF_VOLUME):
        return ToolPose.missing(name, status)
    return ToolPose(name, matrix, status)


def _frame(
    tracker_from_stylus,
    tracker_from_reference,
    stylus_status=PoseStatus.OK,
    reference_status=PoseStatus.OK,
    names=("stylus", "reference"),
) -> Frame:
    stylus, reference = names
    return Frame(
        timestamp=1.5,
        frame_number=90,
        poses={
            stylus: _pose(stylus, tracker_from_stylus, stylus_status),
            reference: _pose(reference, tracker_from_reference, reference_status),
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
PLAN = NavigationPlan(("a", "b"), TARGETS)


def _navigator(plan: NavigationPlan = PLAN, registration=IMAGE_FROM_REFERENCE) -> Navigator:
    return Navigator(plan, registration, TIP)


def _tip(frame: Frame, plan: NavigationPlan = PLAN) -> np.ndarray:
    return _navigator(plan).navigate(frame).tip_mm


def _structures(seed: int) -> tuple[Structure, ...]:
    rng = np.random.default_rng(seed)
    return tuple(
        Structure(f"s{k}", rng.uniform(-80, 80, (int(rng.integers(1, 6)), 3)), rng.uniform(1, 8))
        for k in range(3)
    )


def _trajectory_plan(seed: int) -> NavigationPlan:
    rng = np.random.default_rng(seed)
    entry, target = rng.uniform(-100, 100, (2, 3))
    return NavigationPlan(
        ("a", "b", "t"),
        np.vstack([TARGETS, target]),
        (Trajectory("path", entry, target),),
        _structures(seed),
        active_target=2,
        active_trajectory=0,
    )


@settings(deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_the_kernel_computes_what_the_numpy_reference_computes(a, b, c):
    image_from_reference, tracker_from_reference = _rigid(a), _rigid(b, 1500.0)
    tracker_from_stylus, plan = _rigid(c, 1500.0), _trajectory_plan(a + b + c)
    state = _navigator(plan, image_from_reference).navigate(
        _frame(tracker_from_stylus, tracker_from_reference)
    )
    expected = reference_navigate(
        image_from_reference, tracker_from_reference, tracker_from_stylus, TIP, plan
    )
    assert state.tracked
    for name in (
        "image_from_stylus",
        "tip_mm",
        "axis",
        "target_distances_mm",
        "structure_distances_mm",
    ):
        np.testing.assert_allclose(getattr(state, name), expected[name], atol=TOL_MM, err_msg=name)
    for name, value in expected["trajectory"]._asdict().items():
        assert getattr(state.trajectory, name) == pytest.approx(value, abs=TOL_MM), name


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_tip_follows_the_chain_read_right_to_left(a, b, c):
    image_from_reference, tracker_from_reference = _rigid(a), _rigid(b, 1500.0)
    tracker_from_stylus = _rigid(c, 1500.0)
    state = _navigator(registration=image_from_reference).navigate(
        _frame(tracker_from_stylus, tracker_from_reference)
    )
    image_from_stylus = image_from_reference @ invert_rigid(tracker_from_reference)
    image_from_stylus = image_from_stylus @ tracker_from_stylus
    np.testing.assert_allclose(state.image_from_stylus, image_from_stylus, atol=TOL_MM)
    np.testing.assert_allclose(
        state.tip_mm, apply_transform(image_from_stylus, TIP.tip_mm), atol=TOL_MM
    )
    np.testing.assert_allclose(state.axis, image_from_stylus[:3, :3] @ TIP.axis, atol=1e-12)
    assert np.linalg.norm(state.axis) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(
        state.target_distances_mm, np.linalg.norm(TARGETS - state.tip_mm, axis=1), atol=TOL_MM
    )


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_moving_the_phantom_with_its_reference_changes_nothing(seed, motion_seed):
    """The patient (with the reference clamped to it) or the camera moves: both tracker poses
    change by the same motion, and the tip, axis, trajectory and distances stay put."""
    plan = _trajectory_plan(seed)
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    motion = _rigid(motion_seed, 300.0)
    moved = _frame(motion @ TRACKER_FROM_STYLUS, motion @ TRACKER_FROM_REFERENCE)
    before, after = _navigator(plan).navigate(frame), _navigator(plan).navigate(moved)
    for name in ("tip_mm", "axis", "target_distances_mm", "structure_distances_mm"):
        np.testing.assert_allclose(getattr(after, name), getattr(before, name), atol=TOL_MM)
    for name, value in before.trajectory._asdict().items():
        assert getattr(after.trajectory, name) == pytest.approx(value, abs=TOL_MM)


def test_moving_the_middle_link_alone_moves_the_tip():
    """Shift the reference tool 10 mm along tracker x with the stylus still: in the reference frame
    the stylus moved -10 mm along that axis, and the image tip moves by the rotated shift."""
    before = _tip(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    shift = make_rigid(np.eye(3), [10.0, 0.0, 0.0])
    after = _tip(_frame(TRACKER_FROM_STYLUS, shift @ TRACKER_FROM_REFERENCE))
    image_from_tracker = IMAGE_FROM_REFERENCE @ invert_rigid(TRACKER_FROM_REFERENCE)
    expected_move = image_from_tracker[:3, :3] @ np.array([-10.0, 0.0, 0.0])
    np.testing.assert_allclose(after - before, expected_move, atol=TOL_MM)


def test_breach_toggles_as_the_middle_link_moves_the_tip_out_in_and_out():
    """As Slicer's BreachWarning self-test: the changing transform is the middle link of the
    chain (the reference tool moves, the stylus stays), and the warning follows each change."""
    tip = _tip(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    image_from_tracker = IMAGE_FROM_REFERENCE @ invert_rigid(TRACKER_FROM_REFERENCE)
    ball = Structure("nerve", tip[None] + image_from_tracker[:3, :3] @ [0.0, 0.0, -20.0], 5.0)
    plan = NavigationPlan(("a", "b"), TARGETS, structures=(ball,), breach_margin_mm=2.0)
    navigator = _navigator(plan)
    expected = {0.0: (15.0, ()), 18.0: (-3.0, ("nerve",)), 13.5: (1.5, ("nerve",)), 5.0: (10.0, ())}
    for reference_shift_mm, (distance, breaches) in expected.items():
        # the reference moves +z in the tracker: the stylus moves -z relative to it, toward the ball
        shift = make_rigid(np.eye(3), [0.0, 0.0, reference_shift_mm])
        state = navigator.navigate(_frame(TRACKER_FROM_STYLUS, shift @ TRACKER_FROM_REFERENCE))
        assert state.structure_distances_mm[0] == pytest.approx(distance, abs=TOL_MM)
        assert state.breaches == breaches
        assert any("nerve" in alert for alert in state.alerts) == bool(breaches)
    inside = navigator.navigate(
        _frame(TRACKER_FROM_STYLUS, make_rigid(np.eye(3), [0, 0, 18.0]) @ TRACKER_FROM_REFERENCE)
    )
    assert inside.alerts == ("BREACH: the tip is inside nerve",)
    near = navigator.navigate(
        _frame(TRACKER_FROM_STYLUS, make_rigid(np.eye(3), [0, 0, 13.5]) @ TRACKER_FROM_REFERENCE)
    )
    assert near.alerts == ("the tip is within 2 mm of nerve",)


def test_changing_the_registration_moves_the_tip_by_the_same_transform():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    correction = _rigid(11, 5.0)
    before = _navigator().navigate(frame)
    after = _navigator(registration=correction @ IMAGE_FROM_REFERENCE).navigate(frame)
    np.testing.assert_allclose(after.tip_mm, apply_transform(correction, before.tip_mm), atol=1e-6)
    np.testing.assert_allclose(after.axis, correction[:3, :3] @ before.axis, atol=1e-12)


def test_every_tool_is_given_in_the_image_frame():
    needle = _rigid(21, 1500.0)
    frame = Frame(
        2.0,
        7,
        {
            "stylus": _pose("stylus", TRACKER_FROM_STYLUS),
            "reference": _pose("reference", TRACKER_FROM_REFERENCE),
            "needle": _pose("needle", needle),
        },
    )
    state = _navigator().navigate(frame)
    image_from_tracker = IMAGE_FROM_REFERENCE @ invert_rigid(TRACKER_FROM_REFERENCE)
    assert list(state.tools) == ["stylus", "reference", "needle"]
    np.testing.assert_allclose(
        state.tools["needle"].image_from_tool, image_from_tracker @ needle, atol=TOL_MM
    )
    np.testing.assert_allclose(
        state.tools["reference"].image_from_tool, IMAGE_FROM_REFERENCE, atol=TOL_MM
    )
    assert state.tools["stylus"].image_from_tool is not None
    np.testing.assert_array_equal(state.tools["stylus"].image_from_tool, state.image_from_stylus)


def test_trajectory_numbers_at_known_poses():
    """A 60 mm path along image +x; the stylus tip 20 mm past the entry, 3 mm off the line,
    tilted 30 degrees from the path."""
    trajectory = Trajectory("path", np.array([0.0, 0.0, 0.0]), np.array([60.0, 0.0, 0.0]))
    plan = NavigationPlan(
        ("t",), trajectory.target_mm[None], (trajectory,), active_target=0, active_trajectory=0
    )
    tilt = math.radians(30.0)
    axis = np.array([math.cos(tilt), math.sin(tilt), 0.0])
    image_from_stylus_rotation = Rotation.align_vectors([axis], [TIP.axis])[0].as_matrix()
    tip_mm = np.array([20.0, 0.0, 3.0])
    image_from_stylus = make_rigid(
        image_from_stylus_rotation, tip_mm - image_from_stylus_rotation @ TIP.tip_mm
    )
    # identity registration and reference at the tracker origin: tracker_from_stylus is the pose
    state = Navigator(plan, np.eye(4), TIP).navigate(_frame(image_from_stylus, np.eye(4)))
    np.testing.assert_allclose(state.tip_mm, tip_mm, atol=TOL_MM)
    assert state.trajectory.angle_rad == pytest.approx(tilt, abs=1e-12)
    assert state.trajectory.lateral_offset_mm == pytest.approx(3.0, abs=TOL_MM)
    assert state.trajectory.depth_mm == pytest.approx(20.0, abs=TOL_MM)
    assert state.trajectory.remaining_mm == pytest.approx(40.0, abs=TOL_MM)
    assert state.active_target == 0
    assert state.active_target_distance_mm == pytest.approx(math.hypot(40.0, 3.0), abs=TOL_MM)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_trajectory_depth_and_offset_decompose_the_tip_position(seed, pose_seed):
    plan = _trajectory_plan(seed)
    state = _navigator(plan).navigate(_frame(_rigid(pose_seed, 1500.0), TRACKER_FROM_REFERENCE))
    trajectory = plan.trajectories[0]
    offset = state.tip_mm - trajectory.entry_mm
    numbers = state.trajectory
    assert numbers.depth_mm**2 + numbers.lateral_offset_mm**2 == pytest.approx(
        offset @ offset, rel=1e-9
    )
    assert numbers.depth_mm + numbers.remaining_mm == pytest.approx(trajectory.length_mm)
    assert 0.0 <= numbers.angle_rad <= math.pi
    assert math.cos(numbers.angle_rad) == pytest.approx(state.axis @ trajectory.direction)


@settings(deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_structure_distances_match_the_scene_definition(seed, pose_seed):
    plan = _trajectory_plan(seed)
    state = _navigator(plan).navigate(_frame(_rigid(pose_seed, 100.0), np.eye(4)))
    expected = [s.signed_distance_mm(state.tip_mm)[0] for s in plan.structures]
    np.testing.assert_allclose(state.structure_distances_mm, expected, atol=1e-9)


def test_structure_distances_are_to_the_surface_and_negative_inside():
    """A 5 mm ball 12 mm from the tip is 7 mm away; one around the tip is -5 mm away."""
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    tip = _tip(frame)
    near = Structure("near", (tip + np.array([0.0, 12.0, 0.0]))[None], 5.0)
    around = Structure("around", tip[None], 5.0)
    plan = NavigationPlan(("a", "b"), TARGETS, structures=(near, around))
    state = _navigator(plan).navigate(frame)
    np.testing.assert_allclose(state.structure_distances_mm, [7.0, -5.0], atol=1e-6)
    assert state.breaches == ("around",)


@pytest.mark.parametrize("lost", ["stylus", "reference"])
@pytest.mark.parametrize("status", [PoseStatus.MISSING, PoseStatus.OUT_OF_VOLUME])
def test_a_lost_tool_gives_an_untracked_state_never_the_last_pose(lost, status):
    navigator = _navigator(_trajectory_plan(3))
    good = navigator.navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    assert good.tracked and np.all(np.isfinite(good.tip_mm))
    statuses = {"stylus_status": PoseStatus.OK, "reference_status": PoseStatus.OK}
    statuses[f"{lost}_status"] = status
    state = navigator.navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, **statuses))
    assert not state.tracked
    for name in ("tip_mm", "axis", "image_from_stylus", "target_distances_mm"):
        assert np.all(np.isnan(getattr(state, name))), name
    assert np.all(np.isnan(state.structure_distances_mm)) and state.breaches == ()
    assert math.isnan(state.trajectory.depth_mm)
    assert state.tools[lost].status is status
    assert np.all(np.isnan(state.tools[lost].image_from_tool))
    words = {PoseStatus.MISSING: "missing", PoseStatus.OUT_OF_VOLUME: "out of the tracker's volume"}
    assert state.alerts == (f"{lost} {words[status]}",)


def test_a_partly_visible_stylus_is_tracked_with_a_warning():
    state = _navigator().navigate(
        _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, PoseStatus.PARTIALLY_OUT_OF_VOLUME)
    )
    assert state.tracked and np.all(np.isfinite(state.tip_mm))
    assert state.alerts == ("stylus partially out of the tracker's volume",)


def test_state_carries_the_frame_clock_and_latency():
    state = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE), now_s=1.52)
    assert (state.timestamp, state.frame_number) == (1.5, 90)
    assert state.latency_s == pytest.approx(0.02)
    assert math.isnan(_navigator().navigate(_frame(TRACKER_FROM_STYLUS, np.eye(4))).latency_s)


def test_state_arrays_are_read_only():
    state = _navigator().navigate(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    for array in (state.tip_mm, state.image_from_stylus, state.target_distances_mm):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0.0


def test_tool_names_match_case_insensitively_as_recordings_write_them():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, names=("Stylus", "Reference"))
    expected = _tip(_frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE))
    np.testing.assert_allclose(_navigator().navigate(frame).tip_mm, expected, atol=TOL_MM)
    np.testing.assert_allclose(
        tip_in_reference_mm(frame, TIP.tip_mm),
        apply_transform(invert_rigid(IMAGE_FROM_REFERENCE), expected),
        atol=TOL_MM,
    )


def test_tip_in_reference_is_independent_of_the_registration():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    tip = tip_in_reference_mm(frame, TIP.tip_mm)
    np.testing.assert_allclose(apply_transform(IMAGE_FROM_REFERENCE, tip), _tip(frame), atol=1e-6)
    pose = reference_from_stylus(frame)
    np.testing.assert_allclose(pose @ invert_rigid(pose), np.eye(4), atol=1e-9)
    lost = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE, PoseStatus.MISSING)
    assert tip_in_reference_mm(lost, TIP.tip_mm) is None


def test_rejects_a_frame_without_the_named_tool():
    frame = _frame(TRACKER_FROM_STYLUS, TRACKER_FROM_REFERENCE)
    with pytest.raises(ConfigurationError, match=r"no tool 'needle' in the tracker's frames; its"):
        Navigator(PLAN, IMAGE_FROM_REFERENCE, TIP, stylus="needle").navigate(frame)


def test_rejects_a_registration_that_is_not_rigid():
    scaled = IMAGE_FROM_REFERENCE.copy()
    scaled[:3, :3] *= 1.1
    with pytest.raises(GuidanceError, match="not orthonormal"):
        Navigator(PLAN, scaled, TIP)


def test_plan_rejects_targets_of_the_wrong_shape_and_bad_settings():
    with pytest.raises(GuidanceError, match=r"targets_mm must have shape \(N, 3\)"):
        NavigationPlan(("a",), np.zeros((2, 2)).reshape(1, 4))
    with pytest.raises(GuidanceError, match="2 labels for 1 targets"):
        NavigationPlan(("a", "b"), np.zeros((1, 3)))
    with pytest.raises(GuidanceError, match="breach_margin_mm"):
        NavigationPlan(("a",), np.zeros((1, 3)), breach_margin_mm=-1.0)
    with pytest.raises(GuidanceError, match=r"active_target 1 is not in 0\.\.0"):
        NavigationPlan(("a",), np.zeros((1, 3)), active_target=1)


def test_plan_from_a_scene_works_on_its_first_trajectory(skull):
    plan = NavigationPlan.from_scene(skull)
    assert plan.target_labels == skull.target_labels
    assert plan.trajectories[plan.active_trajectory].name == "biopsy"
    assert plan.target_labels[plan.active_target] == "biopsy-deep"
    assert [s.name for s in plan.structures] == [s.name for s in skull.structures]


def test_plan_selects_a_target_or_a_trajectory_by_name(skull):
    plan = NavigationPlan.from_scene(skull, target="Tumour-Left-Parietal")
    assert (plan.active_target, plan.active_trajectory) == (1, None)
    plan = plan.select("biopsy-deep")  # its target: the trajectory ending there comes with it
    assert (plan.active_target, plan.active_trajectory) == (2, 0)
    with pytest.raises(GuidanceError, match=r"no target or trajectory named 'tumor'.*biopsy"):
        plan.select("tumor")


def test_plan_adds_the_target_of_a_trajectory_that_ends_elsewhere(skull):
    scene = dataclasses.replace(
        skull,
        trajectories=(Trajectory("drain", np.array([70.0, 0, 0]), np.array([20.0, 0, 0])),),
    )
    plan = NavigationPlan.from_scene(scene)
    assert plan.target_labels == (*skull.target_labels, "drain")
    assert plan.active_target == 3 and plan.active_trajectory == 0


def test_tool_tip_from_the_builtin_stylus_points_away_from_its_markers():
    tip = ToolTip.from_tool(BUILTIN_TOOLS["stylus"])
    np.testing.assert_array_equal(tip.tip_mm, [0.0, 0.0, -95.0])
    np.testing.assert_allclose(tip.axis, [0.0, 0.0, -1.0], atol=1e-12)
    with pytest.raises(GuidanceError, match=r"no tip in its definition.*--tool-tip"):
        ToolTip.from_tool(BUILTIN_TOOLS["reference"])


def _pivot_file(tmp_path, **fields):
    report = {
        "tool": "Stylus",
        "tip_in_tool": [1.0, 2.0, -150.0],
        "pivot_in_tracker": [0.0, 0.0, -1000.0],
        "rms": 0.4,
        "frames_used": 500,
        "frames": 512,
        "rotation_coverage_deg": 40.0,
        "warnings": ["few frames"],
        "units": "mm",
    } | fields
    path = tmp_path / "tip.json"
    path.write_text(json.dumps(report))
    return path


def test_tool_tip_from_a_pivot_result_file(tmp_path):
    tip = ToolTip.from_pivot_file(_pivot_file(tmp_path), "stylus", BUILTIN_TOOLS["stylus"])
    np.testing.assert_array_equal(tip.tip_mm, [1.0, 2.0, -150.0])
    centroid = BUILTIN_TOOLS["stylus"].centroid_mm
    expected = (tip.tip_mm - centroid) / np.linalg.norm(tip.tip_mm - centroid)
    np.testing.assert_allclose(tip.axis, expected, atol=1e-12)
    assert tip.warnings == ("few frames",)
    without_markers = ToolTip.from_pivot_file(_pivot_file(tmp_path), "stylus")
    np.testing.assert_allclose(without_markers.axis, tip.tip_mm / np.linalg.norm(tip.tip_mm))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tool": "needle"}, "pivot calibration of tool 'needle', not of 'stylus'"),
        ({"tip_in_tool": [1.0, 2.0]}, "tip_in_tool must be 3 finite numbers"),
        ({"tip_in_tool": "far"}, "tip_in_tool must be 3 finite numbers"),
        ({"tip_in_tool": [0.0, 0.0, 0.5]}, "at least 1 mm from its markers"),
        ({"units": "m"}, "units 'm'"),
    ],
)
def test_tool_tip_rejects_a_bad_pivot_file(tmp_path, fields, message):
    with pytest.raises(GuidanceError, match=message):
        ToolTip.from_pivot_file(_pivot_file(tmp_path, **fields), "stylus")


def test_tool_tip_rejects_a_file_that_is_not_a_pivot_result(tmp_path):
    path = tmp_path / "registration.json"
    path.write_text(json.dumps({"fixed_from_moving": np.eye(4).tolist()}))
    expected = r"not a pivot result: expected the JSON that 'gestes pivot' prints"
    with pytest.raises(GuidanceError, match=expected):
        ToolTip.from_pivot_file(path, "stylus")
    path.write_text("{")
    with pytest.raises(GuidanceError, match="cannot read a pivot result"):
        ToolTip.from_pivot_file(path, "stylus")
