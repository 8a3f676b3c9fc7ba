"""Run independent pieces of work on Dask (``dask.distributed``) and keep each result as it
arrives.

The work of a study or a grading is a list of ``Piece`` s: a key and a call of a module-level
function with plain arguments, independent of every other piece (a flat task graph). They run
- on a ``LocalCluster`` of worker processes on this machine (``workers``, one thread each: the
  science code is single-threaded Python and NumPy, so processes, not threads, use the cores);
- on an existing cluster (``scheduler="tcp://HOST:8786"``), started with ``dask scheduler`` and
  ``dask worker`` or by dask-jobqueue on SLURM (the workers must import this gestes);
- or, with ``workers=0``, one after another in this process, without Dask (the reference the
  cluster's results are compared with, and the loop Dask's overhead is measured against).
Results are saved in the ``PieceStore`` in the order they finish; a piece already in the store
is not run again (``--resume``). A piece that raises stops the run (its error is raised, the
pieces already saved stay); Dask itself runs again a piece whose worker died.
"""

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from guidance.exceptions import GuidanceError
from guidance.study.store import PieceStore

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# A run rebuilds its tables from the saved pieces at most this many times (then once at the end).
TABLE_UPDATES = 100
# The Dask setting that gives a local cluster's workers their MALLOC_TRIM_THRESHOLD_.
TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@dataclass(frozen=True)
class Piece:
    """One independent piece of work: ``function(*arguments)`` returns a JSON-able result,
    saved under ``key``."""

    key: str
    function: Callable[..., Any]
    arguments: tuple


@dataclass(frozen=True)
class ClusterSettings:
    """Where pieces run: ``scheduler`` (an existing cluster's address) or a local cluster of
    ``workers`` processes (None: one per core; 0: no Dask, in this process), and how long to
    wait for a scheduler to answer and for its first worker (s)."""

    workers: int | None = None
    scheduler: str | None = None
    connect_timeout_s: float = 5.0
    worker_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 0:
            raise GuidanceError(f"workers must be 0 or more; got {self.workers}")
        if self.scheduler is not None and self.workers is not None:
            raise GuidanceError(
                "give either --scheduler (an existing cluster) or --workers (a local one)"
            )
        if self.connect_timeout_s <= 0.0 or self.worker_timeout_s <= 0.0:
            raise GuidanceError("the cluster timeouts must be > 0 s")

    @property
    def in_process(self) -> bool:
        return self.scheduler is None and self.workers == 0

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        if self.workers == 0:
            return "this process (no Dask)"
        if self.workers is None:
            return "a local Dask cluster (a worker process per core)"
        plural = "" if self.workers == 1 else "es"
        return f"a local Dask cluster ({self.workers} worker process{plural})"


