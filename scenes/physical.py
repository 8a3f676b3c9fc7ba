"""Voxel index <-> physical LPS millimetres: the one conversion every part of ``scenes`` uses.

Index order is SimpleITK's ``(i, j, k)`` = ``(x, y, z)``: column, row, slice. Beware that
``SimpleITK.GetArrayFromImage`` returns arrays indexed ``[k, j, i]`` (slice first); flip the
last axis of such indices (``index[..., ::-1]``) before calling these functions.

``p_lps = origin + direction @ diag(spacing) @ index``, as ITK's
``TransformContinuousIndexToPhysicalPoint``; indices are continuous (voxel centres are integers).
"""

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

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
