"""Fixtures: an NDI emulator on a pty served by a thread (its command log is inspectable)."""

import threading

import pytest

from devices.ndi.emulator.device import NDIDevice
from devices.ndi.emulator.server import PtyServer
from tests.devices.ndi.sources import CountingSource

JOIN_TIMEOUT_S = 2.0


@pytest.fixture
def emulator():
    """``emulator(source=None, settings=None, clock=None) -> PtyServer``, stopped and closed at
    teardown; ``clock`` is the one the server waits its reply delays on."""
    running = []

    def start(source=None, settings=None, clock=None) -> PtyServer:
        server = PtyServer(NDIDevice(source or CountingSource(), settings), clock)
        stop = threading.Event()
        thread = threading.Thread(target=server.serve, args=(stop.is_set,), daemon=True)
        thread.start()
        running.append((server, stop, thread))
        return server

    yield start
    for server, stop, thread in running:
        stop.set()
        thread.join(JOIN_TIMEOUT_S)
        assert not thread.is_alive(), "emulator thread did not stop"
        server.close()
