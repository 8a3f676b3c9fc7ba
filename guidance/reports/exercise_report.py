"""``report.html`` of an exercise, built from the ``report.json`` dict alone (plus the snapshot
files it names and, for the predicted-TRE map, the CT).

The dict (PLAN.md, "report.json schema"): ``exercise``, ``gestes_version``, ``scene`` {name,
description, source}, ``settings`` {name: value}, ``score`` {field: number}, ``errors_simulated``
[{source, enabled, magnitude, reference}], ``fiducials`` [{label, ct_mm, residual_mm, used,
fle_covariance_mm2?}], ``targets`` [{label, ct_mm, ...numbers}], ``warnings`` [str],
``snapshots`` [{file, caption}], ``tre_map`` {target, fle_rms_mm}, ``structures`` [{name,
closest_mm, breached}]; fiducials may also carry ``measured_tre_mm`` (validation points) and
``captured``. Only ``exercise`` and ``score`` are required; a part the run does not have is left
out of the page, and any other part is shown as a table at the end.

A report is written even when part of it cannot be drawn (a snapshot missing, a TRE map whose
target lies outside the CT): the page then says so among its warnings, at the top.
"""

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from guidance.exceptions import ReportError
from guidance.reports.meanings import TARGET_MEANINGS, column_title, meaning_of, unit_of
from guidance.reports.page import (
    Cell,
    Figure,
    Page,
    Paragraph,
    Section,
    Table,
    Warnings,
    format_number,
    write_page,
)
from guidance.reports.plots import residual_bars
from guidance.reports.tre_map import FleModel, tre_map_png
from registration.exceptions import RegistrationError

logger = logging.getLogger(__name__)

REPORT_PAGE = "report.html"
NO_MEANING = "(no explanation written for this number yet)"

EXERCISE_GOALS = {
    "pivot": "Calibrate the stylus: find where its tip is, from its markers, by pivoting it in a "
    "divot.",
    "fiducials": "Register the patient to the CT by touching fiducials with the stylus, then see "
    "how accurate navigation is at the targets.",
    "surface": "Register the patient to the CT by sweeping the stylus over the skin, starting "
    "from a few landmarks.",
    "targeting": "Reach a target along a planned trajectory without touching the structures to "
    "avoid.",
}

FIDUCIALS_TEXT = (
    "Each bar is one fiducial's residual: the distance between the point you touched and the "
    "fiducial's position in the CT, after registration. The FRE is their RMS. Residuals tell "
    "how well the fiducials agree with each other; a small FRE does not prove a small error at "
    "the target (Fitzpatrick 1998). A bar much taller than the others points to a fiducial "
    "touched in the wrong place or confused with another."
)
TRE_MAP_TEXT = (
    "The colours show the target registration error (TRE) expected at each point of the CT "
    "from the fiducials you used and their localisation error. It is smallest near the "
    "fiducials' centroid (white plus) and grows with the distance from it, fastest in the "
    "directions in which the fiducials spread least. Where the colour is red, do not trust "
    "navigation to better than the iso-line there says. This is why fiducials should surround "
    "the target: the target then lies near their centroid. It is a prediction, an RMS over "
    "many registrations: one registration can be better or worse. It comes from the FRE, so "
    "it only knows the errors that differ from one fiducial to the next: when skin markers "
    "slide together between the scan and the session, the FRE stays small while every target "
    "moves, and only a validation point fixed to the bone shows it."
)

STRUCTURES_TEXT = (
    "The closest the navigated tip came to each structure to avoid during the approach, "
    "measured to the structure's surface (negative: inside it). A structure is breached when "
    "the tip entered it or came within its safety margin: a breach fails the gesture, however "
    "close to the target the tip ended."
)
OTHER_PARTS_TEXT = "The other parts of report.json, as the run wrote them (mm, s)."
# The parts of report.json that have their own section (or the title and footer).
SHOWN_PARTS = frozenset(
    {
        "exercise",
        "gestes_version",
        "scene",
        "settings",
        "score",
        "errors_simulated",
        "fiducials",
        "targets",
        "warnings",
        "snapshots",
        "tre_map",
        "structures",
    }
)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ReportError(f"report.json: {message}")


