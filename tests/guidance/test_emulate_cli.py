"""``gestes emulate ndi``: prints a port that NDITracker tracks through, stops cleanly, rejects bad
options with one line."""

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devices.frame import PoseStatus
from devices.ndi.tracker import NDITracker
from devices.tools import BUILTIN_TOOLS
from guidance.cli import main

REPOSITORY = Path(__file__).resolve().parents[2]
# Bounds on a hang only: the command's start (imports, the simulation) on a loaded 2-core
# machine, and each reply of the emulator, a process the machine may leave waiting.
START_TIMEOUT_S = 300.0
REPLY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


@pytest.fixture
def emulate_process():
    """``start(*options) -> (process, port)``; every process is killed at teardown."""
    processes = []

    def start(*options: str) -> tuple[subprocess.Popen, str]:
        command = [sys.executable, "-m", "guidance.cli", "emulate", "ndi", *options]
        process = subprocess.Popen(
            command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes.append(process)
        readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        assert readable, "the emulator printed no port in time"
        return process, process.stdout.readline().strip()

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(STOP_TIMEOUT_S)
        process.stdout.close()
        process.stderr.close()


def test_emulated_polaris_serves_the_demo_to_the_driver(emulate_process):
    process, port = emulate_process("--source", "sim:demo", "--duration", "30")
    assert os.path.exists(port)
    tools = {"stylus": BUILTIN_TOOLS["stylus"], "reference": BUILTIN_TOOLS["reference"]}
    with NDITracker(port, tools, timeout_s=REPLY_TIMEOUT_S) as tracker:
        frames = [tracker.read() for _ in range(3)]
    numbers = [frame.frame_number for frame in frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert any(pose.status is PoseStatus.OK for frame in frames for pose in frame.poses.values())
    process.send_signal(signal.SIGTERM)
    assert process.wait(STOP_TIMEOUT_S) == 0


def test_missing_tool_fault_option(emulate_process):
    _, port = emulate_process("--source", "sim:demo", "--missing", "stylus", "--duration", "30")
    tools = {"stylus": BUILTIN_TOOLS["stylus"], "reference": BUILTIN_TOOLS["reference"]}
    with NDITracker(port, tools, timeout_s=REPLY_TIMEOUT_S) as tracker:
        assert tracker.read().poses["stylus"].status is PoseStatus.MISSING


def test_ndi_source_is_rejected(capsys):
    assert main(["emulate", "ndi", "--source", "ndi:/dev/ttyUSB0"]) == 2
    assert "sim:demo or replay:FILE" in capsys.readouterr().err


def test_missing_recording_is_one_line_error(capsys, tmp_path):
    assert main(["emulate", "ndi", "--source", f"replay:{tmp_path / 'none.igs.mha'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gestes emulate: error:")
    assert "Traceback" not in err


def test_negative_fault_count_is_rejected(capsys):
    assert main(["emulate", "ndi", "--source", "sim:demo", "--corrupt-crc-every", "-1"]) == 2
    assert "corrupt_crc_every must be >= 0" in capsys.readouterr().err


def test_fault_tool_names_match_whatever_their_case(emulate_process):
    _, port = emulate_process("--source", "sim:demo", "--missing", "STYLUS", "--duration", "30")
    tools = {"stylus": BUILTIN_TOOLS["stylus"], "reference": BUILTIN_TOOLS["reference"]}
    with NDITracker(port, tools, timeout_s=REPLY_TIMEOUT_S) as tracker:
        assert tracker.read().poses["stylus"].status is PoseStatus.MISSING


def test_a_fault_naming_an_unknown_tool_lists_the_tools(capsys):
    command = ["emulate", "ndi", "--source", "sim:demo", "--missing", "needle", "--duration", "1"]
    assert main(command) == 2
    assert "no tool 'needle' in the source sim:demo; its tools are 'stylus', 'reference'" in (
        capsys.readouterr().err
    )
