"""NDITracker against the emulator on a pty: the bytes it sends, the poses it returns, faults."""

import os

import numpy as np
import pytest
import serial

from devices.clock import FakeClock
from devices.exceptions import (
    ConfigurationError,
    ProtocolError,
    TrackerDisconnected,
    TrackerError,
    TrackerTimeout,
)
from devices.frame import PoseStatus
from devices.ndi.emulator.device import Mode
from devices.ndi.emulator.settings import EmulatorSettings, Faults, Model
from devices.ndi.exceptions import CRCMismatch, NDICommandError
from devices.ndi.framing import encode_command
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState, PortStatus, SystemStatus
from devices.ndi.tracker import NDITracker, raw_frame_from_reply
from devices.tools import BUILTIN_TOOLS
from tests.devices.ndi.sources import ERROR_RMS_MM, CountingSource, expected_pose
from tests.shared_data import SHARED_DATA

ROM_DIR = SHARED_DATA / "rom"
BUILTIN = {"stylus": BUILTIN_TOOLS["stylus"], "reference": BUILTIN_TOOLS["reference"]}
ROTATION_TOLERANCE = 1e-6  # float32 quaternion components
TRANSLATION_TOLERANCE_MM = 1e-3  # float32 of ~1500 mm
FAULT_TIMEOUT_S = 0.3
# A bound only a hang reaches, for tests whose subject is not the timeout: the emulator's thread
# answers in ~10 ms, but on a loaded machine (2 busy cores, a pause of the whole test process)
# it has been later than FAULT_TIMEOUT_S, which turned an expected error into a TrackerTimeout.
ANSWER_TIMEOUT_S = 10.0


def assert_frame_matches_source(frame, tools=("stylus", "reference")):
    for index, name in enumerate(tools):
        pose = frame.poses[name]
        assert pose.status is PoseStatus.OK
        expected = expected_pose(index, frame.frame_number)
        np.testing.assert_allclose(
            pose.tracker_from_tool[:3, :3], expected[:3, :3], atol=ROTATION_TOLERANCE
        )
        np.testing.assert_allclose(
            pose.tracker_from_tool[:3, 3], expected[:3, 3], atol=TRANSLATION_TOLERANCE_MM
        )
        assert pose.error_rms == pytest.approx(ERROR_RMS_MM)


def test_start_sends_the_ndi_setup_sequence_byte_for_byte(emulator):
    server = emulator()
    with NDITracker(server.port, BUILTIN):
        pass
    log = list(server.device.command_log)
    pvwr = [line for line in log if line.startswith(b"PVWR:")]
    others = [line for line in log if not line.startswith(b"PVWR:")]
    expected = [
        "INIT",
        ("COMM", "60000"),
        ("VER", "0"),
        "APIREV",
        ("PHSR", "01"),
        ("PHRQ", "*********1****"),
        ("PHRQ", "*********1****"),
        ("PHSR", "02"),
        ("PINIT", "0A"),
        ("PINIT", "0B"),
        ("PHSR", "02"),
        ("PHSR", "03"),
        ("PHINF", "0A0021"),
        ("PENA", "0AD"),
        ("PHINF", "0B0021"),
        ("PENA", "0BS"),
        "TSTART",
        "TSTOP",
        ("COMM", "00000"),
    ]
    wire = [encode_command(*((item,) if isinstance(item, str) else item))[:-1] for item in expected]
    assert others == wire
    assert len(pvwr) == 2 * 12  # 752 bytes in 64-byte chunks per tool
    assert pvwr[0].startswith(b"PVWR:0A0000" + b"4E4449")  # "NDI"


def test_frames_carry_the_source_poses_and_frame_numbers(emulator):
    server = emulator()
    clock = FakeClock(100.0)
    with NDITracker(server.port, BUILTIN, clock=clock) as tracker:
        frames = [tracker.read() for _ in range(5)]
    assert [frame.frame_number for frame in frames] == [0, 1, 2, 3, 4]
    for frame in frames:
        assert_frame_matches_source(frame)
    # The device sends no time: frames are stamped on the injected clock when they arrive
    # (here it moved only for the 50 ms settling after COMM).
    assert {frame.unfiltered_timestamp for frame in frames} == {100.05}
    assert {frame.timestamp for frame in frames} == {100.05}


def test_generated_tools_are_served_by_name_whatever_their_order(emulator):
    server = emulator()
    reversed_tools = {"reference": BUILTIN_TOOLS["reference"], "stylus": BUILTIN_TOOLS["stylus"]}
    with NDITracker(server.port, reversed_tools) as tracker:
        assert_frame_matches_source(tracker.read())


