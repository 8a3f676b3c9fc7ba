"""``gestes grade``: every recorded run of an exercise in a folder tree, scored again from its
recording, in parallel, into one class table.

A run is a folder that ``gestes exercise`` wrote: ``run.json`` (the set-up), the recording
``recording.igs.mha`` and ``report.json``. Scoring it again is the exercise's own pure step
(``exercises.runner.build_report`` on the recording read back), so the grade is the score the
student saw, bit for bit, unless the files were changed: a run whose ``report.json`` disagrees
with its recording gets a warning. Each run is one piece of work (``engine``); a run that cannot
be scored (a truncated recording, a missing ``run.json``, a run of another exercise) is a row
with its error, never the end of the grading.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guidance.exceptions import USER_ERRORS, GuidanceError
from guidance.exercises import EXERCISES
from guidance.study.engine import (
    ClusterSettings,
    Piece,
    PieceRunner,
    Progress,
    captured_warnings,
    run_pieces,
)
from guidance.study.store import PieceStore, write_csv

RUN_FILE = "run.json"
RECORDING_FILE = "recording.igs.mha"
REPORT_FILE = "report.json"
TABLE_FILE = "grades.csv"
PAGE_FILE = "grades.html"
# The class table's columns around the score fields: run and error first, the rest after.
TABLE_FIELDS = (
    "run",
    "error",
    "scene",
    "seed",
    "skill",
    "tracker",
    "n_frames",
    "duration_s",
    "warnings",
)


def find_runs(runs_dir: Path) -> list[Path]:
    """Every run folder under ``runs_dir`` (itself included): a folder holding ``run.json`` or
    a recording, in path order. GuidanceError when the folder cannot be read or holds none."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        what = "is not a folder" if runs_dir.exists() else "does not exist"
        raise GuidanceError(f"the runs folder {runs_dir} {what}")
    try:
        found = {
            path.parent
            for name in (RUN_FILE, RECORDING_FILE)
            for path in runs_dir.rglob(name)
            if path.is_file()
        }
    except OSError as error:
        raise GuidanceError(f"cannot read the runs folder {runs_dir}: {error}") from None
    if not found:
        raise GuidanceError(
            f"no exercise run under {runs_dir}: a run is a folder with {RUN_FILE} and "
            f"{RECORDING_FILE}, as gestes exercise writes them"
        )
    return sorted(found)


def grade_run(folder: str, name: str, exercise: str) -> dict[str, Any]:
    """The class-table row of the run in ``folder`` (named ``name`` in the table): its score
    fields, set-up and warnings, or its ``error``. Runs on a worker; never raises."""
    row: dict[str, Any] = {"run": name, "error": None, "score": {}}
    with captured_warnings() as logged:
        try:
            report = _report(Path(folder), exercise)
        except Exception as error:  # any failure is this run's row, not the class's end
            row.update(error=_describe(error), warnings=" | ".join(logged))
            return row
    settings = report["settings"]
    recording = report.get("recording", {})
    warnings = [
        w for w in dict.fromkeys([*logged, *report["warnings"]]) if w != report.get("error")
    ]
    recorded = _recorded_score(Path(folder) / REPORT_FILE)
    if recorded is not None and recorded != report["score"]:
        score = report["score"]
        changed = sorted(k for k in {*score, *recorded} if recorded.get(k) != score.get(k))
        warnings.append(
            f"{REPORT_FILE} shows another score than its recording gives ({', '.join(changed)})"
        )
    row.update(
        error=report.get("error"),
        score=report["score"],
        scene=settings["scene"],
        seed=settings["seed"],
        skill=settings["skill"],
        tracker=settings["tracker"],
        n_frames=recording.get("n_frames"),
        duration_s=recording.get("duration_s"),
        warnings=" | ".join(warnings),
    )
    return row