def _list_of_objects(report: Mapping, key: str) -> list[Mapping]:
    items = report.get(key) or []
    _require(
        isinstance(items, list) and all(isinstance(item, Mapping) for item in items),
        f"`{key}` must be a list of objects; got {type(items).__name__}",
    )
    return items


def _number(value: Any, where: str) -> float | int | None:
    """A JSON number, or None for null; ReportError naming ``where`` (the field) otherwise."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ReportError(f"report.json: `{where}` must be a number or null; got {value!r}")


def _score_section(report: Mapping) -> Section:
    score = report["score"]
    rows = []
    for field, value in score.items():
        meaning = meaning_of(field)
        rows.append(
            (
                meaning.name if meaning else field,
                _number(value, f"score.{field}"),
                unit_of(field),
                meaning.sentence if meaning else NO_MEANING,
            )
        )
    table = Table(("", "value", "unit", "what it means"), tuple(rows))
    return Section("Score", (table,), anchor="score")


def _fiducials_section(fiducials: list[Mapping], score: Mapping) -> Section:
    """Residual bars of the fiducials used, and a table of all (validation points included)."""
    if not fiducials:
        return Section("Fiducials", ())
    labels = [str(f.get("label", f"#{i + 1}")) for i, f in enumerate(fiducials)]
    residuals = [_number(f.get("residual_mm"), "fiducials[].residual_mm") for f in fiducials]
    used = [bool(f.get("used", True)) for f in fiducials]
    blocks: list = [Paragraph(FIDUCIALS_TEXT)]
    bars = [(label, r) for label, r, u in zip(labels, residuals, used, strict=True) if u]
    if any(r is not None for _, r in bars):
        fre = _number(score.get("fre_rms_mm"), "score.fre_rms_mm")
        png = residual_bars(
            [label for label, _ in bars],
            [np.nan if r is None else r for _, r in bars],
            fre,
            f"FRE {fre:.2f} mm" if fre is not None else "",
        )
        caption = (
            "Residual of each fiducial used for the registration (mm). Dashed: the FRE; red "
            "bars are more than twice the FRE."
        )
        blocks.append(Figure(png, caption, "bar chart of each fiducial's residual, in mm"))
    validated = [
        _number(f.get("measured_tre_mm"), "fiducials[].measured_tre_mm") for f in fiducials
    ]
    roles = [_fiducial_role(f) for f in fiducials]
    if any(v is not None for v in validated):
        columns = ("fiducial", "role", "residual (mm)", "error measured here (mm)")
        rows = tuple(zip(labels, roles, residuals, validated, strict=True))
    else:
        columns = ("fiducial", "role", "residual (mm)")
        rows = tuple(zip(labels, roles, residuals, strict=True))
    blocks.append(Table(columns, rows))
    return Section("Fiducials", tuple(blocks), anchor="fiducials")


def _fiducial_role(fiducial: Mapping) -> str:
    if fiducial.get("captured") is False:
        return "not captured"
    if fiducial.get("used", True):
        return "registered"
    return "validation point (not registered: its error is a TRE)"


def _targets_section(targets: list[Mapping]) -> Section:
    if not targets:
        return Section("Targets", ())
    fields = list(
        dict.fromkeys(
            key
            for target in targets
            for key, value in target.items()
            if key not in ("label", "ct_mm") and not isinstance(value, list | dict)
        )
    )
    columns = ("target", *(column_title(field, TARGET_MEANINGS) for field in fields))
    rows = tuple(
        (
            str(target.get("label", "")),
            *(_number(target.get(field), f"targets[].{field}") for field in fields),
        )
        for target in targets
    )
    explained = [
        f"{column_title(field, TARGET_MEANINGS)}: {meaning.sentence}"
        for field in fields
        if (meaning := meaning_of(field, TARGET_MEANINGS)) is not None
    ]
    blocks = [Table(columns, rows), *(Paragraph(text) for text in explained)]
    return Section("Targets", tuple(blocks), anchor="targets")


def _point(value: Any, where: str) -> np.ndarray:
    """An LPS point [x, y, z] (mm) from the report; ReportError naming ``where`` otherwise."""
    _require(
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value),
        f"`{where}` must be a point [x, y, z] in mm; got {value!r}",
    )
    return np.asarray(value, dtype=np.float64)


def fle_model(used_fiducials: list[Mapping], request: Mapping) -> FleModel:
    """The FLE the map uses: each used fiducial's ``fle_covariance_mm2`` when all have one
    (anisotropic propagation), else ``tre_map.fle_rms_mm`` (eq. 46)."""
    if used_fiducials and all("fle_covariance_mm2" in f for f in used_fiducials):
        covariances = [f["fle_covariance_mm2"] for f in used_fiducials]
        return FleModel(covariances_mm2=np.asarray(covariances, dtype=np.float64))
    _require(
        request.get("fle_rms_mm") is not None,
        "`tre_map` needs `fle_rms_mm` (or every used fiducial its `fle_covariance_mm2`)",
    )
    return FleModel(rms_mm=float(_number(request["fle_rms_mm"], "tre_map.fle_rms_mm")))


def _tre_map_figure(
    report: Mapping, fiducials: list[Mapping], targets: list[Mapping], ct: sitk.Image
) -> Figure:
    """The map's figure from the dict's ``tre_map``; ReportError/RegistrationError if it cannot
    be drawn."""
    request = report["tre_map"]
    _require(isinstance(request, Mapping), "`tre_map` must be an object {target, fle_rms_mm}")
    by_label = {str(t.get("label")): t for t in targets}
    target_label = str(request.get("target"))
    _require(
        target_label in by_label,
        f"`tre_map.target` {target_label!r} is not one of the targets {sorted(by_label)}",
    )
    used = [f for f in fiducials if f.get("used", True)]
    points = [_point(f.get("ct_mm"), f"fiducials[{f.get('label')!r}].ct_mm") for f in used]
    target = _point(by_label[target_label].get("ct_mm"), f"targets[{target_label!r}].ct_mm")
    fle = fle_model(used, request)
    labels = [str(f.get("label", "")) for f in used]
    png = tre_map_png(ct, np.reshape(points, (-1, 3)), labels, target, target_label, fle)
    return Figure(
        png,
        f"Predicted TRE on the axial, coronal and sagittal CT planes through {target_label}, "
        f"for the {len(used)} fiducials used; the letters name the patient's sides "
        "(radiological view: the patient's left is on the right of the axial and coronal "
        "views).",
        "predicted target registration error in colour over three CT planes through the target",
    )


def _snapshots(report: Mapping, folder: Path | None, problems: list[str]) -> Section:
    figures = []
    for snapshot in _list_of_objects(report, "snapshots"):
        name = str(snapshot.get("file", ""))
        path = (folder or Path(".")) / name
        try:
            figures.append(
                Figure(path.read_bytes(), str(snapshot.get("caption", "")), f"snapshot {name}")
            )
        except (OSError, ReportError) as error:
            problems.append(f"the snapshot {name} could not be shown: {error}")
    return Section("Navigation snapshots", tuple(figures), anchor="snapshots")


def _errors_simulated_section(report: Mapping) -> Section:
    sources = _list_of_objects(report, "errors_simulated")
    if not sources:
        return Section("Errors simulated", ())
    rows = tuple(
        (
            str(s.get("source", "")).replace("_", " "),
            "on" if s.get("enabled", True) else "off",
            str(s.get("magnitude", "")),
            str(s.get("reference", "")),
        )
        for s in sources
    )
    text = Paragraph(
        "The simulation adds the errors of a real system, each of which can be switched off to "
        "see its share of the result. Errors that are off did not happen in this run."
    )
    table = Table(("error source", "simulated", "magnitude", "source of the magnitude"), rows)
    return Section("Errors simulated", (text, table), anchor="errors")


def _structures_section(report: Mapping) -> Section:
    structures = _list_of_objects(report, "structures")
    if not structures:
        return Section("Structures to avoid", ())
    rows = tuple(
        (
            str(s.get("name", "")),
            _number(s.get("closest_mm"), "structures[].closest_mm"),
            "BREACHED" if s.get("breached") else "no",
        )
        for s in structures
    )
    table = Table(("structure", "closest approach of the tip (mm)", "breached"), rows)
    return Section("Structures to avoid", (Paragraph(STRUCTURES_TEXT), table), anchor="structures")


def _cell(value: Any) -> Cell:
    """A JSON value as one table cell: numbers and text as they are, a list of numbers as
    "(a, b, c)", anything else as its JSON text."""
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return "(" + ", ".join(format_number(v) for v in value) + ")"
    return json.dumps(value)


def _other_parts_section(report: Mapping) -> Section:
    """Every other part of report.json: an object as a two-column table, a list of objects as a
    table with one row each, so that nothing the run recorded is missing from the page."""
    blocks: list = []
    for key, value in report.items():
        if key in SHOWN_PARTS:
            continue
        caption = key.replace("_", " ")
        if isinstance(value, Mapping) and value:
            rows = tuple((field.replace("_", " "), _cell(v)) for field, v in value.items())
            blocks.append(Table(("", "value"), rows, caption))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            fields = list(dict.fromkeys(field for item in value for field in item))
            rows = tuple(tuple(_cell(item.get(field)) for field in fields) for item in value)
            titles = tuple(field.replace("_", " ") for field in fields)
            blocks.append(Table(titles, rows, caption))
        elif value not in (None, [], {}):
            blocks.append(Table(("", "value"), ((caption, _cell(value)),)))
    if blocks:
        blocks.insert(0, Paragraph(OTHER_PARTS_TEXT))
    return Section("Everything else the run recorded", tuple(blocks), anchor="details")


def _settings_section(report: Mapping) -> Section:
    settings = report.get("settings") or {}
    _require(isinstance(settings, Mapping), "`settings` must be an object")
    rows = tuple((str(key), _cell(value)) for key, value in settings.items())
    return Section("Settings", (Table(("setting", "value"), rows),) if rows else ())


def build_report_page(
    report: Mapping, folder: Path | None = None, ct: sitk.Image | None = None
) -> Page:
    """The page of one exercise run from its report dict; snapshot files are read relative to
    ``folder``; the predicted-TRE map is drawn when ``ct`` is given and the dict asks for it."""
    _require(isinstance(report, Mapping), "the report must be an object")
    _require("exercise" in report, "the top-level field `exercise` is missing")
    _require(isinstance(report.get("score"), Mapping), "`score` must be a top-level object")
    exercise = str(report["exercise"])
    scene = report.get("scene") or {}
    fiducials = _list_of_objects(report, "fiducials")
    targets = _list_of_objects(report, "targets")
    warnings = [str(w) for w in report.get("warnings") or []]
    problems: list[str] = []

    snapshots = _snapshots(report, folder, problems)
    tre_map: tuple = ()
    if report.get("tre_map") is not None and ct is not None:
        try:
            tre_map = (Paragraph(TRE_MAP_TEXT), _tre_map_figure(report, fiducials, targets, ct))
        except (ReportError, RegistrationError) as error:
            problems.append(f"the predicted-TRE map could not be drawn: {error}")
            logger.warning("predicted-TRE map not drawn: %s", error)

    goal = EXERCISE_GOALS.get(exercise, "")
    sections = (
        Section("Warnings", (Warnings(tuple(warnings + problems)),) if warnings + problems else ()),
        Section("Goal", (Paragraph(goal),) if goal else ()),
        _score_section(report),
        _fiducials_section(fiducials, report["score"]),
        _targets_section(targets),
        Section("Predicted TRE map", tre_map, anchor="tre-map"),
        _structures_section(report),
        snapshots,
        _errors_simulated_section(report),
        _settings_section(report),
        _other_parts_section(report),
    )
    _require(isinstance(scene, Mapping), "`scene` must be an object {name, description, source}")
    subtitle = ": ".join(str(scene[key]) for key in ("name", "description") if scene.get(key))
    version = report.get("gestes_version", "")
    return Page(
        title=f"gestes exercise: {exercise}",
        subtitle=subtitle,
        sections=sections,
        footer=f"Made by gestes {version}. Every number on this page is in report.json.",
    )


def write_report_page(report: Mapping, folder: Path | str, ct: sitk.Image | None = None) -> Path:
    """Write ``folder/report.html`` for the report dict; returns its path."""
    folder = Path(folder)
    return write_page(build_report_page(report, folder, ct), folder / REPORT_PAGE)
