"""Small factories for the VTK actors every panel uses (meshes), colours, and the anchors of
text (drawn by ``text_sheet.TextSheet``).

Plain VTK actors, not pyvista's plotting classes: importing ``pyvista.plotting`` (it imports
``matplotlib.pyplot``) costs half a second at the start of every command that draws. Text is
not pyvista's corner annotation either, which re-fits its font on every render (tens of ms).
"""

import functools
from collections.abc import Sequence

import numpy as np
from vtkmodules.vtkCommonColor import vtkNamedColors
from vtkmodules.vtkCommonCore import (
    VTK_TEXT_BOTTOM,
    VTK_TEXT_CENTERED,
    VTK_TEXT_LEFT,
    VTK_TEXT_RIGHT,
    VTK_TEXT_TOP,
)
from vtkmodules.vtkCommonDataModel import vtkDataSet
from vtkmodules.vtkCommonExecutionModel import vtkAlgorithm
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkDataSetMapper,
    vtkPolyDataMapper,
    vtkRenderer,
)

Colour = str | Sequence[float]

# (horizontal, vertical) justification of text anchored at a panel's edge or corner.
ANCHORS = {
    "top left": (VTK_TEXT_LEFT, VTK_TEXT_TOP),
    "bottom left": (VTK_TEXT_LEFT, VTK_TEXT_BOTTOM),
    "bottom right": (VTK_TEXT_RIGHT, VTK_TEXT_BOTTOM),
    "top right": (VTK_TEXT_RIGHT, VTK_TEXT_TOP),
    "right": (VTK_TEXT_RIGHT, VTK_TEXT_CENTERED),
    "left": (VTK_TEXT_LEFT, VTK_TEXT_CENTERED),
    "top": (VTK_TEXT_CENTERED, VTK_TEXT_TOP),
    "bottom": (VTK_TEXT_CENTERED, VTK_TEXT_BOTTOM),
    "centre": (VTK_TEXT_CENTERED, VTK_TEXT_CENTERED),
    "above": (VTK_TEXT_CENTERED, VTK_TEXT_BOTTOM),
}


class MeshActor(vtkActor):
    """A ``vtkActor`` moved in place: ``position`` (3,) mm, ``user_matrix`` (4x4) its pose."""

    @property
    def position(self) -> tuple[float, float, float]:
        return self.GetPosition()

    @position.setter
    def position(self, value: Sequence[float]) -> None:
        self.SetPosition(*(float(v) for v in value))

    @property
    def user_matrix(self) -> np.ndarray:
        matrix = self.GetUserMatrix()
        if matrix is None:
            return np.eye(4)
        return np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])

    @user_matrix.setter
    def user_matrix(self, value: np.ndarray) -> None:
        matrix = vtkMatrix4x4()
        matrix.DeepCopy(np.asarray(value, dtype=np.float64).ravel().tolist())
        self.SetUserMatrix(matrix)


def mesh_actor(
    mesh: vtkDataSet | vtkAlgorithm,
    renderer: vtkRenderer,
    colour: Colour,
    opacity: float = 1.0,
    line_width: float = 1.0,
    smooth: bool = False,
) -> MeshActor:
    """An actor drawing ``mesh`` (a dataset, or the output of a VTK filter) in one colour, flat
    shaded unless ``smooth``, added to ``renderer``; move it with ``actor.position`` or
    ``actor.user_matrix``."""
    if isinstance(mesh, vtkAlgorithm):
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(mesh.GetOutputPort())
    else:
        mapper = vtkDataSetMapper()
        mapper.SetInputData(mesh)
    mapper.ScalarVisibilityOff()
    actor = MeshActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(rgb(colour))
    prop.SetOpacity(opacity)
    prop.SetLineWidth(line_width)
    if smooth:
        prop.SetInterpolationToGouraud()
    else:
        prop.SetInterpolationToFlat()
    renderer.AddActor(actor)
    return actor


@functools.cache
def rgb(colour: Colour) -> tuple[float, float, float]:
    """A colour (a CSS name, or (r, g, b) in [0, 1]) as (r, g, b) in [0, 1]."""
    if not isinstance(colour, str):
        red, green, blue = (float(v) for v in colour)
        return red, green, blue
    if not _NAMED_COLOURS.ColorExists(colour):
        raise ValueError(f"unknown colour name {colour!r}")
    red, green, blue = _NAMED_COLOURS.GetColor3d(colour)
    return red, green, blue


_NAMED_COLOURS = vtkNamedColors()