def test_frame_from_reply_maps_handles_to_names_and_statuses():
    partial = HandleReading(
        0x0A,
        HandleState.VALID,
        0x31 | PortStatus.PARTIALLY_IN_VOLUME,
        9,
        (1, 0, 0, 0),
        (1, 2, 3),
        0.2,
    )
    disabled = HandleReading(0x0B, HandleState.DISABLED, 0, 0)
    names = {0x0A: "stylus", 0x0B: "reference", 0x0C: "needle"}
    raw = raw_frame_from_reply(TrackingReply((partial, disabled), 0), names)
    assert (raw.device_time_s, raw.frame_number) == (None, 9)
    assert raw.poses["stylus"].status is PoseStatus.PARTIALLY_OUT_OF_VOLUME
    np.testing.assert_allclose(raw.poses["stylus"].tracker_from_tool[:3, 3], [1, 2, 3])
    assert raw.poses["reference"].status is PoseStatus.DISABLED
    assert raw.poses["reference"].tracker_from_tool is None
    assert "needle" not in raw.poses  # absent from the reply: the base reports it MISSING


def test_frame_of_only_disabled_handles_has_no_frame_number():
    raw = raw_frame_from_reply(
        TrackingReply((HandleReading(0x0A, HandleState.DISABLED, 0, 0),), 0), {0x0A: "stylus"}
    )
    assert raw.frame_number == -1


@pytest.mark.parametrize("baud_rate", [115200, 1228739])
def test_other_baud_rates_including_ndi_1228739(emulator, baud_rate):
    server = emulator()
    with NDITracker(server.port, BUILTIN, baud_rate=baud_rate) as tracker:
        assert server.device.baud_rate == baud_rate
        assert_frame_matches_source(tracker.read())


def test_iteration_reads_frames(emulator):
    server = emulator()
    with NDITracker(server.port, BUILTIN) as tracker:
        numbers = [frame.frame_number for frame, _ in zip(tracker, range(3), strict=False)]
    assert numbers == [0, 1, 2]


def test_real_rom_files_are_loaded_and_reference_gets_static_priority(emulator):
    server = emulator()
    tools = {"stylus": ROM_DIR / "8700340.rom", "reference": ROM_DIR / "8700339.rom"}
    with NDITracker(server.port, tools) as tracker:
        assert_frame_matches_source(tracker.read())
    log = list(server.device.command_log)
    assert encode_command("PENA", "0AD")[:-1] in log  # 8700340: pointer
    assert encode_command("PENA", "0BS")[:-1] in log  # 8700339: reference


def test_tx_fallback_when_bx_is_not_known(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(error_command="BX", error_code=0x01)))
    with NDITracker(server.port, BUILTIN) as tracker:
        frame = tracker.read()
        assert not tracker.uses_bx
    assert frame.poses["stylus"].tracker_from_tool[:3, 3] == pytest.approx(
        expected_pose(0, frame.frame_number)[:3, 3], abs=0.005
    )


def test_tx_error_reply_is_a_command_error(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(error_command="BX", error_code=0x01)))
    with NDITracker(server.port, BUILTIN) as tracker:
        tracker.read()
        faults = Faults(error_command="TX", error_code=0x0C)
        server.device.settings = EmulatorSettings(faults=faults)
        with pytest.raises(NDICommandError, match="ERROR0C to 'TX'"):
            tracker.read()


def test_missing_and_out_of_volume_tools(emulator):
    faults = Faults(missing_tools={"stylus"}, out_of_volume_tools={"reference"})
    server = emulator(settings=EmulatorSettings(faults=faults))
    with NDITracker(server.port, BUILTIN) as tracker:
        frame = tracker.read()
    assert frame.poses["stylus"].status is PoseStatus.MISSING
    assert frame.poses["reference"].status is PoseStatus.OUT_OF_VOLUME
    assert np.isnan(frame.poses["reference"].tracker_from_tool).all()


def test_system_status_bits_are_exposed(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(system_status=0x0002)))
    with NDITracker(server.port, BUILTIN) as tracker:
        assert tracker.system_status == SystemStatus(0)
        tracker.read()
        assert tracker.system_status == SystemStatus.TOO_MUCH_EXTERNAL_INFRARED


def test_tool_hidden_on_odd_frames_is_missing_then_back(emulator):
    server = emulator(source=CountingSource(hidden={"reference"}))
    with NDITracker(server.port, BUILTIN) as tracker:
        statuses = [tracker.read().poses["reference"].status for _ in range(3)]
    assert statuses == [PoseStatus.OK, PoseStatus.MISSING, PoseStatus.OK]


