"""One CT section of a slice panel, drawn as a textured quad.

The CT's grey levels (HU through the window, as bytes) are computed once for the whole volume
(``models.grey_image``). A ``vtkImageReslice`` samples them on the slice's plane, and a plain
textured quad shows the result. When the slice stays on the same plane nothing is recomputed,
uploaded or rebuilt: a frame costs nothing here. The sampling grid is anchored on the CT's
first voxel centre, so a slice on a voxel plane (parallel to the CT's voxel axes) shows the
voxels themselves, not values interpolated between them.

``vtkImageResliceMapper`` (the panels' drawing before 2026-12-03 evening) gives the same
picture but costs ~2.5 ms of CPU a panel on every frame even when nothing moved: it rebuilds
its quad's vertex buffers and runs its internal pipeline on each render.
"""

from collections.abc import Sequence

import numpy as np
import pyvista as pv
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersSources import vtkPlaneSource
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTexture


class SliceImage:
    """The section of ``grey`` (a ``models.grey_image``) by planes normal to ``normal``, drawn
    in ``renderer`` with ``right`` and ``up`` (unit, LPS) as the image's rows and columns.

    ``move_to(point_mm)`` puts the section on the plane through ``point_mm``; the CT is
    resampled at the next render only when that plane is not the one shown already.
    """

    def __init__(
        self,
        renderer: vtkRenderer,
        grey: pv.ImageData,
        normal: Sequence[float],
        right: Sequence[float],
        up: Sequence[float],
    ) -> None:
        self._normal = np.asarray(normal, dtype=np.float64)
        right, up = np.asarray(right, dtype=np.float64), np.asarray(up, dtype=np.float64)
        # In-plane sample points: the first voxel centre plus whole steps along right and up,
        # a step being the spacing of the voxel axis nearest to each.
        self._anchor = np.asarray(grey.origin, dtype=np.float64)
        voxel_axes = np.reshape(grey.direction_matrix, (3, 3)).T  # rows: voxel axes in LPS
        steps = [float(grey.spacing[np.argmax(np.abs(voxel_axes @ v))]) for v in (right, up)]
        corners = np.array(np.meshgrid(*np.reshape(grey.bounds, (3, 2)))).reshape(3, -1).T
        in_plane = (corners - self._anchor) @ np.array([right, up]).T / steps
        first = np.floor(in_plane.min(axis=0) - 1e-6).astype(int)
        last = np.ceil(in_plane.max(axis=0) + 1e-6).astype(int)

        self._axes = vtkMatrix4x4()  # columns: right, up, normal, the plane's origin
        for column, vector in enumerate((right, up, self._normal, self._anchor)):
            for row in range(3):
                self._axes.SetElement(row, column, float(vector[row]))
        self.reslice = vtkImageReslice()
        self.reslice.SetInputData(grey)
        self.reslice.SetResliceAxes(self._axes)
        self.reslice.SetOutputDirection(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        self.reslice.SetOutputOrigin(0.0, 0.0, 0.0)
        self.reslice.SetOutputSpacing(steps[0], steps[1], 1.0)
        self.reslice.SetOutputExtent(first[0], last[0], first[1], last[1], 0, 0)
        self.reslice.SetInterpolationModeToLinear()  # exact voxels on a voxel plane
        self.reslice.SetBackgroundLevel(0.0)  # black beyond the CT
        # One thread: a slice is tens of thousands of samples; threads started for it compete
        # with Mesa's own.
        self.reslice.SetNumberOfThreads(1)

        texture = vtkTexture()
        texture.SetInputConnection(self.reslice.GetOutputPort())
        texture.InterpolateOn()
        texture.EdgeClampOn()
        # The quad covers the samples' pixels: half a step beyond the first and last centres,
        # so that the texture's (0, 1) edges fall on pixel edges and each sample is at its place.
        low = (first - 0.5) * steps
        high = (last + 0.5) * steps
        quad = vtkPlaneSource()
        quad.SetOrigin(*(self._anchor + low[0] * right + low[1] * up))
        quad.SetPoint1(*(self._anchor + high[0] * right + low[1] * up))
        quad.SetPoint2(*(self._anchor + low[0] * right + high[1] * up))
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(quad.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(texture)
        self.actor.GetProperty().LightingOff()  # the texture's grey as it is
        renderer.AddActor(self.actor)
        self._depth_mm = 0.0

    @property
    def origin_mm(self) -> np.ndarray:
        """A point (LPS mm) of the plane shown (the first voxel centre moved onto it)."""
        return self._anchor + self._depth_mm * self._normal

    def move_to(self, point_mm: Sequence[float]) -> None:
        """Show the section by the plane through ``point_mm`` (LPS mm): resampled at the next
        render if that plane is not the one shown, else nothing changes."""
        depth = float((np.asarray(point_mm, dtype=np.float64) - self._anchor) @ self._normal)
        if depth == self._depth_mm:
            return
        self._depth_mm = depth
        origin = self.origin_mm
        for row in range(3):
            self._axes.SetElement(row, 3, float(origin[row]))
        self.actor.SetPosition(*(depth * self._normal))
