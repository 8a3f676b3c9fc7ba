"""The output folder of a study or a grading: its settings, one file per finished piece, tables.

Each piece's result is written to ``pieces/KEY.json`` the moment it arrives (to a temporary
file first, then renamed: a study stopped at any instant leaves whole files only), so that a
stopped study keeps what it computed and ``--resume`` skips the pieces already there. The
settings are written first, to ``settings.json``: resuming with other settings would mix two
studies in one table, and is refused. Floats go through JSON as Python writes them (``repr``:
every digit), so a table rebuilt from the pieces is the same bit for bit.

Tables are CSV (one header line, then one line per row; floats with every digit): a
spreadsheet, pandas or R read them as they are.
"""

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from guidance.exceptions import GuidanceError, OutputFolderError
from guidance.output import prepare_output_folder

SETTINGS_FILE = "settings.json"
PIECES_FOLDER = "pieces"
SAFE_KEY = re.compile(r"[^A-Za-z0-9._=-]+")


def piece_file_name(key: str) -> str:
    """A file name for a piece key: unsafe characters become ``_`` and a leading dot goes
    (no hidden files); a key that had to change gains a short hash of itself, so two keys
    never share a file."""
    name = SAFE_KEY.sub("_", key)
    if name != key or name.startswith("."):
        digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{name.lstrip('.')}-{digest}"
    return name + ".json"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so that a reader (or
    a study stopped halfway) never sees half a file."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise OutputFolderError(f"cannot write {path}: {error.strerror or error}") from error


class PieceStore:
    """The pieces already computed in ``folder`` and the study's settings (see the module
    docstring). ``open`` checks the folder against the settings before anything runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.pieces = self.folder / PIECES_FOLDER

    @classmethod
    def open(cls, folder: Path, settings: Mapping[str, Any], resume: bool) -> "PieceStore":
        """The store of ``folder`` for a study of ``settings`` (JSON-able). A folder that holds
        another study's pieces is refused; one that holds this study's is refused too unless
        ``resume`` (then its pieces count as done)."""
        store = cls(prepare_output_folder(Path(folder)))
        path = store.folder / SETTINGS_FILE
        settings = json.loads(json.dumps(settings))
        if path.is_file():
            try:
                recorded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise GuidanceError(f"cannot read {path}: {error}") from None
            if recorded != settings:
                changed = sorted(
                    name
                    for name in set(recorded) | set(settings)
                    if recorded.get(name) != settings.get(name)
                )
                raise GuidanceError(
                    f"{store.folder} holds work done with other settings ({', '.join(changed)} "
                    "differ): choose another --out folder"
                )
            if not resume and store.done_keys():
                raise GuidanceError(
                    f"{store.folder} already holds {len(store.done_keys())} finished pieces of "
                    "this work: add --resume to finish it, or choose another --out folder"
                )
        write_atomically(path, json.dumps(settings, indent=1) + "\n")
        try:
            store.pieces.mkdir(exist_ok=True)
        except OSError as error:
            raise OutputFolderError(f"cannot create {store.pieces}: {error.strerror}") from error
        if not resume:
            for stale in store.pieces.glob("*.json"):
                stale.unlink()
        return store

    def done_keys(self) -> set[str]:
        """The keys of the pieces already written."""
        if not self.pieces.is_dir():
            return set()
        keys = set()
        for path in self.pieces.glob("*.json"):
            try:
                keys.add(json.loads(path.read_text(encoding="utf-8"))["key"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # an unreadable piece is computed again
        return keys

    def save(self, record: Mapping[str, Any]) -> None:
        """Write one finished piece (a JSON-able mapping with its ``key``)."""
        write_atomically(self.pieces / piece_file_name(record["key"]), json.dumps(record) + "\n")

    def records(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The finished pieces among ``keys``, in the order of ``keys``."""
        found = []
        for key in keys:
            path = self.pieces / piece_file_name(key)
            if path.is_file():
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if record.get("key") == key:
                    found.append(record)
        return found


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Path:
    """A CSV table of ``rows`` with the columns ``fields`` (a missing or None cell is empty;
    floats with every digit), written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _cell(row.get(name)) for name in fields})
    write_atomically(Path(path), text.getvalue())
    return Path(path)


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table written by ``write_csv`` (cells as text)."""
    with Path(path).open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value
