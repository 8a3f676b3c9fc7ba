"""The ``igtl:`` tracker against real servers: pyigtl's (a third-party implementation), ours,
and bare sockets that misbehave: silence, garbage, wrong CRCs, oversize bodies, a server that
goes away and comes back. Watchdog times run on a fake clock."""

import contextlib
import dataclasses
import socket
import threading

import numpy as np
import pyigtl
import pytest

from devices.clock import FakeClock
from devices.exceptions import FrameNotDue, TrackerError
from devices.frame import PoseStatus
from devices.igtl.messages import pack_message, pack_transform
from devices.igtl.settings import ClientSettings
from devices.igtl.tracker import IgtlTracker
from registration.transforms import make_rigid, rotation_from_vector
from tests.devices.igtl.peers import DEADLINE_S, pyigtl_server, wait_until

FAST = ClientSettings(reconnect_interval_s=0.05, connect_timeout_s=1.0)
# pyigtl's server sends its queued messages from its own thread: on a busy machine the two
# messages of one frame can come more than the default 2 ms apart (CI once split a frame so).
# A frame still ends when its tools are all in or one of them comes again, so a wider window
# only waits longer for a late tool.
PYIGTL_SENDER = dataclasses.replace(FAST, batch_wait_s=0.1)


def _pose(seed: float) -> np.ndarray:
    return make_rigid(
        rotation_from_vector(np.array([seed, 0.3, -0.2])), np.array([10.0 * seed, -50, -1200])
    )


def _frame_messages(index: int, stamp: float) -> bytes:
    return pack_message("TRANSFORM", "StylusToTracker", stamp, pack_transform(_pose(index))) + (
        pack_message("TRANSFORM", "ReferenceToTracker", stamp, pack_transform(_pose(-index)))
    )


def _read_until(tracker: IgtlTracker, condition, what: str):
    """Frames until one satisfies ``condition``; fails at the deadline."""
    frames = []
    wait_until(lambda: _read_one(tracker, frames) and condition(frames[-1]), what)
    return frames


def _read_one(tracker: IgtlTracker, frames: list) -> bool:
    try:
        frames.append(tracker.read(timeout=0.05))
    except FrameNotDue:
        return False
    return True


class _ScriptedServer:
    """A bare TCP server: each connection gets the next script (bytes to send, then either
    close or stay silent until the test ends)."""

    def __init__(self, scripts: list[tuple[bytes, bool]]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, args=(scripts,), daemon=True)
        self._thread.start()

    def _serve(self, scripts) -> None:
        for data, close in scripts:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            connection.sendall(data)
            if close:
                connection.close()

    def send(self, data: bytes) -> None:
        self.connections[-1].sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.connections:
            connection.close()
        self._thread.join(DEADLINE_S)


def test_frames_from_a_pyigtl_server_carry_the_poses_and_header_times():
    with pyigtl_server() as server:
        tracker = IgtlTracker("127.0.0.1", server.server_address[1], settings=PYIGTL_SENDER)
        with tracker:
            wait_until(server.is_connected, "the tracker to connect")
            for index in range(5):
                for name, matrix in (
                    ("StylusToTracker", _pose(index)),
                    ("ReferenceToTracker", _pose(-index)),
                ):
                    message = pyigtl.TransformMessage(matrix, 1.7e9 + index * 0.02, name)
                    server.send_message(message, wait=False)
            frames = _read_until(
                tracker,
                lambda f: f.unfiltered_timestamp == pytest.approx(1.7e9 + 0.08, rel=0, abs=1e-6),
                "the fifth frame",
            )
    complete = [f for f in frames if f.poses["stylus"].valid and f.poses["reference"].valid]
    assert len(complete) == 5
    for index, frame in enumerate(complete):
        assert frame.unfiltered_timestamp == pytest.approx(1.7e9 + index * 0.02, rel=0, abs=1e-6)
        np.testing.assert_allclose(frame.poses["stylus"].tracker_from_tool, _pose(index), atol=2e-4)
        np.testing.assert_allclose(
            frame.poses["reference"].tracker_from_tool, _pose(-index), atol=2e-4
        )
    # Sent in one burst: on the local clock they cannot be told apart, and never go back.
    assert np.all(np.diff([f.timestamp for f in frames]) >= 0.0)


