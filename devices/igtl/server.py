"""An OpenIGTLink server that streams to any number of clients without ever waiting for one.

The tracking thread calls ``publish({name: message})`` once per frame: for each client, that
only appends the frame's messages to the client's backlog and wakes the client's sender thread.
The backlog holds ``backlog_frames`` frames; when it is full the oldest frame goes, and the
sender then sends only the newest message of each name (the newest wins). So a client that
keeps up gets every frame, even if its thread was late by a few frames; one that cannot keep up
gets the freshest poses, never a growing delay. Each client has its own sender thread and its
own reader thread, which answers ``GET_IMAGE`` and ``GET_POINT`` queries and notices when the
client leaves. A stuck client (no progress for ``send_timeout_s``) is dropped. Neither slows
tracking nor the other clients. New clients first receive the greeting (the CT, the points),
sent in 1 MiB pieces, then the stream. ``stop()`` first lets each sender finish what its
client was already owed (bounded by the send timeout), so a client that keeps up gets the
session's last frame.

Messages are whole packed messages (``messages.pack_message``): packed once, sent to everyone.
"""

import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from devices.exceptions import ProtocolError, TrackerError
from devices.igtl.settings import ServerSettings
from devices.igtl.stream import Message, MessageReader

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_RECEIVE_SIZE = 1 << 16
_QUERY_BODY_BYTES = 1 << 16  # GET_ queries have empty bodies; anything bigger is skipped
_QUERIES = frozenset({"GET_IMAGE", "GET_POINT"})
_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Outgoing:
    """A packed message sent once to each client (and again when it asks for it)."""

    type: str
    device_name: str
    data: bytes


