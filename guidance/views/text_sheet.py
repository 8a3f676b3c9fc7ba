"""All the text of a panel drawn as one actor: each string rasterised once into a shared texture
(an atlas), each label a quad of that texture placed on the panel's pixels.

Why: VTK draws each ``vtkTextActor`` as its own textured quad, one draw call with its own
texture, shader set-up and buffers, whether or not its text changed: ~0.06 ms a render on a
quiet machine, ~0.2 ms under load with Mesa's software renderer, and a panel has 5 to 17 texts.
A ``TextSheet`` draws them all in one call. A string is rasterised by VTK's own text renderer
(FreeType, as ``vtkTextActor`` does: the same pixels) the first time it is shown with a given
font size, colour, opacity, shadow and anchor, and kept (up to ``CACHE_SIZE`` strings a sheet);
a label that changes back to a string it showed before (a distance going up and down) costs no
rasterising. The atlas holds only the strings on screen, one row per text: when a text changes,
its row is drawn again from the kept string and the atlas uploaded (tens of kB). Each text
stands exactly where a ``vtkTextActor`` with the same position, coordinate system and
justification would, pixel for pixel.

The quads are placed before each render of the panel (an observer of the renderer's start)
when a text, the panel's size or its camera changed, so text follows a resized window and a
rotated 3D view. A label pinned to a point that would cover a text placed before it (two
fiducials close together on a slice) moves up or down by its own height, to the nearest free
place within two heights; when there is none it stays where it belongs.
"""

import dataclasses
import math
import weakref
from collections.abc import Iterable

import numpy as np
from vtkmodules import vtkRenderingFreeType  # noqa: F401 (registers the text renderer)
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkCoordinate,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextProperty,
    vtkTextRenderer,
    vtkTexture,
    vtkTexturedActor2D,
)

from guidance.views.actors import ANCHORS, Colour, rgb

ATLAS_STEP_PX = 64  # the atlas is as wide as the widest string, rounded up to this
CACHE_SIZE = 1024  # rasterised strings kept by a sheet (the oldest are dropped first)
GAP_PX = 1  # between strings in the atlas, so that no texel of one is drawn with another
# Where a pinned label is tried, in its own heights above (+) or below (-) where it belongs.
SHIFT_STEPS = (0, 1, -1, 2, -2)
CORNERS = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])  # of a quad, counter-clockwise


@dataclasses.dataclass(frozen=True)
class Look:
    """How a string is drawn: font size (points), colour (r, g, b in [0, 1]), opacity, shadow,
    and its anchor (a key of ``actors.ANCHORS``: which point of the text the position is)."""

    font_size: int
    colour: tuple[float, float, float]
    opacity: float
    shadow: bool
    anchor: str


@dataclasses.dataclass(frozen=True)
class Bitmap:
    """A rasterised string: ``pixels`` (height, width, 4) RGBA, bottom row first, and the
    offset (``dx``, ``dy``, px) of its bottom left from the text's position."""

    pixels: np.ndarray
    dx: int
    dy: int


class SheetText:
    """One text of a ``TextSheet``: change ``text``, or its colour and opacity with
    ``set_colour``; an empty text is not drawn."""

    def __init__(
        self,
        sheet: "TextSheet",
        row: int,
        coordinate: vtkCoordinate,
        text: str,
        look: Look,
        pinned: bool,
    ) -> None:
        self._sheet = sheet
        self._row = row  # its row in the sheet's atlas
        self.coordinate = coordinate
        self.pinned = pinned  # to a point in space: moved aside when it would cover a text
        self._text = text
        self._look = look

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        if value != self._text:
            self._text = value
            self._sheet.changed(self._row)

    @property
    def look(self) -> Look:
        return self._look

    @property
    def opacity(self) -> float:
        return self._look.opacity

    def set_colour(self, colour: Colour, opacity: float = 1.0) -> None:
        """Draw the text in ``colour`` (a name or r, g, b) at ``opacity``."""
        colour = rgb(colour)
        if colour != self._look.colour or opacity != self._look.opacity:
            self._look = dataclasses.replace(self._look, colour=colour, opacity=opacity)
            self._sheet.changed(self._row)