def _report(folder: Path, exercise: str) -> dict[str, Any]:
    """The run's report.json dict, computed again from its files."""
    from devices.sequence_file import read_sequence
    from guidance.exercises.runner import EXERCISES as MODULES
    from guidance.exercises.runner import build_report
    from guidance.exercises.setup import ExerciseSetup
    from guidance.study import worker_cache

    if not (folder / RUN_FILE).is_file():
        raise GuidanceError(f"no {RUN_FILE} beside the recording: the run cannot be scored")
    setup = ExerciseSetup.read(folder / RUN_FILE)
    if setup.exercise != exercise:
        raise GuidanceError(f"this is a run of the {setup.exercise} exercise, not {exercise}")
    sequence = read_sequence(folder / RECORDING_FILE)
    scene = worker_cache.scene(setup.scene, setup.seed)
    report, _ = build_report(MODULES[exercise], sequence, scene, setup, setup.tracker)
    return report


def _recorded_score(path: Path) -> dict[str, Any] | None:
    """The score in a run's report.json, or None when there is none to compare with."""
    import json

    try:
        score = json.loads(path.read_text(encoding="utf-8")).get("score")
    except (OSError, ValueError, AttributeError):
        return None
    return score if isinstance(score, dict) else None


def _describe(error: Exception) -> str:
    """An error as one line for the class table; unexpected kinds are named."""
    text = " ".join(str(error).split()) or "(no message)"
    return text if isinstance(error, USER_ERRORS) else f"{type(error).__name__}: {text}"


@dataclass(frozen=True, eq=False)
class GradingOutcome:
    """What a grading wrote: the rows (in run order), the score fields, the files, and how many
    runs were scored now (the others came from an earlier, stopped grading)."""

    rows: list[dict[str, Any]]
    score_fields: tuple[str, ...]
    table_path: Path
    page_path: Path
    runs_graded: int


def grade(
    runs_dir: Path,
    exercise: str,
    out: Path,
    cluster: ClusterSettings,
    resume: bool = False,
    progress: Progress | None = None,
) -> GradingOutcome:
    """Score every run of ``exercise`` under ``runs_dir`` again on ``cluster`` and write the
    class table and page to ``out`` (the table is rewritten as runs finish)."""
    if exercise not in EXERCISES:
        raise GuidanceError(f"unknown exercise {exercise!r}; the exercises are {EXERCISES}")
    runs_dir = Path(runs_dir)
    folders = find_runs(runs_dir)
    settings = {"grade": exercise, "runs_dir": str(runs_dir.resolve())}
    with PieceRunner(cluster) as runner:
        store = PieceStore.open(out, settings, resume)
        return _grade(folders, runs_dir, exercise, store, runner, progress)


def _grade(
    folders: Sequence[Path],
    runs_dir: Path,
    exercise: str,
    store: PieceStore,
    runner: PieceRunner,
    progress: Progress | None,
) -> GradingOutcome:
    from guidance.study.pages import write_grades_page

    names = [folder.relative_to(runs_dir).as_posix() or "." for folder in folders]
    pieces = [
        Piece(f"run/{name}", grade_run, (str(folder.resolve()), name, exercise))
        for folder, name in zip(folders, names, strict=True)
    ]
    table = store.folder / TABLE_FILE

    def write_table() -> tuple[list[dict[str, Any]], tuple[str, ...]]:
        rows = [record["result"] for record in store.records([p.key for p in pieces])]
        fields = score_fields(rows)
        flat = [{**row, **row["score"]} for row in rows]
        write_csv(table, flat, [*TABLE_FIELDS[:2], *fields, *TABLE_FIELDS[2:]])
        return flat, fields

    graded = run_pieces(pieces, store, runner, progress, write_table)
    rows, fields = write_table()
    page = write_grades_page(rows, fields, exercise, runs_dir, store.folder / PAGE_FILE)
    return GradingOutcome(rows, fields, table, page, graded)


def score_fields(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The score fields of the rows, in the order the exercise scores them."""
    return tuple(dict.fromkeys(field for row in rows for field in row["score"]))
