"""A panel's text drawn as one actor (``TextSheet``): the same pixels as one ``vtkTextActor`` per
text, wherever the texts are and whatever they become (a window resized, a camera turned, a
text changed), and each string rasterised once."""

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import (
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkWindowToImageFilter,
)

from guidance.views.actors import ANCHORS, rgb
from guidance.views.rendering import prepare_rendering
from guidance.views.text_sheet import TextSheet

# (text, position: fractions of the panel, anchor, font size, colour)
PANEL_TEXTS = [
    ("axial", (0.02, 0.98), "top left", 14, "white"),
    ("L", (0.98, 0.5), "right", 18, (1.0, 0.85, 0.3)),
    ("A", (0.5, 0.98), "top", 18, (1.0, 0.85, 0.3)),
    ("P", (0.5, 0.02), "bottom", 18, (1.0, 0.85, 0.3)),
    ("stylus: missing\nreference: missing", (0.02, 0.02), "bottom left", 14, "red"),
]
# (text, point mm, anchor, font size, colour, opacity)
POINT_TEXTS = [
    ("T1 10 mm I", (10.3, 20.7, 0.0), "above", 11, "red", 0.65),
    ("F2", (-40.2, -33.3, 3.0), "above", 11, "deepskyblue", 1.0),
    ("5", (3.5, 3.5, 0.0), "centre", 12, "grey", 1.0),
]


BACKGROUND = (51, 76, 102)  # 0.2, 0.3, 0.4


class Panel:
    """A window of one panel (the top middle sixth, as a slice of the navigation window)
    showing the texts above either as one ``TextSheet`` or as one ``vtkTextActor`` each."""

    def __init__(self, sheet: bool, size: tuple[int, int] = (800, 600)) -> None:
        prepare_rendering(off_screen=True)
        self.window = vtkRenderWindow()
        self.window.SetOffScreenRendering(True)
        self.window.SetMultiSamples(0)
        self.window.SetSize(*size)
        self.renderer = vtkRenderer()
        self.renderer.SetViewport(1 / 3, 0.5, 2 / 3, 1.0)
        self.renderer.SetBackground(0.2, 0.3, 0.4)
        self.window.AddRenderer(self.renderer)
        camera = self.renderer.GetActiveCamera()
        camera.SetPosition(0.0, 0.0, 500.0)
        camera.SetFocalPoint(0.0, 0.0, 0.0)
        self.sheet = TextSheet(self.renderer) if sheet else None
        self.texts: list = []
        for text, position, anchor, size_pt, colour in PANEL_TEXTS:
            self.texts.append(self._add(text, position, anchor, size_pt, colour, False))
        for text, point, anchor, size_pt, colour, opacity in POINT_TEXTS:
            self.texts.append(self._add(text, point, anchor, size_pt, colour, True))
            self.set(-1, text, colour, opacity)

    def _add(self, text, where, anchor, font_size, colour, pinned):
        if self.sheet is not None:
            add = self.sheet.point_text if pinned else self.sheet.panel_text
            return add(text, where, anchor, font_size, colour)
        actor = vtkTextActor()
        actor.SetInput(text)
        prop = actor.GetTextProperty()
        prop.SetFontSize(font_size)
        prop.SetColor(rgb(colour))
        prop.SetShadow(pinned)
        prop.SetJustification(ANCHORS[anchor][0])
        prop.SetVerticalJustification(ANCHORS[anchor][1])
        coordinate = actor.GetPositionCoordinate()
        if pinned:
            coordinate.SetCoordinateSystemToWorld()
        else:
            coordinate.SetCoordinateSystemToNormalizedViewport()
        coordinate.SetValue(*where)
        self.renderer.AddViewProp(actor)
        return actor

    def set(self, index: int, text: str, colour="white", opacity: float = 1.0) -> None:
        item = self.texts[index]
        if self.sheet is not None:
            item.text = text
            item.set_colour(colour, opacity)
        else:
            item.SetInput(text)
            item.GetTextProperty().SetColor(rgb(colour))
            item.GetTextProperty().SetOpacity(opacity)

    def picture(self) -> np.ndarray:
        """Draw and grab the window: (H, W, 3) uint8, bottom row first."""
        self.window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, 3).copy()

    def close(self) -> None:
        self.window.Finalize()


@pytest.fixture
def panels():
    made = Panel(sheet=False), Panel(sheet=True)
    yield made
    for panel in made:
        panel.close()


def assert_same_pictures(panels) -> np.ndarray:
    actors, sheet = (panel.picture() for panel in panels)
    np.testing.assert_array_equal(sheet, actors)
    return sheet


def test_the_sheet_draws_the_pixels_text_actors_draw(panels):
    picture = assert_same_pictures(panels)
    # And there is text: the panel's pixels are not all background.
    panel = picture[300:, 267:533]
    assert (np.abs(panel.astype(int) - BACKGROUND).max(axis=-1) > 40).sum() > 500


