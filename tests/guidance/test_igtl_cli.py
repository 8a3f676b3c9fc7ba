"""OpenIGTLink from the command line: ``--igtl-server`` parsed, ``gestes replay`` streaming to a
pyigtl client, and ``gestes record --tracker igtl:`` recording what a server streams."""

import argparse
import signal
import subprocess
import sys
import time

import numpy as np
import pyigtl
import pytest

from devices.igtl.messages import pack_message, pack_transform
from devices.igtl.server import IgtlServer
from devices.igtl.settings import IGTL_PORT, ServerSettings
from devices.sequence_file import read_sequence
from guidance.cli import main
from guidance.commands.igtl_option import add_igtl_server_option
from tests.devices.igtl.peers import DEADLINE_S, wait_until

EPOCH = 1.7e9
# A command's start on a loaded 2-core machine (imports, then the connection): bounds a hang.
START_S = 300.0
# Seconds of tracker time recorded, and at most streamed. The recording's clock is the messages'
# (a frame per message, 10 ms apart) but a stall of the streaming thread longer than the
# tracker's missing_after_s adds a frame at the host's time: a second recorded could then hold
# fewer than 50 messages on a loaded machine; three hold them even after two seconds of stalls.
RECORD_S = 3
MAX_STREAM_S = 60


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_igtl_server_option(parser)
    return parser.parse_args(argv)


def test_option_absent_alone_port_and_host():
    assert _parse().igtl_server is None
    assert _parse("--igtl-server").igtl_server == ServerSettings("127.0.0.1", IGTL_PORT)
    assert _parse("--igtl-server", "18945").igtl_server == ServerSettings("127.0.0.1", 18945)
    assert _parse("--igtl-server", "0.0.0.0:1").igtl_server == ServerSettings("0.0.0.0", 1)
    assert _parse("--igtl-server", "[::1]:5").igtl_server == ServerSettings("::1", 5)


@pytest.mark.parametrize("text", ["host:", "x", "1:99999", ":-1"])
def test_bad_addresses_are_usage_errors(text, capsys):
    with pytest.raises(SystemExit):
        _parse("--igtl-server", text)
    assert "expected [HOST:]PORT" in capsys.readouterr().err


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "demo.igs.mha"
    assert main(["record", "--tracker", "sim:demo", "--out", str(path), "--duration", "2"]) == 0
    return path


def test_replay_streams_the_recording_to_a_pyigtl_client(recording):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "guidance.cli",
            "replay",
            str(recording),
            "--loop",
            "--igtl-server",
            "127.0.0.1:0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = None
    try:
        line = process.stderr.readline()
        assert line.startswith("serving OpenIGTLink on 127.0.0.1:"), line
        client = pyigtl.OpenIGTLinkClient("127.0.0.1", int(line.rsplit(":", 1)[1]))
        stylus = client.wait_for_message("StylusToTracker", timeout=DEADLINE_S)
        to_reference = client.wait_for_message("StylusToReference", timeout=DEADLINE_S)
        assert stylus is not None and to_reference is not None
        sequence = read_sequence(recording)
        recorded = sequence.tracker_from_tool[:, sequence.tools.index("stylus")]
        closest = np.nanmin(np.abs(recorded - stylus.matrix).max(axis=(1, 2)))
        assert closest < 1e-3  # one of the recorded poses, to float32 precision (mm)
    finally:
        if client is not None:
            client.stop()
        process.send_signal(signal.SIGINT)
        process.wait(DEADLINE_S)
    assert process.returncode == 130


def _pose(index: int) -> np.ndarray:
    pose = np.eye(4)
    angle = 0.01 * index
    pose[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    pose[:3, 3] = (index * 0.5, -20.0, -1500.0)
    return pose


def test_record_from_an_openigtlink_server(tmp_path):
    """``gestes record --tracker igtl:...`` fed by a server streaming at 100 Hz: every recorded
    pose is the float32 of the one the server sent at the recorded (header) time."""
    out = tmp_path / "igtl.igs.mha"
    with IgtlServer(ServerSettings(port=0)) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guidance.cli",
                "record",
                "--tracker",
                f"igtl:127.0.0.1:{server.address[1]}",
                "--tool",
                "stylus=StylusToTracker",
                "--duration",
                str(RECORD_S),
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(
                lambda: server.client_count == 1 or process.poll() is not None,
                "gestes record to connect",
                START_S,
            )
            index = 0
            while process.poll() is None and index < 100 * MAX_STREAM_S:
                content = pack_transform(_pose(index))
                message = pack_message("TRANSFORM", "StylusToTracker", EPOCH + index / 100, content)
                server.publish({"StylusToTracker": message})
                index += 1
                time.sleep(0.01)
            _, err = process.communicate(timeout=DEADLINE_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    sequence = read_sequence(out)
    assert sequence.tools == ("stylus",)
    valid = [i for i, status in enumerate(sequence.statuses[:, 0]) if status.value == "ok"]
    assert len(valid) > 50
    for row in valid:
        index = round((sequence.unfiltered_timestamps_s[row] - EPOCH) * 100)
        expected = _pose(index).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(sequence.tracker_from_tool[row, 0], expected, rtol=0, atol=1e-4)