def test_aurora_split_5dof_sensors_are_all_initialised_and_flagged(emulator):
    settings = EmulatorSettings(model=Model.AURORA, aurora_sensors=((1, 0), (1, 1), (2, 0)))
    source = CountingSource(tools=("needle", "probe", "reference"))
    server = emulator(source=source, settings=settings)
    tracker = NDITracker(server.port, {"needle": "1:0", "probe": "1:1", "reference": "2"})
    with tracker:
        frame = tracker.read()
    assert tracker.five_dof_tools == {"needle", "probe"}
    assert_frame_matches_source(frame, ("needle", "probe", "reference"))
    assert sum(line.startswith(b"PINIT") for line in server.device.command_log) == 3


def test_aurora_sensor_not_plugged_in_is_reported(emulator):
    settings = EmulatorSettings(model=Model.AURORA)
    server = emulator(settings=settings)
    with pytest.raises(TrackerError, match=r"no port handle for \['needle'\]"):
        NDITracker(server.port, {"stylus": "1", "needle": "5"}).start()


def test_device_left_at_high_baud_is_reset_with_a_break(emulator):
    server = emulator()
    server.device.baud_rate = 921600  # as after a previous session that did not restore it
    with NDITracker(server.port, BUILTIN, timeout_s=FAULT_TIMEOUT_S) as tracker:
        assert_frame_matches_source(tracker.read())
    assert server.device.command_log[0] == b"INIT:E3A5"


def test_device_left_tracking_by_a_crashed_session_is_reset(emulator):
    server = emulator()
    server.device.mode = Mode.TRACKING  # INIT now gets ERROR0C
    with NDITracker(server.port, BUILTIN) as tracker:
        assert_frame_matches_source(tracker.read())


def test_error_reply_becomes_a_typed_exception_with_its_meaning(emulator):
    server = emulator(
        settings=EmulatorSettings(faults=Faults(error_command="PENA", error_code=0x0D))
    )
    with pytest.raises(NDICommandError, match="no tool is assigned") as info:
        NDITracker(server.port, BUILTIN).start()
    assert (info.value.code, info.value.command) == (0x0D, "PENA")


def test_unknown_error_code_is_reported_as_unknown(emulator):
    server = emulator(
        settings=EmulatorSettings(faults=Faults(error_command="TSTART", error_code=0x77))
    )
    with pytest.raises(NDICommandError, match="unknown error code 0x77"):
        NDITracker(server.port, BUILTIN).start()


def test_every_reply_corrupted_raises_crc_mismatch(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(corrupt_crc_every=1)))
    with pytest.raises(CRCMismatch):
        NDITracker(server.port, BUILTIN, timeout_s=ANSWER_TIMEOUT_S).start()


@pytest.mark.parametrize("every", [2, 3, 4, 5, 6, 7, 8, 11, 19, 26, 41])
def test_set_up_resends_a_command_whose_reply_has_a_bad_crc(emulator, every):
    # Every n-th reply is corrupted from the first command on: each set-up step (COMM, PHRQ,
    # PVWR, PINIT, PENA, TSTART...) meets a bad CRC for some n, and is sent again.
    server = emulator(settings=EmulatorSettings(faults=Faults(corrupt_crc_every=every)))
    with NDITracker(server.port, BUILTIN, timeout_s=ANSWER_TIMEOUT_S) as tracker:
        frames = [tracker.read() for _ in range(6)]
    for frame in frames:
        assert_frame_matches_source(frame)
    numbers = [frame.frame_number for frame in frames]
    assert numbers == sorted(set(numbers))
    assert server.device.mode is Mode.SETUP  # stopped cleanly (TSTOP)
    assert len(server.device._slots) == 2  # no handle left over by a resent PHRQ


def test_a_reply_cut_short_costs_one_frame_not_the_timeout(emulator, caplog):
    # Every 5th reply loses a byte. The driver's timeout is 30 s: it must notice the silence
    # after a broken reply, not wait for the timeout, and poll again.
    server = emulator()
    with NDITracker(server.port, BUILTIN, timeout_s=30.0) as tracker:
        server._faults = Faults(drop_byte_every=5)
        frames = [tracker.read() for _ in range(40)]
    for frame in frames:
        assert_frame_matches_source(frame)
    lost = frames[-1].frame_number - frames[0].frame_number + 1 - len(frames)
    assert 7 <= lost <= 11  # one source frame per broken reply, no more
    assert caplog.text.count("stopped short (nothing for 30 ms)") == lost


