"""Corrupt CT geometry and payloads are refused, naming the file and the field (issue 14, items
2, 13 and 14): ITK's readers replaced each of these by a plausible value without a word."""

import gzip
import re
import shutil
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from guidance.cli import main
from scenes.exceptions import CorruptVolumeError
from scenes.volume import read_volume, save_volume
from tests.scenes.test_volume import assert_same_image, oblique_volume
from tests.shared_data import SHARED_DATA

REAL_SLICE = SHARED_DATA / "ct" / "ct_single_slice.dcm"


def _saved(tmp_path, name, compress=False):
    image = oblique_volume(size=(16, 12, 8))
    return image, save_volume(image, tmp_path / name, compress=compress)


def _edit_header(path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, old
    path.write_bytes(data.replace(old, new, 1))


def _refused(path, *words):
    with pytest.raises(CorruptVolumeError) as raised:
        read_volume(path)
    message = str(raised.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(
    ("name", "compress"),
    [("ct.nii.gz", False), ("ct.nii", False), ("ct.nrrd", False), ("ct.nrrd", True),
     ("ct.mha", False), ("ct.mha", True)],
    ids=["nii.gz", "nii", "nrrd", "nrrd-gzip", "mha", "mha-zlib"],
)  # fmt: skip
def test_a_file_cut_to_a_third_is_refused(tmp_path, name, compress):
    """A .nii.gz cut to a third loaded as a healthy volume, the rest filled in."""
    _, path = _saved(tmp_path, name, compress)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    message = _refused(path)
    assert re.search("truncated|incomplete|header", message), message


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii", "ct.nrrd", "ct.mha", "ct.mhd"])
def test_whole_files_still_read_exactly(tmp_path, name):
    image, path = _saved(tmp_path, name, compress=name.endswith(".mha"))
    assert_same_image(read_volume(path).image, image)


def test_a_padded_gzip_stream_is_accepted(tmp_path):
    """The trailer's size differs from the header's, but the stream is whole and long enough."""
    image, path = _saved(tmp_path, "ct.nii.gz")
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + bytes(16)))
    assert_same_image(read_volume(path).image, image)


METAIMAGE_CORRUPTIONS = {
    "offset-inf-nan": (rb"Offset = [^\n]*", b"Offset = inf 0 nan", "Offset"),
    "garbage-line": (b"ElementSpacing", b"@@ not a field\nElementSpacing", "line"),
    "compressed-raw": (b"CompressedData = False", b"CompressedData = True", "CompressedData"),
    "zero-size": (rb"DimSize = [^\n]*", b"DimSize = 0 64 93", "DimSize"),
    "negative-spacing": (rb"ElementSpacing = \S+", b"ElementSpacing = -0.7", "ElementSpacing"),
    "nan-spacing": (rb"ElementSpacing = \S+", b"ElementSpacing = nan", "ElementSpacing"),
    "huge-size": (rb"DimSize = [^\n]*", b"DimSize = 4000 5000 6000", "240000000000 bytes"),
    "zero-matrix": (rb"TransformMatrix = [^\n]*", b"TransformMatrix = 0 0 0 0 0 0 0 0 0", "Tra"),
    "skewed-matrix": (rb"TransformMatrix = [^\n]*", b"TransformMatrix = 1 0 0 1 1 0 0 0 1", "Tra"),
}


