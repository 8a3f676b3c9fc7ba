"""Self-contained pages: text is escaped wherever it goes, images are embedded, nothing is loaded
from elsewhere, and bad blocks are refused with a message."""

import base64
import io
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure as MplFigure

from guidance.exceptions import OutputFolderError, ReportError
from guidance.reports.page import (
    Figure,
    Page,
    Paragraph,
    Section,
    Table,
    Warnings,
    data_uri,
    format_number,
    render_page,
    write_page,
)
from tests.packaging.test_editable_install import ROOT, copy_project

TEMPLATES = ROOT / "guidance" / "reports" / "templates"

HOSTILE = '<script>alert("x")</script></td></table><img src=x onerror=alert(1)> & "quoted"'


def _tiny_png() -> bytes:
    figure = MplFigure(figsize=(1, 1), dpi=20)
    figure.add_subplot().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class _Structure(HTMLParser):
    """Counts elements and collects text and the attributes of interest."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.sources: list[str] = []
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href"):
                self.sources.append(value or "")
            if name.startswith("on"):
                self.handlers.append(name)

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Structure:
    parser = _Structure()
    parser.feed(html)
    return parser


def _hostile_page() -> Page:
    table = Table(("label", HOSTILE), ((HOSTILE, 1.5), ("plain", None)), caption=HOSTILE)
    figure = Figure(_tiny_png(), caption=HOSTILE, alt=HOSTILE)
    blocks = (Warnings((HOSTILE,)), Paragraph(HOSTILE), table, figure)
    return Page(HOSTILE, (Section(HOSTILE, blocks, anchor="part"),), HOSTILE, HOSTILE)


def test_hostile_text_is_shown_as_text_everywhere():
    html = render_page(_hostile_page())
    structure = _parse(html)
    assert "script" not in structure.counts
    assert structure.handlers == []
    assert structure.counts["table"] == 1
    assert structure.counts["tr"] == 3  # the header and two rows: nothing closed the table early
    assert structure.counts["img"] == 1
    # <title>, h1, subtitle, section title, warning, paragraph, captions x2, header, cell, footer
    assert sum(HOSTILE in text for text in structure.text) == 11


def test_images_are_embedded_and_nothing_is_fetched():
    html = render_page(_hostile_page())
    structure = _parse(html)
    assert structure.sources and all(
        source.startswith(("data:image/png;base64,", "#")) for source in structure.sources
    )
    assert re.search(r"""content="default-src 'none'; img-src data:""", html)
    assert "http://" not in html and "https://" not in html


@given(st.binary(max_size=2000))
def test_data_uri_round_trip(data):
    uri = data_uri(data)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.12345, "0.123"),
        (-2.0, "-2.000"),
        (7, "7"),
        (None, "\u2013"),
        (float("nan"), "\u2013"),
        (True, "yes"),
        ("F1", "F1"),
        (3.2e7, "3.2e+07"),
    ],
)
def test_cells_are_formatted_for_reading(value, text):
    assert format_number(value) == text


def test_numeric_columns_are_right_aligned_and_text_columns_not():
    table = Table(("name", "value", "mixed"), (("a", 1.0, "x"), ("b", None, 2.0)))
    assert table.numeric == (False, True, False)
    html = render_page(Page("t", (Section("s", (table,)),)))
    assert html.count('class="number"') == 2


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ReportError, match="row 1 has 1 cells for 2 columns"):
        Table(("a", "b"), ((1, 2), (3,)))


def test_a_figure_that_is_not_a_png_is_refused():
    with pytest.raises(ReportError, match="not a PNG"):
        Figure(b"GIF89a...", "caption", "alt")


def test_sections_without_blocks_and_empty_warnings_are_left_out():
    page = Page(
        "t",
        (
            Section("Empty", ()),
            Section("Quiet", (Warnings(()),)),
            Section("Full", (Paragraph("x"),)),
        ),
    )
    html = render_page(page)
    assert "Empty" not in html
    assert 'role="alert"' not in html
    assert "Full" in html


def test_writing_into_a_missing_folder_names_the_file(tmp_path):
    target = tmp_path / "absent" / "page.html"
    with pytest.raises(OutputFolderError, match=r"cannot write the page .*page\.html"):
        write_page(Page("t", ()), target)


def test_the_written_page_is_utf8_with_its_accents(tmp_path):
    path = write_page(Page("Récapitulatif \u2264 1 mm", ()), tmp_path / "page.html")
    assert "Récapitulatif \u2264 1 mm" in path.read_text(encoding="utf-8")


def test_a_table_from_records_has_one_row_each_and_blanks_for_missing_fields():
    records = [{"run": "alice", "fre_rms_mm": 0.5}, {"run": "bob", "error": "truncated file"}]
    table = Table.from_records(records, ["run", "fre_rms_mm", "error"], titles=["run", "FRE", "!"])
    assert table.columns == ("run", "FRE", "!")
    assert table.rows == (("alice", 0.5, None), ("bob", None, "truncated file"))
    assert Table.from_records(records, ["run"]).columns == ("run",)


def test_a_built_wheel_ships_the_page_template(tmp_path):
    """``pip install gestes`` (not editable) must carry templates/page.html.j2 with the code."""
    project = tmp_path / "project"
    project.mkdir()
    copy_project(project)
    shutil.copytree(TEMPLATES, project / TEMPLATES.relative_to(ROOT))
    build = f"from setuptools import build_meta\nprint(build_meta.build_wheel({str(tmp_path)!r}))"
    result = subprocess.run(
        [sys.executable, "-c", build], cwd=project, capture_output=True, text=True, check=True
    )
    with zipfile.ZipFile(tmp_path / result.stdout.split()[-1]) as wheel:
        assert "guidance/reports/templates/page.html.j2" in wheel.namelist()
