"""What several benchmarks share: the real PLUS recording they read, and a median rate."""

import statistics
import time
from collections.abc import Callable
from pathlib import Path

# A real 3-tool PLUS recording from PLUS (tests/data/README.md gives its origin and licence).
REAL_RECORDING = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "data"
    / "tracking"
    / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"
)


def median_rate(work: Callable[[], object], count: int, repeats: int) -> float:
    """Median of ``count / seconds`` over ``repeats`` runs of ``work()``, which handles ``count``
    items (frames, calls) per run."""
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - began))
    return statistics.median(rates)


def repeated(function: Callable[[], object], count: int) -> Callable[[], None]:
    """``function`` called ``count`` times, as one piece of work for ``median_rate``."""

    def work() -> None:
        for _ in range(count):
            function()

    return work