class PieceRunner:
    """Runs pieces where ``settings`` says (a context manager). An existing cluster is
    connected to on entry, so that an address that does not answer is an error before any
    work is prepared (GuidanceError within ``connect_timeout_s``; one without workers within
    ``worker_timeout_s``); a local cluster starts only when there is work for it. On exit the
    client is closed and a local cluster shut down."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._stack = ExitStack()
        self._client = None

    def __enter__(self) -> "PieceRunner":
        if self.settings.scheduler is not None:
            self._client = self._stack.enter_context(_connect(self.settings))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def results(self, pending: Sequence[Piece]) -> Iterator[tuple[str, Any]]:
        """(key, result) of each piece, in the order they finish."""
        if not pending:
            return
        if self.settings.in_process:
            for piece in pending:
                yield piece.key, _call(piece)
            return
        from distributed import as_completed

        client = self._client or self._start_local()
        futures = {
            client.submit(piece.function, *piece.arguments, pure=False): piece for piece in pending
        }
        logger.info("%d pieces submitted to %s", len(futures), self.settings.describe())
        try:
            for future in as_completed(futures):
                piece = futures[future]
                try:
                    result = future.result()
                except Exception as error:
                    raise _piece_failed(piece, error) from error
                yield piece.key, result
        finally:
            client.cancel(list(futures))

    def _start_local(self):
        import dask
        from distributed import Client, LocalCluster

        workers = self.settings.workers or os.cpu_count() or 1
        # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (freed memory handed back to
        # the system at once). The simulation allocates and frees many small arrays, and with
        # it a trial ran ~25 % slower than in this process; a study holds little memory, so the
        # workers keep the C library's default.
        with dask.config.set({TRIM_SETTING: None}):
            cluster = self._stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # No dashboard; the scheduler's small HTTP server on any free port, not 8787.
                    scheduler_kwargs={"dashboard_address": ":0"},
                    silence_logs=logging.ERROR,
                )
            )
        self._client = self._stack.enter_context(Client(cluster))
        return self._client


@contextmanager
def _connect(settings: ClusterSettings) -> Iterator[Any]:
    """A client of the existing cluster at ``settings.scheduler`` with at least one worker."""
    from distributed import Client

    try:
        client = Client(settings.scheduler, timeout=f"{settings.connect_timeout_s}s")
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise GuidanceError(
            f"no Dask scheduler answers at {settings.scheduler} ({error}); start one with "
            "`dask scheduler` and give the address it prints"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=settings.worker_timeout_s)
        except (TimeoutError, OSError) as error:
            raise GuidanceError(
                f"the Dask scheduler at {settings.scheduler} has no worker after "
                f"{settings.worker_timeout_s:g} s ({error}); start some with "
                f"`dask worker {settings.scheduler}`"
            ) from None
        yield client


def run_pieces(
    pieces: Sequence[Piece],
    store: PieceStore,
    runner: PieceRunner,
    progress: Progress | None = None,
    saved: Callable[[], None] | None = None,
) -> int:
    """Run the pieces not yet in ``store`` with ``runner`` and save each result as it arrives;
    ``saved()`` is called after every piece of a small run, every ``1/TABLE_UPDATES`` of a large
    one (for tables rebuilt from the store), and once more if the run stops (an error, Ctrl-C)
    with pieces saved since; ``progress(done, total)`` counts every piece, those already done
    included. Returns the number of pieces run now."""
    done = store.done_keys()
    pending = [piece for piece in pieces if piece.key not in done]
    finished = len(pieces) - len(pending)
    every = max(1, math.ceil(len(pending) / TABLE_UPDATES))
    unsaved = False
    if progress:
        progress(finished, len(pieces))
    try:
        for count, (key, result) in enumerate(runner.results(pending), start=1):
            store.save({"key": key, "result": result})
            finished += 1
            unsaved = True
            if saved and count % every == 0:
                saved()
                unsaved = False
            if progress:
                progress(finished, len(pieces))
    finally:
        if saved and unsaved:
            saved()
    return len(pending)


def _call(piece: Piece) -> Any:
    try:
        return piece.function(*piece.arguments)
    except Exception as error:
        raise _piece_failed(piece, error) from error


def _piece_failed(piece: Piece, error: Exception) -> GuidanceError:
    return GuidanceError(f"{piece.key} failed: {type(error).__name__}: {error}")


# The science code logs what it would tell one student (a short pivot, a missed dwell, a
# recording cut short); a study or a grading keeps those in its tables instead of printing them
# for every trial or run.
CAPTURED_LOGGERS = ("guidance.exercises", "registration", "scenes", "devices")


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def captured_warnings():
    """For the block, the science code's warnings (``CAPTURED_LOGGERS``) go into the list this
    yields instead of the terminal."""
    messages: list[str] = []
    handler = _Collect(messages)
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    saved = [(item.propagate, item.level) for item in loggers]
    for item in loggers:
        item.addHandler(handler)
        item.propagate = False
        if item.getEffectiveLevel() > logging.WARNING:
            item.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        for item, (propagate, level) in zip(loggers, saved, strict=True):
            item.removeHandler(handler)
            item.propagate = propagate
            item.setLevel(level)
