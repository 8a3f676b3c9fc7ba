"""SimulatedTracker: timing, noise statistics against theory, loss events, EM mode, determinism."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from devices.clock import FakeClock
from devices.exceptions import ConfigurationError, StreamEnded, TrackerError, TrackerTimeout
from devices.frame import PoseStatus
from devices.noise import CameraView, EMNoise, MetalObject, OpticalNoise, TrackingEvents
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from registration.transforms import apply_transform, invert_rigid, make_rigid, rotation_angle_rad
from registration.tre import expected_fre_rms, predict_tre_rms

STYLUS = BUILTIN_TOOLS["stylus"]
# A stylus 1 m in front of the camera, turned about two axes so no error hides in one plane.
C, S = math.cos(0.4), math.sin(0.4)
ROTATION = np.array([[C, 0.0, S], [0.0, 1.0, 0.0], [-S, 0.0, C]]) @ np.array(
    [[1.0, 0.0, 0.0], [0.0, C, -S], [0.0, S, C]]
)
STYLUS_POSE = make_rigid(ROTATION, [20.0, -30.0, -1000.0])


@dataclass(frozen=True)
class StaticMotion:
    """Every listed tool holds one pose for ``duration_s`` seconds."""

    poses: dict
    duration_s: float

    def __call__(self, t_s):
        return self.poses


def stylus_tracker(
    noise=OpticalNoise(),  # noqa: B008
    duration_s=10.0,
    rate_hz=60.0,
    seed=0,
    realtime=False,
    clock=None,
):
    motion = StaticMotion({"stylus": STYLUS_POSE}, duration_s)
    return SimulatedTracker(motion, {"stylus": STYLUS}, noise, rate_hz, seed, realtime, clock)


def stylus_frames(tracker):
    with tracker:
        return list(tracker)


def statuses(frames):
    return [frame.poses["stylus"].status for frame in frames]


def test_frames_are_stamped_by_frame_number_over_rate():
    frames = stylus_frames(stylus_tracker(duration_s=1.0, rate_hz=50.0))
    assert [f.frame_number for f in frames] == list(range(51))
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(51) / 50.0, atol=1e-12)


def test_reading_past_the_motion_raises_stream_ended():
    tracker = stylus_tracker(duration_s=0.05, rate_hz=20.0)
    with tracker:
        tracker.read()
        tracker.read()
        with pytest.raises(StreamEnded):
            tracker.read()


def test_reading_before_start_is_an_error():
    with pytest.raises(TrackerError, match="start"):
        stylus_tracker().read()


def test_without_noise_the_pose_is_exact():
    noise = OpticalNoise(marker_jitter_rms_mm=0.0)
    pose = stylus_frames(stylus_tracker(noise, duration_s=0.1))[-1].poses["stylus"]
    assert pose.status is PoseStatus.OK
    np.testing.assert_allclose(pose.tracker_from_tool, STYLUS_POSE, atol=1e-9)
    assert pose.error_rms < 1e-9


def test_reported_fit_error_matches_fitzpatrick_fre():
    frames = stylus_frames(stylus_tracker(duration_s=40.0))
    errors = np.array([f.poses["stylus"].error_rms for f in frames])
    expected = expected_fre_rms(4, 0.25)
    # 2401 frames: the RMS estimate is within about 1.5 % (1 sigma); allow 5 %.
    assert math.sqrt(np.mean(errors**2)) == pytest.approx(expected, rel=0.05)


def test_tip_error_grows_with_distance_from_the_marker_centroid_as_predicted():
    frames = stylus_frames(stylus_tracker(duration_s=40.0))
    axis = (STYLUS.tip_mm - STYLUS.centroid_mm) / np.linalg.norm(STYLUS.tip_mm - STYLUS.centroid_mm)
    distances_mm = np.array([0.0, 80.0, 160.0, 320.0])
    targets_tool = STYLUS.centroid_mm + distances_mm[:, None] * axis
    truth = apply_transform(STYLUS_POSE, targets_tool)
    errors = np.array(
        [
            np.linalg.norm(
                apply_transform(f.poses["stylus"].tracker_from_tool, targets_tool) - truth, axis=1
            )
            for f in frames
        ]
    )
    tre_rms = np.sqrt(np.mean(errors**2, axis=0))
    assert np.all(np.diff(tre_rms) > 0.0)
    # Fitzpatrick's first-order TRE formula, tolerance 8 % (sampling error about 1.5 %).
    predicted = predict_tre_rms(STYLUS.markers_mm, 0.25, targets_tool)
    np.testing.assert_allclose(tre_rms, predicted, rtol=0.08)


def test_same_seed_gives_the_same_frames_and_another_seed_does_not():
    noise = OpticalNoise(events=TrackingEvents(dropout_rate_hz=5.0))
    first = stylus_frames(stylus_tracker(noise, duration_s=2.0, seed=7))
    again = stylus_frames(stylus_tracker(noise, duration_s=2.0, seed=7))
    other = stylus_frames(stylus_tracker(noise, duration_s=2.0, seed=8))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(
            a.poses["stylus"].tracker_from_tool, b.poses["stylus"].tracker_from_tool
        )
        assert a.poses["stylus"].status is b.poses["stylus"].status
    assert not np.allclose(
        first[0].poses["stylus"].tracker_from_tool, other[0].poses["stylus"].tracker_from_tool
    )


def test_restarting_replays_the_same_frames():
    tracker = stylus_tracker(duration_s=0.5)
    first = stylus_frames(tracker)
    second = stylus_frames(tracker)
    np.testing.assert_array_equal(
        first[-1].poses["stylus"].tracker_from_tool, second[-1].poses["stylus"].tracker_from_tool
    )


def test_tool_absent_from_the_motion_is_missing_with_nan_pose():
    motion = StaticMotion({"stylus": STYLUS_POSE}, 0.1)
    tracker = SimulatedTracker(motion, BUILTIN_TOOLS)
    with tracker:
        frame = tracker.read()
    assert frame.poses["reference"].status is PoseStatus.MISSING
    assert np.all(np.isnan(frame.poses["reference"].tracker_from_tool))
    assert frame.poses["stylus"].status is PoseStatus.OK


def test_dropouts_cost_single_frames_at_the_given_rate():
    noise = OpticalNoise(events=TrackingEvents(dropout_rate_hz=6.0))
    frames = stylus_frames(stylus_tracker(noise, duration_s=100.0))
    missing = np.array([s is PoseStatus.MISSING for s in statuses(frames)])
    # P(a frame is hit) = 1 - exp(-rate / frame rate); ~570 hits, sigma ~ 4 %, tolerance 15 %.
    assert missing.mean() == pytest.approx(1.0 - math.exp(-6.0 / 60.0), rel=0.15)
    assert all(
        np.all(np.isnan(f.poses["stylus"].tracker_from_tool))
        for f, m in zip(frames, missing, strict=True)
        if m
    )


def test_occlusions_last_their_duration():
    events = TrackingEvents(occlusion_rate_hz=0.5, occlusion_duration_s=0.5)
    frames = stylus_frames(stylus_tracker(OpticalNoise(events=events), duration_s=100.0))
    missing = np.array([s is PoseStatus.MISSING for s in statuses(frames)], dtype=int)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing, [0]])))
    run_lengths = edges[1::2] - edges[::2]
    assert len(run_lengths) > 10
    # 0.5 s at 60 Hz covers 30 or 31 frame instants; merged occlusions only make runs longer.
    assert run_lengths.min() >= 30
    # Coverage of a Poisson process of intervals: 1 - exp(-rate * duration), tolerance 25 %.
    assert missing.mean() == pytest.approx(1.0 - math.exp(-0.25), rel=0.25)


def test_volume_exits_go_partial_then_out_then_partial():
    events = TrackingEvents(out_of_volume_rate_hz=0.2, out_of_volume_duration_s=2.0)
    frames = stylus_frames(stylus_tracker(OpticalNoise(events=events), duration_s=100.0))
    seen = statuses(frames)
    runs, current = [], []
    for status in seen:
        if status is PoseStatus.OK:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(status)
    assert len(runs) >= 5
    for run in runs:
        assert run[0] is PoseStatus.PARTIALLY_OUT_OF_VOLUME
        assert run[-1] is PoseStatus.PARTIALLY_OUT_OF_VOLUME
        assert PoseStatus.OUT_OF_VOLUME in run
    for frame in frames:
        pose = frame.poses["stylus"]
        if pose.status is PoseStatus.PARTIALLY_OUT_OF_VOLUME:
            assert np.all(np.isfinite(pose.tracker_from_tool))
        if pose.status is PoseStatus.OUT_OF_VOLUME:
            assert np.all(np.isnan(pose.tracker_from_tool))


def em_errors(frames):
    positions = np.array([f.poses["stylus"].tracker_from_tool[:3, 3] for f in frames])
    angles = np.array(
        [
            rotation_angle_rad(
                (f.poses["stylus"].tracker_from_tool @ invert_rigid(STYLUS_POSE))[:3, :3]
            )
            for f in frames
        ]
    )
    return positions - STYLUS_POSE[:3, 3], angles


def test_em_noise_matches_its_settings():
    noise = EMNoise(position_rms_mm=0.5, orientation_rms_rad=math.radians(0.3))
    offsets, angles = em_errors(stylus_frames(stylus_tracker(noise, duration_s=50.0)))
    # 3001 frames: RMS estimates within about 1 % (1 sigma); allow 5 %.
    assert math.sqrt(np.mean(np.sum(offsets**2, axis=1))) == pytest.approx(0.5, rel=0.05)
    assert math.sqrt(np.mean(angles**2)) == pytest.approx(math.radians(0.3), rel=0.05)
    # Isotropic: each axis carries a third of the variance (5 % x 3 sigma of 2.6 % each).
    np.testing.assert_allclose(np.mean(offsets**2, axis=0), 0.25 / 3.0, rtol=0.1)


def test_metal_pushes_em_poses_away_and_raises_the_reported_error():
    position = STYLUS_POSE[:3, 3]
    direction = np.array([1.0, 0.0, 0.0])
    metal_near = MetalObject(
        center_mm=position - 50.0 * direction, radius_mm=50.0, bias_at_radius_mm=2.0
    )
    metal_far = MetalObject(
        center_mm=position - 200.0 * direction, radius_mm=50.0, bias_at_radius_mm=2.0
    )
    near = stylus_frames(stylus_tracker(EMNoise(metal=metal_near), duration_s=10.0))
    far = stylus_frames(stylus_tracker(EMNoise(metal=metal_far), duration_s=10.0))
    near_offsets, _ = em_errors(near)
    far_offsets, _ = em_errors(far)
    # Mean of 601 frames: noise sigma 0.016 mm per axis, tolerance 0.06 mm.
    np.testing.assert_allclose(near_offsets.mean(axis=0), 2.0 * direction, atol=0.06)
    np.testing.assert_allclose(far_offsets.mean(axis=0), 2.0 / 64.0 * direction, atol=0.06)
    assert near[0].poses["stylus"].error_rms > far[0].poses["stylus"].error_rms


def test_realtime_paces_samples_on_the_clock():
    clock = FakeClock(7.0)
    tracker = stylus_tracker(duration_s=0.25, rate_hz=40.0, realtime=True, clock=clock)
    read_at = []
    with tracker:
        for frame in tracker:
            read_at.append((clock.now(), frame))
    # Sample k is due k / 40 s after start, and is stamped with its simulated time k / 40 s.
    np.testing.assert_allclose([at for at, _ in read_at], 7.0 + np.arange(11) / 40.0, atol=1e-12)
    assert [f.frame_number for _, f in read_at] == list(range(11))
    assert [f.timestamp for _, f in read_at] == [k / 40.0 for k in range(11)]
    assert [f.unfiltered_timestamp for _, f in read_at] == [k / 40.0 for k in range(11)]


def test_realtime_reader_that_falls_behind_gets_the_newest_sample():
    clock = FakeClock()
    with stylus_tracker(rate_hz=40.0, realtime=True, clock=clock) as tracker:
        assert tracker.read().frame_number == 0
        clock.advance(0.2)  # the reader was busy for 8 periods
        assert tracker.read().frame_number == 8
        assert tracker.read().frame_number == 9
        assert clock.now() == pytest.approx(9 / 40.0)


def test_realtime_read_times_out_before_the_next_frame():
    clock = FakeClock()
    tracker = stylus_tracker(rate_hz=1.0, realtime=True, clock=clock)
    with tracker:
        tracker.read()
        with pytest.raises(TrackerTimeout):
            tracker.read(timeout=0.05)
        assert clock.now() == 0.05  # waited the timeout, not the second
        assert tracker.read().frame_number == 1
        assert clock.now() == 1.0


def test_rejects_zero_rate():
    with pytest.raises(ConfigurationError, match="rate_hz"):
        stylus_tracker(rate_hz=0.0)


def test_rejects_no_tools():
    with pytest.raises(ConfigurationError, match="at least one tool"):
        SimulatedTracker(StaticMotion({}, 1.0), {})


def test_rejects_non_finite_motion_duration():
    with pytest.raises(ConfigurationError, match="duration_s"):
        SimulatedTracker(StaticMotion({}, math.nan), BUILTIN_TOOLS)


def test_rejects_a_motion_pose_that_is_not_rigid():
    scaled = STYLUS_POSE.copy()
    scaled[:3, :3] *= 2.0
    tracker = SimulatedTracker(StaticMotion({"stylus": scaled}, 1.0), {"stylus": STYLUS})
    with tracker, pytest.raises(ConfigurationError, match="stylus"):
        tracker.read()


def test_rejects_negative_marker_jitter():
    with pytest.raises(ConfigurationError, match="marker_jitter_rms_mm"):
        OpticalNoise(marker_jitter_rms_mm=-0.1)


def test_rejects_negative_event_rate():
    with pytest.raises(ConfigurationError, match="dropout_rate_hz"):
        TrackingEvents(dropout_rate_hz=-1.0)


def test_rejects_metal_with_zero_radius():
    with pytest.raises(ConfigurationError, match="radius_mm"):
        MetalObject(center_mm=[0.0, 0.0, 0.0], radius_mm=0.0)


# -- camera geometry: line of sight and measurement volume ---------------------------------------

CAMERA = OpticalNoise(camera=CameraView())
# Tool +x (the marker normals) toward the camera, tool +z up: the markers face the camera.
FACING = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def turned(angle_rad):
    """FACING turned by ``angle_rad`` about the tracker's vertical axis (y)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) @ FACING


