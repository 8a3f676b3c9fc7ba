"""Voxel index <-> physical LPS millimetres: the one conversion every part of ``scenes`` uses,
and what is built on it for code outside ``scenes`` (the box around a CT, its values at LPS
points), so that no voxel index leaves ``scenes``.

Index order is SimpleITK's ``(i, j, k)`` = ``(x, y, z)``: column, row, slice. Beware that
``SimpleITK.GetArrayFromImage`` returns arrays indexed ``[k, j, i]`` (slice first); flip the
last axis of such indices (``index[..., ::-1]``) before calling these functions.

``p_lps = origin + direction @ diag(spacing) @ index``, as ITK's
``TransformContinuousIndexToPhysicalPoint``; indices are continuous (voxel centres are integers).
"""

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from scenes.exceptions import NotAVolumeError


def affine_from_geometry(
    origin_mm: Sequence[float], spacing_mm: Sequence[float], direction: Sequence[float]
) -> np.ndarray:
    """The 4x4 ``physical_from_index`` of a grid; ``direction`` is 3x3 row-major as in ITK."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(direction, dtype=np.float64).reshape(3, 3) * np.asarray(
        spacing_mm, dtype=np.float64
    )
    matrix[:3, 3] = origin_mm
    return matrix


def physical_from_index(image: sitk.Image) -> np.ndarray:
    """The 4x4 affine ``physical_from_index`` of a 3D image: ``p_lps_mm = M @ [i, j, k, 1]``."""
    if image.GetDimension() != 3:
        raise NotAVolumeError(f"expected a 3D image; got a {image.GetDimension()}D image")
    return affine_from_geometry(image.GetOrigin(), image.GetSpacing(), image.GetDirection())


def index_to_physical(image: sitk.Image, index_ijk: np.ndarray) -> np.ndarray:
    """Continuous ``(i, j, k)`` indices, shape ``(N, 3)`` or ``(3,)``, to physical LPS mm."""
    matrix = physical_from_index(image)
    index = np.asarray(index_ijk, dtype=np.float64)
    return index @ matrix[:3, :3].T + matrix[:3, 3]


def physical_to_index(image: sitk.Image, points_lps_mm: np.ndarray) -> np.ndarray:
    """Physical LPS mm, shape ``(N, 3)`` or ``(3,)``, to continuous ``(i, j, k)`` indices."""
    matrix = physical_from_index(image)
    points = np.asarray(points_lps_mm, dtype=np.float64)
    return np.linalg.solve(matrix[:3, :3], (points - matrix[:3, 3]).T).T


def voxel_centre_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The LPS box ``(low, high)``, mm, around every voxel centre of a 3D image (an oblique
    image's box is larger than the image: its corners are what the box holds)."""
    size = np.asarray(image.GetSize(), dtype=np.float64) - 1.0
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * size
    points = index_to_physical(image, corners)
    return points.min(axis=0), points.max(axis=0)


def sample_linear(
    image: sitk.Image, points_lps_mm: np.ndarray, outside: float = np.nan
) -> np.ndarray:
    """The image's trilinear interpolant at physical LPS points of shape ``(..., 3)``; the
    result has shape ``(...)``. Points beyond the outermost voxel centres get ``outside``."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise NotAVolumeError(
            f"expected a scalar image (one value per voxel); got "
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    points = np.asarray(points_lps_mm, dtype=np.float64)
    index = physical_to_index(image, points.reshape(-1, 3))
    size = np.asarray(image.GetSize(), dtype=np.float64)
    inside = np.all((index >= 0.0) & (index <= size - 1.0), axis=1)
    values = np.full(len(index), outside, dtype=np.float64)
    array_zyx = sitk.GetArrayViewFromImage(image)
    values[inside] = ndimage.map_coordinates(
        array_zyx, index[inside, ::-1].T, order=1, mode="nearest", output=np.float64
    )
    return values.reshape(points.shape[:-1])
