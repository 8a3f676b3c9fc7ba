"""Where an OpenIGTLink server listens and how it treats its clients; host:port text.

Light on purpose (standard library only): the command line reads its defaults from here.
"""

import math
from dataclasses import dataclass, replace
from typing import Self

from devices.exceptions import ConfigurationError

IGTL_PORT = 18944  # OpenIGTLink's port registered with IANA; PlusServer and Slicer use it


@dataclass(frozen=True)
class ServerSettings:
    """``host`` to bind (loopback unless asked: ``0.0.0.0`` serves every interface), ``port``
    (0: any free port), at most ``max_clients`` at once; a client's backlog holds
    ``backlog_frames`` frames (then only the newest poses are sent); ``send_timeout_s``: a client
    that takes longer than this to accept 1 MiB is dropped (it is stuck or gone)."""

    host: str = "127.0.0.1"
    port: int = IGTL_PORT
    max_clients: int = 8
    backlog_frames: int = 8
    send_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigurationError("the OpenIGTLink server needs a host to bind (e.g. 127.0.0.1)")
        if not 0 <= self.port <= 0xFFFF:
            raise ConfigurationError(f"a TCP port is 0..65535; got {self.port}")
        if self.max_clients < 1:
            raise ConfigurationError(f"max_clients must be >= 1; got {self.max_clients}")
        if self.backlog_frames < 1:
            raise ConfigurationError(f"backlog_frames must be >= 1; got {self.backlog_frames}")
        if not (math.isfinite(self.send_timeout_s) and self.send_timeout_s > 0.0):
            raise ConfigurationError(f"send_timeout_s must be > 0 s; got {self.send_timeout_s}")

    def at(self, address: str) -> Self:
        """These settings at ``address``: ``PORT`` (this host) or ``HOST:PORT``."""
        host, port = parse_address(address, self.host)
        return replace(self, host=host, port=port)


def parse_address(text: str, default_host: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"[IPv6]:PORT"`` or ``"PORT"`` (on ``default_host``) as (host, port)."""
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host = default_host
    host = host.removeprefix("[").removesuffix("]")
    if not port_text.isdigit() or not host or int(port_text) > 0xFFFF:
        raise ConfigurationError(
            f"expected [HOST:]PORT with a port 0..65535 (e.g. 127.0.0.1:{IGTL_PORT}); got {text!r}"
        )
    return host, int(port_text)


@dataclass(frozen=True)
class ClientSettings:
    """How the ``igtl:`` tracker reads an OpenIGTLink server (all times in seconds).

    A frame is one TRANSFORM per tool; when a tool's message has not come ``batch_wait_s``
    after the frame's first message, the frame goes without it (the tool is missing in it).
    When no message has come for ``missing_after_s`` (a silent or vanished server), frames with
    every tool missing are made at that interval, so that the session shows it. A lost
    connection is tried again every ``reconnect_interval_s``; each attempt waits at most
    ``connect_timeout_s``. A message body larger than ``max_body_bytes`` is skipped.
    """

    batch_wait_s: float = 0.002
    missing_after_s: float = 0.2
    reconnect_interval_s: float = 0.5
    connect_timeout_s: float = 2.0
    max_body_bytes: int = 1 << 16

    def __post_init__(self) -> None:
        times = ("batch_wait_s", "missing_after_s", "reconnect_interval_s", "connect_timeout_s")
        for name in times:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigurationError(f"{name} must be a number of seconds > 0; got {value!r}")
        if not self.batch_wait_s < self.missing_after_s:
            raise ConfigurationError(
                f"batch_wait_s ({self.batch_wait_s} s) must be shorter than missing_after_s "
                f"({self.missing_after_s} s)"
            )
        if self.max_body_bytes < 48:
            raise ConfigurationError(
                f"max_body_bytes must hold a TRANSFORM (48 bytes); got {self.max_body_bytes}"
            )
