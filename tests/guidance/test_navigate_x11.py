"""``gestes navigate --tracker keyboard`` for real: the command's window on an X server (Xvfb),
keys sent through the server (xdotool) move the virtual stylus, and closing the window as a
window manager does ends the run with the recording complete.

Needs the Debian packages xvfb and xdotool (``.ci/run`` installs them).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from devices.exceptions import RecordingError
from devices.keyboard import STEP_MM
from devices.sequence_file import TrackingSequence, read_sequence
from devices.tools import BUILTIN_TOOLS
from tests.guidance import test_window_x11 as x11

x_display = x11.x_display  # the Xvfb fixture of the window's own X11 tests

TITLE = "gestes navigation"
START_S = 300.0  # building the scene and the window on a loaded 2-core machine
MIN_FRAMES = 10


def _window(name: str, process: subprocess.Popen) -> str:
    """The window's id, once the command has opened it."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        found = subprocess.run(
            ["xdotool", "search", "--name", TITLE],
            env={**os.environ, "DISPLAY": name},
            capture_output=True,
            text=True,
        ).stdout.split()
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError("the navigation window did not open")


def gestes_on(name: str, *arguments: str) -> subprocess.Popen:
    """``gestes ARGUMENTS`` started on the X display ``name`` (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "guidance.cli", *arguments],
        env={**os.environ, "DISPLAY": name},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _moved_and_expected(recording: TrackingSequence) -> tuple[np.ndarray, np.ndarray]:
    """The stylus tip's move from the first recorded frame to the last (mm), and the move the
    test's keys make: ten pushes along the stylus, five steps toward the patient's left."""
    stylus = recording.tracker_from_tool[:, recording.tools.index("stylus")]
    tool = BUILTIN_TOOLS["stylus"]
    pointing = stylus[0, :3, :3] @ (tool.tip_mm - tool.centroid_mm)
    pointing /= np.linalg.norm(pointing)
    moved = stylus[-1, :3, 3] - stylus[0, :3, 3]
    return moved, 10 * STEP_MM * pointing + 5 * STEP_MM * np.array([1.0, 0.0, 0.0])


def _wait_for_the_keys(path: Path, process: subprocess.Popen) -> None:
    """Wait until the recording (written and flushed frame by frame) has more than
    ``MIN_FRAMES`` frames, the last with every key's move (the keyboard stylus has no frames
    while the window draws: a loaded machine records few); fails if the command ends first, or
    after ``START_S``."""
    deadline = time.monotonic() + START_S
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            recording = read_sequence(path)
        except (FileNotFoundError, RecordingError):  # not started yet, or read mid-write
            recording = None
        if (
            recording is not None
            and len(recording) > MIN_FRAMES
            and np.allclose(*_moved_and_expected(recording), atol=1e-6)
        ):
            return
        assert time.monotonic() < deadline, "the keys' move never reached the recording"
        time.sleep(0.2)


def test_keys_move_the_keyboard_stylus_and_closing_the_window_ends_the_run(x_display, tmp_path):
    out = tmp_path / "out"
    process = gestes_on(
        x_display, "navigate", "--scene", "builtin:needle-box", "--tracker", "keyboard",
        "--out", str(out),
    )  # fmt: skip
    try:
        window = _window(x_display, process)
        time.sleep(1.0)
        x11._xdotool(x_display, "windowfocus", "--sync", window)
        x11._xdotool(x_display, "key", "--delay", "100", *(["w"] * 10), *(["Right"] * 5))
        # Closed once a recorded frame shows every key taken (a loaded machine takes them late).
        _wait_for_the_keys(out / "navigation.igs.mha", process)
        output, errors = x11.close_like_a_user(x_display, window, process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    summary = json.loads((out / "navigation.json").read_text())
    assert summary["end"] == "the window was closed"
    recording = read_sequence(out / "navigation.igs.mha")
    assert len(recording) == summary["frames_recorded"] > MIN_FRAMES
    moved, expected = _moved_and_expected(recording)
    np.testing.assert_allclose(moved, expected, atol=1e-6)
    stylus = recording.tracker_from_tool[:, recording.tools.index("stylus")]
    np.testing.assert_allclose(stylus[-1, :3, :3], stylus[0, :3, :3], atol=1e-12)
    assert "frames recorded" in output
