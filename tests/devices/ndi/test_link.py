"""SerialLink on a bare pty: how a BX reply is found, read whole, or given up on quickly."""

import os
import tty

import pytest

from devices.exceptions import TrackerTimeout
from devices.ndi.bx import encode_bx, parse_bx
from devices.ndi.exceptions import MalformedReply, NDICommandError
from devices.ndi.framing import encode_error
from devices.ndi.link import SerialLink
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState

REPLY = encode_bx(
    TrackingReply(
        (HandleReading(0x0A, HandleState.VALID, 0x31, 7, (1, 0, 0, 0), (1, 2, 3), 0.1),), 0
    )
)


@pytest.fixture
def line():
    """(master fd, SerialLink on the slave) of a raw pty: the test plays the device."""
    master, slave = os.openpty()
    tty.setraw(slave)
    link = SerialLink(os.ttyname(slave), timeout_s=30.0)
    yield master, link
    link.close()
    os.close(master)
    os.close(slave)


def test_a_whole_reply_is_read(line):
    master, link = line
    os.write(master, REPLY)
    assert link.read_bx(None) == REPLY


def test_stray_bytes_before_the_reply_are_skipped(line, caplog):
    master, link = line
    os.write(master, REPLY[-9:] + REPLY)  # the end of an earlier, broken reply, then a reply
    assert parse_bx(link.read_bx(None)).frame_number == 7
    assert "9 stray bytes before a BX reply skipped" in caplog.text


def test_a_reply_missing_a_byte_is_given_up_at_the_first_silence_not_the_timeout(line):
    master, link = line
    middle = len(REPLY) // 2
    os.write(master, REPLY[:middle] + REPLY[middle + 1 :])
    # The link's timeout is 30 s: the reply is declared cut short by the silence after it.
    with pytest.raises(MalformedReply, match=r"stopped short \(nothing for 30 ms\)"):
        link.read_bx(None)


def test_an_error_reply_to_bx_is_a_command_error(line):
    master, link = line
    os.write(master, encode_error(0x01))
    with pytest.raises(NDICommandError) as info:
        link.read_bx(None)
    assert info.value.code == 0x01


def test_nothing_at_all_is_a_timeout(line):
    _, link = line
    with pytest.raises(TrackerTimeout):
        link.read_bx(0.05)
