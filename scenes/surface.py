"""Isosurfaces of a CT (bone, skin) as triangle meshes in physical LPS millimetres.

VTK's flying edges contours the voxel array in index space (VTK image data carries no direction
matrix in every path), then the points are mapped to LPS with the image's own
``physical_from_index`` affine, the one ``scenes.physical`` helper, so a surface vertex and
``TransformContinuousIndexToPhysicalPoint`` agree exactly. Point normals are the outward
(towards lower HU) unit gradient of the trilinearly interpolated CT at each vertex; triangles are
wound counter-clockwise seen from outside.
"""

import logging
import math

import fast_simplification
import numpy as np
import pyvista as pv
import SimpleITK as sitk
from scipy import ndimage
from vtkmodules.vtkFiltersCore import vtkPolyDataConnectivityFilter

from registration.mesh import vertex_normals
from scenes.exceptions import EmptySurfaceError, SceneError
from scenes.physical import index_to_physical, physical_from_index, physical_to_index
from scenes.volume import require_volume

logger = logging.getLogger(__name__)

# An isovalue equal to (or within float32 rounding of) voxel values puts vertices on voxel
# centres, where flying edges emits coincident points and zero-area triangles. Integer images are
# contoured half-way between two integers instead (see _isovalue).
ORIENTATION_SAMPLES = 10_000


def _index_space_grid(array_zyx: np.ndarray) -> pv.ImageData:
    grid = pv.ImageData(dimensions=array_zyx.shape[::-1], spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0))
    grid.point_data["hu"] = np.ascontiguousarray(array_zyx).ravel(order="C")
    return grid


def _largest_piece(mesh: pv.PolyData) -> pv.PolyData:
    """The connected piece of the mesh with the most cells, without the points it leaves unused."""
    connectivity = vtkPolyDataConnectivityFilter()
    connectivity.SetInputData(mesh)
    connectivity.SetExtractionModeToLargestRegion()
    connectivity.Update()
    return pv.wrap(connectivity.GetOutput()).clean(point_merging=False)


def outward_normals(image: sitk.Image, points_mm: np.ndarray) -> np.ndarray:
    """Unit vectors at ``points_mm`` (LPS) along the steepest HU decrease, in LPS.

    Central differences of the trilinear interpolant, half a voxel each way, give the gradient
    in index space; the chain rule maps it to LPS with the inverse transpose of the affine.
    """
    array_zyx = sitk.GetArrayViewFromImage(image)
    index = physical_to_index(image, points_mm)
    gradient_ijk = np.empty_like(index)
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = 0.5
        ahead = ndimage.map_coordinates(
            array_zyx, (index + step)[:, ::-1].T, order=1, mode="nearest", output=np.float64
        )
        behind = ndimage.map_coordinates(
            array_zyx, (index - step)[:, ::-1].T, order=1, mode="nearest", output=np.float64
        )
        gradient_ijk[:, axis] = ahead - behind
    linear = physical_from_index(image)[:3, :3]
    gradient_lps = np.linalg.solve(linear.T, gradient_ijk.T).T
    length = np.linalg.norm(gradient_lps, axis=1, keepdims=True)
    return -gradient_lps / np.where(length > 0.0, length, 1.0)


def _wound_outwards(points: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Triangles (``(M, 3)`` indices) reordered if needed so their right-hand normals face out.

    Contouring winds every triangle the same way, so a sample of them decides for all.
    """
    sample = faces[:: max(1, len(faces) // ORIENTATION_SAMPLES)]
    a, b, c = (points[sample[:, i]] for i in range(3))
    agreement = np.einsum("ij,ij->i", np.cross(b - a, c - a), normals[sample].sum(axis=1))
    return faces[:, [0, 2, 1]] if np.sum(np.sign(agreement)) < 0 else faces


def _isovalue(threshold_hu: float, integer_image: bool) -> float:
    """The value contoured for ``threshold_hu``: itself for a float image; for an integer image
    the half-integer just above it (the surface between the voxels above the threshold and the
    others). Half an HU away from every voxel value, each vertex lies at least 0.5 / 65535 of an
    edge from the voxel centres (far above float32 rounding), so no two vertices coincide; the
    surface moves by half an HU over the local HU gradient, a few micrometres at a bone edge."""
    if not integer_image:
        return float(threshold_hu)
    return math.floor(threshold_hu) + 0.5


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
    array_zyx = sitk.GetArrayViewFromImage(image)
    isovalue = _isovalue(threshold_hu, np.issubdtype(array_zyx.dtype, np.integer))
    mesh = _index_space_grid(array_zyx).contour(
        isosurfaces=[isovalue],
        scalars="hu",
        method="flying_edges",
        compute_normals=False,
        compute_scalars=False,
    )
    if mesh.n_points == 0:
        low, high = float(array_zyx.min()), float(array_zyx.max())
        raise EmptySurfaceError(
            f"no surface at {threshold_hu} HU: the volume spans {low:.0f} to {high:.0f} HU"
        )
    mesh.points = index_to_physical(image, np.asarray(mesh.points, dtype=np.float64))
    if outer_only:
        mesh = _largest_piece(mesh)
    points = np.asarray(mesh.points, dtype=np.float64)
    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    if target_reduction > 0.0:
        # Quadric decimation (Garland & Heckbert, SIGGRAPH 1997), about 10x faster than VTK's.
        points, faces = fast_simplification.simplify(points, faces, target_reduction)
        points = np.asarray(points, dtype=np.float64)
    normals = outward_normals(image, points)
    faces = _wound_outwards(points, faces, normals)
    surface = pv.PolyData(points, np.column_stack([np.full(len(faces), 3), faces]).ravel())
    surface.point_data["Normals"] = normals
    logger.info(
        "surface at %s HU: %d points, %d triangles", threshold_hu, surface.n_points, surface.n_cells
    )
    return surface


def mesh_arrays(mesh: pv.PolyData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A triangle mesh as the plain arrays ``registration`` takes: vertices (V, 3) mm, unit
    outward normals (V, 3) (the mesh's ``Normals``, else computed; a vertex of no triangle gets
    +z, never matched) and triangles (T, 3) int64."""
    vertices = np.asarray(mesh.points, dtype=np.float64)
    triangles = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:].astype(np.int64)
    if "Normals" in mesh.point_data:
        normals = np.array(mesh.point_data["Normals"], dtype=np.float64)
    else:
        normals = vertex_normals(vertices, triangles)
    used = np.zeros(len(vertices), dtype=bool)
    used[triangles.ravel()] = True
    normals[~used] = [0.0, 0.0, 1.0]
    return vertices, normals, triangles
