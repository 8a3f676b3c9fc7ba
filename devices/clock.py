"""Time as a dependency: every paced source and every timeout asks a ``Clock``, never ``time``.

``MonotonicClock`` is the real one (``time.monotonic`` / ``time.sleep``). ``FakeClock`` is for
tests and batch simulations: its ``sleep`` advances its time at once, so a test of a 60 Hz
tracker runs instantly and can assert the exact times at which frames were due.
"""

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a clock that never goes back, and a way to wait on it."""

    def now(self) -> float:
        """The current time (s); only differences between two readings mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing for zero or less)."""
        ...


class MonotonicClock:
    """The host's monotonic clock: what live trackers and real-time playback use."""

    def now(self) -> float:
        """``time.monotonic()`` (s)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``; zero or negative returns at once."""
        if seconds > 0.0:
            time.sleep(seconds)


class FakeClock:
    """A clock that moves only when told: ``sleep`` and ``advance`` add to its time instantly.

    Thread-safe: an acquisition thread may sleep on it while a test reads or advances it.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        """The fake time (s)."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time by ``seconds`` (zero or negative: no change); returns at once."""
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        """Move the fake time forward by ``seconds`` (>= 0), as if that much time had passed."""
        if not seconds >= 0.0:
            raise ValueError(f"a clock cannot go back: advance by {seconds!r} s")
        with self._lock:
            self._now += seconds


MONOTONIC = MonotonicClock()


def clock_or_monotonic(clock: Clock | None) -> Clock:
    """``clock``, or the host's monotonic clock when None (the default everywhere)."""
    return MONOTONIC if clock is None else clock
