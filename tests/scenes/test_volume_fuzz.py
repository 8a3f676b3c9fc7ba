"""Fuzzing the CT readers the CLI exposes (``gestes volume info``, ``fiducials detect``,
``register surface``, scenes): a real CT slice (pydicom's CT_small.dcm) and the volumes SimpleITK
writes from it, damaged in their headers; each either reads into a valid volume or fails with a
SceneError, never anything else."""

import functools
import shutil
import tempfile
from pathlib import Path

import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenes.exceptions import SceneError
from scenes.volume import check_geometry, describe_volume, read_volume
from tests.mutations import damaged, mutations
from tests.shared_data import SHARED_DATA

REAL_SLICE = SHARED_DATA / "ct" / "ct_single_slice.dcm"
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
FORMATS = {  # file name, compressed, bytes of header to damage
    "ct.mha": (False, 600),
    "ct-zlib.mha": (True, 600),
    "ct.nrrd": (False, 500),
    "ct-gzip.nrrd": (True, 500),
    "ct.nii": (False, 352),
    "ct.nii.gz": (False, 400),
}


@functools.cache
def originals() -> dict[str, bytes]:
    """The real slice, and a 3-slice volume of it (its geometry) in every file format (a cached
    function, not a fixture, so that a failing example does not print megabytes of it)."""
    folder = Path(tempfile.mkdtemp(prefix="gestes-fuzz-"))
    real = sitk.ReadImage(str(REAL_SLICE))
    volume = sitk.JoinSeries([real[:, :, 0]] * 3)
    volume.SetOrigin(real.GetOrigin())
    volume.SetSpacing((*real.GetSpacing()[:2], 2.5))
    volume.SetDirection(real.GetDirection())
    files = {"slice.dcm": REAL_SLICE.read_bytes()}
    for name, (compressed, _) in FORMATS.items():
        path = folder / name
        sitk.WriteImage(volume, str(path), useCompression=compressed)
        files[name] = path.read_bytes()
    shutil.rmtree(folder)
    return files


def _read_or_scene_error(path: Path) -> None:
    try:
        loaded = read_volume(path)
    except SceneError:
        return
    check_geometry(loaded.image, str(path))
    info = describe_volume(loaded)
    assert info.hu_min <= info.hu_max


@pytest.mark.parametrize("name", ["slice.dcm", *FORMATS])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_ct_reads_correctly_or_raises_scene_error(tmp_path_factory, name, data):
    original = originals()[name]
    limit = original.find(PIXEL_DATA_TAG) if name.endswith(".dcm") else FORMATS[name][1]
    damages = data.draw(st.lists(mutations(limit), min_size=1, max_size=2))
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(damaged(original, damages))
    _read_or_scene_error(path)


@pytest.mark.parametrize("name", ["slice.dcm", *FORMATS])
def test_undamaged_originals_read(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(originals()[name])
    assert read_volume(path).image.GetSize()[:2] == (128, 128)
