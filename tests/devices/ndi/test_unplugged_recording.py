"""An NDI device unplugged while recording: TrackerDisconnected, and every frame read is kept."""

import numpy as np
import pytest

from devices.exceptions import TrackerDisconnected
from devices.ndi.emulator.process import EmulatorProcess
from devices.ndi.emulator.settings import EmulatorSettings, Faults
from devices.ndi.tracker import NDITracker
from devices.recorder import RecordingFailed, record
from devices.sequence_file import read_sequence
from devices.tools import BUILTIN_TOOLS
from tests.devices.ndi.sources import CountingSource, expected_pose

VANISH_AFTER_FRAMES = 25
TRANSLATION_TOLERANCE_MM = 1e-3  # float32 on the wire


def test_recording_keeps_the_frames_read_before_the_device_vanished(tmp_path):
    settings = EmulatorSettings(faults=Faults(vanish_after_frames=VANISH_AFTER_FRAMES))
    tools = {"stylus": BUILTIN_TOOLS["stylus"], "reference": BUILTIN_TOOLS["reference"]}
    path = tmp_path / "session.igs.mha"
    with EmulatorProcess(CountingSource, settings) as emulator:
        # The device vanishes: its port's end of file says so at once; the timeout bounds a hang.
        tracker = NDITracker(emulator.port, tools, timeout_s=30.0)
        with pytest.raises(
            RecordingFailed, match="24 frames recorded before it are kept"
        ) as failed:
            record(tracker, path)
    assert isinstance(failed.value.error, TrackerDisconnected)
    assert failed.value.recording.frame_count == VANISH_AFTER_FRAMES - 1
    sequence = read_sequence(path)
    # The device computes frame 25 and vanishes instead of sending it: frames 0..23 arrived.
    assert sequence.frame_numbers.tolist() == list(range(VANISH_AFTER_FRAMES - 1))
    for index, number in enumerate(sequence.frame_numbers):
        np.testing.assert_allclose(
            sequence.tracker_from_tool[index, 0, :3, 3],
            expected_pose(0, int(number))[:3, 3],
            atol=TRANSLATION_TOLERANCE_MM,
        )
