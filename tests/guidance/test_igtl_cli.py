"""``--igtl-server``: the option's parsing, and ``gestes replay`` streaming a recording to a
pyigtl client in another process's shoes."""

import argparse
import signal
import subprocess
import sys

import numpy as np
import pyigtl
import pytest

from devices.igtl.settings import IGTL_PORT, ServerSettings
from devices.sequence_file import read_sequence
from guidance.cli import main
from guidance.commands.igtl_option import add_igtl_server_option
from tests.devices.igtl.peers import DEADLINE_S


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
