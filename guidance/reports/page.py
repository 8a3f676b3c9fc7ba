"""Self-contained HTML pages built from a few kinds of blocks: paragraphs, warnings, tables and
figures, in titled sections. The exercise report, the study page and the class summary are all
such pages, so they look alike and escape text the same way.

The page is one file: figures are embedded as ``data:`` URIs, the style sheet is inline, and a
Content-Security-Policy forbids the page to load anything else, so it opens offline, in any
browser, and can be mailed or archived as it is.

Why Jinja2 and not ``string.Template``: a report shows text that comes from files a student
wrote (labels, scene names, warnings); Jinja2 escapes every value for HTML unless told otherwise
(autoescape), where ``string.Template`` leaves each substitution to be escaped by hand and one
forgotten call breaks the page. The template (``templates/page.html.j2``) stays plain HTML.
"""

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jinja2

from guidance.exceptions import OutputFolderError, ReportError

Cell = str | int | float | None


def format_number(value: Cell, decimals: int = 3) -> str:
    """A table cell as text: floats with ``decimals`` decimals (mm to the micrometre by
    default), integers as they are, None and NaN as a dash, text unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{decimals}f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``data:`` URI of some bytes, to embed an image in the page itself."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text (escaped; no markup)."""

    text: str
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class Warnings:
    """Messages the reader must not miss, shown in a red box; nothing is shown when empty."""

    messages: tuple[str, ...]
    kind: ClassVar[str] = "warnings"


@dataclass(frozen=True)
class Table:
    """A table: column headers, rows of cells (formatted by ``format_number``), a caption, and
    ``numeric`` columns right-aligned (inferred from the cells when not given)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        for number, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ReportError(
                    f"table {self.caption or self.columns}: row {number} has {len(row)} cells "
                    f"for {len(self.columns)} columns"
                )

    @property
    def numeric(self) -> tuple[bool, ...]:
        """Per column: True when every cell that has a value is a number."""
        return tuple(
            all(isinstance(row[i], int | float) for row in self.rows if row[i] is not None)
            and any(row[i] is not None for row in self.rows)
            for i in range(len(self.columns))
        )

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Cell]],
        fields: Sequence[str],
        caption: str = "",
        titles: Sequence[str] | None = None,
    ) -> "Table":
        """A table of ``records`` (one row each, such as one run or one configuration), with
        one column per field (a missing field is an empty cell); ``titles`` name the columns
        (default: the fields themselves; ``meanings.column_title`` gives readable ones)."""
        rows = tuple(tuple(record.get(field) for field in fields) for record in records)
        return cls(tuple(titles if titles is not None else fields), rows, caption)

    def text_rows(self) -> list[list[str]]:
        """The cells as text, ready for the template."""
        return [[format_number(cell) for cell in row] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    """A PNG picture with its caption and an alternative text for those who cannot see it."""

    png: bytes
    caption: str
    alt: str
    kind: ClassVar[str] = "figure"

    def __post_init__(self) -> None:
        if not self.png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ReportError(f"figure {self.caption!r}: the image is not a PNG")

    @property
    def uri(self) -> str:
        return data_uri(self.png)


Block = Paragraph | Warnings | Table | Figure


@dataclass(frozen=True)
class Section:
    """A titled part of a page; ``anchor`` is its id in the page (for links)."""

    title: str
    blocks: tuple[Block, ...]
    anchor: str = ""


@dataclass(frozen=True)
class Page:
    """A whole page: title, one-line subtitle, sections in order (those without blocks are left
    out), and a footer line (what made the page)."""

    title: str
    sections: tuple[Section, ...]
    subtitle: str = ""
    footer: str = ""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("guidance.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(page: Page) -> str:
    """The page as one self-contained HTML document (a string)."""
    template = _environment().get_template("page.html.j2")
    return template.render(page=page)


def write_page(page: Page, path: Path | str) -> Path:
    """Write ``render_page(page)`` to ``path`` (UTF-8); OutputFolderError if it cannot."""
    path = Path(path)
    try:
        path.write_text(render_page(page), encoding="utf-8")
    except OSError as error:
        raise OutputFolderError(f"cannot write the page {path}: {error.strerror}") from error
    return path
