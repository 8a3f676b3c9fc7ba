"""What every gestes tracker class shares: the context manager and iteration over frames."""

import abc
from collections.abc import Iterator
from types import TracebackType
from typing import Self

from devices.exceptions import StreamEnded
from devices.frame import Frame


class TrackerSource(abc.ABC):
    """Mixin for classes implementing ``start`` / ``read`` / ``stop`` (the ``Tracker`` protocol).

    ``with source:`` starts and stops it; iterating reads frames until the source raises
    ``StreamEnded`` (a finished simulation or recording). A live tracker iterates forever.
    """

    @abc.abstractmethod
    def start(self) -> None:
        """Open or rewind the source; frames can be read afterwards."""

    @abc.abstractmethod
    def read(self, timeout: float | None = None) -> Frame:
        """The next frame; ``timeout`` in seconds (None waits as long as the source needs)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the source; it may be started again."""

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

    def __iter__(self) -> Iterator[Frame]:
        while True:
            try:
                frame = self.read()
            except StreamEnded:
                return
            yield frame
