"""Probing serial ports for NDI devices."""

import os
import tty

from devices.ndi.emulator.device import Mode
from devices.ndi.probe import probe_ports

# How long a port has to answer INIT: the emulator answers at once, but it is a thread of this
# process, and a loaded machine may not run it for a while; a silent port costs this much.
PROBE_TIMEOUT_S = 2.0


def test_probe_finds_the_emulator_and_skips_silent_and_missing_ports(emulator):
    server = emulator()
    master, slave = os.openpty()  # a port where nothing answers
    tty.setraw(slave)
    try:
        silent = os.ttyname(slave)
        found = probe_ports([silent, server.port, "/dev/no-such-port"], timeout_s=PROBE_TIMEOUT_S)
    finally:
        os.close(master)
        os.close(slave)
    assert found == [server.port]


def test_device_already_tracking_is_found(emulator):
    server = emulator()
    probe_ports([server.port])
    server.device.mode = Mode.TRACKING  # INIT now gets ERROR0C
    assert probe_ports([server.port], timeout_s=PROBE_TIMEOUT_S) == [server.port]