def seen_pose(rotation, position, tool=STYLUS, noise=CAMERA):
    motion = StaticMotion({"stylus": make_rigid(rotation, position)}, 0.0)
    with SimulatedTracker(motion, {"stylus": tool}, noise) as tracker:
        return tracker.read().poses["stylus"]


def test_markers_facing_the_camera_are_tracked():
    assert seen_pose(turned(math.radians(80.0)), [0.0, 0.0, -1500.0]).status is PoseStatus.OK


def test_markers_turned_away_from_the_camera_are_missing():
    pose = seen_pose(turned(math.radians(100.0)), [0.0, 0.0, -1500.0])
    assert pose.status is PoseStatus.MISSING
    assert np.all(np.isnan(pose.tracker_from_tool))


def test_a_tool_beyond_the_far_plane_is_out_of_volume():
    pose = seen_pose(FACING, [0.0, 0.0, -2600.0])
    assert pose.status is PoseStatus.OUT_OF_VOLUME
    assert np.all(np.isnan(pose.tracker_from_tool))


def test_a_tool_across_the_far_plane_is_partially_out_and_keeps_its_pose():
    # Markers span 125 mm along tool z (up); tip the top 60 degrees away from the camera so that
    # they span about 108 mm of depth, the markers still facing the camera at 60 degrees.
    c, s = math.cos(math.radians(-60.0)), math.sin(math.radians(-60.0))
    tilted = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]) @ FACING
    position = [0.0, 0.0, -2350.0]
    markers_z = apply_transform(make_rigid(tilted, position), STYLUS.markers_mm)[:, 2]
    assert markers_z.min() < -2400.0 < markers_z.max()
    pose = seen_pose(
        tilted, position, noise=OpticalNoise(camera=CameraView(), marker_jitter_rms_mm=0.0)
    )
    assert pose.status is PoseStatus.PARTIALLY_OUT_OF_VOLUME
    np.testing.assert_allclose(pose.tracker_from_tool, make_rigid(tilted, position), atol=1e-9)


