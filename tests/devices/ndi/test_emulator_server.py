"""The emulator's pty transport: baud-rate agreement, breaks, and the child-process wrapper."""

import termios

import pytest
import serial

from devices.clock import FakeClock
from devices.exceptions import ConfigurationError, TrackerError
from devices.ndi.emulator.process import EmulatorProcess
from devices.ndi.emulator.settings import EmulatorSettings, Faults, Model
from devices.ndi.framing import encode_command
from devices.ndi.tracker import NDITracker
from tests.devices.ndi.sources import CountingSource

READ_TIMEOUT_S = 0.3


def test_comm_is_honoured_commands_at_the_old_baud_are_not_understood(emulator):
    server = emulator()
    with serial.Serial(server.port, 9600, timeout=READ_TIMEOUT_S) as port:
        port.write(encode_command("COMM", "60000"))
        assert port.read_until(b"\r") == b"OKAYA896\r"
        port.write(encode_command("INIT"))
        assert port.read_until(b"\r") == b""  # still at 9600: garbled for the device
        port.baudrate = 921600
        port.write(encode_command("INIT"))
        assert port.read_until(b"\r") == b"OKAYA896\r"


def test_flush_then_silence_is_a_break(emulator):
    server = emulator()
    with serial.Serial(server.port, 9600, timeout=READ_TIMEOUT_S) as port:
        termios.tcflush(port.fileno(), termios.TCIOFLUSH)
        assert port.read_until(b"\r") == b"RESETBE6F\r"


def test_input_flush_before_a_command_is_not_a_break(emulator):
    server = emulator()
    with serial.Serial(server.port, 9600, timeout=READ_TIMEOUT_S) as port:
        port.reset_input_buffer()
        # 0.3 s of silence follow (the read times out), far more than a break needs: no RESET.
        assert port.read(1) == b""
        port.write(encode_command("INIT"))
        assert port.read_until(b"\r") == b"OKAYA896\r"


def test_wire_timing_paces_replies_at_the_baud_rate(emulator):
    clock = FakeClock()
    server = emulator(settings=EmulatorSettings(wire_timing=True), clock=clock)
    with serial.Serial(server.port, 9600, timeout=1.0) as port:
        port.write(encode_command("VER", "0"))
        reply = port.read_until(b"\r")
    assert clock.now() == pytest.approx(len(reply) * 10 / 9600)  # 10 bits per byte


def test_child_process_serves_the_driver_and_is_stopped():
    emulator = EmulatorProcess(CountingSource, EmulatorSettings(model=Model.AURORA))
    with emulator:
        assert emulator.alive
        with NDITracker(emulator.port, {"stylus": "1", "reference": "2"}) as tracker:
            assert tracker.read().frame_number == 0
    assert not emulator.alive


def test_child_process_that_cannot_build_its_source_reports_why():
    def broken_source():
        raise ValueError("no such recording")

    with pytest.raises(TrackerError, match="no such recording"):
        EmulatorProcess(broken_source).start()


def test_bad_fault_settings_are_rejected():
    with pytest.raises(ConfigurationError, match="reply_delay_s"):
        Faults(reply_delay_s=-1.0)
