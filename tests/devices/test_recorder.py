"""Recording a tracker: what is recorded replays identically, and nothing written is lost."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devices.exceptions import (
    ConfigurationError,
    FrameNotDue,
    RecordingError,
    TrackerDisconnected,
)
from devices.recorder import FrameRecorder, RecordingEnd, RecordingFailed, record
from devices.replay import ReplayTracker
from devices.sequence_file import read_sequence
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from registration.transforms import make_rigid

REPO = Path(__file__).resolve().parents[2]


class Still:
    """Both built-in tools held still for ``duration_s``."""

    def __init__(self, duration_s):
        self.duration_s = duration_s

    def __call__(self, t_s):
        return {
            "stylus": make_rigid(np.eye(3), [0.0, 0.0, -1000.0]),
            "reference": make_rigid(np.eye(3), [100.0, 0.0, -1000.0]),
        }


def simulated(duration_s=1.0):
    return SimulatedTracker(Still(duration_s), BUILTIN_TOOLS, seed=3)


class Unplugged(SimulatedTracker):
    """Delivers the simulated frames, then vanishes after ``count`` of them."""

    def __init__(self, count):
        super().__init__(Still(10.0), BUILTIN_TOOLS, seed=3)
        self.count = count
        self.stopped = False

    def _read_raw(self, timeout_s):
        if self.count == 0:
            raise TrackerDisconnected("cable pulled")
        self.count -= 1
        return super()._read_raw(timeout_s)

    def _close(self):
        self.stopped = True


def test_a_recording_replays_the_frames_that_were_recorded(tmp_path):
    path = tmp_path / "sim.igs.mha"
    done = record(simulated(), path)
    assert done.end is RecordingEnd.SOURCE_ENDED
    assert done.frame_count == 61
    assert done.tools == ("stylus", "reference")
    with simulated() as tracker:
        expected = list(tracker)
    with ReplayTracker(path, speed=None) as replay:
        replayed = list(replay)
    assert len(replayed) == len(expected) == 61
    for got, want in zip(replayed, expected, strict=True):
        assert got.timestamp == want.timestamp
        assert got.frame_number == want.frame_number
        for tool in BUILTIN_TOOLS:
            np.testing.assert_array_equal(
                got.poses[tool].tracker_from_tool, want.poses[tool].tracker_from_tool
            )
            assert got.poses[tool].error_rms == want.poses[tool].error_rms


def test_duration_counts_tracker_time(tmp_path):
    assert record(simulated(10.0), tmp_path / "d.igs.mha", 0.5).end is RecordingEnd.DURATION
    # Frames at 0, 1/60, ..., 0.5 s.
    assert len(read_sequence(tmp_path / "d.igs.mha")) == 31


def test_a_disconnect_keeps_every_frame_stops_the_tracker_and_says_how_many(tmp_path):
    tracker = Unplugged(count=5)
    path = tmp_path / "u.igs.mha"
    with pytest.raises(
        RecordingFailed, match=r"cable pulled \(5 frames recorded before it are kept"
    ):
        record(tracker, path)
    assert tracker.stopped
    sequence = read_sequence(path)
    assert len(sequence) == 5
    assert not sequence.recovered


def test_a_killed_recorder_leaves_a_recoverable_file(tmp_path):
    path = tmp_path / "killed.igs.mha"
    # The child records 10 frames, says so, then hangs inside a sink until it is killed: the
    # file is left without its end, as after a crash.
    script = (
        "import sys, threading, numpy as np\n"
        "from devices.acquisition import Acquisition\n"
        "from devices.recorder import FrameRecorder\n"
        "from devices.simulated import SimulatedTracker\n"
        "from devices.tools import BUILTIN_TOOLS\n"
        "class Still:\n"
        "    duration_s = 60.0\n"
        "    def __call__(self, t):\n"
        "        m = np.eye(4); m[2, 3] = -1000.0\n"
        "        return {'stylus': m}\n"
        "def announce(frame):\n"
        "    if frame.frame_number == 9:\n"
        "        print('ten', flush=True)\n"
        "        threading.Event().wait()\n"
        "tracker = SimulatedTracker(Still(), BUILTIN_TOOLS, rate_hz=100.0)\n"
        f"recorder = FrameRecorder({str(path)!r}, tracker.tools)\n"
        "Acquisition(tracker, [recorder, announce]).start()\n"
        "threading.Event().wait()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "ten\n"
    finally:
        process.kill()
        process.wait()
    sequence = read_sequence(path)
    assert sequence.recovered
    assert len(sequence) == 10
    assert sequence.frame_numbers.tolist() == list(range(10))


@pytest.mark.parametrize("duration", [0.0, -1.0, float("inf")])
def test_rejects_a_duration_that_is_not_positive_and_finite(tmp_path, duration):
    with pytest.raises(ConfigurationError, match="duration"):
        record(simulated(), tmp_path / "x.igs.mha", duration_s=duration)
    assert not (tmp_path / "x.igs.mha").exists()


class Interrupted(Unplugged):
    """Ctrl-C (a real SIGINT, which Python delivers to the main thread) after ``count`` frames;
    then no frame is ever due again."""

    def _read_raw(self, timeout_s):
        if self.count == 0:
            self.count = -1
            os.kill(os.getpid(), signal.SIGINT)
        if self.count < 0:
            raise FrameNotDue("nothing more")
        return super()._read_raw(timeout_s)


def test_ctrl_c_ends_the_recording_normally_with_every_frame_counted(tmp_path):
    done = record(Interrupted(count=4), tmp_path / "c.igs.mha")
    assert done.end is RecordingEnd.INTERRUPTED
    assert done.frame_count == 4
    sequence = read_sequence(tmp_path / "c.igs.mha")
    assert len(sequence) == 4
    assert not sequence.recovered  # DimSize written, and it agrees with the frames


def test_no_file_is_created_when_the_tracker_cannot_start(tmp_path):
    class Broken(Unplugged):
        def _open(self):
            raise TrackerDisconnected("no device")

    with pytest.raises(TrackerDisconnected):
        record(Broken(count=1), tmp_path / "none.igs.mha")
    assert not (tmp_path / "none.igs.mha").exists()


def test_an_existing_file_is_kept_and_the_tracker_not_started(tmp_path):
    path = tmp_path / "taken.igs.mha"
    path.write_text("keep me")
    tracker = Unplugged(count=3)
    tracker._open = lambda: pytest.fail("the tracker must not start")
    with pytest.raises(RecordingError, match="already exists"):
        record(tracker, path)
    assert path.read_text() == "keep me"
    assert record(simulated(), path, overwrite=True).frame_count == 61
    assert len(read_sequence(path)) == 61


def test_a_recording_must_be_named_as_a_sequence_file(tmp_path):
    with pytest.raises(RecordingError, match=r"x\.txt: .* extension \.igs\.mha"):
        record(simulated(), tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()


def test_recorder_sink_writes_both_timestamps(tmp_path):
    from devices.frame import Frame

    recorder = FrameRecorder(tmp_path / "t.igs.mha", ("stylus",))
    assert not (tmp_path / "t.igs.mha").exists()  # created with the first frame
    recorder(Frame(2.0, 7, {}, unfiltered_timestamp=2.004))
    recorder(Frame(2.5, 8, {}, unfiltered_timestamp=2.493))
    recorder.close()
    recorder.close()
    sequence = read_sequence(tmp_path / "t.igs.mha")
    assert sequence.timestamps_s.tolist() == [2.0, 2.5]
    assert sequence.unfiltered_timestamps_s.tolist() == [2.004, 2.493]
    assert sequence.frame(1).unfiltered_timestamp == 2.493
    with pytest.raises(RecordingError, match="closed"):
        recorder(Frame(3.0, 9, {}))


def test_a_recorder_closed_without_frames_leaves_an_empty_recording(tmp_path):
    FrameRecorder(tmp_path / "e.igs.mha", ("stylus", "reference")).close()
    sequence = read_sequence(tmp_path / "e.igs.mha")
    assert len(sequence) == 0
    assert sequence.tools == ("stylus", "reference")
