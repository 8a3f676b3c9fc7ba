"""The scenes subcommands: ``gestes volume info`` and ``gestes fiducials detect``."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from guidance.cli import main
from scenes.dicom import save_dicom_series
from scenes.markups import Markups, read_markups, write_markups
from scenes.volume import save_volume


@pytest.fixture(scope="module")
def skull_file(skull, tmp_path_factory):
    return save_volume(skull.ct, tmp_path_factory.mktemp("ct") / "skull.nrrd")


def test_volume_info_json_reports_geometry(skull, skull_file, capsys):
    assert main(["volume", "info", str(skull_file)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == list(skull.ct.GetSize())
    assert info["origin"] == list(skull.ct.GetOrigin())
    assert info["spacing"] == list(skull.ct.GetSpacing())
    assert info["direction"] == list(skull.ct.GetDirection())
    array = sitk.GetArrayViewFromImage(skull.ct)
    assert (info["hu_min"], info["hu_max"]) == (float(array.min()), float(array.max()))
    assert info["modality"] is None and info["series_uid"] is None
    assert info["warnings"] == []


def test_volume_info_text_lists_warnings(tmp_path, capsys):
    image = sitk.GetImageFromArray(np.zeros((5, 6, 7), dtype=np.int16))
    files = save_dicom_series(image, tmp_path, "gap", series_uid="2.25.42")
    files[1].unlink()
    assert main(["volume", "info", str(tmp_path), "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "series UID  2.25.42" in out
    assert "warning     " in out and "non-uniform slice spacing" in out


def test_volume_info_lists_series(tmp_path, capsys):
    image = sitk.GetImageFromArray(np.zeros((3, 4, 4), dtype=np.int16))
    save_dicom_series(image, tmp_path, "first", series_uid="2.25.1")
    save_dicom_series(image, tmp_path / "other", "second", series_uid="2.25.2")
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / f"second_{path.name}")
    assert main(["volume", "info", str(tmp_path), "--list-series"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(s["uid"], s["description"], s["files"]) for s in listed} == {
        ("2.25.1", "first", 3),
        ("2.25.2", "second", 3),
    }


def test_volume_info_missing_path_is_one_line_error(tmp_path, capsys):
    assert main(["volume", "info", str(tmp_path / "absent.nrrd")]) == 2
    err = capsys.readouterr().err
    assert "absent.nrrd: no such file or folder" in err
    assert "Traceback" not in err


def test_fiducials_detect_writes_markups(skull, skull_file, tmp_path, capsys):
    out = tmp_path / "beads.mrk.json"
    assert main(["fiducials", "detect", str(skull_file), "--out", str(out)]) == 0
    assert f"{len(skull.fiducials_mm)} beads" in capsys.readouterr().out
    beads = read_markups(out)
    distance = np.linalg.norm(beads.points_mm[:, None] - skull.fiducials_mm[None], axis=2)
    assert np.max(distance.min(axis=0)) < 0.2  # every true bead found, to a fraction of a voxel


def test_beads_named_after_the_scene_register_with_its_fiducials_by_label(
    skull, skull_file, tmp_path, capsys
):
    """Issue 14.1: the scene's fiducials (F1-F8) and the detected beads (B1-B8, in another
    order) were paired by order: FRE 85 mm, exit 0, no warning."""
    scene_fiducials = tmp_path / "fiducials.mrk.json"
    write_markups(Markups(skull.fiducial_labels, skull.fiducials_mm), scene_fiducials)
    numbered, named = tmp_path / "beads.mrk.json", tmp_path / "named.mrk.json"
    assert main(["fiducials", "detect", str(skull_file), "--out", str(numbered)]) == 0
    assert main(["register", "points", str(scene_fiducials), str(numbered)]) == 2
    assert "share 0 labels" in capsys.readouterr().err
    assert (
        main(["register", "points", str(scene_fiducials), str(numbered), "--pair-by", "order"]) == 0
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["fre_rms"] > 10.0
    assert "do not navigate" in report["warnings"][0]
    assert "warning: FRE" in captured.err
    assert (
        main(
            [
                "fiducials",
                "detect",
                str(skull_file),
                "--out",
                str(named),
                "--names-from",
                "builtin:skull",
            ]
        )
        == 0
    )
    assert sorted(read_markups(named).labels) == sorted(skull.fiducial_labels)
    capsys.readouterr()
    assert main(["register", "points", str(scene_fiducials), str(named)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["paired_by"] == "label"
    assert report["fre_rms"] < 0.1
    assert report["warnings"] == []


def test_fiducials_detect_without_beads_fails_cleanly(tmp_path, capsys):
    ct = save_volume(sitk.Image(8, 8, 8, sitk.sitkInt16), tmp_path / "empty.nrrd")
    assert main(["fiducials", "detect", str(ct), "--out", str(tmp_path / "b.fcsv")]) == 2
    assert "no bead found" in capsys.readouterr().err