def test_volume_info_with_dimsize_zero_is_an_error_not_a_traceback(tmp_path, capsys):
    """``DimSize = 0 64 93`` was a ValueError traceback from the HU range of an empty array."""
    _, path = _saved(tmp_path, "ct.mha")
    _edit_header(path, b"DimSize = 16 12 8", b"DimSize = 0 64 93")
    assert main(["volume", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "DimSize" in err
    assert "Traceback" not in err


NRRD_CORRUPTIONS = {
    "origin-nan": (rb"space origin: [^\n]*", b"space origin: (nan,0,0)", "space origin"),
    "zero-axis": (rb"space directions: \([^)]*\)", b"space directions: (0,0,0)", "directions"),
    "skewed-axes": (
        rb"space directions: [^\n]*",
        b"space directions: (1,0,0) (1,1,0) (0,0,1)",
        "directions",
    ),
    "zero-size": (rb"sizes: [^\n]*", b"sizes: 0 12 8", "sizes"),
    "garbage-line": (b"endian:", b"@@ not a field\nendian:", "line"),
}


HEADER_CASES = [
    pytest.param(name, end, *case, id=f"{name}-{label}")
    for name, end, corruptions in (
        ("ct.mha", b"ElementDataFile = LOCAL\n", METAIMAGE_CORRUPTIONS),
        ("ct.nrrd", b"\n\n", NRRD_CORRUPTIONS),
    )
    for label, case in corruptions.items()
]


@pytest.mark.parametrize(("name", "end", "pattern", "replacement", "field"), HEADER_CASES)
def test_corrupt_header_geometry_is_refused_naming_the_field(
    tmp_path, name, end, pattern, replacement, field
):
    _, path = _saved(tmp_path, name)
    head, sep, body = path.read_bytes().partition(end)
    path.write_bytes(re.sub(pattern, replacement, head, count=1) + sep + body)
    _refused(path, field)


def _patch_nifti(path, offset, fmt, *values):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, *values)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("offset", "fmt", "values", "field"),
    [
        (80, "<f", (0.0,), "pixdim"),
        (80, "<f", (float("nan"),), "pixdim"),
        (80, "<f", (-0.7,), "pixdim"),
        (280, "<f", (float("inf"),), "sform"),
        (42, "<h", (0,), "dim"),
    ],
    ids=["zero-spacing", "nan-spacing", "negative-spacing", "inf-sform", "zero-size"],
)
def test_nifti_corrupt_geometry_is_refused_naming_the_field(tmp_path, offset, fmt, values, field):
    _, path = _saved(tmp_path, "ct.nii")
    _patch_nifti(path, offset, fmt, *values)
    _refused(path, field)


def _patch_dicom_value(path, tag: bytes, text: bytes) -> None:
    """Overwrite the value of a DS element (tag bytes, little endian; explicit VR as in the real
    file, or implicit as ITK writes) in place, padded with spaces to its length."""
    data = bytearray(path.read_bytes())
    where = data.find(tag)
    assert where >= 0
    explicit = data[where + 4 : where + 6] == b"DS"
    length = struct.unpack_from("<H" if explicit else "<I", data, where + (6 if explicit else 4))[0]
    assert len(text) <= length
    data[where + 8 : where + 8 + length] = text.ljust(length)
    path.write_bytes(bytes(data))


PIXEL_SPACING = b"\x28\x00\x30\x00"
POSITION = b"\x20\x00\x32\x00"
ORIENTATION = b"\x20\x00\x37\x00"
DICOM_CORRUPTIONS = {
    "spacing-zero": (PIXEL_SPACING, b"0\\0", "Pixel Spacing"),
    "spacing-nan": (PIXEL_SPACING, b"nan\\1", "Pixel Spacing"),
    "position-nan": (POSITION, b"nan\\0\\0", "Image Position"),
    "orientation-zero": (ORIENTATION, b"0\\0\\0\\0\\0\\0", "Image Orientation"),
}


@pytest.mark.parametrize("case", DICOM_CORRUPTIONS, ids=str)
def test_real_dicom_slice_with_corrupt_geometry_is_refused(tmp_path, case):
    tag, text, field = DICOM_CORRUPTIONS[case]
    path = tmp_path / "slice.dcm"
    shutil.copy(REAL_SLICE, path)
    _patch_dicom_value(path, tag, text)
    _refused(path, field)


@pytest.mark.parametrize("case", DICOM_CORRUPTIONS, ids=str)
def test_dicom_series_with_one_corrupt_slice_is_refused(tmp_path, case):
    tag, text, field = DICOM_CORRUPTIONS[case]
    save_volume(oblique_volume(size=(16, 12, 8)), tmp_path / "series")
    slices = sorted((tmp_path / "series").glob("*.dcm"))
    _patch_dicom_value(slices[0 if tag == ORIENTATION else 3], tag, text)
    with pytest.raises(CorruptVolumeError, match=field):
        read_volume(tmp_path / "series")


def test_an_image_without_voxels_is_refused_after_any_reader(tmp_path):
    from scenes.volume import check_geometry

    image = sitk.Image(4, 4, 4, sitk.sitkInt16)
    image.SetOrigin((0.0, float("nan"), 0.0))
    with pytest.raises(CorruptVolumeError, match="origin"):
        check_geometry(image, "memory")
    assert np.isnan(image.GetOrigin()[1])
