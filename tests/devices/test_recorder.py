"""Recording a tracker: what is recorded replays identically, and nothing written is lost."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from devices.exceptions import ConfigurationError, RecordingError, TrackerDisconnected
from devices.frame import Frame
from devices.recorder import RecordingEnd, record
from devices.replay import ReplayTracker
from devices.sequence_file import read_sequence
from devices.simulated import SimulatedTracker
from devices.source_base import TrackerSource
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


class Unplugged(TrackerSource):
    """Delivers the simulated frames, then vanishes after ``count`` of them."""

    def __init__(self, count):
        self.inner = simulated(10.0)
        self.tools = self.inner.tools
        self.count = count
        self.stopped = False

    def start(self):
        self.inner.start()

    def read(self, timeout=None) -> Frame:
        if self.count == 0:
            raise TrackerDisconnected("cable pulled")
        self.count -= 1
        return self.inner.read(timeout)

    def stop(self):
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


def test_a_disconnect_keeps_every_frame_and_stops_the_tracker(tmp_path):
    tracker = Unplugged(count=5)
    path = tmp_path / "u.igs.mha"
    with pytest.raises(TrackerDisconnected):
        record(tracker, path)
    assert tracker.stopped
    sequence = read_sequence(path)
    assert len(sequence) == 5
    assert not sequence.recovered


def test_a_killed_recorder_leaves_a_recoverable_file(tmp_path):
    path = tmp_path / "killed.igs.mha"
    script = (
        "import math, numpy as np\n"
        "from devices.recorder import record\n"
        "from devices.simulated import SimulatedTracker\n"
        "from devices.tools import BUILTIN_TOOLS\n"
        "class Still:\n"
        "    duration_s = 60.0\n"
        "    def __call__(self, t):\n"
        "        m = np.eye(4); m[2, 3] = -1000.0\n"
        "        return {'stylus': m}\n"
        "tracker = SimulatedTracker(Still(), BUILTIN_TOOLS, rate_hz=100.0, realtime=True)\n"
        f"record(tracker, {str(path)!r})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 20000):
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    sequence = read_sequence(path)
    assert sequence.recovered
    assert len(sequence) >= 10
    assert np.all(np.diff(sequence.frame_numbers) > 0)


@pytest.mark.parametrize("duration", [0.0, -1.0, float("inf")])
def test_rejects_a_duration_that_is_not_positive_and_finite(tmp_path, duration):
    with pytest.raises(ConfigurationError, match="duration"):
        record(simulated(), tmp_path / "x.igs.mha", duration_s=duration)
    assert not (tmp_path / "x.igs.mha").exists()


class Interrupted(Unplugged):
    """Ctrl-C arrives after ``count`` frames."""

    def read(self, timeout=None) -> Frame:
        if self.count == 0:
            raise KeyboardInterrupt
        return super().read(timeout)


def test_ctrl_c_ends_the_recording_normally(tmp_path):
    done = record(Interrupted(count=4), tmp_path / "c.igs.mha")
    assert done.end is RecordingEnd.INTERRUPTED
    assert done.frame_count == 4
    assert len(read_sequence(tmp_path / "c.igs.mha")) == 4


def test_no_file_is_created_when_the_tracker_cannot_start(tmp_path):
    class Broken(Unplugged):
        def start(self):
            raise TrackerDisconnected("no device")

    with pytest.raises(TrackerDisconnected):
        record(Broken(count=1), tmp_path / "none.igs.mha")
    assert not (tmp_path / "none.igs.mha").exists()


def test_an_existing_file_is_kept_and_the_tracker_not_started(tmp_path):
    path = tmp_path / "taken.igs.mha"
    path.write_text("keep me")
    tracker = Unplugged(count=3)
    tracker.start = lambda: pytest.fail("the tracker must not start")
    with pytest.raises(RecordingError, match="already exists"):
        record(tracker, path)
    assert path.read_text() == "keep me"
    assert record(simulated(), path, overwrite=True).frame_count == 61
    assert len(read_sequence(path)) == 61
