"""Volume IO: exact round trips for every format, real DICOM, and one test per rejected input."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from scenes.dicom import list_dicom_series, save_dicom_series
from scenes.exceptions import (
    CorruptVolumeError,
    GantryTiltError,
    NoDicomSeriesError,
    NotAVolumeError,
    SeriesSelectionError,
    UnsupportedFormatError,
    VolumeNotFoundError,
)
from scenes.volume import hu_range, load_volume, read_volume, save_volume

GEOMETRY_TOL = 1e-6  # mm and direction cosines; NIfTI stores its affine in float32


def oblique_volume(seed: int = 0, size=(12, 10, 6)) -> sitk.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(-1024, 3000, size[::-1]).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetDirection(Rotation.random(random_state=seed).as_matrix().ravel().tolist())
    image.SetSpacing((0.7, 0.9, 1.25))
    image.SetOrigin((-120.5, 33.25, 410.0))
    return image


def assert_same_image(actual: sitk.Image, expected: sitk.Image, tol: float = GEOMETRY_TOL) -> None:
    assert actual.GetSize() == expected.GetSize()
    np.testing.assert_allclose(actual.GetOrigin(), expected.GetOrigin(), atol=tol * 100)
    np.testing.assert_allclose(actual.GetSpacing(), expected.GetSpacing(), atol=tol)
    np.testing.assert_allclose(actual.GetDirection(), expected.GetDirection(), atol=tol)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(actual), sitk.GetArrayFromImage(expected))


@pytest.mark.parametrize("name", ["ct.nrrd", "ct.nii", "ct.nii.gz", "ct.mha", "ct.mhd"])
def test_file_round_trip_keeps_geometry_and_values(tmp_path, name):
    image = oblique_volume()
    save_volume(image, tmp_path / name)
    assert_same_image(load_volume(tmp_path / name), image)


def test_dicom_series_round_trip_keeps_geometry_and_values(tmp_path):
    image = oblique_volume(seed=4)
    save_volume(image, tmp_path / "series")
    loaded = read_volume(tmp_path / "series")
    assert_same_image(loaded.image, image, tol=1e-5)
    assert loaded.modality == "CT"
    assert loaded.series_uid.startswith("2.25.")
    assert loaded.warnings == ()


def test_two_series_in_one_folder_are_listed_and_chosen(tmp_path):
    first, second = oblique_volume(seed=1), oblique_volume(seed=2)
    save_dicom_series(first, tmp_path, description="bone window", series_uid="2.25.111")
    (tmp_path / "second").mkdir()
    for path in save_dicom_series(second, tmp_path / "second", "soft", series_uid="2.25.222"):
        path.rename(tmp_path / f"b_{path.name}")
    series = list_dicom_series(tmp_path)
    assert {s.uid for s in series} == {"2.25.111", "2.25.222"}
    with pytest.raises(SeriesSelectionError, match=r"2 DICOM series.*bone window"):
        load_volume(tmp_path)
    assert_same_image(load_volume(tmp_path, "2.25.222"), second, tol=1e-5)
    assert_same_image(load_volume(tmp_path, "bone window"), first, tol=1e-5)
    with pytest.raises(SeriesSelectionError, match="no series match 'lung'"):
        load_volume(tmp_path, "lung")


def test_series_choice_for_a_file_is_refused(tmp_path):
    path = save_volume(oblique_volume(), tmp_path / "ct.nrrd")
    with pytest.raises(SeriesSelectionError, match="only be chosen in a DICOM folder"):
        load_volume(path, "2.25.1")


def test_missing_slice_is_a_warning_not_silent(tmp_path, caplog):
    files = save_dicom_series(oblique_volume(seed=3), tmp_path, "gap")
    files[2].unlink()
    loaded = read_volume(tmp_path)
    assert len(loaded.warnings) == 1
    assert "non-uniform slice spacing" in loaded.warnings[0]
    assert "non-uniform slice spacing" in caplog.text


def test_truncated_slice_is_named_in_the_warnings(tmp_path):
    files = save_dicom_series(oblique_volume(seed=6), tmp_path, "truncated")
    files[3].write_bytes(files[3].read_bytes()[:400])
    (tmp_path / "README.txt").write_text("not DICOM, not reported")
    loaded = read_volume(tmp_path)
    assert loaded.image.GetSize()[2] == len(files) - 1
    assert any("slice_0003.dcm: DICOM file left out" in w for w in loaded.warnings)
    assert any("non-uniform slice spacing" in w for w in loaded.warnings)
    assert not any("README" in w for w in loaded.warnings)


def test_gantry_tilt_is_refused(tmp_path):
    image = oblique_volume(seed=5)
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.2, 0.0, 0.0, 0.98))  # slices sheared along y
    save_dicom_series(image, tmp_path, "tilted")
    with pytest.raises(GantryTiltError, match=r"tilted.*11\.\d+ degrees"):
        load_volume(tmp_path)


def test_real_jpeg2000_series(shared_data):
    loaded = read_volume(shared_data / "ct" / "abdomen_ct_dicom")
    image = loaded.image
    assert image.GetSize() == (512, 512, 20)
    np.testing.assert_allclose(image.GetSpacing()[:2], (0.977, 0.977), atol=1e-3)
    assert loaded.modality == "CT"
    low, high = hu_range(image)
    assert -1100 <= low < -900 and high > 500  # air and bone in HU


def test_real_single_slice_applies_rescale_intercept(shared_data):
    path = shared_data / "ct" / "ct_single_slice.dcm"
    loaded = read_volume(path)
    raw = sitk.ImageFileReader()
    raw.SetFileName(str(path))
    raw.ReadImageInformation()
    assert float(raw.GetMetaData("0028|1052")) == -1024.0
    assert loaded.image.GetSize() == (128, 128, 1)
    assert hu_range(loaded.image) == (-896.0, 1167.0)  # stored values shifted by -1024
    assert loaded.warnings and "single slice" in loaded.warnings[0]


def test_missing_path_names_the_path(tmp_path):
    with pytest.raises(VolumeNotFoundError, match=r"nothing\.nrrd"):
        load_volume(tmp_path / "nothing.nrrd")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(NoDicomSeriesError, match=str(tmp_path)):
        load_volume(tmp_path)


def test_folder_of_series_folders_points_at_them(tmp_path):
    save_dicom_series(oblique_volume(), tmp_path / "0001", "nested")
    with pytest.raises(NoDicomSeriesError, match=r"subfolders \['0001'\]"):
        load_volume(tmp_path)


def test_truncated_file_is_corrupt(tmp_path):
    path = tmp_path / "ct.nrrd"
    save_volume(oblique_volume(), path)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(CorruptVolumeError, match=r"ct\.nrrd"):
        load_volume(path)


def test_garbage_dicom_file_is_corrupt(tmp_path):
    path = tmp_path / "slice.dcm"
    path.write_bytes(b"not a dicom file at all" * 10)
    with pytest.raises(CorruptVolumeError, match=r"slice\.dcm"):
        load_volume(path)


def test_2d_image_is_not_a_volume(tmp_path):
    path = tmp_path / "slice.nrrd"
    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkInt16), str(path))
    with pytest.raises(NotAVolumeError, match=r"2D image"):
        load_volume(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "ct.png3d"
    path.write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match="png3d"):
        load_volume(path)