class TextSheet:
    """The texts of one panel (``renderer``), drawn as one ``vtkTexturedActor2D``.

    ``panel_text`` adds a text at a fixed place of the panel, ``point_text`` one pinned to a
    point in space (drawn flat on top, with a shadow so that it reads on a grey slice). Both
    return a ``SheetText`` to change later. ``rasterised`` counts the strings rasterised so far.
    """

    def __init__(self, renderer: vtkRenderer, cache_size: int = CACHE_SIZE) -> None:
        self.renderer = renderer
        self.texts: list[SheetText] = []
        self.rasterised = 0
        self._cache_size = cache_size
        self._bitmaps: dict[tuple[str, Look], Bitmap] = {}  # oldest first
        self._laid_out = False
        self._dirty: set[int] = set()  # rows of the texts changed since the last render
        self._placed_for: tuple[object, ...] | None = None  # the panel's size and camera
        self._keys: list[tuple[str, Look]] = []  # per row, the string drawn in the atlas
        self._anchors: list[tuple[int, int]] = []  # per text, its position (panel pixels)
        self._atlas_width = ATLAS_STEP_PX
        self._row_heights = np.zeros(0, dtype=int)
        self._text_renderer = vtkTextRenderer.GetInstance()
        self._property = vtkTextProperty()

        self.atlas = vtkImageData()  # the strings on screen, packed in rows
        self._mesh = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._mesh)
        texture = vtkTexture()
        texture.SetInputData(self.atlas)
        texture.InterpolateOff()  # texels land on pixels: nearest, as vtkTextActor's
        self.actor = vtkTexturedActor2D()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(texture)
        self.actor.GetPositionCoordinate().SetCoordinateSystemToViewport()
        self.actor.GetPositionCoordinate().SetValue(0.0, 0.0)
        renderer.AddViewProp(self.actor)
        # A weak reference: the renderer keeps the observer, which must not keep the sheet.
        this = weakref.ref(self)
        renderer.AddObserver("StartEvent", lambda *_: (sheet := this()) and sheet.place())

    def panel_text(
        self,
        text: str,
        position: tuple[float, float],
        anchor: str = "top left",
        font_size: int = 14,
        colour: Colour = "white",
    ) -> SheetText:
        """Text at ``position`` (fractions of the panel, from its bottom left), justified by
        ``anchor`` (a key of ``actors.ANCHORS``)."""
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToNormalizedViewport()
        coordinate.SetValue(*position)
        return self._add(coordinate, text, Look(font_size, rgb(colour), 1.0, False, anchor), False)

    def point_text(
        self,
        text: str,
        point_mm: Iterable[float],
        anchor: str = "above",
        font_size: int = 12,
        colour: Colour = "white",
    ) -> SheetText:
        """Text pinned to ``point_mm`` (world coordinates), with a shadow; moved up or down
        when it would cover a text added before it."""
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        coordinate.SetValue(*(float(v) for v in point_mm))
        return self._add(coordinate, text, Look(font_size, rgb(colour), 1.0, True, anchor), True)

    def _add(self, coordinate: vtkCoordinate, text: str, look: Look, pinned: bool) -> SheetText:
        if look.anchor not in ANCHORS:
            raise ValueError(f"unknown anchor {look.anchor!r}; one of {', '.join(ANCHORS)}")
        item = SheetText(self, len(self.texts), coordinate, text, look, pinned)
        self.texts.append(item)
        self._keys.append(("", look))  # drawn at the next render
        self._laid_out = False
        return item

    def changed(self, row: int) -> None:
        """Mark a text to be drawn again before the next render."""
        self._dirty.add(row)

    def place(self) -> None:
        """Lay the quads out for the panel as it is now, if a text, the panel's size or its
        camera changed since the last time (called before each render of the panel)."""
        moved = (self.renderer.GetSize(), self.renderer.GetActiveCamera().GetMTime())
        rewrite = False  # the quads, once, whether a text changed, the panel or both
        if not self._laid_out:
            self._lay_out()
        elif self._dirty:
            rows = sorted(self._dirty)
            if not all(self._draw_row(row) for row in rows):
                self._lay_out()  # a string taller or wider than its row: a new atlas
            else:
                rewrite = True
        self._dirty.clear()
        if moved != self._placed_for:
            self._placed_for = moved
            anchors = [t.coordinate.GetComputedViewportValue(self.renderer) for t in self.texts]
            if anchors != self._anchors:
                self._anchors = anchors
                rewrite = True
        if rewrite:
            self._write_quads()

    def _lay_out(self) -> None:
        """A new atlas: one row per text, as high as the highest string it showed, as wide as
        the widest (rounded up to ``ATLAS_STEP_PX``); each text's string drawn in it."""
        count = len(self.texts)
        shown = {row: self._bitmap(t.text, t.look) for row, t in enumerate(self.texts) if t.text}
        heights = np.zeros(count, dtype=int)
        heights[: len(self._row_heights)] = self._row_heights
        for row, bitmap in shown.items():
            heights[row] = max(heights[row], bitmap.pixels.shape[0])
        widest = max([1, *(b.pixels.shape[1] for b in shown.values())])
        steps = -(-widest // ATLAS_STEP_PX)  # rounded up
        self._atlas_width = max(self._atlas_width, steps * ATLAS_STEP_PX)
        self._row_heights = heights
        bottoms = np.concatenate([[0], np.cumsum(heights + GAP_PX)[:-1]]).astype(int)
        self._row_bottoms = bottoms
        self._atlas_corners = np.stack([np.zeros(count), bottoms], axis=1)
        height = max(int(bottoms[-1] + heights[-1]) if count else 1, 1)
        self._pixels = np.zeros((height, self._atlas_width, 4), dtype=np.uint8)
        self.atlas.SetDimensions(self._atlas_width, height, 1)
        self.atlas.GetPointData().SetScalars(
            numpy_to_vtk(self._pixels.reshape(-1, 4), deep=False, array_type=VTK_UNSIGNED_CHAR)
        )
        # Per text: offset of its bottom left from its position (px), width and height.
        self._boxes = np.zeros((count, 4))
        self._keys = [("", t.look) for t in self.texts]
        for row in range(count):
            self._draw_row(row)
        self._mesh_for(count)
        self._anchors = [t.coordinate.GetComputedViewportValue(self.renderer) for t in self.texts]
        self._write_quads()
        self._laid_out = True

    def _draw_row(self, row: int) -> bool:
        """Draw a text's string in its row of the atlas (if it changed); False if it does not
        fit there."""
        text = self.texts[row]
        key = (text.text, text.look)
        if key == self._keys[row]:
            return True
        bottom, top = self._row_bottoms[row], self._row_bottoms[row] + self._row_heights[row]
        self._pixels[bottom:top] = 0
        self._boxes[row] = 0.0
        self._keys[row] = key
        self.atlas.Modified()
        if not text.text:
            return True
        bitmap = self._bitmap(*key)
        height, width, _ = bitmap.pixels.shape
        if height > self._row_heights[row] or width > self._atlas_width:
            return False
        self._pixels[bottom : bottom + height, :width] = bitmap.pixels
        self._boxes[row] = (bitmap.dx, bitmap.dy, width, height)
        return True

    def _mesh_for(self, count: int) -> None:
        """Quads for ``count`` texts, whose corners ``_write_quads`` writes in place."""
        cells = vtkCellArray()
        offsets = np.arange(0, 4 * count + 1, 4, dtype=np.int64)
        connectivity = np.arange(4 * count, dtype=np.int64)
        cells.SetData(
            numpy_to_vtkIdTypeArray(offsets, deep=True),
            numpy_to_vtkIdTypeArray(connectivity, deep=True),
        )
        self._mesh.SetPolys(cells)
        self._points = np.zeros((count, 4, 3))
        self._tcoords = np.zeros((count, 4, 2), dtype=np.float32)
        points = vtkPoints()
        points.SetData(numpy_to_vtk(self._points.reshape(-1, 3), deep=False))
        self._mesh.SetPoints(points)
        self._mesh.GetPointData().SetTCoords(numpy_to_vtk(self._tcoords.reshape(-1, 2), deep=False))

    def _write_quads(self) -> None:
        """The quads of the texts: each text's box placed at its position (panel pixels),
        moved aside if it is pinned and would cover a text before it (see ``_shifts``), and
        where its string lies in the atlas (a quad of no size for an empty text)."""
        boxes = self._boxes
        corners = boxes[:, None, 2:4] * CORNERS
        lows = np.asarray(self._anchors, dtype=float).reshape(-1, 2) + boxes[:, 0:2]
        lows[:, 1] += self._shifts(lows)
        self._points[:, :, :2] = lows[:, None] + corners
        atlas_size = self._pixels.shape[1::-1]
        self._tcoords[:] = (self._atlas_corners[:, None] + corners) / atlas_size
        self._mesh.GetPoints().GetData().Modified()
        self._mesh.GetPointData().GetTCoords().Modified()
        self._mesh.Modified()

    def _shifts(self, lows: np.ndarray) -> list[float]:
        """How far (px, up) each text moves: the texts are placed in the order they were
        added, a panel text where it belongs, a pinned one at the first of SHIFT_STEPS of its
        own height (plus GAP_PX) where it covers no text placed before it, or where it belongs
        when there is no such place. ``lows``: the bottom left corner of each text's box."""
        shifts = [0.0] * len(self.texts)
        if not self._any_overlap(lows):
            return shifts  # the usual case, in a fraction of the time of the loop below
        placed: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 of each box
        for row, text in enumerate(self.texts):
            width, height = self._boxes[row, 2:4]
            if width == 0.0:
                continue  # an empty text covers nothing
            x0, y0 = lows[row]
            steps = SHIFT_STEPS if text.pinned else (0,)
            for step in steps:
                low = y0 + step * (height + GAP_PX)
                if not any(
                    x0 < x1 and a0 < x0 + width and low < y1 and b0 < low + height
                    for a0, b0, x1, y1 in placed
                ):
                    shifts[row] = low - y0
                    break
            placed.append((x0, y0 + shifts[row], x0 + width, y0 + shifts[row] + height))
        return shifts

    def _any_overlap(self, lows: np.ndarray) -> bool:
        """Whether any two texts' boxes (bottom left ``lows``, px) overlap, where they belong."""
        highs = lows + self._boxes[:, 2:4]
        shown = self._boxes[:, 2] > 0.0
        lows, highs = lows[shown], highs[shown]
        apart = (lows[:, None] >= highs[None]) | (highs[:, None] <= lows[None])
        overlapping = ~(apart[:, :, 0] | apart[:, :, 1])
        np.fill_diagonal(overlapping, False)
        return bool(overlapping.any())

    def _bitmap(self, text: str, look: Look) -> Bitmap:
        """``text`` rasterised in ``look``, from the sheet's cache or now."""
        key = (text, look)
        bitmap = self._bitmaps.get(key)
        if bitmap is None:
            bitmap = self._bitmaps[key] = self._rasterise(text, look)
            if len(self._bitmaps) > self._cache_size:
                del self._bitmaps[next(iter(self._bitmaps))]
        return bitmap

    def _rasterise(self, text: str, look: Look) -> Bitmap:
        """The string as VTK's text renderer draws it for a ``vtkTextActor``."""
        prop = self._property
        prop.SetFontSize(look.font_size)
        prop.SetColor(*look.colour)
        prop.SetOpacity(look.opacity)
        prop.SetShadow(look.shadow)
        horizontal, vertical = ANCHORS[look.anchor]
        prop.SetJustification(horizontal)
        prop.SetVerticalJustification(vertical)
        dpi = self.renderer.GetVTKWindow().GetDPI()
        image = vtkImageData()
        if not self._text_renderer.RenderString(prop, text, image, [0, 0], dpi):
            raise RuntimeError(f"VTK could not rasterise the text {text!r}")
        box = [0, 0, 0, 0]
        self._text_renderer.GetBoundingBox(prop, text, box, dpi)
        width, height = box[1] - box[0] + 1, box[3] - box[2] + 1
        columns, rows, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(rows, columns, 4)
        self.rasterised += 1
        return Bitmap(pixels[:height, :width].copy(), box[0], box[2])


class PacedTexts:
    """Texts whose strings are rewritten on screen at most every ``min_interval_s`` of the
    window's clock (s): numbers changing faster than ~10 times a second cannot be read, and each
    rewrite is a texture upload, which makes Mesa's software renderer finish what it was
    drawing before the frame can go on. A change of colour or opacity (a breach, a label coming
    into the slab) is written at once, with the strings; ``flush`` writes the newest before a
    picture, so pictures and videos always show them.
    """

    def __init__(self, texts: list[SheetText], min_interval_s: float = 0.0) -> None:
        self.texts = texts
        self.min_interval_s = min_interval_s
        self._newest: list[tuple[str, Colour, float]] = []
        self._written: list[tuple[str, Colour, float]] | None = None
        self._written_at = -math.inf

    def show(self, values: list[tuple[str, Colour, float]], now_s: float) -> None:
        """Say ``values`` (string, colour, opacity), one for each of the first texts (the
        others blanked); on screen now if the last rewrite is ``min_interval_s`` old at
        ``now_s`` or a colour or opacity changed, else at the next rewrite or ``flush``."""
        self._newest = values[: len(self.texts)]
        written = self._written
        looks_changed = written is None or [v[1:] for v in written] != [v[1:] for v in self._newest]
        if looks_changed or now_s - self._written_at >= self.min_interval_s:
            self._write()
            self._written_at = now_s

    @property
    def newest(self) -> list[str]:
        """The newest strings, one for each text (blank ones included)."""
        return [value[0] for value in self._newest] + [""] * (len(self.texts) - len(self._newest))

    @property
    def pending(self) -> bool:
        """True when the newest strings are not on screen yet."""
        return self._written != self._newest

    def flush(self, now_s: float | None = None) -> None:
        """Put the newest strings on screen if they are not there yet: at once (``now_s``
        None, before a picture), or when the last rewrite is ``min_interval_s`` old at
        ``now_s`` (so the last numbers of a run that stops show within that time)."""
        if self.pending and (now_s is None or now_s - self._written_at >= self.min_interval_s):
            self._write()
            self._written_at = self._written_at if now_s is None else now_s

    def _write(self) -> None:
        for i, text in enumerate(self.texts):
            if i < len(self._newest):
                string, colour, opacity = self._newest[i]
                text.text = string
                text.set_colour(colour, opacity)
            else:
                text.text = ""
        self._written = self._newest
