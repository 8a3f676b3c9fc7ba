"""The OpenIGTLink server with real clients: pyigtl and bare sockets that read late, never
read, send garbage, ask for the image again, or come and go."""

import threading

import numpy as np
import pyigtl
import pytest

from devices.exceptions import TrackerError
from devices.igtl.messages import pack_message, pack_transform
from devices.igtl.server import IgtlServer, Outgoing
from devices.igtl.settings import ServerSettings
from tests.devices.igtl.peers import DEADLINE_S, RawPeer, wait_until

BIG = 24 << 20  # larger than any socket buffer pair on loopback


def _transform(name: str, value: float) -> bytes:
    return pack_message("TRANSFORM", name, 1000.0 + value, pack_transform(np.eye(4) * value))


def _greeting(size: int = 64) -> list[Outgoing]:
    return [Outgoing("IMAGE", "CT", pack_message("IMAGE", "CT", 1.0, bytes(size)))]


def _value(message) -> float:
    return float(np.frombuffer(message.content, ">f4")[0])


@pytest.fixture
def server():
    server = IgtlServer(ServerSettings(port=0, send_timeout_s=1.0))
    server.start()
    yield server
    server.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("igtl-")]


def _pyigtl_client(port: int) -> pyigtl.OpenIGTLinkClient:
    return pyigtl.OpenIGTLinkClient("127.0.0.1", port)


def test_pyigtl_client_receives_the_stream(server):
    client = _pyigtl_client(server.address[1])
    try:
        wait_until(lambda: server.client_count == 1, "the client to connect")
        server.publish({"StylusToTracker": _transform("StylusToTracker", 3.0)})
        message = client.wait_for_message("StylusToTracker", timeout=DEADLINE_S)
        assert message is not None
        np.testing.assert_array_equal(message.matrix[:3, :3], np.eye(3) * 3.0)
        assert message.timestamp == 1003.0
    finally:
        client.stop()


def test_clients_come_and_go_and_each_newcomer_is_greeted(server):
    server.set_greeting(_greeting())
    for round_ in range(3):
        peer = RawPeer(server.address[1])
        wait_until(lambda: server.client_count == 1, "the client to connect")
        server.publish({"ToolToTracker": _transform("ToolToTracker", float(round_))})
        received = peer.receive_until(lambda r: len(r) >= 2, "greeting and stream")
        assert [m.type for m in received[:2]] == ["IMAGE", "TRANSFORM"]
        assert _value(received[1]) == round_
        peer.close()
        wait_until(lambda: server.client_count == 0, "the server to notice the client left")
    server.publish({"ToolToTracker": _transform("ToolToTracker", 9.0)})  # nobody listening


def test_a_late_reader_gets_the_newest_pose_not_a_backlog(server):
    server.set_greeting(_greeting(BIG))
    peer = RawPeer(server.address[1], receive_buffer=4096)
    wait_until(lambda: server.client_count == 1, "the client to connect")
    for value in range(1000):  # the sender is blocked on the image: these collapse
        server.publish({"StylusToTracker": _transform("StylusToTracker", float(value))})
    received = peer.receive_until(
        lambda r: r and r[-1].type == "TRANSFORM" and _value(r[-1]) == 999.0, "the newest pose"
    )
    transforms = [m for m in received if m.type == "TRANSFORM"]
    assert received[0].type == "IMAGE"
    assert len(transforms) <= 2
    peer.close()


def test_a_briefly_late_reader_gets_every_frame(server):
    server.set_greeting(_greeting(BIG))
    peer = RawPeer(server.address[1], receive_buffer=4096)
    wait_until(lambda: server.client_count == 1, "the client to connect")
    for value in range(server.settings.backlog_frames - 1):  # while the image is on its way
        server.publish({"StylusToTracker": _transform("StylusToTracker", float(value))})
    received = peer.receive_until(
        lambda r: r and _value(r[-1]) == server.settings.backlog_frames - 2, "the last frame"
    )
    assert [_value(m) for m in received if m.type == "TRANSFORM"] == list(
        range(server.settings.backlog_frames - 1)
    )
    peer.close()


