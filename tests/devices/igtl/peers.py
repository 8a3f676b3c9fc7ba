"""Test helpers for OpenIGTLink: waiting with a deadline, a bare TCP peer, pyigtl's server.

Waits poll a condition with a generous deadline so that a broken test fails instead of
hanging; no test asserts how long anything took.
"""

import contextlib
import signal
import socket
import time
from collections.abc import Callable

import pyigtl

from devices.igtl.stream import Message, MessageReader

DEADLINE_S = 10.0


def wait_until(condition: Callable[[], object], what: str, deadline_s: float = DEADLINE_S):
    """Poll ``condition`` until it is truthy (returns its value); fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while not (value := condition()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return value


class RawPeer:
    """A plain TCP connection that reads OpenIGTLink messages with our parser (or not at all)."""

    def __init__(self, port: int, receive_buffer: int | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.settimeout(DEADLINE_S)
        self.socket.connect(("127.0.0.1", port))
        self.reader = MessageReader(max_body_bytes=1 << 30)
        self.received: list[Message] = []

    def receive_until(self, condition: Callable[[list[Message]], bool], what: str) -> list:
        """Read until ``condition(received)`` holds; fail at the deadline or on EOF."""
        end = time.monotonic() + DEADLINE_S
        while not condition(self.received):
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            data = self.socket.recv(1 << 20)
            if not data:
                raise AssertionError(f"connection closed while waiting for {what}")
            self.received += self.reader.feed(data)
        return self.received

    def closed_by_peer(self) -> bool:
        """True when the other end has closed (reads until EOF, discarding data)."""
        try:
            while self.socket.recv(1 << 20):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.socket.close()


@contextlib.contextmanager
def pyigtl_server(port: int = 0):
    """pyigtl's server (it must be made in the main thread); its signal handlers undone."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = pyigtl.OpenIGTLinkServer(port=port)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    try:
        yield server
    finally:
        server.stop()