def test_a_pose_is_fitted_to_the_markers_in_view_only():
    # One marker faces away: three remain, and the fit RMS follows Fitzpatrick for N = 3.
    normals = np.tile([1.0, 0.0, 0.0], (4, 1))
    normals[3] = [-1.0, 0.0, 0.0]
    tool = ToolDefinition("stylus", STYLUS.markers_mm, STYLUS.tip_mm, normals=normals)
    motion = StaticMotion({"stylus": make_rigid(FACING, [0.0, 0.0, -1500.0])}, 30.0)
    with SimulatedTracker(motion, {"stylus": tool}, CAMERA) as tracker:
        errors = np.array([frame.poses["stylus"].error_rms for frame in tracker])
    # 1801 frames; tolerance 5 % (sampling error about 2.5 % for 3 degrees of freedom).
    assert math.sqrt(np.mean(errors**2)) == pytest.approx(expected_fre_rms(3, 0.25), rel=0.05)


def test_rejects_a_camera_whose_near_plane_is_beyond_its_far_plane():
    with pytest.raises(ConfigurationError, match="near_mm < far_mm"):
        CameraView(near_mm=3000.0, far_mm=2000.0)


def test_rejects_a_camera_half_angle_of_ninety_degrees():
    with pytest.raises(ConfigurationError, match="half_width_rad"):
        CameraView(half_width_rad=math.pi / 2)


