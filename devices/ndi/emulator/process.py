"""Run the NDI emulator in a child process (the host side may block the GIL, as ndicapy does)."""

import logging
import multiprocessing
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Self

from devices.exceptions import TrackerError, TrackerTimeout
from devices.frame import Tracker
from devices.ndi.emulator.device import NDIDevice
from devices.ndi.emulator.server import PtyServer
from devices.ndi.emulator.settings import EmulatorSettings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 2.0


def run_emulator(
    source: Tracker,
    settings: EmulatorSettings,
    on_ready: Callable[[str], None],
    should_stop: Callable[[], bool],
) -> None:
    """Serve ``source`` as an NDI device on a new pty; ``on_ready`` gets the port path."""
    server = PtyServer(NDIDevice(source, settings))
    try:
        on_ready(server.port)
        server.serve(should_stop)
    finally:
        server.close()


def _child(factory: Callable[[], Tracker], settings: EmulatorSettings, connection) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    try:
        run_emulator(factory(), settings, connection.send, lambda: bool(stopping))
    except Exception as error:  # report to the parent instead of dying silently
        connection.send(error)


class EmulatorProcess:
    """An emulated NDI device in a forked child process; ``port`` is its pty path once started.

    ``source_factory`` builds the pose source in the child. Use as a context manager: leaving
    it terminates the child (and kills it if it does not stop within 2 s).
    """

    def __init__(
        self,
        source_factory: Callable[[], Tracker],
        settings: EmulatorSettings | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self._factory = source_factory
        self._settings = settings or EmulatorSettings()
        self._start_timeout_s = start_timeout_s
        self._process: multiprocessing.Process | None = None
        self.port = ""

    def start(self) -> None:
        """Fork the child and wait for its port path (TrackerTimeout if it does not come)."""
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child, args=(self._factory, self._settings, sender), daemon=True
        )
        self._process.start()
        sender.close()
        if not receiver.poll(self._start_timeout_s):
            self.stop()
            raise TrackerTimeout(f"the NDI emulator did not start within {self._start_timeout_s} s")
        message = receiver.recv()
        if isinstance(message, Exception):
            self.stop()
            raise TrackerError(f"the NDI emulator failed to start: {message}") from message
        self.port = message
        logger.info("NDI emulator (pid %d) on %s", self._process.pid, self.port)

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._process is not None and self._process.is_alive()

    def stop(self) -> None:
        """Terminate the child; kill it if it does not stop in time."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.join(STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_TIMEOUT_S)
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
