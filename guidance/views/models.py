"""The meshes the views draw, built once per window (never per frame), in LPS mm.

Tool models are in their tool's frame, so that an actor's matrix (``image_from_tool``) moves
them; everything else is in the image frame, or in a view's own screen plane where it says so.
"""

import numpy as np
import pyvista as pv
import SimpleITK as sitk

from devices.tools import ToolDefinition
from guidance.views.geometry import screen_right

MARKER_SPHERE_RADIUS_MM = 5.5
SHAFT_RADIUS_MM = 1.5
STRUT_RADIUS_MM = 1.0


def grey_image(ct: sitk.Image, window_hu: float, level_hu: float) -> pv.ImageData:
    """The CT's grey levels through a window (``window_hu`` wide, centred on ``level_hu``) as a
    ``pyvista.ImageData`` of bytes ("grey": 0 at the window's bottom and below, 255 at its top
    and above, rounded to the nearest) with the CT's origin, spacing and direction (LPS mm).
    Computed once, so that drawing a slice maps no colours; a quarter of the CT's memory in
    float32."""
    grid = pv.ImageData(dimensions=ct.GetSize(), spacing=ct.GetSpacing(), origin=ct.GetOrigin())
    grid.direction_matrix = np.reshape(ct.GetDirection(), (3, 3))
    levels = sitk.GetArrayViewFromImage(ct).astype(np.float32)
    levels -= level_hu - window_hu / 2.0
    levels *= 255.0 / window_hu
    np.clip(levels, 0.0, 255.0, out=levels)
    levels += 0.5
    grid.point_data["grey"] = levels.astype(np.uint8).ravel()  # truncated: rounded
    return grid


def tool_mesh(tool: ToolDefinition) -> pv.PolyData:
    """A tool in its own frame: a sphere per marker, struts from the markers to their centroid
    and, for a pointer, a shaft from the centroid to the tip."""
    markers = tool.markers_mm
    centroid = tool.centroid_mm
    parts = [
        pv.Sphere(radius=MARKER_SPHERE_RADIUS_MM, center=m, theta_resolution=12, phi_resolution=12)
        for m in markers
    ]
    parts += [
        pv.Line(m, centroid).tube(radius=STRUT_RADIUS_MM, n_sides=8)
        for m in markers
        if np.linalg.norm(m - centroid) > 0.0
    ]
    if tool.tip_mm is not None:
        tip = tool.tip_mm
        parts.append(
            pv.Cylinder(
                center=(tip + centroid) / 2,
                direction=centroid - tip,
                radius=SHAFT_RADIUS_MM,
                height=float(np.linalg.norm(centroid - tip)),
                resolution=16,
            ).triangulate()
        )
    return pv.merge(parts)


def tube_mesh(centreline_mm: np.ndarray, radius_mm: float) -> pv.PolyData:
    """The surface of a structure to avoid: a capped tube around its centreline, or a ball for a
    single point, as ``scenes.scene.Structure`` models it."""
    line = np.asarray(centreline_mm, dtype=np.float64)
    if len(line) == 1:
        return pv.Sphere(radius=radius_mm, center=line[0], theta_resolution=24, phi_resolution=24)
    tube = pv.lines_from_points(line).tube(radius=radius_mm, n_sides=24, capping=True)
    return tube.triangulate()


def decimated(surface: pv.PolyData, max_triangles: int) -> pv.PolyData:
    """``surface`` as triangles, decimated (quadric) to at most about ``max_triangles``."""
    triangles = surface.triangulate()
    if triangles.n_cells <= max_triangles:
        return triangles
    return triangles.decimate(1.0 - max_triangles / triangles.n_cells)


def crosshair(
    direction: np.ndarray, up: np.ndarray, inner_mm: float = 4.0, outer_mm: float = 16.0
) -> pv.PolyData:
    """A cross of four segments around the origin in the screen plane of a view looking along
    ``direction`` with ``up`` up; move it with its actor."""
    horizontal = screen_right(direction, up)
    vertical = np.asarray(up, dtype=np.float64)
    segments = [
        pv.Line(sign * inner_mm * axis, sign * outer_mm * axis)
        for axis in (horizontal, vertical)
        for sign in (-1.0, 1.0)
    ]
    return pv.merge(segments)


def ring(radius_mm: float, right: np.ndarray, up: np.ndarray, resolution: int = 72) -> pv.PolyData:
    """A circle of ``radius_mm`` around the origin in the plane spanned by ``right`` and ``up``."""
    angles = np.linspace(0.0, 2.0 * np.pi, resolution, endpoint=False)
    points = radius_mm * (
        np.cos(angles)[:, None] * np.asarray(right) + np.sin(angles)[:, None] * np.asarray(up)
    )
    return pv.lines_from_points(points, close=True)


def scale_bar(length_mm: float, right: np.ndarray, up: np.ndarray) -> pv.PolyData:
    """A scale bar from the origin ``length_mm`` along ``right``, with end ticks along ``up``."""
    right, up = np.asarray(right, dtype=float), np.asarray(up, dtype=float)
    tick = 0.08 * length_mm * up
    end = length_mm * right
    bar = pv.Line((0.0, 0.0, 0.0), end)
    return pv.merge([bar, pv.Line(-tick, tick), pv.Line(end - tick, end + tick)])