def test_rejects_noise_that_is_not_a_noise_setting():
    with pytest.raises(ConfigurationError, match="OpticalNoise or EMNoise"):
        stylus_tracker(noise=0.25)


def test_rejects_a_negative_seed():
    with pytest.raises(ConfigurationError, match="seed"):
        stylus_tracker(seed=-1)


# -- temporally correlated jitter ----------------------------------------------------------------


def test_correlated_jitter_keeps_its_rms_and_correlates_as_set():
    noise = OpticalNoise(correlation_time_s=0.1)
    frames = stylus_frames(stylus_tracker(noise, duration_s=60.0))
    errors = np.array([f.poses["stylus"].error_rms for f in frames])
    offsets = (
        np.array([f.poses["stylus"].tracker_from_tool[:3, 3] for f in frames]) - STYLUS_POSE[:3, 3]
    )
    # About 300 independent samples (60 s / 2 tau): the RMS within 10 %.
    assert math.sqrt(np.mean(errors**2)) == pytest.approx(expected_fre_rms(4, 0.25), rel=0.1)
    # Samples 1/60 s apart correlate by exp(-dt / tau) = 0.846; tolerance 0.04.
    lag_one = [np.corrcoef(offsets[:-1, axis], offsets[1:, axis])[0, 1] for axis in range(3)]
    np.testing.assert_allclose(lag_one, math.exp(-1.0 / 6.0), atol=0.04)


