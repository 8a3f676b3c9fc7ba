"""report.html from the report.json dict: every part shown and explained, warnings first, text
escaped, a page even when part of it cannot be drawn, and clear refusals of a malformed dict."""

import copy
import html as html_text
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from guidance.exceptions import ReportError
from guidance.reports.exercise_report import (
    NO_MEANING,
    build_report_page,
    fle_model,
    write_report_page,
)
from guidance.reports.meanings import (
    MEANINGS,
    TARGET_MEANINGS,
    column_title,
    meaning_of,
    unit_of,
)
from guidance.reports.page import render_page
from tests.guidance.reports.conftest import sample_report


class _Outline(HTMLParser):
    """Section titles (h2) in order, images, table rows, and the warning box's text."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.images: list[str] = []
        self.rows = 0
        self._in: str | None = None
        self.alert_text = ""
        self._alert_depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "h2":
            self._in = "h2"
            self.titles.append("")
        if tag == "img":
            self.images.append(attributes.get("alt", ""))
        if tag == "tr":
            self.rows += 1
        if attributes.get("role") == "alert" or self._alert_depth:
            self._alert_depth += 1

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in = None
        if self._alert_depth:
            self._alert_depth -= 1

    def handle_data(self, data):
        if self._in == "h2":
            self.titles[-1] += data
        if self._alert_depth:
            self.alert_text += data


def _outline(html: str) -> _Outline:
    outline = _Outline()
    outline.feed(html)
    return outline


def test_every_part_is_on_the_page_warnings_first(skull, report_folder):
    report = sample_report(skull)
    path = write_report_page(report, report_folder, skull.ct)
    html = path.read_text(encoding="utf-8")
    outline = _outline(html)
    assert outline.titles == [
        "Warnings",
        "Goal",
        "Score",
        "Fiducials",
        "Targets",
        "Predicted TRE map",
        "Navigation snapshots",
        "Errors simulated",
        "Settings",
    ]
    assert "F3 was touched for less than the still time" in outline.alert_text
    assert len(outline.images) == 3  # residual bars, TRE map, one snapshot
    for field in report["score"]:
        assert MEANINGS[field].sentence in html_text.unescape(html)
    assert "Wiles et al. 2004" in html
    assert "validation point (not registered" in html  # F8 was not used
    assert TARGET_MEANINGS["predicted_tre_from_scatter_mm"].sentence in html_text.unescape(html)


def test_a_score_field_without_a_sentence_says_so(skull, report_folder):
    report = sample_report(skull)
    report["score"]["brand_new_mm"] = 1.5
    html = render_page(build_report_page(report, report_folder))
    assert NO_MEANING in html
    assert "brand_new_mm" in html


def test_labels_and_warnings_from_files_cannot_break_the_page(skull, report_folder):
    report = sample_report(skull)
    report["fiducials"][0]["label"] = "<b>F1</b></td></tr></table>"
    report["warnings"] = ["</div><script>alert(1)</script>"]
    html = render_page(build_report_page(report, report_folder))
    assert "<script>" not in html
    assert "&lt;b&gt;F1&lt;/b&gt;" in html
    outline = _outline(html)
    assert "</div><script>alert(1)</script>" in outline.alert_text
    clean = _outline(render_page(build_report_page(sample_report(skull), report_folder)))
    assert outline.rows == clean.rows


def test_the_page_is_the_same_from_the_dict_and_from_its_json(skull, report_folder):
    report = sample_report(skull)
    again = copy.deepcopy(report)
    first = render_page(build_report_page(report, report_folder))
    assert render_page(build_report_page(again, report_folder)) == first


def test_a_map_that_cannot_be_drawn_is_a_warning_not_a_lost_report(skull, report_folder):
    report = sample_report(skull)
    report["targets"][0]["ct_mm"] = [0.0, 0.0, 5000.0]
    html = write_report_page(report, report_folder, skull.ct).read_text(encoding="utf-8")
    outline = _outline(html)
    assert "the predicted-TRE map could not be drawn" in outline.alert_text
    assert "outside the CT" in outline.alert_text
    assert "Predicted TRE map" not in outline.titles
    assert "Score" in outline.titles


def test_a_map_for_an_unknown_target_names_the_targets(skull, report_folder):
    report = sample_report(skull)
    report["tre_map"]["target"] = "nowhere"
    html = render_page(build_report_page(report, report_folder, skull.ct))
    assert re.search(r"not one of the targets \[.*biopsy-deep", _outline(html).alert_text)


def test_a_missing_snapshot_is_a_warning(skull, report_folder):
    (report_folder / "snapshot-1.png").unlink()
    html = render_page(build_report_page(sample_report(skull), report_folder))
    assert "the snapshot snapshot-1.png could not be shown" in _outline(html).alert_text


def test_covariances_of_every_used_fiducial_select_the_anisotropic_map():
    fiducials = [{"fle_covariance_mm2": np.eye(3).tolist()} for _ in range(4)]
    assert fle_model(fiducials, {}).covariances_mm2 is not None
    fiducials[2] = {}
    assert fle_model(fiducials, {"fle_rms_mm": 0.5}).rms_mm == 0.5
    with pytest.raises(ReportError, match="needs `fle_rms_mm`"):
        fle_model(fiducials, {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("score"), "`score` must be a top-level object"),
        (lambda r: r.pop("exercise"), "`exercise` is missing"),
        (
            lambda r: r["score"].update(fre_rms_mm="small"),
            "`score.fre_rms_mm` must be a number or null; got 'small'",
        ),
        (lambda r: r.update(fiducials={"F1": 1}), "`fiducials` must be a list of objects"),
        (lambda r: r.update(scene="skull"), "`scene` must be an object"),
    ],
)
def test_a_malformed_report_is_refused_with_the_field_named(skull, report_folder, change, message):
    report = sample_report(skull)
    change(report)
    with pytest.raises(ReportError, match=re.escape(message)):
        build_report_page(report, report_folder)


def test_every_meaning_is_a_sentence_with_a_name():
    for table in (MEANINGS, TARGET_MEANINGS):
        for field, meaning in table.items():
            assert meaning.name and meaning.sentence.endswith("."), field
            assert meaning_of(field, table) is meaning


@pytest.mark.parametrize(
    ("field", "unit"),
    [("fre_rms_mm", "mm"), ("angle_error_deg", "\u00b0"), ("time_s", "s"), ("breaches", "")],
)
def test_units_come_from_the_suffix(field, unit):
    assert unit_of(field) == unit


def test_column_titles_are_readable_names_with_units():
    assert column_title("fre_rms_mm") == "FRE (RMS) (mm)"
    assert column_title("breaches") == "breaches"
    assert column_title("brand_new_deg") == "brand new (\u00b0)"


def test_structures_are_listed_and_a_breach_stands_out(skull, report_folder):
    report = sample_report(skull)
    report["structures"] = [
        {"name": "vessel", "closest_mm": -1.5, "breached": True},
        {"name": "nerve", "closest_mm": 12.0, "breached": False},
    ]
    html = render_page(build_report_page(report, report_folder))
    assert "Structures to avoid" in _outline(html).titles
    assert re.search(r"<td>vessel</td><td[^>]*>-1.500</td><td>BREACHED</td>", html)
    assert re.search(r"<td>nerve</td><td[^>]*>12.000</td><td>no</td>", html)


def test_every_other_part_of_the_report_is_on_the_page(skull, report_folder):
    report = sample_report(skull)
    report["recording"] = {"file": "recording.igs.mha", "n_frames": 4041, "duration_s": 67.3}
    report["captures"] = [{"label": "<F1>", "frames": [84, 234]}, {"label": "F2", "extra": 1}]
    report["truth"] = "run.json"
    html = render_page(build_report_page(report, report_folder))
    assert "Everything else the run recorded" in _outline(html).titles
    for text in ("n frames", "4041", "67.300", "&lt;F1&gt;", "(84, 234)", "run.json", "extra"):
        assert text in html
    assert "<F1>" not in html


def test_a_map_with_a_malformed_point_names_it(skull, report_folder):
    report = sample_report(skull)
    report["fiducials"][1]["ct_mm"] = [1.0, 2.0]
    html = render_page(build_report_page(report, report_folder, skull.ct))
    assert "`fiducials['F2'].ct_mm` must be a point [x, y, z] in mm; got [1.0, 2.0]" in (
        html_text.unescape(_outline(html).alert_text)
    )
