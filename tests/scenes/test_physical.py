"""index <-> physical LPS agrees with ITK's own conversion, for any direction matrix."""

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from scenes.exceptions import NotAVolumeError
from scenes.physical import (
    index_to_physical,
    physical_from_index,
    physical_to_index,
    sample_linear,
    voxel_centre_bounds,
)

TOL_MM = 1e-9


def oblique_image(seed: int, flip: bool = False) -> sitk.Image:
    rng = np.random.default_rng(seed)
    image = sitk.Image(7, 5, 3, sitk.sitkInt16)
    direction = Rotation.random(random_state=seed).as_matrix()
    if flip:
        direction[:, 2] *= -1.0  # a left-handed index frame, as in some DICOM series
    image.SetDirection(direction.ravel().tolist())
    image.SetSpacing(rng.uniform(0.3, 3.0, 3).tolist())
    image.SetOrigin(rng.uniform(-300.0, 300.0, 3).tolist())
    return image


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), flip=st.booleans())
def test_index_to_physical_matches_itk(seed, flip):
    image = oblique_image(seed, flip)
    indices = np.random.default_rng(seed).uniform(-2.0, 8.0, (6, 3))
    expected = np.array(
        [image.TransformContinuousIndexToPhysicalPoint(i.tolist()) for i in indices]
    )
    np.testing.assert_allclose(index_to_physical(image, indices), expected, atol=TOL_MM)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), flip=st.booleans())
def test_physical_to_index_matches_itk_and_inverts(seed, flip):
    image = oblique_image(seed, flip)
    points = np.random.default_rng(seed + 1).uniform(-400.0, 400.0, (6, 3))
    expected = np.array([image.TransformPhysicalPointToContinuousIndex(p.tolist()) for p in points])
    indices = physical_to_index(image, points)
    np.testing.assert_allclose(indices, expected, atol=1e-8)
    np.testing.assert_allclose(index_to_physical(image, indices), points, atol=TOL_MM * 1e3)


def test_single_point_keeps_its_shape():
    image = oblique_image(3)
    point = index_to_physical(image, np.array([1.0, 2.0, 0.5]))
    assert point.shape == (3,)
    np.testing.assert_allclose(
        point, image.TransformContinuousIndexToPhysicalPoint((1.0, 2.0, 0.5)), atol=TOL_MM
    )


def test_numpy_array_order_is_reversed_index_order():
    image = oblique_image(5)
    array = sitk.GetArrayFromImage(image)
    array[2, 4, 6] = 7  # [k, j, i]
    marked = sitk.GetImageFromArray(array)
    marked.CopyInformation(image)
    k, j, i = np.argwhere(sitk.GetArrayFromImage(marked) == 7)[0]
    assert marked[int(i), int(j), int(k)] == 7
    np.testing.assert_allclose(
        index_to_physical(image, [i, j, k]),
        image.TransformIndexToPhysicalPoint((6, 4, 2)),
        atol=TOL_MM,
    )


def test_affine_has_rigid_last_row():
    matrix = physical_from_index(oblique_image(9))
    np.testing.assert_array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0])


def test_2d_image_is_refused():
    with pytest.raises(NotAVolumeError, match="2D"):
        physical_from_index(sitk.Image(4, 4, sitk.sitkInt16))


def _filled(image: sitk.Image, seed: int) -> sitk.Image:
    values = np.random.default_rng(seed).normal(0.0, 500.0, image.GetSize()[::-1])
    filled = sitk.GetImageFromArray(values.astype(np.float32))
    filled.CopyInformation(image)
    return filled


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), flip=st.booleans())
def test_linear_samples_match_itk_interpolation(seed, flip):
    image = _filled(oblique_image(seed, flip), seed)
    rng = np.random.default_rng(seed + 2)
    indices = rng.uniform(0.0, 1.0, (20, 3)) * (np.asarray(image.GetSize()) - 1.0)
    points = index_to_physical(image, indices)
    expected = [image.EvaluateAtPhysicalPoint(p.tolist(), sitk.sitkLinear) for p in points]
    np.testing.assert_allclose(sample_linear(image, points), expected, rtol=1e-5, atol=1e-3)


def test_samples_keep_the_points_grid_shape_and_mark_outside_points():
    image = _filled(oblique_image(4), 4)
    inside = index_to_physical(image, [[1.0, 1.0, 1.0], [2.5, 3.0, 1.5]])
    beyond = index_to_physical(image, [[-0.1, 1.0, 1.0], [1.0, 4.2, 1.0]])
    grid = np.stack([inside, beyond])  # (2, 2, 3)
    values = sample_linear(image, grid, outside=-1e9)
    assert values.shape == (2, 2)
    assert np.all(values[0] > -1e9)
    np.testing.assert_array_equal(values[1], [-1e9, -1e9])
    assert np.all(np.isnan(sample_linear(image, beyond)))


def test_vector_images_are_refused_for_sampling():
    image = sitk.Image([3, 3, 3], sitk.sitkVectorFloat32, 3)
    with pytest.raises(NotAVolumeError, match="3 components per voxel"):
        sample_linear(image, np.zeros((1, 3)))


@pytest.mark.parametrize("flip", [False, True])
def test_voxel_centre_bounds_are_the_box_of_every_voxel_centre(flip):
    image = oblique_image(11, flip)
    size = image.GetSize()
    every = np.argwhere(np.ones(size[::-1]))[:, ::-1].astype(np.float64)  # all (i, j, k)
    centres = index_to_physical(image, every)
    low, high = voxel_centre_bounds(image)
    np.testing.assert_allclose(low, centres.min(axis=0), atol=TOL_MM)
    np.testing.assert_allclose(high, centres.max(axis=0), atol=TOL_MM)
