"""The HTML pages of a study and of a class's grading, built from ``guidance.reports``' blocks
and plots (self-contained files: figures embedded)."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from guidance.reports.meanings import (
    MEANINGS,
    STUDY_MEANINGS,
    Meaning,
    column_title,
    meaning_of,
    unit_of,
)
from guidance.reports.page import Figure, Page, Paragraph, Section, Table, Warnings, write_page
from guidance.reports.plots import distribution, measured_vs_predicted, tre_against_fiducials

if TYPE_CHECKING:
    from guidance.study.tre_study import StudyPlan

FOOTER = "gestes study"


def _column_meanings(fields: Sequence[str], table: Mapping[str, Meaning]) -> Table:
    """A table saying what each column means."""
    rows = tuple(
        (column_title(field, dict(table)), table[field].sentence)
        for field in fields
        if field in table
    )
    return Table(("column", "what it tells"), rows, "What the columns mean")


def _values(rows: Sequence[Mapping[str, Any]], field: str) -> np.ndarray:
    """A column as floats, NaN where a row has no value."""
    return np.array([row.get(field) for row in rows], dtype=float)


def write_study_page(plan: "StudyPlan", summary: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The study's page: what was simulated, TRE against the number of fiducials per FLE (one
    figure per layout), measured against predicted TRE, the fiducial positions, the table."""
    from guidance.study.tre_study import SUMMARY_FIELDS

    settings = plan.settings
    expected = len(plan.configurations) * len(plan.target_labels)
    warnings = []
    if len(summary) < expected:
        warnings.append(
            f"the study is not finished: {len(summary)} of {expected} rows have results "
            "(run it again with --resume)"
        )
    failed = sum(row["failed_trials"] for row in summary) // max(1, len(plan.target_labels))
    if failed:
        warnings.append(
            f"{failed} trials could not be scored (a fiducial's dwell was not captured) and "
            "are left out; see failed_trials and trials.csv"
        )
    without = ", ".join(settings.without) or "none"
    what = Section(
        "What was simulated",
        (
            Warnings(tuple(warnings)),
            Paragraph(
                f"Scene {settings.scene} (seed {settings.seed}); {settings.trials} simulated "
                f"fiducials exercises per configuration: a novice student touches each "
                "fiducial, a simulated optical tracker films it, the exercise digitises, "
                "registers and predicts as it does for a student; the true error at each "
                f"target is known. Targets: {', '.join(plan.target_labels)}. Error sources "
                f"left out: {without}."
            ),
            Paragraph(
                "The FLE of a configuration is set by scaling every error source of the "
                "exercises together, so that the tip placement and CT localisation errors have "
                "that RMS; the tracker and the stylus calibration add their share on top (the "
                "measured FLE column). The fiducials are markers on the skin facing the camera, "
                "placed by farthest-point sampling in each layout's region."
            ),
        ),
    )
    sections = [what]
    if summary:
        sections += [_tre_figures(summary, settings.layouts), _prediction_figures(summary)]
    sections.append(_positions(plan))
    titles = [column_title(field, STUDY_MEANINGS) for field in SUMMARY_FIELDS]
    sections.append(
        Section(
            "Results",
            (
                Table.from_records(
                    summary, SUMMARY_FIELDS, "One row per configuration and target", titles
                ),
                _column_meanings(SUMMARY_FIELDS, STUDY_MEANINGS),
            ),
        )
    )
    page = Page(
        f"TRE study on {settings.scene}",
        tuple(sections),
        subtitle=f"{len(plan.configurations)} configurations, {settings.trials} trials each",
        footer=FOOTER,
    )
    return write_page(page, path)


def _tre_figures(summary: Sequence[Mapping[str, Any]], layouts: Sequence[str]) -> Section:
    figures = []
    for layout in layouts:
        rows = [row for row in summary if row["layout"] == layout and row["tre_rms_mm"]]
        if not rows:
            continue
        png = tre_against_fiducials(
            [row["n_fiducials"] for row in rows],
            _values(rows, "fle_mm"),
            _values(rows, "tre_rms_mm"),
            _values(rows, "predicted_tre_mm"),
            title=f"TRE against the number of fiducials, {layout} layout",
        )
        figures.append(
            Figure(
                png,
                f"{layout}: measured TRE (solid, RMS over trials and targets) and eq. 46 at the "
                "FLE asked (dashed), one colour per FLE",
                f"line plot of TRE against the number of fiducials, {layout} layout",
            )
        )
    return Section("TRE against the number of fiducials", tuple(figures))


