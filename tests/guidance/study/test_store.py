"""The study folder: tables round-trip every digit, pieces survive a stop, settings guard it."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guidance.exceptions import GuidanceError
from guidance.study.store import (
    SETTINGS_FILE,
    PieceStore,
    piece_file_name,
    read_csv,
    write_csv,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
cells = st.one_of(st.none(), finite, st.integers(-(10**12), 10**12), st.text(max_size=20))


@given(st.lists(st.tuples(cells, cells), max_size=8))
def test_a_csv_table_reads_back_with_every_digit(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "table.csv"
    records = [{"a": a, "b": b} for a, b in rows]
    write_csv(path, records, ["a", "b"])
    back = read_csv(path)
    assert len(back) == len(records)
    for record, text in zip(records, back, strict=True):
        for name in ("a", "b"):
            value = record[name]
            if value is None:
                assert text[name] == ""
            elif isinstance(value, float):
                assert float(text[name]) == value and math.copysign(1, float(text[name])) == (
                    math.copysign(1, value)
                )
            else:
                assert text[name] == str(value)


@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60))
def test_a_piece_file_name_is_one_safe_visible_file_name_of_its_own(key, other):
    name = piece_file_name(key)
    assert "/" not in name and "\\" not in name and name.endswith(".json")
    assert not name.startswith(".") and len(name) > len(".json")
    assert (piece_file_name(other) == name) == (other == key)


def test_saved_pieces_are_found_again_and_nothing_else(tmp_path):
    store = PieceStore.open(tmp_path, {"study": "x"}, resume=False)
    store.save({"key": "a/1", "result": [0.1, 2]})
    (store.pieces / ".b.json.partial").write_text("{")  # a write stopped halfway
    (store.pieces / "c.json").write_text("{not json")
    assert store.done_keys() == {"a/1"}
    assert store.records(["z", "a/1"]) == [{"key": "a/1", "result": [0.1, 2]}]


def test_resuming_requires_the_same_settings_and_asking_for_it(tmp_path):
    store = PieceStore.open(tmp_path, {"study": "tre", "trials": 4}, resume=False)
    store.save({"key": "k", "result": 1})
    with pytest.raises(GuidanceError, match="--resume"):
        PieceStore.open(tmp_path, {"study": "tre", "trials": 4}, resume=False)
    with pytest.raises(GuidanceError, match="trials"):
        PieceStore.open(tmp_path, {"study": "tre", "trials": 5}, resume=True)
    again = PieceStore.open(tmp_path, {"study": "tre", "trials": 4}, resume=True)
    assert again.done_keys() == {"k"}
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == {"study": "tre", "trials": 4}


def test_a_folder_without_finished_pieces_starts_afresh(tmp_path):
    PieceStore.open(tmp_path, {"study": "tre"}, resume=False)
    assert PieceStore.open(tmp_path, {"study": "tre"}, resume=False).done_keys() == set()
