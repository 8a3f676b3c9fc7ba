"""Cut a byte stream from an OpenIGTLink peer into messages, with bounded memory.

``MessageReader.feed(data)`` takes bytes as they come off a socket, in chunks of any size, and
returns the complete messages they finish. A message whose type the caller does not want, or
whose body is larger than ``max_body_bytes``, is skipped as its bytes pass (never held in
memory); a body with a wrong CRC is dropped. These are counted in ``skipped`` and logged (a
warning the first time for each reason, then at debug level). A header that cannot be one
(unknown version, garbled type, an implausible body size) raises ``ProtocolError``: after it
nothing in the stream can be trusted, and the caller closes the connection.

Version 2 bodies (extended header, content, metadata) are unwrapped: ``Message.content`` is
the version 1 body, ``Message.metadata`` the key/value pairs (PLUS puts a ``TransformStatus``
there).
"""

import logging
import struct
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from devices.exceptions import ProtocolError
from devices.igtl.crc import crc64
from devices.igtl.header import HEADER_SIZE, Header, parse_header

logger = logging.getLogger(__name__)

# Larger than any real message (a 1024^3 float64 volume is 8 GiB, beyond what IMAGE's uint16
# sizes allow in practice): a body size above this is a corrupt header, not a big message.
PLAUSIBLE_BODY_BYTES = 1 << 33
_EXTENDED_HEADER = struct.Struct(">HHII")
_METADATA_ENTRY = struct.Struct(">HHI")


@dataclass(frozen=True)
class Message:
    """One received message: header fields and the version 1 content (bytes)."""

    header: Header
    content: bytes
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def type(self) -> str:
        return self.header.type

    @property
    def device_name(self) -> str:
        return self.header.device_name


class MessageReader:
    """Incremental parser of one connection's bytes (see the module docstring).

    ``wanted_types`` limits which message types are kept (None: all); ``max_body_bytes``
    bounds the memory one message may take.
    """

    def __init__(self, max_body_bytes: int, wanted_types: Collection[str] | None = None) -> None:
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0; got {max_body_bytes}")
        self._max_body = max_body_bytes
        self._wanted = None if wanted_types is None else frozenset(wanted_types)
        self._buffer = bytearray()
        self._header: Header | None = None
        self._discard = 0  # body bytes still to skip
        self.skipped: Counter[str] = Counter()

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for a message not yet complete (at most 58 + ``max_body_bytes``)."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """The messages that ``data`` completes, in order; raises ``ProtocolError`` for a
        header that cannot be an OpenIGTLink header."""
        messages = []
        view = memoryview(data)
        while view:
            if self._discard:
                step = min(self._discard, len(view))
                self._discard -= step
                view = view[step:]
                continue
            if self._header is None:
                take = min(HEADER_SIZE - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
                if len(self._buffer) == HEADER_SIZE:
                    self._start_body(parse_header(self._buffer))
                    self._buffer.clear()
            else:
                take = min(self._header.body_size - len(self._buffer), len(view))
                self._buffer += view[:take]
                view = view[take:]
            if self._header is not None and len(self._buffer) == self._header.body_size:
                message = self._finish_body(self._header, bytes(self._buffer))
                self._header = None
                self._buffer.clear()
                if message is not None:
                    messages.append(message)
        return messages

    def _start_body(self, header: Header) -> None:
        """Decide what to do with the body that follows ``header``: keep it or skip it."""
        if header.body_size > PLAUSIBLE_BODY_BYTES:
            raise ProtocolError(
                f"OpenIGTLink {header.type} message {header.device_name!r} announces a body "
                f"of {header.body_size} bytes: a corrupt header"
            )
        if self._wanted is not None and header.type not in self._wanted:
            self._skip("unwanted type", header, f"type {header.type} is not used here")
            self._discard = header.body_size
        elif header.body_size > self._max_body:
            self._skip(
                "oversize body",
                header,
                f"body of {header.body_size} bytes exceeds the {self._max_body}-byte limit",
            )
            self._discard = header.body_size
        else:
            self._header = header

    def _finish_body(self, header: Header, body: bytes) -> Message | None:
        """The message of a complete body, or None when it is skipped (CRC, bad layout)."""
        if crc64(body) != header.crc:
            self._skip("wrong CRC", header, "its CRC-64 does not match its body")
            return None
        if header.version == 1:
            return Message(header, body)
        try:
            content, metadata = _unwrap_version_2(body)
        except ProtocolError as error:
            self._skip("bad version 2 body", header, str(error))
            return None
        return Message(header, content, MappingProxyType(metadata))

    def _skip(self, reason: str, header: Header, detail: str) -> None:
        """Count and log one skipped message (a warning the first time for each reason)."""
        self.skipped[reason] += 1
        level = logging.WARNING if self.skipped[reason] == 1 else logging.DEBUG
        logger.log(
            level,
            "skipped OpenIGTLink %s message %r: %s (%d skipped for this reason)",
            header.type,
            header.device_name,
            detail,
            self.skipped[reason],
        )


def _unwrap_version_2(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Content and metadata of a version 2 body: extended header (its own size first, then the
    metadata header and metadata sizes and a message id), content, metadata header, metadata."""
    if len(body) < _EXTENDED_HEADER.size:
        raise ProtocolError(f"a version 2 body of {len(body)} bytes has no extended header")
    extended_size, metadata_header_size, metadata_size, _ = _EXTENDED_HEADER.unpack_from(body)
    content_end = len(body) - metadata_header_size - metadata_size
    if extended_size < _EXTENDED_HEADER.size or content_end < extended_size:
        raise ProtocolError(
            f"extended header of {extended_size} bytes and metadata of "
            f"{metadata_header_size} + {metadata_size} bytes do not fit a {len(body)}-byte body"
        )
    return body[extended_size:content_end], _metadata(body[content_end:], metadata_header_size)


def _metadata(data: bytes, header_size: int) -> dict[str, str]:
    """Key/value pairs: a count, (key size, value encoding, value size) per pair, the texts."""
    if header_size == 0:
        return {}
    if header_size < 2:
        raise ProtocolError(f"metadata header of {header_size} bytes")
    (count,) = struct.unpack_from(">H", data)
    if header_size != 2 + count * _METADATA_ENTRY.size:
        raise ProtocolError(f"metadata header of {header_size} bytes for {count} entries")
    pairs = {}
    offset = header_size
    for index in range(count):
        key_size, _, value_size = _METADATA_ENTRY.unpack_from(data, 2 + index * 8)
        end = offset + key_size + value_size
        if end > len(data):
            raise ProtocolError(f"metadata entry {index} runs past the end of the message")
        key = data[offset : offset + key_size].decode("utf-8", errors="replace")
        pairs[key] = data[offset + key_size : end].decode("utf-8", errors="replace")
        offset = end
    return pairs
