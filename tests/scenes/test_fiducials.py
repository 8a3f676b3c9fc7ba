"""Bead localisation: sub-voxel accuracy against ground truth, in the right frame, and refusals."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from scenes.exceptions import FiducialDetectionError, NotAVolumeError, SceneError
from scenes.fiducials import BeadDetectionSettings, detect_beads
from scenes.physical import index_to_physical


def matched_errors(found_mm: np.ndarray, truth_mm: np.ndarray) -> np.ndarray:
    distance, index = cKDTree(found_mm).query(truth_mm)
    assert len(set(index)) == len(truth_mm)  # one detection per true bead
    return distance


@pytest.mark.parametrize("name", ["skull", "spine", "needle_box"])
def test_phantom_beads_within_a_tenth_of_a_millimetre(request, name):
    skull = request.getfixturevalue(name)
    found = detect_beads(skull.ct)
    assert len(found.centres_mm) == len(skull.fiducials_mm)
    errors = matched_errors(found.centres_mm, skull.fiducials_mm)
    assert np.sqrt(np.mean(errors**2)) <= 0.1  # the target at 1 mm voxels
    np.testing.assert_allclose(found.diameters_mm, 4.0, atol=0.6)  # core above the threshold


def oblique_beads(centres_mm: np.ndarray, radius_mm: float, extra=None) -> sitk.Image:
    """Beads of 3000 HU in 50 HU, exact partial volume, on an oblique anisotropic grid."""
    size = (40, 36, 24)
    image = sitk.Image(*size, sitk.sitkInt16)
    image.SetDirection(Rotation.from_rotvec([0.4, 0.2, -0.7]).as_matrix().ravel().tolist())
    image.SetSpacing((0.8, 0.9, 1.1))
    image.SetOrigin((12.0, -40.0, 300.0))
    sub = (np.arange(5) + 0.5) / 5 - 0.5
    offsets = np.stack(np.meshgrid(sub, sub, sub, indexing="ij"), axis=-1).reshape(-1, 3)
    k, j, i = np.indices(size[::-1])
    index = np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float)
    fraction = np.zeros(len(index))
    for offset in offsets:
        points = index_to_physical(image, index + offset)
        for centre in centres_mm:
            fraction += np.linalg.norm(points - centre, axis=1) <= radius_mm
    fraction /= len(offsets)
    array = (50.0 + 2950.0 * fraction).reshape(size[::-1])
    if extra is not None:
        extra(array)
    result = sitk.GetImageFromArray(np.rint(array).astype(np.int16))
    result.CopyInformation(image)
    return result


def bead_centres() -> np.ndarray:
    image = oblique_beads(np.empty((0, 3)), 1.0)
    return index_to_physical(image, np.array([[10.3, 12.6, 8.2], [27.5, 20.1, 14.7]]))


def test_oblique_grid_centres_land_in_lps():
    truth = bead_centres()
    found = detect_beads(oblique_beads(truth, 2.0))
    assert np.max(matched_errors(found.centres_mm, truth)) < 0.05


def test_rod_and_block_are_rejected():
    def add_clutter(array):
        array[2:22, 30, 30] = 3000  # a 20-voxel wire
        array[3:12, 3:12, 28:37] = 3000  # a block larger than any bead

    truth = bead_centres()
    found = detect_beads(oblique_beads(truth, 2.0, add_clutter))
    assert found.rejected == 2
    assert len(found.centres_mm) == 2


def test_no_bead_raises():
    with pytest.raises(FiducialDetectionError, match="no bead found: 0 blobs at or above 2000"):
        detect_beads(oblique_beads(np.empty((0, 3)), 1.0))


def test_single_slice_is_refused():
    with pytest.raises(NotAVolumeError):
        detect_beads(sitk.Image(20, 20, 1, sitk.sitkInt16))


def test_inverted_diameter_range_is_refused():
    with pytest.raises(SceneError, match="0 < min < max"):
        BeadDetectionSettings(min_diameter_mm=5.0, max_diameter_mm=2.0)


def test_blob_darker_than_its_surroundings_is_rejected():
    array = np.zeros((15, 15, 15), dtype=np.int16)
    array[5:10, 5:10, 5:10] = 2500  # a bright hollow cube around ...
    array[6:9, 6:9, 6:9] = 0
    array[7, 7, 7] = 2100  # ... a one-voxel blob whose background is brighter than itself
    image = sitk.GetImageFromArray(array)
    found = detect_beads(image)
    assert found.rejected == 1
    np.testing.assert_allclose(found.centres_mm, [[7.0, 7.0, 7.0]], atol=1e-9)  # the hollow cube
