"""The rings marking a slice panel's labelled points (targets, fiducials): one actor for all.

Each point is drawn where it projects on the slice, so every ring moves with the slice along
its normal and by the same amount: the rings are one mesh, built once on the plane through the
origin, moved by its actor's position. A ring's colour carries its opacity (full within the
slab, faded beyond it), rewritten only when a point enters or leaves the slab. One actor
instead of one a point: VTK's bookkeeping for each actor it draws (pipeline requests, bounds,
shader uniforms) costs more than drawing a few lines.
"""

from collections.abc import Sequence

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkRenderer

from guidance.views.actors import Colour, MeshActor, mesh_actor, rgb
from guidance.views.models import ring

RING_SIDES = 24


class PointRings:
    """Rings of ``radius_mm`` around ``points_mm`` (N, 3, LPS mm) projected on planes of unit
    ``normal``, in the plane of ``right`` and ``up``, each in its colour, drawn in ``renderer``.

    ``show(shift_mm, near)``: the rings on the plane ``shift_mm`` (3,) from the one through the
    origin, a point's ring in full where ``near`` (N,) is true and at ``faded_opacity``
    elsewhere.
    """

    def __init__(
        self,
        renderer: vtkRenderer,
        points_mm: np.ndarray,
        colours: Sequence[Colour],
        radius_mm: float,
        normal: np.ndarray,
        right: np.ndarray,
        up: np.ndarray,
        faded_opacity: float,
        line_width: float,
    ) -> None:
        points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        normal = np.asarray(normal, dtype=np.float64)
        flat = points - (points @ normal)[:, None] * normal
        around = np.asarray(ring(radius_mm, right, up, resolution=RING_SIDES).points)
        first = RING_SIDES * np.arange(len(points))
        loops = first[:, None] + np.r_[np.arange(RING_SIDES), 0]  # each ring closed
        mesh = pv.PolyData(
            (flat[:, None, :] + around).reshape(-1, 3),
            lines=np.column_stack([np.full(len(points), RING_SIDES + 1), loops]).ravel(),
        )
        mesh.point_data["rgba"] = np.zeros((len(mesh.points), 4), dtype=np.uint8)
        mesh.set_active_scalars("rgba")
        self._rgba = mesh.point_data["rgba"]  # a view of VTK's array: written in place
        self._colours = np.array([[round(255.0 * c) for c in rgb(colour)] for colour in colours])
        self._faded = round(255.0 * faded_opacity)
        self._mesh = mesh
        self.actor: MeshActor = mesh_actor(mesh, renderer, "white", line_width=line_width)
        mapper = self.actor.GetMapper()
        mapper.ScalarVisibilityOn()
        mapper.SetColorModeToDirectScalars()
        mapper.SetScalarModeToUsePointData()
        self._near: np.ndarray | None = None
        self.show(np.zeros(3), np.ones(len(points), dtype=bool))

    @property
    def opacities(self) -> np.ndarray:
        """Each point's ring opacity now, (N,) in [0, 1]."""
        return self._rgba[::RING_SIDES, 3] / 255.0

    def show(self, shift_mm: np.ndarray, near: np.ndarray) -> None:
        """Move the rings to the plane ``shift_mm`` from the origin's; full where ``near``."""
        self.actor.position = shift_mm
        near = np.asarray(near, dtype=bool)
        if self._near is not None and np.array_equal(near, self._near):
            return
        self._near = near.copy()
        colours = np.column_stack([self._colours, np.where(near, 255, self._faded)])
        self._rgba[:] = np.repeat(colours, RING_SIDES, axis=0)
        self._mesh.GetPointData().GetScalars().Modified()
