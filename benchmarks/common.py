"""What several benchmarks share: the real PLUS recording they read, a median rate, a
description of the machine and the one way results are saved."""

import json
import os
import platform
import statistics
import time
import timeit
from collections.abc import Callable
from pathlib import Path

RESULTS_FOLDER = Path(__file__).resolve().parent / "results"

# A real 3-tool PLUS recording from PLUS (tests/data/README.md gives its origin and licence).
REAL_RECORDING = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "data"
    / "tracking"
    / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"
)


def pin_threads(threads: int) -> None:
    """Every library to ``threads`` threads: call before numpy, Numba, open3d or small_gicp
    start their pools (at import). Spinning OpenMP workers on a shared 2-core machine make 2
    threads slower than 1, hence the passive wait."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


def machine_info() -> dict:
    """Python version, CPUs, load and the speed of plain Python now, to compare runs."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "sum_range_1000_us": min(timeit.repeat("sum(range(1000))", number=2000, repeat=5))
        / 2000
        * 1e6,
    }


def write_results(results: dict, path: Path) -> None:
    """Save ``results`` as indented JSON at ``path``, headed by ``machine_info()`` unless the
    benchmark described the machine at its start, and say where: every benchmark's file has the
    same shape, so runs on different days and machines can be compared."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine_info(), **results}, indent=2) + "\n")
    print(f"written {path}")


def measured(bench: Callable[..., dict], *args: object, **kwargs: object) -> dict:
    """``bench(*args, **kwargs)``, or ``{"failed": reason}`` if it could not run (no pty, the
    emulator did not start, a file missing...): the table then says why, never prints nan."""
    try:
        return bench(*args, **kwargs)
    except Exception as error:  # any failure is reported; the other figures still run
        return {"failed": f"{type(error).__name__}: {error}"}


def print_rows(results: dict, rows: list[tuple[str, str, str, str]]) -> None:
    """Print ``(label, section, key, target)`` rows of ``results``: the figure, or why there is
    none (a section ``measured`` recorded as failed)."""
    for label, section, key, target in rows:
        figure = results[section]
        if "failed" in figure:
            print(f"{label:<46} {'not measured':>12} ({figure['failed']})")
        else:
            print(f"{label:<46} {figure[key]:>12.3f} {target}")
