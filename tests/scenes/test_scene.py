"""Scene folders: saving and loading give back the scene built in memory; malformed folders fail."""

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tomli_w

from guidance.cli import main
from scenes.exceptions import SceneError, SceneFormatError
from scenes.phantoms import resolve_scene
from scenes.scene import Scene, Structure, ToolReference, Trajectory, load_scene


@pytest.fixture(scope="module")
def skull_folder(skull, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scene")
    skull.save(folder)
    return folder


def assert_same_scene(actual: Scene, expected: Scene) -> None:
    assert actual.name == expected.name and actual.description == expected.description
    for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection", "GetPixelID"):
        assert getattr(actual.ct, getter)() == getattr(expected.ct, getter)()
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(actual.ct), sitk.GetArrayViewFromImage(expected.ct)
    )
    np.testing.assert_array_equal(actual.fiducials_mm, expected.fiducials_mm)  # bit-exact
    np.testing.assert_array_equal(actual.targets_mm, expected.targets_mm)
    assert actual.fiducial_labels == expected.fiducial_labels
    assert actual.target_labels == expected.target_labels
    assert [s.name for s in actual.structures] == [s.name for s in expected.structures]
    for mine, theirs in zip(actual.structures, expected.structures, strict=True):
        np.testing.assert_array_equal(mine.centreline_mm, theirs.centreline_mm)
        assert mine.radius_mm == theirs.radius_mm
    assert actual.tools == expected.tools
    assert [t.name for t in actual.trajectories] == [t.name for t in expected.trajectories]
    for mine, theirs in zip(actual.trajectories, expected.trajectories, strict=True):
        np.testing.assert_array_equal(mine.entry_mm, theirs.entry_mm)
        np.testing.assert_array_equal(mine.target_mm, theirs.target_mm)
    assert actual.bone_threshold_hu == expected.bone_threshold_hu
    assert actual.skin_threshold_hu == expected.skin_threshold_hu
    assert actual.skin_fiducials == expected.skin_fiducials


def test_loading_from_disk_equals_building_in_memory(skull, skull_folder):
    assert_same_scene(load_scene(skull_folder), skull)
    assert_same_scene(resolve_scene(str(skull_folder)), skull)


def test_builtin_spec_builds_the_phantom(skull):
    assert_same_scene(resolve_scene("builtin:skull"), skull)


def _copy_folder(source: Path, folder: Path) -> Path:
    """A copy of the scene folder ``source`` at ``folder``, to edit."""
    folder.mkdir()
    for item in source.rglob("*"):
        if item.is_file():
            target = folder / item.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    return folder


def test_tool_file_path_is_resolved_against_the_folder(skull_folder, tmp_path):
    folder = _copy_folder(skull_folder, tmp_path / "with_rom")
    (folder / "tools").mkdir()
    (folder / "tools" / "pointer.rom").write_bytes(b"NDI")
    document = tomllib.loads((folder / "scene.toml").read_text())
    document["tools"] = [{"name": "pointer", "source": "tools/pointer.rom"}]
    (folder / "scene.toml").write_text(tomli_w.dumps(document))
    scene = load_scene(folder)
    assert scene.tools == (ToolReference("pointer", str((folder / "tools/pointer.rom").resolve())),)


def test_tool_files_are_copied_into_the_saved_folder(skull, tmp_path):
    rom = tmp_path / "elsewhere" / "8700340.rom"
    rom.parent.mkdir()
    rom.write_bytes(bytes(range(256)) * 3)
    scene = dataclasses.replace(skull, tools=(ToolReference("pointer", str(rom)),))
    scene.save(tmp_path / "scene")
    rom.unlink()  # the folder must not depend on the original file
    loaded = load_scene(tmp_path / "scene")
    copied = Path(loaded.tools[0].source)
    assert copied == (tmp_path / "scene" / "tools" / "8700340.rom").resolve()
    assert copied.read_bytes() == bytes(range(256)) * 3


