"""Small factories for the VTK actors every panel uses: meshes, and text pinned to the panel or
to a point in space.

Text is a plain ``vtkTextActor``, not pyvista's corner annotation, which re-fits its font on every
render (tens of ms).
"""

import functools
from collections.abc import Sequence

import pyvista as pv
from vtkmodules.vtkCommonCore import (
    VTK_TEXT_BOTTOM,
    VTK_TEXT_CENTERED,
    VTK_TEXT_LEFT,
    VTK_TEXT_RIGHT,
    VTK_TEXT_TOP,
)
from vtkmodules.vtkCommonExecutionModel import vtkAlgorithm
from vtkmodules.vtkRenderingCore import vtkPolyDataMapper, vtkRenderer, vtkTextActor

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


def mesh_actor(
    mesh: pv.DataSet | vtkAlgorithm,
    renderer: vtkRenderer,
    colour: Colour,
    opacity: float = 1.0,
    line_width: float = 1.0,
    smooth: bool = False,
) -> pv.Actor:
    """An actor drawing ``mesh`` (a dataset, or the output of a VTK filter) in one colour, added
    to ``renderer``; move it with ``actor.position`` or ``actor.user_matrix``."""
    if isinstance(mesh, vtkAlgorithm):
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(mesh.GetOutputPort())
    else:
        mapper = pv.DataSetMapper(mesh)
    mapper.ScalarVisibilityOff()
    actor = pv.Actor(mapper=mapper)
    actor.prop.color = colour
    actor.prop.opacity = opacity
    actor.prop.line_width = line_width
    if smooth:
        actor.prop.interpolation = "gouraud"
    renderer.AddActor(actor)
    return actor


def panel_text(
    renderer: vtkRenderer,
    text: str,
    position: tuple[float, float],
    anchor: str = "top left",
    font_size: int = 14,
    colour: Colour = "white",
) -> vtkTextActor:
    """Text at ``position`` (fractions of the panel, from its bottom left), justified by
    ``anchor`` (a key of ``ANCHORS``)."""
    actor = _text_actor(text, anchor, font_size, colour)
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(*position)
    renderer.AddViewProp(actor)
    return actor


def point_text(
    renderer: vtkRenderer,
    text: str,
    anchor: str = "above",
    font_size: int = 12,
    colour: Colour = "white",
) -> vtkTextActor:
    """Text pinned to a point in space (set it with ``set_text_point``), drawn flat on top, with
    a shadow so that it reads on a grey slice."""
    actor = _text_actor(text, anchor, font_size, colour)
    actor.GetTextProperty().ShadowOn()
    actor.GetPositionCoordinate().SetCoordinateSystemToWorld()
    renderer.AddViewProp(actor)
    return actor


def set_text_point(actor: vtkTextActor, point_mm: Sequence[float]) -> None:
    """Pin a ``point_text`` actor to ``point_mm``."""
    actor.GetPositionCoordinate().SetValue(*(float(v) for v in point_mm))


@functools.cache
def rgb(colour: str) -> tuple[float, float, float]:
    """A colour name as (r, g, b) in [0, 1], looked up once (pyvista's lookup is slow)."""
    return pv.Color(colour).float_rgb


def set_text_colour(actor: vtkTextActor, colour: str, opacity: float = 1.0) -> None:
    """Change a text actor's colour (a name) and opacity."""
    prop = actor.GetTextProperty()
    prop.SetColor(rgb(colour))
    prop.SetOpacity(opacity)


def _text_actor(text: str, anchor: str, font_size: int, colour: Colour) -> vtkTextActor:
    actor = vtkTextActor()
    actor.SetInput(text)
    prop = actor.GetTextProperty()
    prop.SetFontSize(font_size)
    prop.SetColor(pv.Color(colour).float_rgb)
    horizontal, vertical = ANCHORS[anchor]
    prop.SetJustification(horizontal)
    prop.SetVerticalJustification(vertical)
    return actor
