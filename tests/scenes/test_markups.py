"""Slicer markups: round trips in LPS and RAS, the real third-party files, one test per refusal."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenes.exceptions import MarkupsError, SceneError, UnsupportedFormatError
from scenes.markups import CoordinateSystem, MarkupKind, Markups, read_markups, write_markups
from tests.mutations import damaged, mutations
from tests.shared_data import SHARED_DATA

TOL_MM = 1e-12  # JSON and repr() keep every bit of a float64

labels_strategy = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
    min_size=1,
    max_size=8,
    unique=True,
)


@settings(max_examples=40, deadline=None)
@given(
    labels=labels_strategy,
    seed=st.integers(0, 2**32 - 1),
    suffix=st.sampled_from([".mrk.json", ".fcsv"]),
    system=st.sampled_from(list(CoordinateSystem)),
)
def test_round_trip_keeps_labels_and_lps_points(tmp_path_factory, labels, seed, suffix, system):
    points = np.random.default_rng(seed).uniform(-500.0, 500.0, (len(labels), 3))
    path = tmp_path_factory.mktemp("markups") / f"points{suffix}"
    write_markups(Markups(tuple(labels), points), path, system)
    back = read_markups(path)
    assert back.labels == tuple(labels)
    np.testing.assert_allclose(back.points_mm, points, atol=TOL_MM, rtol=0)


@settings(max_examples=30, deadline=None)
@given(
    labels=labels_strategy,
    descriptions=st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)),
    suffix=st.sampled_from([".mrk.json", ".fcsv"]),
)
def test_round_trip_keeps_descriptions(tmp_path_factory, labels, descriptions, suffix):
    descriptions = (
        (descriptions * len(labels))[: len(labels)] if descriptions else ["x"] * len(labels)
    )
    points = np.zeros((len(labels), 3))
    path = tmp_path_factory.mktemp("markups") / f"points{suffix}"
    write_markups(Markups(tuple(labels), points, descriptions=tuple(descriptions)), path)
    back = read_markups(path)
    expected = tuple(descriptions) if any(descriptions) else ()
    assert back.descriptions == expected


def test_description_count_must_match_points():
    with pytest.raises(MarkupsError, match="1 descriptions for 2 points"):
        Markups(("a", "b"), np.zeros((2, 3)), descriptions=("only one",))


@settings(max_examples=20, deadline=None)
@given(labels=labels_strategy, seed=st.integers(0, 2**32 - 1))
def test_fcsv_with_crlf_line_ends_reads_the_same(tmp_path_factory, labels, seed):
    points = np.random.default_rng(seed).uniform(-500.0, 500.0, (len(labels), 3))
    folder = tmp_path_factory.mktemp("crlf")
    unix = write_markups(Markups(tuple(labels), points), folder / "unix.fcsv", CoordinateSystem.RAS)
    windows = folder / "windows.fcsv"
    windows.write_bytes(unix.read_bytes().replace(b"\n", b"\r\n"))
    back = read_markups(windows)
    assert back.labels == tuple(labels)
    np.testing.assert_allclose(back.points_mm, points, atol=TOL_MM, rtol=0)


def test_ras_file_stores_negated_x_and_y(tmp_path):
    path = write_markups(
        Markups(("a",), [[1.0, 2.0, 3.0]]), tmp_path / "a.mrk.json", CoordinateSystem.RAS
    )
    node = json.loads(path.read_text())["markups"][0]
    assert node["coordinateSystem"] == "RAS"
    assert node["controlPoints"][0]["position"] == [-1.0, -2.0, 3.0]


def test_real_mrk_json_from_scikit_surgery(shared_data):
    markups = read_markups(shared_data / "markups" / "sksurgerycore_F_5.mrk.json")
    assert len(markups.labels) == 20
    assert markups.labels[0] == "F_5-1"
    np.testing.assert_allclose(markups.points_mm[0], [-104.41897583, -62.68093491, -261.3321228])


def test_real_fcsv_from_slicer_igt_is_crlf_ras(shared_data):
    path = shared_data / "markups" / "SlicerIGT_ModelLandmarks.fcsv"
    assert b"\r\n" in path.read_bytes()
    markups = read_markups(path)
    assert len(markups.labels) == 34
    assert markups.labels[:2] == ("T1L", "T1R")
    np.testing.assert_allclose(
        markups.points_mm[0], [31.8965, 50.4649, 588.08]
    )  # RAS -31.8965, ...


def curve_file(tmp_path):
    path = tmp_path / "curve.mrk.json"
    write_markups(Markups(("c1", "c2"), [[0, 0, 0], [1, 2, 3]], MarkupKind.CURVE), path)
    return path


def test_curve_is_refused_by_default(tmp_path):
    with pytest.raises(MarkupsError, match="a Curve markup, not a point list"):
        read_markups(curve_file(tmp_path))


def test_curve_points_when_asked(tmp_path):
    markups = read_markups(curve_file(tmp_path), allow_non_points=True)
    assert markups.kind is MarkupKind.CURVE
    np.testing.assert_array_equal(markups.points_mm[1], [1.0, 2.0, 3.0])


def test_wrong_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.mrk.json"
    path.write_text('{"markups": [\n  {"type": "Fiducial",, }]}')
    with pytest.raises(MarkupsError, match=r"bad\.mrk\.json: not valid JSON \(line 2"):
        read_markups(path)


def test_json_without_markups_key(tmp_path):
    path = tmp_path / "empty.mrk.json"
    path.write_text("{}")
    with pytest.raises(MarkupsError, match="missing 'markups'"):
        read_markups(path)


def test_two_markups_nodes_are_ambiguous(tmp_path):
    path = tmp_path / "two.mrk.json"
    node = {"type": "Fiducial", "controlPoints": []}
    path.write_text(json.dumps({"markups": [node, node]}))
    with pytest.raises(MarkupsError, match="holds 2 markups; expected exactly 1"):
        read_markups(path)


def test_unknown_coordinate_system(tmp_path):
    path = tmp_path / "ijk.mrk.json"
    path.write_text(json.dumps({"markups": [{"type": "Fiducial", "coordinateSystem": "IJK"}]}))
    with pytest.raises(MarkupsError, match="coordinateSystem 'IJK'"):
        read_markups(path)


@pytest.mark.parametrize("units", ["um", ["um", "UCUM", "micrometer"]])
def test_micrometre_coordinates_become_millimetres(tmp_path, units):
    path = tmp_path / "um.mrk.json"
    point = {"label": "a", "position": [1500.0, -250.0, 10.0]}
    node = {"type": "Fiducial", "coordinateUnits": units, "controlPoints": [point]}
    path.write_text(json.dumps({"markups": [node]}))
    np.testing.assert_allclose(read_markups(path).points_mm, [[1.5, -0.25, 0.01]])


def test_unknown_units_are_refused(tmp_path):
    path = tmp_path / "inch.mrk.json"
    path.write_text(json.dumps({"markups": [{"type": "Fiducial", "coordinateUnits": "[in_i]"}]}))
    with pytest.raises(MarkupsError, match=r"coordinateUnits '\[in_i\]'; expected 'mm' or 'um'"):
        read_markups(path)


def test_position_with_two_numbers(tmp_path):
    path = tmp_path / "short.mrk.json"
    point = {"label": "a", "position": [1.0, 2.0]}
    path.write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": [point]}]}))
    with pytest.raises(MarkupsError, match=r"controlPoints\[0\]: position must be 3 numbers"):
        read_markups(path)


def _write_points(path, points):
    path.write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": points}]}))
    return path


def test_undefined_points_are_left_out_with_a_warning(tmp_path, caplog):
    points = [
        {"label": "a", "position": [1.0, 2.0, 3.0]},
        {"label": "b", "positionStatus": "undefined"},
    ]
    markups = read_markups(_write_points(tmp_path / "template.mrk.json", points))
    assert markups.labels == ("a",)
    assert markups.left_out == ("b (undefined)",)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "point b left out" in caplog.text


@pytest.mark.parametrize("status", ["defind", 3, None, ""])
def test_a_corrupt_position_status_is_an_error_not_a_dropped_point(tmp_path, status):
    points = [
        {"label": "a", "position": [1.0, 2.0, 3.0]},
        {"label": "F2", "position": [4.0, 5.0, 6.0], "positionStatus": status},
    ]
    with pytest.raises(MarkupsError, match=r"controlPoints\[1\] \(F2\): positionStatus"):
        read_markups(_write_points(tmp_path / "m.mrk.json", points))


@pytest.mark.parametrize("label", [7, None, ["F1"]])
def test_a_label_that_is_not_text_is_an_error(tmp_path, label):
    points = [{"label": label, "position": [1.0, 2.0, 3.0]}]
    with pytest.raises(MarkupsError, match=r"controlPoints\[0\]: label must be text"):
        read_markups(_write_points(tmp_path / "m.mrk.json", points))


@pytest.mark.parametrize("position", [[True, 0, 0], ["1", 2, 3]])
def test_a_position_of_other_things_than_numbers_is_an_error(tmp_path, position):
    with pytest.raises(MarkupsError, match="position must be 3 numbers"):
        read_markups(_write_points(tmp_path / "m.mrk.json", [{"position": position}]))


def test_a_field_given_twice_is_an_error(tmp_path):
    path = tmp_path / "twice.mrk.json"
    path.write_text(
        '{"markups": [{"type": "Fiducial", "controlPoints": '
        '[{"label": "a", "position": [1, 2, 3], "position": [9, 9, 9]}]}]}'
    )
    with pytest.raises(MarkupsError, match="'position' appears twice"):
        read_markups(path)


def test_fcsv_in_ijk_is_refused(tmp_path):
    path = tmp_path / "ijk.fcsv"
    path.write_text("# CoordinateSystem = 2\n1,1,2,3,0,0,0,1,1,1,0,a,,\n")
    with pytest.raises(MarkupsError, match="CoordinateSystem '2'"):
        read_markups(path)


def test_fcsv_row_without_numbers(tmp_path):
    path = tmp_path / "text.fcsv"
    path.write_text("# CoordinateSystem = 1\n1,left,2,3,0,0,0,1,1,1,0,a,,\n")
    with pytest.raises(MarkupsError, match="point 1 has no numeric x, y, z"):
        read_markups(path)


def test_missing_markups_file(tmp_path):
    with pytest.raises(MarkupsError, match=r"none\.fcsv: no such markups file"):
        read_markups(tmp_path / "none.fcsv")


def test_unknown_markups_extension(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(UnsupportedFormatError, match=r"points\.csv"):
        read_markups(path)


def test_label_count_must_match_points():
    with pytest.raises(MarkupsError, match="1 labels for 2 points"):
        Markups(("a",), [[0, 0, 0], [1, 1, 1]])


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
markup_nodes = st.fixed_dictionaries(
    {"type": st.sampled_from(["Fiducial", "Curve", 3])},
    optional={
        "coordinateSystem": st.sampled_from(["LPS", "RAS", "XYZ", None]),
        "coordinateUnits": json_values,
        "controlPoints": st.lists(
            st.fixed_dictionaries({}, optional={"position": json_values, "label": json_values})
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(
    document=st.one_of(
        json_values, st.fixed_dictionaries({"markups": st.lists(markup_nodes, max_size=2)})
    )
)
def test_any_json_reads_or_raises_markups_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzz") / "any.mrk.json"
    path.write_text(json.dumps(document))
    try:
        markups = read_markups(path, allow_non_points=True)
    except MarkupsError:
        return
    assert markups.points_mm.shape == (len(markups.labels), 3)


fcsv_lines = st.lists(
    st.one_of(
        st.just("# CoordinateSystem = 1"),
        st.just("# columns = id,x,y,z,label"),
        st.builds(lambda v: f"1,{v},2,3,0,0,0,1,1,1,0,a,,", st.text(max_size=6)),
        st.text(max_size=30),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(lines=fcsv_lines, crlf=st.booleans())
def test_any_fcsv_text_reads_or_raises_markups_error(tmp_path_factory, lines, crlf):
    path = tmp_path_factory.mktemp("fuzz") / "any.fcsv"
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode("utf-8", "surrogatepass"))
    try:
        markups = read_markups(path)
    except MarkupsError:
        return
    assert markups.points_mm.shape == (len(markups.labels), 3)


REAL_MARKUPS = ("sksurgerycore_F_5.mrk.json", "SlicerIGT_ModelLandmarks.fcsv")


@pytest.mark.parametrize("name", REAL_MARKUPS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_real_markups_read_or_raise_markups_error(tmp_path_factory, name, data):
    """Real Slicer files with a byte changed, cut short, a number made strange, or a line
    dropped, doubled or replaced by garbage: a read, or a SceneError, never anything else."""
    original = (SHARED_DATA / "markups" / name).read_bytes()
    damages = data.draw(st.lists(mutations(len(original)), min_size=1, max_size=3))
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(damaged(original, damages))
    try:
        markups = read_markups(path)
    except SceneError:
        return
    assert markups.points_mm.shape == (len(markups.labels), 3)
    assert np.all(np.isfinite(markups.points_mm))
