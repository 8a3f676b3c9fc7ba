"""Every third-party file in ``tests/data`` has a row (origin, licence) in its README."""

import re

from tests.shared_data import SHARED_DATA


def listed_paths() -> list[str]:
    """The backquoted paths in the first column of the README's table (a folder ends in /)."""
    paths = []
    for line in (SHARED_DATA / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            paths += re.findall(r"`([^`]+)`", first_column)
    return paths


def test_every_data_file_has_its_provenance_row():
    listed = listed_paths()
    files = [
        path.relative_to(SHARED_DATA).as_posix()
        for path in SHARED_DATA.rglob("*")
        if path.is_file() and path.name != "README.md"
    ]
    assert files
    unlisted = [
        name
        for name in files
        if not any(
            name == entry or (entry.endswith("/") and name.startswith(entry)) for entry in listed
        )
    ]
    assert unlisted == []


def test_every_row_names_files_that_exist():
    for entry in listed_paths():
        assert (SHARED_DATA / entry).exists(), entry