def test_a_pyigtl_server_that_goes_away_and_comes_back():
    with pyigtl_server() as server:
        port = server.server_address[1]
        tracker = IgtlTracker("127.0.0.1", port, {"stylus": "StylusToTracker"}, settings=FAST)
        tracker.start()
        wait_until(server.is_connected, "the tracker to connect")
        server.send_message(pyigtl.TransformMessage(_pose(1.0), 1.0, "StylusToTracker"), False)
        _read_until(tracker, lambda f: f.poses["stylus"].valid, "a first pose")
    # The server is gone: the watchdog says the stylus is missing.
    _read_until(tracker, lambda f: f.poses["stylus"].status is PoseStatus.MISSING, "missing")
    with pyigtl_server(port) as server:
        frames = []
        wait_until(
            lambda: (_read_one(tracker, frames), server.is_connected())[1],
            "the tracker to reconnect",
        )
        assert not any(frame.poses["stylus"].valid for frame in frames)
        server.send_message(pyigtl.TransformMessage(_pose(2.0), 2.0, "StylusToTracker"), False)
        frames = _read_until(tracker, lambda f: f.poses["stylus"].valid, "a pose again")
        np.testing.assert_allclose(
            frames[-1].poses["stylus"].tracker_from_tool, _pose(2.0), atol=2e-4
        )
        tracker.stop()


def test_nothing_listening_is_a_clear_error_at_start():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(TrackerError, match="cannot connect to the OpenIGTLink server at"):
        IgtlTracker("127.0.0.1", port).start()


def test_a_silent_server_gives_watchdog_frames_on_the_fake_clock_never_a_hang():
    server = _ScriptedServer([(b"", False)])
    clock = FakeClock(100.0)
    tracker = IgtlTracker("127.0.0.1", server.port, settings=FAST, clock=clock)
    try:
        tracker.start()
        with pytest.raises(FrameNotDue):
            tracker.read(timeout=0.1)
        clock.advance(FAST.missing_after_s)
        frame = tracker.read(timeout=0.1)
        assert {pose.status for pose in frame.poses.values()} == {PoseStatus.MISSING}
        assert frame.timestamp == 100.0 + FAST.missing_after_s
        with pytest.raises(FrameNotDue):
            tracker.read(timeout=0.1)
    finally:
        tracker.stop()
        server.close()


def test_messages_stopping_mid_stream_make_the_tools_missing_on_the_fake_clock():
    server = _ScriptedServer([(_frame_messages(1, 5.0), False)])
    clock = FakeClock(100.0)
    tracker = IgtlTracker("127.0.0.1", server.port, settings=FAST, clock=clock)
    try:
        tracker.start()
        frames = _read_until(tracker, lambda f: f.poses["stylus"].valid, "the frame")
        assert frames[-1].poses["reference"].valid
        clock.advance(FAST.missing_after_s)
        frame = tracker.read(timeout=DEADLINE_S)
        assert not frame.poses["stylus"].valid and not frame.poses["reference"].valid
    finally:
        tracker.stop()
        server.close()


def test_wrong_crc_and_oversize_bodies_are_skipped(caplog):
    bad_crc = bytearray(_frame_messages(1, 5.0))
    bad_crc[-1] ^= 0xFF  # the reference message's last byte
    oversize = pack_message("TRANSFORM", "StylusToTracker", 6.0, bytes(FAST.max_body_bytes + 1))
    stream = bytes(bad_crc) + oversize + _frame_messages(3, 7.0)
    server = _ScriptedServer([(stream, False)])
    tracker = IgtlTracker("127.0.0.1", server.port, settings=FAST)
    try:
        tracker.start()
        frames = _read_until(
            tracker, lambda f: f.poses["reference"].valid, "the first good reference"
        )
        np.testing.assert_allclose(
            frames[-1].poses["reference"].tracker_from_tool, _pose(-3), atol=2e-4
        )
        assert "CRC-64 does not match" in caplog.text and "exceeds the" in caplog.text
    finally:
        tracker.stop()
        server.close()


def test_garbage_drops_the_connection_and_the_tracker_connects_again(caplog):
    server = _ScriptedServer(
        [(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 3, False), (_frame_messages(4, 9.0), False)]
    )
    tracker = IgtlTracker("127.0.0.1", server.port, settings=FAST)
    try:
        tracker.start()
        frames = _read_until(tracker, lambda f: f.poses["stylus"].valid, "frames after garbage")
        np.testing.assert_allclose(
            frames[-1].poses["stylus"].tracker_from_tool, _pose(4), atol=2e-4
        )
        assert "not OpenIGTLink" in caplog.text and len(server.connections) == 2
    finally:
        tracker.stop()
        server.close()
