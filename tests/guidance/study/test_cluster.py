"""A study on a real Dask cluster (``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1, ephemeral ports) gives the tables the same study gives in this process, bit for bit,
even when a worker is killed halfway; an address nobody answers at is an error within seconds.
Every process a test starts is stopped, whatever happens."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guidance.exceptions import GuidanceError
from guidance.study.engine import ClusterSettings, PieceRunner
from guidance.study.tre_study import run_study
from tests.guidance.study.studies import command_line, small

REPOSITORY = Path(__file__).resolve().parents[3]
# Six pieces of one trial each: enough to kill a worker while some are still to run.
STUDY = small(trials=6)
STUDY_ARGUMENTS = command_line(STUDY)
START_TIMEOUT_S = 60.0


def _environment() -> dict[str, str]:
    """This checkout first on the path of every process (workers import the study's code)."""
    path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


class LocalDaskCluster:
    """``dask scheduler`` and ``dask worker`` processes, each in its own process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen] = []

    def _start(self, *arguments: str, log: str) -> subprocess.Popen:
        with (self.folder / log).open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "dask", *arguments],
                cwd=REPOSITORY,
                env=_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start(self, workers: int) -> list[subprocess.Popen]:
        self._start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--dashboard-address",
            ":0",  # its small HTTP server on a free port, not 8787
            "--scheduler-file",
            str(self.scheduler_file),
            log="scheduler.log",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.scheduler_file.is_file():
            if time.monotonic() > deadline or self.processes[0].poll() is not None:
                raise RuntimeError((self.folder / "scheduler.log").read_text())
            time.sleep(0.1)
        started = [
            self._start(
                "worker",
                "--scheduler-file",
                str(self.scheduler_file),
                "--nthreads",
                "1",
                "--no-dashboard",
                "--name",
                f"worker-{k}",
                log=f"worker-{k}.log",
            )
            for k in range(workers)
        ]
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
        return started

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(tmp_path):
    dask_cluster = LocalDaskCluster(tmp_path)
    try:
        yield dask_cluster
    finally:
        dask_cluster.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The study run in this process, without Dask."""
    return run_study(STUDY, tmp_path_factory.mktemp("in-process"), ClusterSettings(workers=0))


def _tables(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("tre.csv", "trials.csv")}


def _gestes(*arguments: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "guidance.cli", *arguments],
        cwd=REPOSITORY,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def _finish(process: subprocess.Popen, timeout_s: float = 300.0) -> tuple[str, str]:
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    return out, err


def test_a_study_through_the_scheduler_equals_the_study_in_this_process(
    cluster, reference, tmp_path
):
    cluster.start(workers=2)
    out = tmp_path / "on-cluster"
    _finish(_gestes(*STUDY_ARGUMENTS, "--scheduler", cluster.address, "--out", str(out)))
    assert _tables(out) == _tables(reference.table_path.parent)


def test_a_study_survives_a_worker_killed_halfway(cluster, reference, tmp_path):
    workers = cluster.start(workers=2)
    out = tmp_path / "killed"
    study = _gestes(*STUDY_ARGUMENTS, "--scheduler", cluster.address, "--out", str(out))
    try:
        deadline = time.monotonic() + 300.0
        while not any((out / "pieces").glob("*.json")):
            assert study.poll() is None, study.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(workers[0].pid, signal.SIGKILL)
        finished_when_killed = len(list((out / "pieces").glob("*.json")))
        assert finished_when_killed < STUDY.trials  # the kill came with work still to do
    finally:
        _finish(study)
    workers[0].wait(timeout=10)
    assert _tables(out) == _tables(reference.table_path.parent)


def test_an_address_nobody_answers_at_is_an_error_within_seconds():
    settings = ClusterSettings(scheduler="tcp://127.0.0.1:9", connect_timeout_s=2.0)
    started = time.monotonic()
    with (
        pytest.raises(GuidanceError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"),
        PieceRunner(settings),
    ):
        pass
    # Not a timing assertion on the work itself: the call must give up, not hang.
    assert time.monotonic() - started < 30.0


def test_the_command_line_reports_an_unanswering_scheduler_in_one_line(tmp_path):
    process = _gestes(*STUDY_ARGUMENTS, "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    (line,) = [line for line in err.splitlines() if "error" in line]
    assert line.startswith("gestes study: error: no Dask scheduler answers at tcp://127.0.0.1:9")
    assert not (tmp_path / "pieces").exists()  # nothing prepared for an unreachable cluster
