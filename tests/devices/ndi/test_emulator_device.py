"""The emulated device's state machine, command by command, without a serial line."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.frame import Frame, PoseStatus, ToolPose
from devices.ndi.bx import parse_bx
from devices.ndi.emulator.device import SENT_ERROR_CODES, Mode, NDIDevice
from devices.ndi.emulator.settings import EmulatorSettings, Faults, Model
from devices.ndi.error_codes import ERROR_MEANINGS
from devices.ndi.exceptions import NDICommandError
from devices.ndi.framing import decode_reply, encode_command
from devices.ndi.status import HandleState, PortStatus
from devices.ndi.tx import parse_tx
from devices.rom import ToolType, rom_image
from devices.tools import BUILTIN_TOOLS
from tests.devices.ndi.sources import CountingSource

STYLUS_ROM = rom_image(BUILTIN_TOOLS["stylus"].markers_mm)


def ask(device: NDIDevice, name: str, params: str = "") -> bytes:
    """Send one command; return the reply body (raises NDICommandError on ERRORxx)."""
    return decode_reply(device.respond(encode_command(name, params)[:-1]), name)


def error_code(device: NDIDevice, name: str, params: str = "") -> int:
    with pytest.raises(NDICommandError) as info:
        ask(device, name, params)
    return info.value.code


def load(device: NDIDevice, rom: bytes = STYLUS_ROM) -> int:
    """PHRQ + PVWR a passive tool; return its handle."""
    handle = int(ask(device, "PHRQ", "*********1****"), 16)
    padded = rom + bytes(-len(rom) % 64)
    for address in range(0, len(padded), 64):
        ask(
            device,
            "PVWR",
            f"{handle:02X}{address:04X}{padded[address : address + 64].hex().upper()}",
        )
    return handle


def setup_device(settings=None) -> NDIDevice:
    """A Polaris after INIT with one tool loaded (handle 0A) and one requested (0B)."""
    device = NDIDevice(CountingSource(), settings)
    ask(device, "INIT")
    load(device)
    ask(device, "PHRQ", "*********1****")
    return device


def tracking_device(settings=None, source=None) -> NDIDevice:
    """A Polaris with both source tools loaded, enabled and tracking."""
    device = NDIDevice(source or CountingSource(), settings)
    ask(device, "INIT")
    for priority in "DS":
        handle = load(device)
        ask(device, "PINIT", f"{handle:02X}")
        ask(device, "PENA", f"{handle:02X}{priority}")
    ask(device, "TSTART")
    return device


def test_emulator_sends_only_codes_that_ndicapi_knows():
    """ndicapi reads past its error table beyond 0x42 and can crash its host process."""
    for code in SENT_ERROR_CODES:
        assert code in ERROR_MEANINGS
        assert code <= 0x42


def test_init_enters_setup_mode():
    device = NDIDevice(CountingSource())
    assert ask(device, "INIT") == b"OKAY"
    assert device.mode is Mode.SETUP


def test_init_starts_a_session_afresh():
    device = setup_device()
    ask(device, "INIT")
    assert ask(device, "PHSR", "00") == b"00"


def test_commands_before_init_are_invalid_in_mode():
    assert error_code(NDIDevice(CountingSource()), "PHSR", "00") == 0x0C


def test_tx_before_tstart_is_invalid_in_mode():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    assert error_code(device, "TX", "0801") == 0x0C


def test_wrong_command_crc_is_error_04():
    device = NDIDevice(CountingSource())
    with pytest.raises(NDICommandError) as info:
        decode_reply(device.respond(b"INIT:0000"))
    assert info.value.code == 0x04


def test_unknown_command_is_error_01():
    assert error_code(NDIDevice(CountingSource()), "FOO") == 0x01


def test_space_form_without_crc_is_accepted():
    device = NDIDevice(CountingSource())
    assert decode_reply(device.respond(b"INIT ")) == b"OKAY"


def test_comm_changes_the_agreed_baud_rate():
    device = NDIDevice(CountingSource())
    ask(device, "COMM", "60000")
    assert device.baud_rate == 921600


@pytest.mark.parametrize(("params", "code"), [("9000", 0x07), ("90000", 0x23), ("61000", 0x06)])
def test_bad_comm_parameters(params, code):
    assert error_code(NDIDevice(CountingSource()), "COMM", params) == code


def test_break_resets_baud_and_mode():
    device = tracking_device()
    device.baud_rate = 921600
    assert device.serial_break() == b"RESETBE6F\r"
    assert (device.mode, device.baud_rate) == (Mode.RESET, 9600)


def test_ver_names_the_model():
    polaris = NDIDevice(CountingSource())
    aurora = NDIDevice(CountingSource(), EmulatorSettings(model=Model.AURORA))
    assert ask(polaris, "VER", "0").startswith(b"Polaris")
    assert ask(aurora, "VER", "0").startswith(b"Aurora")
    assert error_code(polaris, "VER", "3") == 0x23


def test_phrq_gives_consecutive_handles_from_0a():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    assert [ask(device, "PHRQ", "*********1****") for _ in range(2)] == [b"0A", b"0B"]


def test_phrq_beyond_nine_wireless_handles_is_error_2d():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    for _ in range(9):
        ask(device, "PHRQ", "*********1****")
    assert error_code(device, "PHRQ", "*********1****") == 0x2D


def test_pinit_without_tool_definition_is_error_13():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    ask(device, "PHRQ", "*********1****")
    assert error_code(device, "PINIT", "0A") == 0x13


def test_pinit_with_bad_checksum_is_error_40():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    corrupt = bytearray(STYLUS_ROM)
    corrupt[100] ^= 0xFF
    handle = load(device, bytes(corrupt))
    assert error_code(device, "PINIT", f"{handle:02X}") == 0x40


def test_pvwr_address_out_of_range_is_error_23():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    ask(device, "PHRQ", "*********1****")
    assert error_code(device, "PVWR", "0A0410" + "00" * 64) == 0x23


def test_unknown_handle_is_error_08():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    assert error_code(device, "PINIT", "0C") == 0x08


def test_pena_before_pinit_is_error_0e():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    load(device)
    assert error_code(device, "PENA", "0AD") == 0x0E


def test_pena_with_unknown_priority_is_error_09():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    load(device)
    ask(device, "PINIT", "0A")
    assert error_code(device, "PENA", "0AX") == 0x09


def test_phinf_with_non_hex_options_is_error_23():
    assert error_code(setup_device(), "PHINF", "0AXYZ*") == 0x23


def test_phsr_lists_handles_by_state():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    load(device)
    load(device)
    ask(device, "PINIT", "0A")
    assert ask(device, "PHSR", "02") == b"010B001"
    assert ask(device, "PHSR", "03") == b"010A011"
    ask(device, "PENA", "0AD")
    assert ask(device, "PHSR", "04") == b"010A031"


def test_phinf_reports_type_part_number_and_location():
    device = NDIDevice(CountingSource())
    ask(device, "INIT")
    rom = rom_image(BUILTIN_TOOLS["reference"].markers_mm, ToolType.REFERENCE, "8700339")
    load(device, rom)
    info = ask(device, "PHINF", "0A0025").decode()
    assert info[:2] == "01"
    assert info[33:53].rstrip() == "8700339"
    assert info[53:] == "0000000001" + "0A" + "00"


def test_bx_reports_enabled_tools_with_source_frame_numbers():
    device = tracking_device()
    replies = [parse_bx(device.respond(encode_command("BX", "0801")[:-1])) for _ in range(3)]
    assert [reply.frame_number for reply in replies] == [0, 1, 2]
    assert [reading.handle for reading in replies[0].handles] == [0x0A, 0x0B]
    reading = replies[0].handles[0]
    assert reading.state is HandleState.VALID
    assert reading.port_status == PortStatus.OCCUPIED | PortStatus.INITIALIZED | PortStatus.ENABLED
    assert device.frames_served == 3


def test_tx_and_bx_agree():
    device = tracking_device()
    bx = parse_bx(device.respond(encode_command("BX", "0801")[:-1]))
    tx = parse_tx(device.respond(encode_command("TX", "0801")[:-1]))
    assert tx.frame_number == bx.frame_number + 1
    assert tx.handles[0].translation_mm == pytest.approx((1.0, -20.0, -1499.5), abs=0.005)


def test_unsupported_reply_option_is_error_23():
    assert error_code(tracking_device(), "BX", "0008") == 0x23


def test_finished_source_restarts_with_increasing_frame_numbers():
    device = tracking_device(source=CountingSource(frames=2))
    numbers = [
        parse_bx(device.respond(encode_command("BX", "0801")[:-1])).frame_number for _ in range(5)
    ]
    assert numbers == [0, 1, 2, 3, 4]


def test_tstart_80_resets_the_frame_counter():
    device = tracking_device()
    for _ in range(3):
        device.respond(encode_command("BX", "0801")[:-1])
    ask(device, "TSTOP")
    ask(device, "TSTART", "80")
    assert parse_bx(device.respond(encode_command("BX", "0801")[:-1])).frame_number == 0


def test_missing_tool_fault():
    device = tracking_device(EmulatorSettings(faults=Faults(missing_tools={"reference"})))
    reply = parse_bx(device.respond(encode_command("BX", "0801")[:-1]))
    assert [reading.state for reading in reply.handles] == [HandleState.VALID, HandleState.MISSING]


def test_out_of_volume_fault_with_and_without_option_0800():
    device = tracking_device(EmulatorSettings(faults=Faults(out_of_volume_tools={"stylus"})))
    reported = parse_bx(device.respond(encode_command("BX", "0801")[:-1])).handles[0]
    hidden = parse_bx(device.respond(encode_command("BX", "0001")[:-1])).handles[0]
    assert reported.state is HandleState.VALID
    assert reported.port_status & PortStatus.OUT_OF_VOLUME
    assert hidden.state is HandleState.MISSING
    assert hidden.port_status & PortStatus.OUT_OF_VOLUME


class FarSource(CountingSource):
    """The stylus ``x_mm`` along x: as far as the source says, whatever the device can measure."""

    def __init__(self, x_mm):
        super().__init__()
        self.x_mm = x_mm

    def read(self, timeout=None):
        frame = super().read(timeout)
        far = frame.poses["stylus"].tracker_from_tool.copy()
        far[0, 3] = self.x_mm
        poses = dict(frame.poses, stylus=ToolPose("stylus", far, PoseStatus.OK, 0.1))
        return Frame(frame.timestamp, frame.frame_number, poses)


@pytest.mark.parametrize("x_mm", [10_000.0, -12_345.6, 1e30])
@pytest.mark.parametrize("command", ["BX", "TX"])
@pytest.mark.parametrize("options", ["0001", "0801"])
def test_a_pose_beyond_the_reply_format_is_out_of_volume_not_a_crash(x_mm, command, options):
    device = tracking_device(source=FarSource(x_mm))
    parse = parse_bx if command == "BX" else parse_tx
    stylus, reference = parse(device.respond(encode_command(command, options)[:-1])).handles
    assert stylus.state is HandleState.MISSING
    assert stylus.port_status & PortStatus.OUT_OF_VOLUME
    assert reference.state is HandleState.VALID  # the other tool is still tracked


def test_a_pose_just_within_the_reply_format_is_still_tracked():
    device = tracking_device(source=FarSource(-9999.99))
    stylus = parse_tx(device.respond(encode_command("TX", "0001")[:-1])).handles[0]
    assert stylus.state is HandleState.VALID
    assert stylus.translation_mm[0] == pytest.approx(-9999.99)


def test_error_on_a_chosen_command():
    faults = Faults(error_command="PENA", error_code=0x28)
    device = NDIDevice(CountingSource(), EmulatorSettings(faults=faults))
    ask(device, "INIT")
    assert error_code(device, "PENA", "0AD") == 0x28


def test_source_status_is_carried_over():
    class OneToolSource(CountingSource):
        def read(self, timeout=None):
            frame = super().read(timeout)
            poses = dict(frame.poses)
            poses["stylus"] = ToolPose.missing("stylus", PoseStatus.DISABLED)
            return Frame(frame.timestamp, frame.frame_number, poses)

    device = tracking_device(source=OneToolSource())
    reply = parse_bx(device.respond(encode_command("BX", "0801")[:-1]))
    assert reply.handles[0].state is HandleState.DISABLED


def test_aurora_second_channel_appears_after_first_is_initialised():
    settings = EmulatorSettings(model=Model.AURORA, aurora_sensors=((1, 0), (1, 1)))
    device = NDIDevice(CountingSource(), settings)
    ask(device, "INIT")
    assert ask(device, "PHSR", "02") == b"010A001"
    ask(device, "PINIT", "0A")
    assert ask(device, "PHSR", "02") == b"010B001"
    assert ask(device, "PHINF", "0B0020") == b"00000000" + b"10" + b"01" + b"01"


def test_aurora_refuses_wired_phrq():
    device = NDIDevice(CountingSource(), EmulatorSettings(model=Model.AURORA))
    ask(device, "INIT")
    assert error_code(device, "PHRQ", "*********0****") == 0x23


COMMAND_NAMES = [
    "INIT", "RESET", "COMM", "VER", "APIREV", "PHSR", "PHRQ", "PHF", "PVWR", "PINIT", "PHINF",
    "PENA", "PDIS", "TSTART", "TSTOP", "BX", "TX", "GETINFO",
]  # fmt: skip


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.data())
def test_fuzzed_commands_always_get_a_well_formed_reply(data):
    """Whatever a host sends, in any mode, the device answers with a CRC-valid reply."""
    fresh = lambda: NDIDevice(CountingSource())  # noqa: E731
    device = data.draw(st.sampled_from([fresh, setup_device, tracking_device]))()
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(COMMAND_NAMES))
        handle = data.draw(st.sampled_from(["", "0A", "0B", "0C"]))
        tail = st.sampled_from(["", "0001", "0021", "XYZ*", "80", "0801", "60000", "D", "Q"])
        free_text = st.text(alphabet="0123456789ABCDEFXYZ*: -g", max_size=140)
        params = handle + data.draw(st.one_of(tail, free_text))
        line = data.draw(
            st.sampled_from(
                [
                    encode_command(name, params)[:-1],
                    f"{name} {params}".encode(),
                    f"{name}:{params}".encode(),
                    data.draw(st.binary(max_size=40)).replace(b"\r", b""),
                ]
            )
        )
        reply = device.respond(line)
        if reply.startswith(b"\xc4\xa5"):
            parse_bx(reply)
        else:
            with contextlib.suppress(NDICommandError):
                decode_reply(reply)


TRICKY_PARAMETERS = [
    "", "0", "0A", "0AD", "0AX", "0A0001", "0AXYZ*", "0A0021", "ZZ", "0A0000" + "00" * 64,
    "0AZZZZ" + "00" * 64, "0A0000" + "GG" * 64, "*********1****", "*********0****", "80", "0801",
    "0008", "XYZ*", "60000", "6000", "61000", "Z0000", "00", "04", "99", "-1", " ", ":",
]  # fmt: skip


@pytest.mark.parametrize("start", ["fresh", "setup", "tracking"])
def test_every_command_with_tricky_parameters_gets_a_well_formed_reply(start):
    """Each command, with each malformed or edge parameter, in each mode: a CRC-valid reply."""
    for name in COMMAND_NAMES:
        for params in TRICKY_PARAMETERS:
            device = {"fresh": lambda: NDIDevice(CountingSource()), "setup": setup_device}.get(
                start, tracking_device
            )()
            reply = device.respond(encode_command(name, params)[:-1])
            if reply.startswith(b"\xc4\xa5"):
                parse_bx(reply)
            else:
                with contextlib.suppress(NDICommandError):
                    decode_reply(reply)