def _prediction_figures(summary: Sequence[Mapping[str, Any]]) -> Section:
    rows = [row for row in summary if row["tre_rms_mm"] is not None]
    groups = [row["layout"] for row in rows]
    measured = _values(rows, "tre_rms_mm")
    figures = []
    for field, what in (
        ("predicted_tre_mm", "eq. 46 at the FLE asked"),
        ("predicted_tre_measured_fle_mm", "eq. 46 at the measured FLE"),
        ("predicted_tre_anisotropic_mm", "the anisotropic propagation of the measured errors"),
        ("system_predicted_tre_mm", "what the navigation system predicts from its FRE"),
    ):
        png = measured_vs_predicted(
            _values(rows, field), measured, groups, title=f"Measured TRE against {what}"
        )
        figures.append(
            Figure(
                png,
                f"Each point is a configuration and target: measured RMS TRE against {what}; "
                "above the line, the prediction is too optimistic",
                f"scatter plot of measured against predicted TRE ({what})",
            )
        )
    return Section("Measured against predicted TRE", tuple(figures))


def _positions(plan: "StudyPlan") -> Section:
    """The fiducials of each layout's largest configuration (smaller ones are its first N)."""
    tables = []
    for layout in plan.settings.layouts:
        largest = max(
            (c for c in plan.configurations if c.layout == layout), key=lambda c: c.n_fiducials
        )
        rows = tuple(
            (f"P{k + 1}", *(round(float(v), 1) for v in point))
            for k, point in enumerate(largest.fiducials_mm)
        )
        tables.append(
            Table(
                ("fiducial", "x (mm)", "y (mm)", "z (mm)"),
                rows,
                f"{layout}: the {largest.n_fiducials} fiducials (CT, LPS); a configuration of "
                "N fiducials uses the first N",
            )
        )
    targets = tuple(
        (label, *(round(float(v), 1) for v in point))
        for label, point in zip(plan.target_labels, plan.targets_mm, strict=True)
    )
    tables.append(Table(("target", "x (mm)", "y (mm)", "z (mm)"), targets, "Targets (CT, LPS)"))
    return Section("Where the fiducials are", tuple(tables))


def write_grades_page(
    rows: Sequence[Mapping[str, Any]],
    score_fields: Sequence[str],
    exercise: str,
    runs_dir: Path,
    path: Path,
) -> Path:
    """The class summary: how many runs were scored, the runs that failed and why, the
    distribution of each score, and the class table."""
    from guidance.study.grading import TABLE_FIELDS

    failed = [row for row in rows if row["error"]]
    figures = []
    for field in score_fields:
        values = _values(rows, field)
        if np.isfinite(values).any():
            meaning = meaning_of(field)
            name = meaning.name if meaning else field
            png = distribution(values, name, unit_of(field))
            figures.append(Figure(png, meaning.sentence if meaning else field, name))
    fields = [*TABLE_FIELDS[:2], *score_fields, *TABLE_FIELDS[2:]]
    titles = [column_title(field) for field in fields]
    summary = Paragraph(
        f"{len(rows)} runs of the {exercise} exercise found in {runs_dir}: "
        f"{len(rows) - len(failed)} scored again from their recordings, {len(failed)} could "
        "not be."
    )
    sections = (
        Section("Class", (summary, Warnings(tuple(f"{r['run']}: {r['error']}" for r in failed)))),
        Section("Distribution of each score", tuple(figures)),
        Section(
            "Every run",
            (
                Table.from_records(rows, fields, "One row per run", titles),
                _column_meanings(score_fields, MEANINGS),
            ),
        ),
    )
    page = Page(f"Grades: {exercise}", sections, subtitle=str(runs_dir), footer="gestes grade")
    return write_page(page, path)
