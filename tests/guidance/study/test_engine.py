"""Running pieces: results saved as they arrive, tables refreshed at a bounded rate, a failing
piece named while the others stay saved, and cluster settings checked."""

import math
import os

import pytest

from guidance.exceptions import GuidanceError
from guidance.study.engine import (
    TABLE_UPDATES,
    ClusterSettings,
    Piece,
    PieceRunner,
    captured_warnings,
    run_pieces,
)
from guidance.study.store import PieceStore

IN_PROCESS = ClusterSettings(workers=0)


def _pieces(count: int) -> list[Piece]:
    return [Piece(f"p/{k}", abs, (-k,)) for k in range(count)]


@pytest.mark.parametrize("count", [1, 7, TABLE_UPDATES, 3 * TABLE_UPDATES + 1])
def test_every_result_is_saved_and_the_tables_refreshed_at_most_a_hundred_times(tmp_path, count):
    store = PieceStore.open(tmp_path, {"test": count}, resume=False)
    refreshed, seen = [], []
    with PieceRunner(IN_PROCESS) as runner:
        ran = run_pieces(
            _pieces(count),
            store,
            runner,
            progress=lambda done, total: seen.append((done, total)),
            saved=lambda: refreshed.append(len(store.done_keys())),
        )
    assert ran == count
    assert store.records([f"p/{k}" for k in range(count)]) == [
        {"key": f"p/{k}", "result": k} for k in range(count)
    ]
    assert seen == [(done, count) for done in range(count + 1)]
    every = math.ceil(count / TABLE_UPDATES)
    assert len(refreshed) == math.ceil(count / every) <= TABLE_UPDATES + 1
    assert refreshed == sorted(refreshed) and refreshed[0] >= 1 and refreshed[-1] == count


def test_a_run_stopped_between_two_table_updates_updates_them_once_more(tmp_path):
    store = PieceStore.open(tmp_path, {"test": "stop"}, resume=False)
    refreshed = []

    def stop_at_five(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with PieceRunner(IN_PROCESS) as runner, pytest.raises(KeyboardInterrupt):
        run_pieces(
            _pieces(3 * TABLE_UPDATES),
            store,
            runner,
            progress=stop_at_five,
            saved=lambda: refreshed.append(len(store.done_keys())),
        )
    assert refreshed == [3, 5]  # every third piece, then the two saved before the stop


def test_pieces_already_saved_are_not_run_again(tmp_path):
    store = PieceStore.open(tmp_path, {"test": "resume"}, resume=False)
    store.save({"key": "p/1", "result": "kept"})
    with PieceRunner(IN_PROCESS) as runner:
        assert run_pieces(_pieces(3), store, runner) == 2
    assert store.records(["p/1"]) == [{"key": "p/1", "result": "kept"}]


def test_a_failing_piece_is_named_and_the_finished_ones_stay(tmp_path):
    store = PieceStore.open(tmp_path, {"test": "failure"}, resume=False)
    pieces = [*_pieces(2), Piece("p/bad", abs, ("not a number",)), *_pieces(4)[2:]]
    with (
        PieceRunner(IN_PROCESS) as runner,
        pytest.raises(GuidanceError, match=r"p/bad failed: TypeError"),
    ):
        run_pieces(pieces, store, runner)
    assert store.done_keys() == {"p/0", "p/1"}


def test_cluster_settings_are_checked():
    with pytest.raises(GuidanceError, match="either --scheduler"):
        ClusterSettings(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(GuidanceError, match="0 or more"):
        ClusterSettings(workers=-1)


def test_where_a_study_runs_is_said_in_words():
    """What ``gestes study`` prints before it starts: the place, with a count that agrees."""
    assert ClusterSettings(workers=1).describe() == "a local Dask cluster (1 worker process)"
    assert ClusterSettings(workers=2).describe() == "a local Dask cluster (2 worker processes)"
    assert ClusterSettings(workers=0).describe() == "this process (no Dask)"
    assert "tcp://10.0.0.1:8786" in ClusterSettings(scheduler="tcp://10.0.0.1:8786").describe()


def test_the_science_codes_warnings_are_captured_not_printed(capsys):
    import logging

    with captured_warnings() as messages:
        logging.getLogger("registration.pivot").warning("the tool was rotated only %d deg", 9)
        logging.getLogger("elsewhere").info("not ours")
    logging.getLogger("registration.pivot").warning("after the block")
    assert messages == ["the tool was rotated only 9 deg"]
    assert "rotated only" not in capsys.readouterr().err


def _trim_threshold(_: int) -> str | None:
    """What a worker's C library was told about trimming memory (MALLOC_TRIM_THRESHOLD_)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_workers_keep_the_c_librarys_memory_trimming(tmp_path, monkeypatch):
    """Dask's default (65536: trim at once) made each simulated trial ~25 % slower on a worker
    than in the plain loop; the local cluster's workers are started without it."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    store = PieceStore.open(tmp_path, {"test": "trim"}, resume=False)
    with PieceRunner(ClusterSettings(workers=1)) as runner:
        run_pieces([Piece("trim/0", _trim_threshold, (0,))], store, runner)
    assert [record["result"] for record in store.records(["trim/0"])] == [None]
