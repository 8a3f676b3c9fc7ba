"""The simulated tracker's two ways out: frames read one by one, and the whole recording as arrays
(``SimulatedTracker.sequence``) give the same numbers, bit for bit, whatever the noise model."""

import math

import numpy as np
import pytest

from devices.clock import FakeClock
from devices.frame import PoseStatus
from devices.noise import (
    CameraView,
    EMNoise,
    GaussMarkovNoise,
    MetalObject,
    OpticalNoise,
    TrackingEvents,
    VolumeDistortion,
)
from devices.sequence_file import TrackingSequence
from devices.simulated import BLOCK_SAMPLES, SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from registration.transforms import make_rigid, rotation_from_vector

TOOLS = {name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")}
# Tool +x (the marker normals) toward the camera, tool +z up: the markers face the camera.
FACING = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
REFERENCE = make_rigid(FACING, [-150.0, -40.0, -1300.0])


class SwingingStylus:
    """The stylus swings and recedes past the far plane and back, and is out of sight for a
    while; the reference stays. One pose per call (no ``sample``)."""

    duration_s = 2.5 * BLOCK_SAMPLES / 60.0

    def __call__(self, t_s):
        if 3.0 < t_s < 3.5:
            return {"reference": REFERENCE}
        turn = rotation_from_vector(np.array([0.0, 1.2 * math.sin(0.7 * t_s), 0.0]))
        depth = 1800.0 + 700.0 * math.sin(0.3 * t_s) ** 2
        return {"stylus": make_rigid(turn @ FACING, [0.0, 0.0, -depth]), "reference": REFERENCE}


class SampledStylus(SwingingStylus):
    """The same motion, offering ``sample`` for many times at once."""

    def sample(self, times_s):
        poses = {"stylus": np.full((len(times_s), 4, 4), np.nan)}
        poses["reference"] = np.repeat(REFERENCE[None], len(times_s), axis=0)
        for k, t_s in enumerate(times_s):
            one = self(float(t_s))
            if "stylus" in one:
                poses["stylus"][k] = one["stylus"]
        return poses


EVERYTHING_OPTICAL = OpticalNoise(
    marker_jitter_rms_mm=0.25,
    events=TrackingEvents(dropout_rate_hz=0.5, occlusion_rate_hz=0.2, out_of_volume_rate_hz=0.1),
    camera=CameraView(),
    correlation_time_s=0.05,
    drift_rms_mm=0.1,
    distortion=VolumeDistortion(),
)
EVERYTHING_EM = EMNoise(
    metal=MetalObject(np.array([0.0, 0.0, -1900.0])),
    events=TrackingEvents(dropout_rate_hz=0.5, occlusion_rate_hz=0.2),
    correlation_time_s=0.2,
)


def read_one_by_one(tracker):
    with tracker:
        return TrackingSequence.from_frames(list(tracker), tracker.tools)


def assert_same_recording(a, b):
    assert a.tools == b.tools
    np.testing.assert_array_equal(a.timestamps_s, b.timestamps_s)
    np.testing.assert_array_equal(a.unfiltered_timestamps_s, b.unfiltered_timestamps_s)
    np.testing.assert_array_equal(a.frame_numbers, b.frame_numbers)
    np.testing.assert_array_equal(a.statuses, b.statuses)
    # Bit for bit, NaN where a tool carries no pose.
    assert np.array_equal(a.tracker_from_tool, b.tracker_from_tool, equal_nan=True)
    assert np.array_equal(a.error_rms, b.error_rms, equal_nan=True)


@pytest.mark.parametrize("motion", [SwingingStylus(), SampledStylus()], ids=["called", "sampled"])
@pytest.mark.parametrize("noise", [EVERYTHING_OPTICAL, EVERYTHING_EM], ids=["optical", "em"])
def test_the_whole_recording_is_the_frames_read_one_by_one(motion, noise):
    tracker = SimulatedTracker(motion, TOOLS, noise, seed=11)
    recording = tracker.sequence()
    assert_same_recording(recording, read_one_by_one(tracker))
    # The recording spans several blocks and shows every status the model makes.
    assert len(recording) > 2 * BLOCK_SAMPLES
    seen = set(recording.statuses[:, 0])
    assert {PoseStatus.OK, PoseStatus.MISSING} <= seen
    if noise is EVERYTHING_OPTICAL:
        assert {PoseStatus.OUT_OF_VOLUME, PoseStatus.PARTIALLY_OUT_OF_VOLUME} <= seen


def test_a_motion_sampled_at_once_gives_what_it_gives_one_time_at_a_time():
    called = SimulatedTracker(SwingingStylus(), TOOLS, EVERYTHING_OPTICAL, seed=3).sequence()
    sampled = SimulatedTracker(SampledStylus(), TOOLS, EVERYTHING_OPTICAL, seed=3).sequence()
    assert_same_recording(called, sampled)


def test_a_reader_that_falls_behind_gets_the_recordings_frames_at_their_numbers():
    clock = FakeClock()
    tracker = SimulatedTracker(
        SwingingStylus(), TOOLS, EVERYTHING_OPTICAL, seed=5, realtime=True, clock=clock
    )
    recording = tracker.sequence()
    read = []
    with tracker:
        for step_s in (0.0, 0.3, 9.0, 0.05, 8.0):  # some gaps skip whole blocks
            clock.advance(step_s)
            read.append(tracker.read())
    numbers = [frame.frame_number for frame in read]
    assert numbers[2] - numbers[1] > BLOCK_SAMPLES
    for frame in read:
        k = frame.frame_number
        assert frame.timestamp == recording.timestamps_s[k]
        for column, tool in enumerate(recording.tools):
            pose = frame.poses[tool]
            assert pose.status is recording.statuses[k, column]
            assert np.array_equal(
                pose.tracker_from_tool, recording.tracker_from_tool[k, column], equal_nan=True
            )


def test_the_frames_poses_cannot_be_changed_by_a_sink():
    with SimulatedTracker(SwingingStylus(), TOOLS, OpticalNoise()) as tracker:
        pose = tracker.read().poses["stylus"].tracker_from_tool
    with pytest.raises(ValueError, match="read-only"):
        pose[0, 3] = 0.0


@pytest.mark.parametrize("tau_s", [0.0, 0.1])
def test_noise_drawn_in_pieces_is_the_noise_drawn_at_once(tau_s):
    times = np.arange(200) / 60.0

    def process():
        return GaussMarkovNoise((4, 3), 0.2, tau_s, np.random.default_rng(9))

    whole = process().samples(times)
    pieces = process()
    split = np.concatenate([pieces.samples(times[a:b]) for a, b in ((0, 1), (1, 77), (77, 200))])
    # The same draws in the same order; the decays exp(-dt / tau) are computed per piece.
    np.testing.assert_allclose(split, whole, rtol=0.0, atol=1e-15)
    if tau_s == 0.0:
        np.testing.assert_array_equal(split, whole)