def test_occasional_bad_crc_frame_is_skipped(emulator):
    server = emulator()
    with NDITracker(server.port, BUILTIN) as tracker:
        server._faults = Faults(corrupt_crc_every=2)
        numbers = [tracker.read().frame_number for _ in range(3)]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3


def test_persistently_bad_frames_raise_after_three(emulator):
    server = emulator()
    with NDITracker(server.port, BUILTIN, timeout_s=ANSWER_TIMEOUT_S) as tracker:
        server._faults = Faults(drop_byte_every=1)
        with pytest.raises(ProtocolError):
            tracker.read()


def test_split_replies_are_reassembled(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(split_replies=True)))
    with NDITracker(server.port, BUILTIN) as tracker:
        assert_frame_matches_source(tracker.read())


def test_silent_device_raises_timeout_without_hanging(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(silent_after_frames=1)))
    with NDITracker(server.port, BUILTIN, timeout_s=FAULT_TIMEOUT_S) as tracker:
        tracker.read()
        # The device never answers again: raising at all shows the timeout acted.
        with pytest.raises(TrackerTimeout):
            tracker.read(timeout=0.2)


def test_slow_device_beyond_timeout_raises_timeout(emulator):
    server = emulator(settings=EmulatorSettings(faults=Faults(reply_delay_s=0.3)))
    with pytest.raises(TrackerTimeout, match="INIT"):
        NDITracker(server.port, BUILTIN, timeout_s=0.1).start()


def test_device_vanishing_mid_stream_raises_disconnected(emulator):
    """The device computes frame 2 and closes its port instead of answering: that very read
    raises TrackerDisconnected naming the port (the end of the pty tells it at once: waiting
    for the timeout would raise TrackerTimeout instead), the frame read before is intact, and
    stop() does not raise on the vanished device."""
    server = emulator(settings=EmulatorSettings(faults=Faults(vanish_after_frames=2)))
    tracker = NDITracker(server.port, BUILTIN, timeout_s=ANSWER_TIMEOUT_S)
    tracker.start()
    first = tracker.read()
    with pytest.raises(TrackerDisconnected, match=f"NDI device on {server.port} vanished"):
        tracker.read()
    assert server.device.frames_served == 2
    assert_frame_matches_source(first)
    tracker.stop()


def test_port_that_does_not_exist():
    with pytest.raises(TrackerError, match="cannot open serial port '/dev/no-such-port'"):
        NDITracker("/dev/no-such-port", BUILTIN).start()


def test_busy_port(emulator):
    server = emulator()
    holder = serial.Serial(server.port, exclusive=True)
    try:
        with pytest.raises(TrackerError, match="cannot open serial port"):
            NDITracker(server.port, BUILTIN).start()
    finally:
        holder.close()


def test_second_start_is_an_error_and_a_restart_works(emulator):
    server = emulator()
    tracker = NDITracker(server.port, BUILTIN)
    with tracker, pytest.raises(TrackerError, match="already started"):
        tracker.start()
    with tracker:
        assert_frame_matches_source(tracker.read())


def test_read_before_start_is_an_error():
    with pytest.raises(TrackerError, match="not started"):
        NDITracker("/dev/null", BUILTIN).read()


def test_bad_baud_rate_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="baud"):
        NDITracker("/dev/null", BUILTIN, baud_rate=12345)


def test_no_tools_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="at least one tool"):
        NDITracker("/dev/null", {})


def test_rom_file_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read"):
        NDITracker("/dev/null", {"stylus": tmp_path / "missing.rom"})


def test_file_that_is_not_a_rom(tmp_path):
    path = tmp_path / "notes.rom"
    path.write_bytes(b"hello, not a tool" * 10)
    with pytest.raises(ConfigurationError, match="no 'NDI' magic"):
        NDITracker("/dev/null", {"stylus": path})


def test_mixed_polaris_and_aurora_tools_are_rejected():
    with pytest.raises(ConfigurationError, match="one kind"):
        NDITracker("/dev/null", {"stylus": BUILTIN_TOOLS["stylus"], "needle": "1"})


def test_stop_restores_9600_baud_for_the_next_session(emulator):
    server = emulator()
    with NDITracker(server.port, BUILTIN):
        pass
    assert server.device.baud_rate == 9600
    with NDITracker(server.port, BUILTIN) as tracker:
        tracker.read()
    assert os.path.exists(server.port)
