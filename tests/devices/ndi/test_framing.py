"""ASCII command and reply framing: known wire strings, round trips and rejected replies."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.ndi.exceptions import CRCMismatch, MalformedReply, NDICommandError
from devices.ndi.framing import (
    Command,
    decode_reply,
    encode_command,
    encode_error,
    encode_reply,
    parse_command,
)


def test_commands_match_what_ndicapi_sends():
    assert encode_command("INIT") == b"INIT:E3A5\r"
    assert encode_command("COMM", "50000") == b"COMM:500000048\r"
    assert encode_command("PENA", "0AD") == b"PENA:0ADAD1E\r"
    assert encode_command("BX", "0801") == b"BX:080100EC\r"


def test_lower_case_command_name_is_rejected():
    with pytest.raises(ValueError, match="upper-case"):
        encode_command("init")


@settings(deadline=None)  # timing varies on a loaded machine
@given(
    st.from_regex(r"[A-Z][A-Z0-9]{0,6}", fullmatch=True),
    st.from_regex(r"[0-9A-Z*]{0,20}", fullmatch=True),
)
def test_command_round_trip(name, params):
    assert parse_command(encode_command(name, params)[:-1]) == Command(name, params, True)


def test_command_with_wrong_crc_is_flagged():
    assert parse_command(b"INIT:E3A6") == Command("INIT", "", False)


def test_space_form_has_no_crc():
    assert parse_command(b"TSTART 80") == Command("TSTART", "80", None)
    assert parse_command(b"APIREV ") == Command("APIREV", "", None)


def test_garbage_command_is_malformed():
    with pytest.raises(MalformedReply):
        parse_command(b"\x00\xffINIT:E3A5")


def test_reply_round_trip():
    assert encode_reply(b"OKAY") == b"OKAYA896\r"
    assert decode_reply(b"OKAYA896\r") == b"OKAY"


def test_reply_with_wrong_crc_raises_crc_mismatch():
    with pytest.raises(CRCMismatch, match="expected A896"):
        decode_reply(b"OKAYA897\r", "INIT")


def test_reply_too_short_for_a_crc_is_malformed():
    with pytest.raises(MalformedReply, match="too short"):
        decode_reply(b"OK\r")


def test_reply_without_hex_crc_is_malformed():
    with pytest.raises(MalformedReply, match="4 hex"):
        decode_reply(b"OKAYzz12\r")


def test_error_reply_raises_command_error_with_meaning():
    with pytest.raises(NDICommandError, match="no tool is assigned") as info:
        decode_reply(encode_error(0x0D), "PENA")
    assert info.value.code == 0x0D
    assert encode_error(0x0D) == b"ERROR0D8C03\r"


def test_unknown_error_code_raises_command_error_saying_unknown():
    with pytest.raises(NDICommandError, match="unknown error code 0x77"):
        decode_reply(encode_error(0x77), "INIT")
