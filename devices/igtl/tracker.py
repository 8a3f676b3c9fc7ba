"""``igtl:HOST:PORT``: a tracker fed by an OpenIGTLink server (PlusServer, 3D Slicer, ...).

Every tracker PLUS supports becomes a gestes tracker: PlusServer streams each tool's pose as a
TRANSFORM message (``StylusToTracker``, ...), and ``IgtlTracker`` turns them into frames
(``assembly.FrameAssembler``: one message per tool and frame, the header's time, MISSING when a
tool's messages stop). ``tools`` maps gestes' tool names to message names
(``--tool stylus=StylusToTracker``); by default ``stylus`` and ``reference`` read
``StylusToTracker`` and ``ReferenceToTracker``, as PLUS names them.

The tracker connects as a client. ``start`` fails with a clear error when no server answers;
once running, a server that goes away is tried again every ``reconnect_interval_s`` while the
frames say every tool is missing, and streaming resumes when it comes back. A server that
sends garbage is disconnected and tried again; oversize or unknown messages are skipped.
Reads never wait longer than their timeout: a silent server is not an error (the watchdog's
frames say so), so a read that times out raises ``FrameNotDue`` ("read again").
"""

import logging
import socket
import time
from collections import deque
from collections.abc import Mapping

from devices.acquisition import RawFrame, TrackerDevice
from devices.clock import Clock
from devices.exceptions import ConfigurationError, FrameNotDue, ProtocolError, TrackerError
from devices.igtl.assembly import FrameAssembler
from devices.igtl.messages import TRANSFORM
from devices.igtl.settings import ClientSettings, parse_address
from devices.igtl.stream import MessageReader

logger = logging.getLogger(__name__)

DEFAULT_TOOLS = {"stylus": "StylusToTracker", "reference": "ReferenceToTracker"}
_RECEIVE_SIZE = 1 << 16
_POLL_S = 0.05  # longest socket wait, so that clock-driven deadlines are checked often enough


class IgtlTracker(TrackerDevice):
    """Frames from the OpenIGTLink server at ``host:port`` (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        tools: Mapping[str, str] | None = None,
        *,
        settings: ClientSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        tools = dict(tools or DEFAULT_TOOLS)
        super().__init__(tuple(tools), clock=clock)
        self.host, self.port = host, port
        self.settings = settings or ClientSettings()
        self._assembler = FrameAssembler(tools, self.settings)
        self._socket: socket.socket | None = None
        self._reader: MessageReader | None = None
        self._ready: deque[RawFrame] = deque()
        self._next_attempt_s = 0.0

    @classmethod
    def from_spec(
        cls, address: str, tools: Mapping[str, object] | None = None, clock: Clock | None = None
    ) -> "IgtlTracker":
        """The tracker of ``igtl:HOST:PORT`` (``address`` is ``HOST:PORT`` or ``PORT``);
        ``tools`` maps tool names to message names, as ``--tool NAME=MESSAGE`` gives them."""
        host, port = parse_address(address, "127.0.0.1")
        for tool, name in (tools or {}).items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(
                    f"--tool {tool}=... names the OpenIGTLink message of tool {tool!r} for an "
                    f"igtl: tracker (e.g. {tool}=StylusToTracker); got {name!r}"
                )
        return cls(host, port, tools, clock=clock)

    def __str__(self) -> str:
        return f"the OpenIGTLink server at {self.host}:{self.port}"

    def _open(self) -> None:
        self._ready.clear()
        self._assembler.reset(self.clock.now())
        try:
            self._connect()
        except OSError as error:
            raise TrackerError(
                f"cannot connect to {self}: {error.strerror or error} (is PlusServer, or "
                "Slicer's OpenIGTLink server, running and listening on that port?)"
            ) from error
        logger.info("connected to %s", self)

    def _close(self) -> None:
        self._disconnect()

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """The next frame; waits at most ``timeout_s`` of real time (None: until there is one,
        which the watchdog bounds), else raises ``FrameNotDue``."""
        end = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if self._ready:
                return self._ready.popleft()
            frame = self._assembler.due(self.clock.now())
            if frame is not None:
                return frame
            remaining = _POLL_S if end is None else min(_POLL_S, end - time.monotonic())
            if remaining <= 0.0:
                raise FrameNotDue(f"no OpenIGTLink message from {self} within {timeout_s} s")
            self._receive(remaining)

    def _receive(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` for bytes (or reconnect when it is time) and assemble them."""
        if self._socket is None:
            self._reconnect(wait_s)
            return
        self._socket.settimeout(max(min(wait_s, self._until_due()), 1e-4))
        try:
            data = self._socket.recv(_RECEIVE_SIZE)
        except TimeoutError:
            return
        except OSError as error:
            self._lost(f"connection error: {error.strerror or error}")
            return
        if not data:
            self._lost("the server closed the connection")
            return
        arrival_s = self.clock.now()
        try:
            messages = self._reader.feed(data)
        except ProtocolError as error:
            self._lost(f"not OpenIGTLink: {error}")
            return
        for message in messages:
            self._ready.extend(self._assembler.add(message, arrival_s))

    def _until_due(self) -> float:
        """Seconds until the assembler has a frame to give without a message."""
        return self._assembler.next_due_s() - self.clock.now()

    def _connect(self) -> None:
        connection = socket.create_connection(
            (self.host, self.port), timeout=self.settings.connect_timeout_s
        )
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = connection
        self._reader = MessageReader(self.settings.max_body_bytes, wanted_types={TRANSFORM})

    def _reconnect(self, wait_s: float) -> None:
        """Try to connect again if the retry interval has passed; else wait ``wait_s``."""
        now = time.monotonic()
        if now < self._next_attempt_s:
            time.sleep(min(wait_s, self._next_attempt_s - now, max(self._until_due(), 0.0)))
            return
        self._next_attempt_s = now + self.settings.reconnect_interval_s
        try:
            self._connect()
        except OSError:
            return
        self._assembler.reset(self.clock.now())
        logger.warning("reconnected to %s", self)

    def _lost(self, reason: str) -> None:
        logger.warning(
            "lost %s (%s): every tool is missing; trying again every %g s",
            self,
            reason,
            self.settings.reconnect_interval_s,
        )
        self._disconnect()
        self._next_attempt_s = time.monotonic() + self.settings.reconnect_interval_s

    def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._reader = None