def test_a_stuck_client_is_dropped_and_never_holds_up_another(server):
    server.set_greeting(_greeting(BIG))
    stuck = RawPeer(server.address[1], receive_buffer=4096)
    wait_until(lambda: server.client_count == 1, "the stuck client to connect")
    reader = RawPeer(server.address[1])
    wait_until(lambda: server.client_count == 2, "the second client to connect")
    for value in range(50):
        server.publish({"StylusToTracker": _transform("StylusToTracker", float(value))})
    reader.receive_until(
        lambda r: r and _value(r[-1]) == 49.0, "the newest pose at the reading client"
    )
    wait_until(lambda: server.client_count == 1, "the stuck client to be dropped")
    assert stuck.closed_by_peer()
    stuck.close()
    reader.close()


def test_a_client_sending_garbage_is_dropped_others_stay(server):
    good = RawPeer(server.address[1])
    bad = RawPeer(server.address[1])
    wait_until(lambda: server.client_count == 2, "both clients to connect")
    bad.socket.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
    wait_until(lambda: server.client_count == 1, "the garbage client to be dropped")
    assert bad.closed_by_peer()
    server.publish({"ToolToTracker": _transform("ToolToTracker", 5.0)})
    assert _value(good.receive_until(bool, "the stream")[-1]) == 5.0
    good.close()
    bad.close()


def test_a_client_that_sends_nothing_is_served(server):
    server.set_greeting(_greeting())
    silent = RawPeer(server.address[1])
    wait_until(lambda: server.client_count == 1, "the client to connect")
    assert silent.receive_until(bool, "the greeting")[0].type == "IMAGE"
    server.publish({"ToolToTracker": _transform("ToolToTracker", 1.0)})
    assert silent.receive_until(lambda r: len(r) == 2, "the stream")[1].type == "TRANSFORM"
    silent.close()


def test_get_image_and_get_point_are_answered_unknown_queries_skipped(server):
    points = Outgoing("POINT", "Targets", pack_message("POINT", "Targets", 1.0, b""))
    server.set_greeting([*_greeting(), points])
    peer = RawPeer(server.address[1])
    peer.receive_until(lambda r: len(r) == 2, "the greeting")
    peer.socket.sendall(pack_message("GET_STATUS", "", 0.0, b""))
    peer.socket.sendall(pack_message("GET_IMAGE", "CT", 0.0, b""))
    peer.socket.sendall(pack_message("GET_POINT", "", 0.0, b""))
    received = peer.receive_until(lambda r: len(r) == 4, "the answers")
    assert [(m.type, m.device_name) for m in received[2:]] == [
        ("IMAGE", "CT"),
        ("POINT", "Targets"),
    ]
    peer.close()


def test_clients_beyond_the_limit_are_refused():
    with IgtlServer(ServerSettings(port=0, max_clients=1)) as server:
        first = RawPeer(server.address[1])
        wait_until(lambda: server.client_count == 1, "the first client")
        second = RawPeer(server.address[1])
        assert second.closed_by_peer()
        assert server.client_count == 1
        first.close()
        second.close()


def test_a_port_in_use_is_a_clear_error(server):
    with pytest.raises(TrackerError, match="is another server"):
        IgtlServer(ServerSettings(port=server.address[1])).start()


def test_stop_with_clients_connected_joins_everything(server):
    peers = [RawPeer(server.address[1]) for _ in range(3)]
    wait_until(lambda: server.client_count == 3, "three clients")
    server.stop()
    assert all(peer.closed_by_peer() for peer in peers)
    for peer in peers:
        peer.close()


def test_stop_first_sends_each_client_what_it_was_owed(server):
    """A session's last frames reach a client that keeps up even when the server stops while
    they are still queued (here behind the CT image, which fills the socket buffers until the
    peer reads): stop() sends them, then closes. The peer reads at full speed once it starts: a
    slow reader of a big image would hit the bound on how long stop() waits for a client."""
    server.set_greeting(_greeting(BIG))
    peer = RawPeer(server.address[1])
    wait_until(lambda: server.client_count == 1, "the client to connect")
    frames = server.settings.backlog_frames - 1
    for value in range(frames):
        server.publish({"StylusToTracker": _transform("StylusToTracker", float(value))})
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    received = peer.receive_until(
        lambda r: r and r[-1].type == "TRANSFORM" and _value(r[-1]) == frames - 1, "the last frame"
    )
    stopping.join(DEADLINE_S)
    assert not stopping.is_alive()
    assert [_value(m) for m in received if m.type == "TRANSFORM"] == list(range(frames))
    assert peer.closed_by_peer()
    peer.close()