def write_toml(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scene.toml").write_text(text)
    return folder


def test_folder_without_scene_toml(tmp_path):
    with pytest.raises(SceneFormatError, match=r"not a scene folder \(no scene\.toml\)"):
        load_scene(tmp_path)


def test_invalid_toml(tmp_path):
    with pytest.raises(SceneFormatError, match="not valid TOML"):
        load_scene(write_toml(tmp_path, "[scene\nname = 'x'"))


def test_missing_ct_table(tmp_path):
    text = '[scene]\nname = "x"\nformat_version = 1\n'
    with pytest.raises(SceneFormatError, match=r"missing \[ct\] table"):
        load_scene(write_toml(tmp_path, text))


def test_unknown_format_version(tmp_path):
    with pytest.raises(SceneFormatError, match="format_version 7"):
        load_scene(write_toml(tmp_path, '[scene]\nname = "x"\nformat_version = 7\n'))


def test_ct_file_not_in_folder(tmp_path):
    text = '[scene]\nname = "x"\nformat_version = 1\n[ct]\nfile = "gone.nrrd"\n'
    with pytest.raises(SceneFormatError, match=r"names 'gone\.nrrd', which is not in"):
        load_scene(write_toml(tmp_path, text))


def test_misspelt_table_is_refused(tmp_path):
    text = '[scene]\nname = "x"\nformat_version = 1\n[[structure]]\nname = "v"\n'
    with pytest.raises(SceneFormatError, match=r"unknown entries \['structure'\]"):
        load_scene(write_toml(tmp_path, text))


def test_threshold_of_wrong_type(skull_folder, tmp_path):
    text = (
        (skull_folder / "scene.toml")
        .read_text()
        .replace("bone_threshold_hu = 300.0", 'bone_threshold_hu = "high"')
    )
    folder = write_toml(tmp_path, text)
    for name in ("ct.nrrd", "fiducials.mrk.json", "targets.mrk.json"):
        (folder / name).symlink_to(skull_folder / name)
    (folder / "structures").symlink_to(skull_folder / "structures")
    (folder / "trajectories").symlink_to(skull_folder / "trajectories")
    with pytest.raises(SceneFormatError, match="'bone_threshold_hu' has the wrong type"):
        load_scene(folder)


def test_relative_tool_source_is_refused_in_memory():
    with pytest.raises(SceneFormatError, match="absolute path"):
        ToolReference("pointer", "tools/pointer.rom")


def test_structure_needs_positive_radius():
    with pytest.raises(SceneFormatError, match="radius must be a positive number"):
        Structure("vessel", np.zeros((2, 3)), 0.0)


def test_structure_distance_is_signed():
    vessel = Structure("vessel", np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]), 2.0)
    distance = vessel.signed_distance_mm(
        np.array([[5.0, 0.0, 0.0], [5.0, 5.0, 0.0], [13.0, 4.0, 0.0]])
    )
    np.testing.assert_allclose(distance, [-2.0, 3.0, 3.0])


def test_duplicate_fiducial_labels_are_refused(skull):
    with pytest.raises(SceneError, match="labels must be unique"):
        Scene("x", skull.ct, np.zeros((2, 3)), ("a", "a"), np.zeros((0, 3)), ())


def test_skin_fiducials_must_be_fiducials(skull):
    with pytest.raises(SceneError, match=r"skin fiducials \['F9'\] are not fiducials"):
        dataclasses.replace(skull, skin_fiducials=("F1", "F9"))


def test_a_folder_may_say_which_fiducials_are_on_the_skin(skull_folder, tmp_path):
    document = tomllib.loads((skull_folder / "scene.toml").read_text())
    assert document["fiducials"]["on_skin"] == list(load_scene(skull_folder).skin_fiducials)
    for on_skin, expected in ((["F2"], ("F2",)), (None, ())):
        folder = _copy_folder(skull_folder, tmp_path / str(on_skin))
        document = tomllib.loads((folder / "scene.toml").read_text())
        if on_skin is None:
            del document["fiducials"]["on_skin"]  # a folder written before: all rigid
        else:
            document["fiducials"]["on_skin"] = on_skin
        (folder / "scene.toml").write_text(tomli_w.dumps(document))
        assert load_scene(folder).skin_fiducials == expected
    document["fiducials"]["on_skin"] = "F1"
    (folder / "scene.toml").write_text(tomli_w.dumps(document))
    with pytest.raises(SceneFormatError, match="'on_skin' must be a list of fiducial labels"):
        load_scene(folder)


