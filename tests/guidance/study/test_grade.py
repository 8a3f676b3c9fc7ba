"""``gestes grade``: a class's recorded runs scored again, in parallel, into one table; damaged
runs are rows with their error; bad input is a one-line error."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guidance.exceptions import GuidanceError
from guidance.exercises.runner import ExerciseOptions, run_exercise
from guidance.study.engine import ClusterSettings
from guidance.study.grading import find_runs, grade
from tests.browser import check_page

REPOSITORY = Path(__file__).resolve().parents[3]
BOX = "builtin:needle-box"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Two real pivot runs, as gestes exercise writes them, and their reports."""
    folder = tmp_path_factory.mktemp("runs")
    return {
        name: run_exercise(
            ExerciseOptions("pivot", scene=BOX, out=folder / name, seed=seed, snapshots=False)
        )
        for name, seed in (("ana", 1), ("ben", 2))
    }


@pytest.fixture(scope="module")
def classroom(scored, tmp_path_factory):
    """The two runs in a class folder, with damaged copies beside them."""
    root = tmp_path_factory.mktemp("class")
    for name, run in scored.items():
        shutil.copytree(run.out_dir, root / "group-a" / name)
    ana = root / "group-a" / "ana"
    edited = shutil.copytree(ana, root / "group-b" / "edited-report")
    report = json.loads((edited / "report.json").read_text())
    first = next(iter(report["score"]))
    report["score"][first] = -1.0
    (edited / "report.json").write_text(json.dumps(report))
    truncated = shutil.copytree(ana, root / "group-b" / "truncated")
    recording = truncated / "recording.igs.mha"
    recording.write_bytes(recording.read_bytes()[:150])
    garbage = shutil.copytree(ana, root / "group-b" / "garbage")
    (garbage / "recording.igs.mha").write_bytes(b"\x00\xff" * 500)
    lonely = root / "group-b" / "no-run-json"
    lonely.mkdir()
    shutil.copy(ana / "recording.igs.mha", lonely)
    other = shutil.copytree(ana, root / "group-b" / "other-exercise")
    setup = json.loads((other / "run.json").read_text())
    setup["exercise"] = "fiducials"
    (other / "run.json").write_text(json.dumps(setup))
    return root


@pytest.fixture(scope="module")
def graded(classroom, tmp_path_factory):
    return grade(classroom, "pivot", tmp_path_factory.mktemp("grades"), ClusterSettings(workers=0))


def test_every_run_is_a_row_and_intact_runs_get_the_score_they_saw(graded, scored):
    rows = {row["run"]: row for row in graded.rows}
    assert list(rows) == [
        "group-a/ana",
        "group-a/ben",
        "group-b/edited-report",
        "group-b/garbage",
        "group-b/no-run-json",
        "group-b/other-exercise",
        "group-b/truncated",
    ]
    for name in ("ana", "ben"):
        row = rows[f"group-a/{name}"]
        assert row["error"] is None
        assert {field: row[field] for field in graded.score_fields} == scored[name].report["score"]
        assert row["seed"] == scored[name].report["settings"]["seed"]
    assert graded.score_fields == tuple(scored["ana"].report["score"])


def test_damaged_runs_are_rows_with_their_error(graded):
    rows = {row["run"]: row for row in graded.rows}
    first = graded.score_fields[0]
    assert (
        f"report.json shows another score than its recording gives ({first})"
        in (rows["group-b/edited-report"]["warnings"])
    )
    assert rows["group-b/edited-report"]["error"] is None
    for name in ("garbage", "truncated"):
        assert rows[f"group-b/{name}"]["error"], name
        assert "\n" not in rows[f"group-b/{name}"]["error"]
    assert "run.json" in rows["group-b/no-run-json"]["error"]
    assert "fiducials exercise, not pivot" in rows["group-b/other-exercise"]["error"]


def test_the_class_table_and_page(graded):
    with graded.table_path.open(newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [row["run"] for row in table] == [row["run"] for row in graded.rows]
    assert list(table[0])[:2] == ["run", "error"]
    assert set(graded.score_fields) <= set(table[0])
    check = check_page(graded.page_path)
    assert (check.console_errors, check.script_errors, check.outside_requests) == ((), (), ())
    assert len(check.images) >= 3  # a distribution per score field with values
    assert all(width > 0 and height > 0 for _, width, height in check.images)


def test_a_local_cluster_of_two_workers_gives_the_same_table(classroom, graded, tmp_path):
    command = ["grade", str(classroom), "--exercise", "pivot", "--workers", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "guidance.cli", *command, "--out", str(tmp_path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "7 runs: 3 scored, 4 not" in done.stdout  # edited-report is scored, with a warning
    assert (tmp_path / "grades.csv").read_bytes() == graded.table_path.read_bytes()


def test_an_empty_or_missing_runs_folder_is_refused(tmp_path):
    with pytest.raises(GuidanceError, match="no exercise run under"):
        find_runs(tmp_path)
    with pytest.raises(GuidanceError, match="does not exist"):
        find_runs(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(GuidanceError, match="is not a folder"):
        find_runs(tmp_path / "file")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["grade", "RUNS", "--exercise", "knitting"], "invalid choice: 'knitting'"),
        (["grade", "NOWHERE", "--exercise", "pivot"], "gestes grade: error: the runs folder"),
    ],
)
def test_the_command_line_names_bad_input_in_one_line(arguments, message, tmp_path):
    arguments = [str(tmp_path / a) if a in ("RUNS", "NOWHERE") else a for a in arguments]
    done = subprocess.run(
        [sys.executable, "-m", "guidance.cli", *arguments, "--out", str(tmp_path / "out")],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr.splitlines()[-1]
