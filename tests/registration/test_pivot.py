"""Pivot calibration: known tip recovered under noise and slipped frames; coverage warnings."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.pivot import PivotSettings, pivot_calibration
from tests.shared_data import SHARED_DATA

# With 200 frames, 0.25 mm translation jitter and 1 mrad rotation jitter, the least-squares tip
# has an uncertainty ~0.05 mm; 0.3 mm is a 6-sigma bound.
TIP_TOL_MM = 0.3


def _pivot_poses(
    tip_in_tool,
    pivot_in_tracker,
    n=200,
    cone_rad=0.5,
    twist_rad=0.5,
    noise_mm=0.25,
    seed=0,
    axes=(0, 1, 2),
):
    """Poses of a tool pivoting about its tip: random rotations within a cone, plus jitter."""
    rng = np.random.default_rng(seed)
    rotvec = np.zeros((n, 3))
    limits = np.array([cone_rad, cone_rad, twist_rad])
    for axis in axes:
        rotvec[:, axis] = rng.uniform(-limits[axis], limits[axis], n)
    base = Rotation.from_rotvec([0.3, -0.2, 0.1])
    rotations = (base * Rotation.from_rotvec(rotvec)).as_matrix()
    rotations = (
        Rotation.from_rotvec(rng.normal(0, 1e-3, (n, 3))) * Rotation.from_matrix(rotations)
    ).as_matrix()
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, :3] = rotations
    poses[:, :3, 3] = pivot_in_tracker - rotations @ tip_in_tool + rng.normal(0, noise_mm, (n, 3))
    return poses


TIP = np.array([1.5, -2.0, -160.0])
PIVOT = np.array([20.0, -100.0, -1500.0])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-30, 30), min_size=2, max_size=2),
    st.floats(-250, -80),
    st.lists(st.floats(-500, 500), min_size=3, max_size=3),
    st.integers(0, 2**31),
)
def test_known_tip_is_recovered_under_noise(tip_xy, tip_z, pivot, seed):
    tip = np.array([*tip_xy, tip_z])
    result = pivot_calibration(_pivot_poses(tip, np.array(pivot), seed=seed))
    assert np.linalg.norm(result.tip_in_tool_mm - tip) < TIP_TOL_MM
    assert np.linalg.norm(result.pivot_in_tracker_mm - pivot) < TIP_TOL_MM
    assert result.warnings == ()


def test_rms_reflects_the_jitter():
    result = pivot_calibration(_pivot_poses(TIP, PIVOT, noise_mm=0.25))
    # 3-D RMS of isotropic 0.25 mm per-axis jitter is 0.43 mm; rotation jitter adds ~0.16 mm.
    assert 0.35 < result.rms_mm < 0.6
    assert result.frames_used == 200


def test_slipped_frames_are_rejected():
    poses = _pivot_poses(TIP, PIVOT, seed=4)
    slipped = np.arange(0, 200, 4)  # 25% of the frames: the tip lifted 5-20 mm off the divot
    rng = np.random.default_rng(9)
    offsets = rng.normal(0, 1, (len(slipped), 3))
    offsets *= rng.uniform(5, 20, (len(slipped), 1)) / np.linalg.norm(
        offsets, axis=1, keepdims=True
    )
    poses[slipped, :3, 3] += offsets
    result = pivot_calibration(poses)
    assert np.linalg.norm(result.tip_in_tool_mm - TIP) < TIP_TOL_MM
    assert not result.inliers[slipped].any()
    assert result.frames_used == 150
    assert any("tip left the pivot point" in warning for warning in result.warnings)


def test_missing_frames_are_skipped_and_reported():
    poses = _pivot_poses(TIP, PIVOT, seed=5)
    poses[10:20] = np.nan
    result = pivot_calibration(poses)
    assert np.linalg.norm(result.tip_in_tool_mm - TIP) < TIP_TOL_MM
    assert not result.inliers[10:20].any()
    assert any("10 frames of the pivoting had no pose" in warning for warning in result.warnings)


def test_rotation_about_one_axis_only_is_refused():
    """The tip's offset along the only axis it turned about cannot be known."""
    poses = _pivot_poses(TIP, PIVOT, axes=(0,), seed=6)
    with pytest.raises(RegistrationError, match="hardly turned"):
        pivot_calibration(poses)


def test_small_cone_warns():
    poses = _pivot_poses(TIP, PIVOT, cone_rad=0.05, twist_rad=0.05, noise_mm=0.01, seed=7)
    result = pivot_calibration(poses)
    assert any("least-covered direction" in warning for warning in result.warnings)


def test_a_tool_that_did_not_turn_is_rejected():
    poses = _pivot_poses(TIP, PIVOT, cone_rad=0.005, twist_rad=0.005, noise_mm=0.01, seed=8)
    with pytest.raises(RegistrationError, match="hardly turned"):
        pivot_calibration(poses)


def test_six_digit_matrices_of_a_recording_are_accepted():
    """PLUS files print 6 significant digits: rotations orthonormal to ~1e-4 only."""
    poses = _pivot_poses(TIP, PIVOT, seed=9)
    rounded = np.array([[[float(f"{v:.6g}") for v in row] for row in pose] for pose in poses])
    result = pivot_calibration(rounded)
    assert np.linalg.norm(result.tip_in_tool_mm - TIP) < TIP_TOL_MM


TRACKING = SHARED_DATA / "tracking"
WATER_TANK = TRACKING / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"


def test_real_recording_without_pivoting_is_refused():
    """The PLUS water-tank buffer translates its tools without turning them: no pivot."""
    from devices.sequence_file import read_sequence  # tests may cross packages

    sequence = read_sequence(WATER_TANK)
    stylus = sequence.tracker_from_tool[:, sequence.tools.index("stylus")]
    with pytest.raises(RegistrationError, match="hardly turned"):
        pivot_calibration(stylus)


def test_too_few_frames_are_rejected():
    with pytest.raises(RegistrationError, match="at least 6 poses; got 5"):
        pivot_calibration(_pivot_poses(TIP, PIVOT, n=5))


def test_all_frames_missing_is_rejected():
    with pytest.raises(RegistrationError, match="at least 6 poses; got 0"):
        pivot_calibration(np.full((50, 4, 4), np.nan))


def test_wrong_shape_is_rejected():
    with pytest.raises(RegistrationError, match=r"\(M, 4, 4\); got \(10, 3, 4\)"):
        pivot_calibration(np.zeros((10, 3, 4)))


def test_non_rigid_pose_is_rejected():
    poses = _pivot_poses(TIP, PIVOT)
    poses[3, :3, :3] *= 2.0
    with pytest.raises(RegistrationError, match=r"\[3\] is not a rigid transform"):
        pivot_calibration(poses)


def test_frames_without_a_common_pivot_are_rejected():
    rng = np.random.default_rng(1)
    poses = np.tile(np.eye(4), (40, 1, 1))
    poses[:, :3, :3] = Rotation.random(40, random_state=2).as_matrix()
    poses[:, :3, 3] = rng.uniform(-300, 300, (40, 3))
    with pytest.raises(RegistrationError, match="no common pivot|agree on one pivot point"):
        pivot_calibration(poses)


def test_non_positive_threshold_is_rejected():
    with pytest.raises(RegistrationError, match="inlier_threshold_mm must be > 0"):
        PivotSettings(inlier_threshold_mm=0.0)


def test_zero_iterations_are_rejected():
    with pytest.raises(RegistrationError, match="ransac_iterations must be >= 1"):
        PivotSettings(ransac_iterations=0)