class IgtlServer:
    """Serves OpenIGTLink on ``settings.host:settings.port`` (see the module docstring).

    ``start()`` binds and returns the address (useful with port 0); ``stop()`` closes every
    connection and joins every thread. Also a context manager.
    """

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        self._greeting: tuple[Outgoing, ...] = ()
        self._clients: tuple[_Client, ...] = ()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); raises if the server is not started."""
        if self._listener is None:
            raise TrackerError("the OpenIGTLink server is not started")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def client_count(self) -> int:
        """Clients connected now."""
        return len(self._clients)

    def start(self) -> tuple[str, int]:
        """Listen and accept clients on a thread; returns the bound (host, port)."""
        if self._listener is not None:
            return self.address
        try:
            listener = socket.create_server((self.settings.host, self.settings.port))
        except OSError as error:
            raise TrackerError(
                f"cannot serve OpenIGTLink on {self.settings.host}:{self.settings.port}: "
                f"{error.strerror or error} (is another server, e.g. Slicer or PlusServer, "
                "using this port?)"
            ) from error
        listener.settimeout(0.5)
        self._listener = listener
        self._stopping.clear()
        self._accepting = threading.Thread(
            target=self._accept_loop, name="igtl-accept", daemon=True
        )
        self._accepting.start()
        host, port = self.address
        logger.info("serving OpenIGTLink on %s:%d", host, port)
        return host, port

    def stop(self) -> None:
        """Send each client what it is still owed, then close every connection and the
        listening socket; join all threads."""
        if self._listener is None:
            return
        self._stopping.set()
        _shutdown(self._listener)
        if self._accepting is not None:
            self._accepting.join(_JOIN_TIMEOUT_S)
        self._listener.close()
        self._listener = None
        clients = self._clients  # a client that finishes leaves self._clients
        for client in clients:
            client.finish_sending()
        for client in clients:
            client.join_sender(_JOIN_TIMEOUT_S)
        for client in clients:
            client.close()
        for client in clients:
            client.join(_JOIN_TIMEOUT_S)
        self._clients = ()

    def set_greeting(self, messages: Sequence[Outgoing]) -> None:
        """What every client receives first when it connects (clients already here get it too)."""
        self._greeting = tuple(messages)
        for client in self._clients:
            client.queue(self._greeting)

    def publish(self, messages: Mapping[str, bytes]) -> None:
        """Stream one frame's ``messages`` (name -> packed message) to every client; returns
        at once (see the module docstring for what a late client gets)."""
        for client in self._clients:
            client.offer(messages)

    def _accept_loop(self) -> None:
        listener = self._listener
        while not self._stopping.is_set():
            try:
                connection, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError as error:
                if not self._stopping.is_set():  # out of file descriptors, say: try again
                    logger.warning("OpenIGTLink server could not accept a client: %s", error)
                    self._stopping.wait(0.1)
                continue
            try:
                self._welcome(connection, peer)
            except OSError as error:  # the client left before it was welcomed
                logger.info("OpenIGTLink client %s left at once: %s", peer, error)
                connection.close()

    def _welcome(self, connection: socket.socket, peer: tuple) -> None:
        """Serve a new connection, or close it when there are ``max_clients`` already."""
        if len(self._clients) >= self.settings.max_clients:
            logger.warning(
                "refused OpenIGTLink client %s: %d clients already (max_clients)",
                peer,
                len(self._clients),
            )
            connection.close()
            return
        client = _Client(
            connection,
            peer,
            self._greeting,
            self.settings.send_timeout_s,
            self.settings.backlog_frames,
            self._forget,
        )
        with self._lock:
            self._clients = (*self._clients, client)
        logger.info("OpenIGTLink client %s connected", peer)
        client.start()

    def _forget(self, client: "_Client") -> None:
        with self._lock:
            self._clients = tuple(other for other in self._clients if other is not client)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Client:
    """One connected client: its pending messages, its sender and reader threads."""

    def __init__(
        self,
        connection: socket.socket,
        peer: tuple,
        greeting: Sequence[Outgoing],
        send_timeout_s: float,
        backlog_frames: int,
        on_closed: Callable[["_Client"], None],
    ) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.settimeout(send_timeout_s)
        self._socket = connection
        self._peer = peer
        self._greeting = tuple(greeting)
        self._on_closed = on_closed
        self._condition = threading.Condition()
        self._backlog: deque[Mapping[str, bytes]] = deque(maxlen=backlog_frames)
        self._overflowed = False
        self._once: list[Outgoing] = list(greeting)
        self._closed = False
        self._finishing = False  # stop(): send what is pending, then close
        self._running = 2  # loops still using the socket; the last one closes it
        self._sender = threading.Thread(
            target=self._send_loop, name=f"igtl-send-{peer}", daemon=True
        )
        self._threads = (
            self._sender,
            threading.Thread(target=self._receive_loop, name=f"igtl-recv-{peer}", daemon=True),
        )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def offer(self, messages: Mapping[str, bytes]) -> None:
        """Add one frame's ``messages`` to the backlog (dropping the oldest frame when full)."""
        with self._condition:
            if self._closed:
                return
            self._overflowed |= len(self._backlog) == self._backlog.maxlen
            self._backlog.append(messages)
            self._condition.notify()

    def queue(self, messages: Sequence[Outgoing]) -> None:
        """Send ``messages`` once, before the stream (each at most once in the queue)."""
        with self._condition:
            self._once.extend(message for message in messages if message not in self._once)
            self._condition.notify()

    def finish_sending(self) -> None:
        """Let the sender send what is pending, then close (see ``join_sender``)."""
        with self._condition:
            self._finishing = True
            self._condition.notify()

    def join_sender(self, timeout_s: float) -> None:
        """Wait for the sender to finish (each piece it sends is bounded by the send timeout)."""
        self._sender.join(timeout_s)

    def close(self) -> None:
        """Stop both threads (idempotent): wakes the sender, unblocks the reader."""
        with self._condition:
            if self._closed:
                return
            self._closed = True
            self._condition.notify()
        _shutdown(self._socket)

    def join(self, timeout_s: float) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
                if thread.is_alive():
                    logger.warning("OpenIGTLink thread %s did not stop", thread.name)

    def _send_loop(self) -> None:
        try:
            while True:
                with self._condition:
                    while not (self._closed or self._finishing or self._backlog or self._once):
                        self._condition.wait()
                    pending = self._backlog or self._once
                    if self._closed or not pending:  # closed, or finishing with nothing left
                        return
                    once, self._once = self._once, []
                    frames, overflowed = list(self._backlog), self._overflowed
                    self._backlog.clear()
                    self._overflowed = False
                for message in once:
                    self._send(message.data)
                if frames:
                    self._send(_stream_bytes(frames, overflowed))
        except TimeoutError:
            logger.warning("OpenIGTLink client %s stopped reading: dropped", self._peer)
        except OSError as error:
            logger.info("OpenIGTLink client %s left (%s)", self._peer, error.strerror or error)
        finally:
            self._finish()

    def _send(self, data: bytes) -> None:
        """Send ``data`` in 1 MiB pieces: the send timeout applies to each piece."""
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            self._socket.sendall(view[start : start + _CHUNK])

    def _receive_loop(self) -> None:
        reader = MessageReader(_QUERY_BODY_BYTES, wanted_types=_QUERIES)
        try:
            while not self._closed:
                try:
                    data = self._socket.recv(_RECEIVE_SIZE)
                except TimeoutError:
                    continue  # a client that sends nothing is normal
                if not data:
                    logger.info("OpenIGTLink client %s disconnected", self._peer)
                    return
                for message in reader.feed(data):
                    self._answer(message)
        except ProtocolError as error:
            logger.warning("OpenIGTLink client %s sent garbage, dropped: %s", self._peer, error)
        except OSError:
            pass  # closed by the server, or a reset from the client
        finally:
            self._finish()

    def _answer(self, query: Message) -> None:
        """Queue the greeting messages a ``GET_`` query names (all of a type if unnamed)."""
        wanted = query.type.removeprefix("GET_")
        answers = [
            message
            for message in self._greeting
            if message.type == wanted and query.device_name in ("", message.device_name)
        ]
        logger.debug(
            "%s %r from %s: %d answers", query.type, query.device_name, self._peer, len(answers)
        )
        self.queue(answers)

    def _finish(self) -> None:
        """End of one loop: stop the other, close the socket after the last, tell the server."""
        self.close()
        with self._condition:
            self._running -= 1
            last = self._running == 0
        if last:
            self._socket.close()
            self._on_closed(self)


def _stream_bytes(frames: list[Mapping[str, bytes]], newest_only: bool) -> bytes:
    """The messages of ``frames`` in order, or, after an overflow, the newest of each name."""
    if newest_only:
        newest: dict[str, bytes] = {}
        for messages in frames:
            newest.update(messages)
        return b"".join(newest.values())
    return b"".join(data for messages in frames for data in messages.values())


def _shutdown(connection: socket.socket) -> None:
    """Wake any thread blocked on ``connection`` (accept, recv, send); ignore if already gone."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