def test_changed_texts_are_drawn_as_text_actors_draw_them(panels):
    assert_same_pictures(panels)
    for panel in panels:
        panel.set(5, "T1 9 mm I", "red", 0.65)  # a string of another width
        panel.set(0, "axial: stylus not tracked", "red")  # wider than any before
        panel.set(6, "F2\ntaller", "deepskyblue")  # taller than its row
        panel.set(3, "")  # not drawn
    assert_same_pictures(panels)


def test_text_follows_a_resized_window(panels):
    before = assert_same_pictures(panels)
    for panel in panels:
        panel.window.SetSize(1000, 500)
    after = assert_same_pictures(panels)
    assert after.shape == (500, 1000, 3)
    # The "L" at the panel's right edge (0.98 of its width) moved with it.
    for picture, (width, height) in ((before, (800, 600)), (after, (1000, 500))):
        middle = round(0.75 * height)  # of the panel, the window's top half
        band = picture[middle - 8 : middle + 8, : round(2 * width / 3)].astype(int)
        text = np.nonzero(np.abs(band - BACKGROUND).max(axis=(0, 2)) > 60)[0]
        assert text.max() + 1 == pytest.approx(width / 3 + 0.98 * width / 3, abs=1.0)


def test_pinned_text_follows_a_turned_camera(panels):
    assert_same_pictures(panels)
    for panel in panels:
        panel.renderer.GetActiveCamera().Azimuth(30.0)
        panel.renderer.GetActiveCamera().Zoom(1.5)
    assert_same_pictures(panels)


def test_a_string_shown_again_is_not_rasterised_again():
    panel = Panel(sheet=True)
    try:
        panel.picture()
        sheet = panel.sheet
        first = sheet.rasterised
        for distance in (11, 12, 11, 10, 12):
            panel.set(5, f"T1 {distance} mm I", "red", 0.65)
            panel.picture()
        assert sheet.rasterised == first + 2  # 11 and 12 mm; 10 mm was drawn at first
        panel.set(5, "T1 12 mm I", "red", 1.0)  # another opacity: another bitmap
        panel.picture()
        assert sheet.rasterised == first + 3
    finally:
        panel.close()


def test_the_sheet_keeps_at_most_its_cache_size_of_strings():
    prepare_rendering(off_screen=True)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    try:
        sheet = TextSheet(renderer, cache_size=2)
        text = sheet.panel_text("a", (0.5, 0.5))
        for value in ("a", "b", "c", "a"):  # "a" dropped when "c" came: rasterised again
            text.text = value
            window.Render()
        assert sheet.rasterised == 4
        assert len(sheet._bitmaps) == 2
    finally:
        window.Finalize()


def test_an_unknown_anchor_is_refused():
    sheet = TextSheet(vtkRenderer())
    with pytest.raises(ValueError, match="unknown anchor 'middle'"):
        sheet.panel_text("x", (0.5, 0.5), anchor="middle")


def _drawn_boxes(labels: list[tuple[str, tuple[float, float, float]]]) -> np.ndarray:
    """The pinned ``labels`` (text, point mm) drawn by a sheet in an 800 x 600 panel looking down
    at them from 500 mm: each one's quad as its actor draws it (x0, y0, x1, y1 px)."""
    prepare_rendering(off_screen=True)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(800, 600)
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    renderer.GetActiveCamera().SetPosition(0.0, 0.0, 500.0)
    try:
        sheet = TextSheet(renderer)
        for text, point in labels:
            sheet.point_text(text, point, font_size=11, colour="deepskyblue")
        window.Render()
        quads = sheet.actor.GetMapper().GetInput().GetPoints().GetData()
        corners = vtk_to_numpy(quads).reshape(-1, 4, 3)[:, :, :2]
        return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    finally:
        window.Finalize()


def test_labels_pinned_close_together_are_drawn_one_above_the_other():
    """Two fiducials 1 mm apart on a slice: the second label moves up by its own height instead
    of covering the first; the first, and a label far from both, stay where a vtkTextActor would
    put them (their boxes are those of the labels drawn without the second)."""
    first, second, far = (
        ("F4 30 mm P", (0.0, 0.0, 0.0)),
        ("F6 44 mm A", (1.0, 0.5, 0.0)),
        (
            "F1 3 mm A",
            (60.0, 40.0, 0.0),
        ),
    )
    together = _drawn_boxes([first, second, far])
    apart = _drawn_boxes([first, far])
    alone = _drawn_boxes([second])[0]
    np.testing.assert_array_equal(together[[0, 2]], apart)
    height = alone[3] - alone[1]
    lifted = alone + np.array([0.0, 1.0, 0.0, 1.0]) * (height + 1)
    np.testing.assert_array_equal(together[1], lifted)
    a, b = together[0], together[1]
    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]  # they do not overlap
    # Drawn where they belong, the two would overlap: the move was needed.
    assert not (a[2] <= alone[0] or alone[2] <= a[0] or a[3] <= alone[1] or alone[3] <= a[1])
