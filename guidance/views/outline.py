"""The outline of the structures to avoid on a slice: their surface cut by the slice's plane.

The cut follows the tip exactly (not the voxel slice the image shows). It is a VTK pipeline (a
plane cutter for polygonal meshes, then a stripper joining its segments into polylines, so wide
lines have no gaps), re-run by VTK at the next render whenever the plane moves: a few tenths of
a ms of CPU a panel, most of it VTK's pipeline bookkeeping rather than the cut itself. A plane
that lies beyond the structures along its normal cuts nothing, so it is moved only when it
meets them or met them the last time: a slice far from every structure costs nothing a frame.
"""

from collections.abc import Sequence

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonDataModel import vtkPlane
from vtkmodules.vtkFiltersCore import vtkPolyDataPlaneCutter, vtkStripper
from vtkmodules.vtkRenderingCore import vtkRenderer

from guidance.views.actors import Colour, MeshActor, mesh_actor

# A plane this close to the structures' extent (mm) still counts as meeting them: it may touch
# a vertex.
TOUCH_MM = 1e-6


class StructureOutline:
    """The cut of ``structures`` (a triangulated surface, LPS mm) by planes of unit ``normal``,
    drawn in ``renderer`` in ``colour``, shifted by ``lift_mm`` (toward the camera, so that the
    slice does not hide it). ``move_to(point_mm)`` puts the plane through a point."""

    def __init__(
        self,
        renderer: vtkRenderer,
        structures: pv.PolyData,
        normal: Sequence[float],
        lift_mm: Sequence[float],
        colour: Colour,
        line_width: float,
    ) -> None:
        self._normal = np.asarray(normal, dtype=np.float64)
        depths = np.asarray(structures.points, dtype=np.float64) @ self._normal
        self._extent_mm = (float(depths.min()) - TOUCH_MM, float(depths.max()) + TOUCH_MM)
        self.plane = vtkPlane()
        self.plane.SetNormal(*self._normal)
        self._meets = True  # so that the first ``move_to`` moves the plane
        self.cutter = vtkPolyDataPlaneCutter()
        self.cutter.SetPlane(self.plane)
        self.cutter.SetInputData(structures)
        joined = vtkStripper()
        joined.SetInputConnection(self.cutter.GetOutputPort())
        self.actor: MeshActor = mesh_actor(joined, renderer, colour, line_width=line_width)
        self.actor.position = lift_mm

    def move_to(self, point_mm: Sequence[float]) -> None:
        """Cut by the plane through ``point_mm`` (LPS mm), at the next render; nothing to
        recompute when neither this plane nor the last one meets the structures (both cuts
        are empty)."""
        depth = float(np.asarray(point_mm, dtype=np.float64) @ self._normal)
        meets = self._extent_mm[0] <= depth <= self._extent_mm[1]  # may still pass beside
        if not meets and not self._meets:
            return
        self._meets = meets
        self.plane.SetOrigin(*(float(v) for v in point_mm))
