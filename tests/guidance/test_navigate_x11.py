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

import numpy as np

from devices.keyboard import STEP_MM
from devices.sequence_file import read_sequence
from devices.tools import BUILTIN_TOOLS
from tests.guidance import test_window_x11 as x11

x_display = x11.x_display  # the Xvfb fixture of the window's own X11 tests

TITLE = "gestes navigation"
START_S = 300.0  # building the scene and the window on a loaded 2-core machine


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
        time.sleep(1.0)
        output, errors = x11.close_like_a_user(x_display, window, process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    summary = json.loads((out / "navigation.json").read_text())
    assert summary["end"] == "the window was closed"
    recording = read_sequence(out / "navigation.igs.mha")
    assert len(recording) == summary["frames_recorded"] > 10
    stylus = recording.tracker_from_tool[:, recording.tools.index("stylus")]
    tool = BUILTIN_TOOLS["stylus"]
    pointing = stylus[0, :3, :3] @ (tool.tip_mm - tool.centroid_mm)
    pointing /= np.linalg.norm(pointing)
    moved = stylus[-1, :3, 3] - stylus[0, :3, 3]
    expected = 10 * STEP_MM * pointing + 5 * STEP_MM * np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(moved, expected, atol=1e-6)
    np.testing.assert_allclose(stylus[-1, :3, :3], stylus[0, :3, :3], atol=1e-12)
    assert "frames recorded" in output
