"""Isosurfaces of a CT (bone, skin) as triangle meshes in physical LPS millimetres.

VTK's flying edges contours the voxel array in index space (VTK image data carries no direction
matrix in every path), then the points are mapped to LPS with the image's own
``physical_from_index`` affine, the one ``scenes.physical`` helper, so a surface vertex and
``TransformContinuousIndexToPhysicalPoint`` agree exactly. Point normals point outwards, from
higher to lower HU.
"""

import logging

import numpy as np
import pyvista as pv
import SimpleITK as sitk
from scipy import ndimage
from vtkmodules.vtkFiltersCore import vtkPolyDataConnectivityFilter

from scenes.exceptions import EmptySurfaceError, SceneError
from scenes.physical import index_to_physical, physical_to_index
from scenes.volume import require_volume

logger = logging.getLogger(__name__)

ORIENTATION_SAMPLES = 2000


def _index_space_grid(array_zyx: np.ndarray) -> pv.ImageData:
    grid = pv.ImageData(dimensions=array_zyx.shape[::-1], spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0))
    grid.point_data["hu"] = array_zyx.ravel(order="C")
    return grid


def _outward_sign(image: sitk.Image, mesh: pv.PolyData, array_zyx: np.ndarray) -> float:
    """+1 if the mesh normals point towards lower HU (outwards), -1 if they point inwards."""
    rng = np.random.default_rng(0)
    count = min(ORIENTATION_SAMPLES, mesh.n_points)
    chosen = rng.choice(mesh.n_points, size=count, replace=False)
    points = np.asarray(mesh.points[chosen], dtype=np.float64)
    normals = np.asarray(mesh.point_data["Normals"][chosen], dtype=np.float64)
    step = 0.5 * min(image.GetSpacing())
    ahead = physical_to_index(image, points + step * normals)[:, ::-1].T
    behind = physical_to_index(image, points - step * normals)[:, ::-1].T
    difference = ndimage.map_coordinates(array_zyx, ahead, order=1, mode="nearest") - (
        ndimage.map_coordinates(array_zyx, behind, order=1, mode="nearest")
    )
    return 1.0 if np.sum(np.sign(difference)) <= 0 else -1.0


def _largest_piece(mesh: pv.PolyData) -> pv.PolyData:
    """The connected piece of the mesh with the most cells."""
    connectivity = vtkPolyDataConnectivityFilter()
    connectivity.SetInputData(mesh)
    connectivity.SetExtractionModeToLargestRegion()
    connectivity.Update()
    return pv.wrap(connectivity.GetOutput())


def extract_surface(
    image: sitk.Image,
    threshold_hu: float,
    outer_only: bool = False,
    target_reduction: float = 0.0,
) -> pv.PolyData:
    """The ``threshold_hu`` isosurface of a CT as triangles in LPS mm with outward point normals.

    ``outer_only`` keeps the largest connected piece (the outer skin or bone surface, dropping
    the inner table, beads and noise islands); ``target_reduction`` in [0, 1) is the fraction of
    triangles removed by quadric decimation.
    """
    require_volume(image, "surface extraction")
    if not 0.0 <= target_reduction < 1.0:
        raise SceneError(f"target_reduction must be in [0, 1); got {target_reduction}")
    array_zyx = sitk.GetArrayViewFromImage(image).astype(np.float32)
    mesh = _index_space_grid(array_zyx).contour(
        isosurfaces=[float(threshold_hu)],
        scalars="hu",
        method="flying_edges",
        compute_normals=False,
    )
    if mesh.n_points == 0:
        low, high = float(array_zyx.min()), float(array_zyx.max())
        raise EmptySurfaceError(
            f"no surface at {threshold_hu} HU: the volume spans {low:.0f} to {high:.0f} HU"
        )
    mesh.points = index_to_physical(image, np.asarray(mesh.points, dtype=np.float64))
    if outer_only:
        mesh = _largest_piece(mesh)
    # Merging coincident points collapses some triangles into lines; keep the triangles only.
    mesh = mesh.clean()
    mesh = pv.PolyData(mesh.points, mesh.faces).clean()
    if target_reduction > 0.0:
        mesh = mesh.decimate(target_reduction)
    mesh = mesh.compute_normals(
        cell_normals=False,
        point_normals=True,
        split_vertices=False,
        consistent_normals=True,
        auto_orient_normals=False,
    )
    faces = np.asarray(mesh.faces).reshape(-1, 4)
    normals = np.asarray(mesh.point_data["Normals"], dtype=np.float64)
    if _outward_sign(image, mesh, array_zyx) < 0:
        faces = faces[:, [0, 1, 3, 2]]  # reverse the winding along with the normals
        normals = -normals
    logger.info(
        "surface at %s HU: %d points, %d triangles", threshold_hu, mesh.n_points, mesh.n_cells
    )
    surface = pv.PolyData(np.asarray(mesh.points, dtype=np.float64), faces.ravel())
    surface.point_data["Normals"] = normals
    return surface