def test_scene_show_text_and_json(skull_folder, skull, capsys):
    assert main(["scene", "show", str(skull_folder)]) == 0
    text = capsys.readouterr().out
    assert "fiducials   8" in text and "tumour-right-frontal" in text
    assert "trajectories 1\n  biopsy" in text
    assert main(["scene", "show", str(skull_folder), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in info["targets"]] == list(skull.target_labels)
    (biopsy,) = info["trajectories"]
    np.testing.assert_allclose(biopsy["target_lps_mm"], skull.trajectories[0].target_mm, atol=1e-3)
    assert biopsy["length_mm"] == pytest.approx(skull.trajectories[0].length_mm, abs=0.01)
    np.testing.assert_allclose(
        [p["lps_mm"] for p in info["fiducials"]], skull.fiducials_mm, atol=1e-4
    )


def test_scene_save_writes_a_loadable_folder(tmp_path, skull, capsys):
    assert main(["scene", "save", "builtin:skull", str(tmp_path / "out")]) == 0
    assert "scene.toml" in capsys.readouterr().out
    assert_same_scene(load_scene(tmp_path / "out"), skull)


def test_scene_save_over_an_existing_folder_needs_force(tmp_path, capsys):
    """Issue 14.7: ``scene save`` replaced an existing folder's files without a word."""
    folder = tmp_path / "head"
    folder.mkdir()
    (folder / "notes.txt").write_text("a student's notes")
    (folder / "fiducials.mrk.json").write_text("the student's own fiducials")
    assert main(["scene", "save", "builtin:needle-box", str(folder)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (folder / "fiducials.mrk.json").read_text() == "the student's own fiducials"
    assert main(["scene", "save", "builtin:needle-box", str(folder), "--force"]) == 0
    assert load_scene(folder).name
    assert (folder / "notes.txt").read_text() == "a student's notes"


def test_scene_show_unknown_builtin(capsys):
    assert main(["scene", "show", "builtin:heart"]) == 2
    assert "unknown phantom 'builtin:heart'" in capsys.readouterr().err


def test_trajectories_are_saved_as_slicer_lines(skull, skull_folder):
    assert len(skull.trajectories) >= 1
    document = tomllib.loads((skull_folder / "scene.toml").read_text())
    entry = document["trajectories"][0]
    line = json.loads((skull_folder / entry["file"]).read_text())["markups"][0]
    assert line["type"] == "Line" and len(line["controlPoints"]) == 2
    np.testing.assert_allclose(line["controlPoints"][0]["position"], skull.trajectories[0].entry_mm)


def _with_trajectories(skull_folder: Path, tmp_path: Path, trajectories: list[dict]) -> Path:
    folder = _copy_folder(skull_folder, tmp_path / "scene")
    document = tomllib.loads((folder / "scene.toml").read_text())
    document["trajectories"] = trajectories
    (folder / "scene.toml").write_text(tomli_w.dumps(document))
    return folder


def test_a_trajectory_may_be_written_inline_as_two_points(skull_folder, tmp_path):
    inline = {"name": "drain", "entry_mm": [70.0, 0.0, 10.0], "target_mm": [20, 0, 10]}
    (trajectory,) = load_scene(_with_trajectories(skull_folder, tmp_path, [inline])).trajectories
    assert trajectory.name == "drain" and trajectory.length_mm == 50.0
    np.testing.assert_array_equal(trajectory.direction, [-1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "p", "entry_mm": [0.0, 0.0], "target_mm": [1, 2, 3]}, "entry_mm must be 3"),
        ({"name": "p", "entry_mm": [0, 0, 0], "target_mm": ["a", 2, 3]}, "must be 3 numbers"),
        ({"name": "p", "entry_mm": [0, 0, 0], "target_mm": [0, 0, 0.5]}, "at least 1.0 mm"),
        ({"name": "p", "entry_mm": [0, 0, 0]}, "missing 'target_mm'"),
        ({"name": "p", "file": "fiducials.mrk.json"}, r"needs 2 points \(entry, target\)"),
    ],
)
def test_malformed_trajectories_are_refused(skull_folder, tmp_path, entry, message):
    with pytest.raises(SceneFormatError, match=message):
        load_scene(_with_trajectories(skull_folder, tmp_path, [entry]))


def test_trajectory_names_must_be_unique(skull):
    path = Trajectory("p", np.zeros(3), np.ones(3))
    with pytest.raises(SceneFormatError, match="trajectories: labels must be unique"):
        dataclasses.replace(skull, trajectories=(path, path))
