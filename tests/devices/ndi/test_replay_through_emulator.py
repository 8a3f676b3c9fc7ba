"""A real recording replayed through the emulator and read back by NDITracker, pose for pose."""

import numpy as np

from devices.ndi.emulator.process import EmulatorProcess
from devices.ndi.tracker import NDITracker
from devices.replay import ReplayTracker
from devices.tools import BUILTIN_TOOLS
from tests.shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "tracking" / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"
# The recorded rotation matrices are orthonormal only to 4.1e-4 (max |R^T R - I| of the first
# 20 frames); a quaternion carries the nearest rotation, so allow that much.
ROTATION_TOLERANCE = 5e-4
TRANSLATION_TOLERANCE_MM = 1e-3  # float32 of positions of a few hundred mm


def test_recorded_poses_come_back_through_the_ndi_protocol():
    recording = ReplayTracker(RECORDING, speed=None)
    sequence = recording.sequence
    index_of = {int(number): index for index, number in enumerate(sequence.frame_numbers)}
    tools = {name: BUILTIN_TOOLS["stylus"] for name in recording.tools}
    with (
        EmulatorProcess(lambda: ReplayTracker(RECORDING, speed=None)) as emulator,
        NDITracker(emulator.port, tools) as tracker,
    ):
        frames = [tracker.read() for _ in range(20)]
    assert [frame.frame_number for frame in frames] == [int(n) for n in sequence.frame_numbers[:20]]
    for frame in frames:
        index = index_of[frame.frame_number]
        for column, name in enumerate(recording.tools):
            pose = frame.poses[name]
            assert pose.status is sequence.statuses[index, column]
            expected = sequence.tracker_from_tool[index, column]
            if pose.valid:
                np.testing.assert_allclose(
                    pose.tracker_from_tool[:3, :3], expected[:3, :3], atol=ROTATION_TOLERANCE
                )
                np.testing.assert_allclose(
                    pose.tracker_from_tool[:3, 3], expected[:3, 3], atol=TRANSLATION_TOLERANCE_MM
                )
