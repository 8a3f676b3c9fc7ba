"""Isosurfaces land in the physical LPS frame of SimpleITK, with outward normals."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from scenes.exceptions import EmptySurfaceError, NotAVolumeError, SceneError
from scenes.physical import index_to_physical
from scenes.surface import extract_surface

RADIUS_MM = 12.0
CENTRE_MM = np.array([31.0, -47.5, 112.25])


def ball_image(flip: bool) -> sitk.Image:
    """An antialiased ball of 1000 HU in -1000 HU air, on an oblique, anisotropic grid."""
    size = (40, 36, 30)
    direction = Rotation.from_rotvec([0.3, -0.5, 0.8]).as_matrix()
    if flip:
        direction[:, 2] *= -1.0
    spacing = np.array([0.9, 1.0, 1.2])
    image = sitk.Image(*size, sitk.sitkFloat32)
    image.SetDirection(direction.ravel().tolist())
    image.SetSpacing(spacing.tolist())
    centre_index = (np.array(size) - 1) / 2
    image.SetOrigin((CENTRE_MM - direction @ (spacing * centre_index)).tolist())
    k, j, i = np.indices(size[::-1])
    points = index_to_physical(image, np.column_stack([i.ravel(), j.ravel(), k.ravel()]))
    distance = np.linalg.norm(points - CENTRE_MM, axis=1) - RADIUS_MM
    fraction = np.clip(0.5 - distance / spacing.max(), 0.0, 1.0).reshape(size[::-1])
    array = (-1000.0 + 2000.0 * fraction).astype(np.float32)
    result = sitk.GetImageFromArray(array)
    result.CopyInformation(image)
    return result


@pytest.mark.parametrize("flip", [False, True])
def test_ball_surface_is_in_lps_with_outward_normals(flip):
    mesh = extract_surface(ball_image(flip), 0.0)
    radial = np.asarray(mesh.points) - CENTRE_MM
    distance = np.linalg.norm(radial, axis=1)
    np.testing.assert_allclose(distance, RADIUS_MM, atol=0.1)  # linear ramp wider than the voxels
    normals = np.asarray(mesh.point_data["Normals"])
    assert np.min(np.einsum("ij,ij->i", normals, radial / distance[:, None])) > 0.9
    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    a, b, c = (np.asarray(mesh.points)[faces[:, i]] for i in range(3))
    winding = np.einsum("ij,ij->i", np.cross(b - a, c - a), (a + b + c) / 3 - CENTRE_MM)
    assert np.all(winding > 0)  # counter-clockwise seen from outside, even for a flipped grid


def test_outer_only_keeps_the_outer_table(skull):
    full = extract_surface(skull.ct, skull.bone_threshold_hu)
    outer = extract_surface(skull.ct, skull.bone_threshold_hu, outer_only=True)
    assert outer.n_cells < full.n_cells
    points = np.asarray(outer.points)
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    normals = np.asarray(outer.point_data["Normals"])
    assert np.mean(np.einsum("ij,ij->i", normals, radial) > 0) > 0.99  # faces away from the centre
    assert np.min(np.linalg.norm(points, axis=1)) > 55.0  # no inner table, no bead inside


def test_decimation_reduces_triangles_and_keeps_the_shape(skull):
    outer = extract_surface(skull.ct, skull.skin_threshold_hu, outer_only=True)
    small = extract_surface(
        skull.ct, skull.skin_threshold_hu, outer_only=True, target_reduction=0.8
    )
    assert small.n_cells < 0.25 * outer.n_cells
    np.testing.assert_allclose(small.bounds, outer.bounds, atol=1.5)
    assert "Normals" in small.point_data


def test_threshold_above_every_voxel_is_empty():
    with pytest.raises(EmptySurfaceError, match=r"5000\.0 HU"):
        extract_surface(ball_image(False), 5000.0)


def test_single_slice_is_refused():
    with pytest.raises(NotAVolumeError):
        extract_surface(sitk.Image(8, 8, 1, sitk.sitkInt16), 0.0)


def test_reduction_of_one_or_more_is_refused():
    with pytest.raises(SceneError, match=r"target_reduction must be in \[0, 1\); got 1\.0"):
        extract_surface(ball_image(False), 0.0, target_reduction=1.0)


def _corner_sines(mesh) -> np.ndarray:
    points = np.asarray(mesh.points, dtype=np.float64)
    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    ab, ac = points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]
    lengths = np.linalg.norm(ab, axis=1) * np.linalg.norm(ac, axis=1)
    return np.linalg.norm(np.cross(ab, ac), axis=1) / np.maximum(lengths, 1e-300)


def test_integer_ct_surfaces_have_no_degenerate_triangles(skull):
    """An isovalue on the integer HU values put vertices on voxel centres: the skull phantom's
    bone surface had 232 zero-area triangles. Contoured half-way between integers, none."""
    assert _corner_sines(extract_surface(skull.ct, skull.bone_threshold_hu)).min() > 1e-5


def test_a_real_ct_surface_has_no_degenerate_triangles(shared_data):
    """The abdomen series (int16): 119-257 zero-area triangles at 150-300 HU before."""
    from scenes.volume import load_volume

    image = load_volume(shared_data / "ct" / "abdomen_ct_dicom")
    for threshold in (150.0, 300.0):
        assert _corner_sines(extract_surface(image, threshold)).min() > 1e-5
