"""The output folder: created with its parents, refused with its name when it cannot be written."""

import pytest

from guidance.exceptions import OutputFolderError
from guidance.output import prepare_output_folder


def test_output_folder_is_created_with_its_parents(tmp_path):
    folder = prepare_output_folder(tmp_path / "a" / "b")
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


def test_output_folder_under_a_file_is_refused_with_its_name(tmp_path):
    blocker = tmp_path / "report.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OutputFolderError, match=r"cannot write to the output folder .*report\.txt"):
        prepare_output_folder(blocker / "out")