def test_white_jitter_does_not_correlate():
    offsets = np.array(
        [
            f.poses["stylus"].tracker_from_tool[:3, 3]
            for f in stylus_frames(stylus_tracker(duration_s=30.0))
        ]
    )
    # 1801 independent samples: correlation within 0.1 of zero (about 4 sigma).
    lag_one = [np.corrcoef(offsets[:-1, axis], offsets[1:, axis])[0, 1] for axis in range(3)]
    np.testing.assert_allclose(lag_one, 0.0, atol=0.1)


def test_rejects_a_negative_correlation_time():
    with pytest.raises(ConfigurationError, match="correlation_time_s"):
        OpticalNoise(correlation_time_s=-1.0)


def test_correlated_em_noise_keeps_its_rms_and_correlates_as_set():
    noise = EMNoise(position_rms_mm=0.5, correlation_time_s=0.1)
    offsets, angles = em_errors(stylus_frames(stylus_tracker(noise, duration_s=60.0)))
    # About 300 independent samples: RMS within 10 %; lag-one correlation exp(-1/6) within 0.04.
    assert math.sqrt(np.mean(np.sum(offsets**2, axis=1))) == pytest.approx(0.5, rel=0.1)
    assert math.sqrt(np.mean(angles**2)) == pytest.approx(math.radians(0.3), rel=0.1)
    lag_one = [np.corrcoef(offsets[:-1, axis], offsets[1:, axis])[0, 1] for axis in range(3)]
    np.testing.assert_allclose(lag_one, math.exp(-1.0 / 6.0), atol=0.04)
