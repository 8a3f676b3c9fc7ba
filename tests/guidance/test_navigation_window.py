"""The off-screen navigation window on a small scene with real navigation states: pixels of the
picture (the cross-hair follows the tip, the text panel changes, a missing tool is not drawn),
the slab rule for targets, the structures' outlines, and nothing rebuilt per frame."""

import itertools

import imageio.v2 as imageio_v2
import imageio.v3 as imageio
import numpy as np
import pytest
from vtkmodules.vtkRenderingCore import vtkCoordinate

from devices.frame import PoseStatus
from guidance.exceptions import GuidanceError
from guidance.views import NavigationWindow, ViewSettings, write_video
from guidance.views.slices import FADED_OPACITY
from tests.guidance.views_scene import (
    TOOLS,
    navigator,
    skin,
    small_scene,
    state_at,
    stylus_pose,
)

SIZE = (900, 600)
YELLOW_MIN = (220, 235, 0)
YELLOW_MAX = (255, 255, 60)


class FakeTime:
    """A clock the tests move by hand (s)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def scene():
    return small_scene()


@pytest.fixture(scope="module")
def navigation(scene):
    return navigator(scene)


@pytest.fixture(scope="module")
def clock():
    return FakeTime()


@pytest.fixture(scope="module")
def window(scene, navigation, clock):
    settings = ViewSettings(window_size=SIZE)
    with NavigationWindow(scene, skin(), TOOLS, navigation.plan, settings, now=clock) as made:
        yield made


def _display_xy(renderer, point_mm) -> tuple[float, float]:
    """Pixel (column, row from the top) where ``point_mm`` is drawn by ``renderer``."""
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    coordinate.SetValue(*(float(v) for v in point_mm))
    x, y = coordinate.GetComputedDoubleDisplayValue(renderer)
    return x, SIZE[1] - 1 - y


def _panel(pixels: np.ndarray, renderer) -> tuple[np.ndarray, int, int]:
    """The pixels of ``renderer``'s panel and its top-left corner (column, row)."""
    x0, y0, x1, y1 = renderer.GetViewport()
    width, height = SIZE
    top, bottom = round((1 - y1) * height), round((1 - y0) * height)
    left, right = round(x0 * width), round(x1 * width)
    return pixels[top:bottom, left:right], left, top


def _yellow_centre(pixels: np.ndarray, renderer) -> np.ndarray:
    """Where the cross-hair's arms cross in a panel (window pixels): the column holding most of
    its yellow pixels (the vertical arms) and the row holding most (the horizontal arms), so
    that labels or lines drawn over a part of an arm do not move it."""
    panel, left, top = _panel(pixels, renderer)
    mask = np.all((panel >= YELLOW_MIN) & (panel <= YELLOW_MAX), axis=2)
    assert mask.sum() > 20, "no cross-hair drawn"
    rows, columns = np.nonzero(mask)
    centre = []
    for values in (columns, rows):
        counts = np.bincount(values)
        peak = int(np.argmax(counts))
        near = np.arange(max(peak - 1, 0), min(peak + 2, len(counts)))
        centre.append(float(np.average(near, weights=counts[near])))
    return np.array([centre[0] + left, centre[1] + top])


def test_picture_has_the_window_size_and_is_not_blank(window, navigation):
    window.show(state_at(navigation, np.array([5.0, 5.0, 5.0])))
    pixels = window.screenshot()
    assert pixels.shape == (SIZE[1], SIZE[0], 3)
    assert pixels.dtype == np.uint8
    assert pixels.std() > 20.0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200


def test_the_cross_hair_follows_the_tip_on_every_slice(window, navigation):
    first, second = np.array([12.0, -6.0, 10.0]), np.array([-3.0, 1.0, -6.0])
    centres = []
    for tip in (first, second):
        window.show(state_at(navigation, tip))
        pixels = window.screenshot()
        for name, panel in window.slice_panels.items():
            centre = _yellow_centre(pixels, panel.renderer)
            expected = _display_xy(panel.renderer, tip)
            np.testing.assert_allclose(centre, expected, atol=1.5, err_msg=name)
        centres.append(_yellow_centre(pixels, window.slice_panels["axial"].renderer))
    # Axial, radiological: the tip moved 15 mm to the patient's right (screen left) and 7 mm
    # posterior (screen down): on screen, left and down by those mm at the panel's scale.
    camera = window.slice_panels["axial"].renderer.GetActiveCamera()
    mm_per_pixel = 2.0 * camera.GetParallelScale() / (SIZE[1] / 2)
    np.testing.assert_allclose(
        (centres[1] - centres[0]) * mm_per_pixel, [-15.0, 7.0], atol=2 * mm_per_pixel
    )


def test_the_text_panel_changes_with_the_numbers(window, navigation, clock):
    renderer = window.renderers["status"]
    clock.now = 10.0
    window.show(state_at(navigation, np.array([5.0, 5.0, 25.0]), number=1))
    before_text = list(window.status.texts)
    before = _panel(window.screenshot(), renderer)[0]
    clock.now = 10.05
    window.show(state_at(navigation, np.array([0.0, 10.0, -8.0]), number=2))
    after_text = list(window.status.texts)
    after = _panel(window.screenshot(), renderer)[0]
    assert "target T1: 20.0 mm" in before_text
    assert "avoid vessel: INSIDE" in after_text
    assert "frame 2 at 0.04 s, view 20 fps, latency 15 ms" in after_text
    changed = np.any(before != after, axis=2)
    assert changed.sum() > 200
    # Some changed pixels of the panel are red: the breach is written in red.
    red = (after[..., 0] > 200) & (after[..., 1] < 80) & (after[..., 2] < 80)
    assert (red & changed).sum() > 30


def test_a_missing_tool_is_not_drawn_and_is_named(window, navigation):
    renderer = window.renderers["3d"]
    tip = np.array([5.0, 5.0, 5.0])
    shaft = tip + np.array([0.0, 0.0, 45.0])  # on the stylus shaft, above the ball
    window.show(state_at(navigation, tip))
    column, row = (round(v) for v in _display_xy(renderer, shaft))
    assert 0 <= row < SIZE[1] / 2 and 0 <= column < SIZE[0] / 3  # in the 3D panel
    seen = window.screenshot()[row, column].astype(int)
    assert seen.min() > 90 and np.ptp(seen) < 10, f"the stylus should be drawn silver: {seen}"
    window.show(state_at(navigation, tip, stylus=PoseStatus.MISSING))
    gone = window.screenshot()[row, column].astype(int)
    assert gone.max() < 30, f"a missing stylus must not be drawn; got {gone}"
    assert not window.scene_panel.tools["stylus"].GetVisibility()
    assert window.scene_panel.tools["reference"].GetVisibility()
    assert window.scene_panel.missing.text == "stylus: missing"
    for panel in window.slice_panels.values():
        assert not panel.crosshair.GetVisibility()
        assert panel.title.text.endswith("stylus not tracked")
    assert not window.bullseye.tip_marker.GetVisibility()


def test_a_missing_reference_hides_every_tool(window, navigation):
    window.show(state_at(navigation, np.zeros(3), reference=PoseStatus.MISSING))
    assert not any(actor.GetVisibility() for actor in window.scene_panel.tools.values())
    assert window.scene_panel.missing.text == "stylus: missing\nreference: missing"


def test_targets_are_drawn_in_full_only_within_the_slab(window, navigation):
    labels = {name: panel.labels[0] for name, panel in window.slice_panels.items()}  # T1
    window.show(state_at(navigation, np.array([5.0, 5.0, 5.0 + 1.5])))  # within 2 mm of T1
    assert {name: label.text for name, label in labels.items()} == {
        "axial": "T1",
        "coronal": "T1",
        "sagittal": "T1",
    }
    window.show(state_at(navigation, np.array([5.0, -7.0, 15.0])))
    assert labels["axial"].text == "T1 10 mm I"  # T1 lies 10 mm inferior to this slice
    assert labels["coronal"].text == "T1 12 mm P"
    assert labels["sagittal"].text == "T1"
    assert labels["axial"].opacity < 1.0
    assert labels["sagittal"].opacity == 1.0
    rings = {name: panel.rings for name, panel in window.slice_panels.items()}
    assert rings["axial"].opacities[0] == pytest.approx(FADED_OPACITY, abs=1 / 255)
    assert rings["sagittal"].opacities[0] == 1.0
    # T1's ring lies on the slice: T1 projected along the normal, the actor moved to the tip.
    ring_points = np.asarray(rings["axial"].actor.GetMapper().GetInput().GetPoints().GetData())
    centre = ring_points[: len(ring_points) // len(window.slice_panels["axial"].labels)].mean(0)
    drawn = centre + np.asarray(rings["axial"].actor.position)
    np.testing.assert_allclose(drawn[:2], [5.0, 5.0], atol=1e-9)  # T1 at (5, 5, 5)


def _cut_points(window, name: str) -> np.ndarray:
    window.render()
    cut = window.slice_panels[name].outline.cutter.GetOutput()
    return np.array([cut.GetPoint(i) for i in range(cut.GetNumberOfPoints())]).reshape(-1, 3)


def test_structures_are_outlined_where_the_slice_cuts_them(window, navigation):
    """The vessel runs along x at y = 10, z = -8: the sagittal slice cuts it across (a circle of
    its radius), the axial slice at z = -8 along (its two sides), an axial slice above misses."""
    window.show(state_at(navigation, np.array([0.0, 0.0, -8.0])))
    across = _cut_points(window, "sagittal")
    assert len(across) >= 24
    np.testing.assert_allclose(across[:, 0], 0.0, atol=1e-9)
    # On the 24-sided tube: between its facets' inner radius (3 cos(pi/24) mm) and 3 mm.
    radii = np.hypot(across[:, 1] - 10.0, across[:, 2] + 8.0)
    assert np.all((radii > 3.0 * np.cos(np.pi / 24) - 1e-9) & (radii < 3.0 + 1e-9))
    along = _cut_points(window, "axial")
    np.testing.assert_allclose(along[:, 2], -8.0, atol=1e-9)
    assert np.all(np.abs(np.abs(along[:, 1] - 10.0) - 2.99) < 0.03)
    assert np.ptp(along[:, 0]) == pytest.approx(50.0)
    window.show(state_at(navigation, np.array([0.0, 0.0, 20.0])))
    assert len(_cut_points(window, "axial")) == 0


def test_a_plane_beyond_the_structures_is_not_cut_again(window, navigation):
    """The vessel spans z in [-11, -5] mm: an axial plane above it cuts nothing, so the plane
    is moved (and the cut recomputed) once when it leaves the vessel, then not again until it
    comes back."""
    outline = window.slice_panels["axial"].outline
    window.show(state_at(navigation, np.array([0.0, 0.0, -8.0])))
    assert len(_cut_points(window, "axial")) > 0
    window.show(state_at(navigation, np.array([0.0, 0.0, 20.0])))
    assert len(_cut_points(window, "axial")) == 0
    cut_at = outline.cutter.GetOutput().GetMTime()
    window.show(state_at(navigation, np.array([1.0, 2.0, 25.0])))
    assert len(_cut_points(window, "axial")) == 0
    assert outline.cutter.GetOutput().GetMTime() == cut_at  # not cut again
    window.show(state_at(navigation, np.array([0.0, 0.0, -6.0])))
    along = _cut_points(window, "axial")
    np.testing.assert_allclose(along[:, 2], -6.0, atol=1e-9)


def test_the_bullseye_shows_the_tip_at_its_offset_from_the_trajectory(window, navigation):
    state = state_at(navigation, np.array([7.0, 3.0, 20.0]), np.array([0.1, 0.0, -1.0]))
    window.show(state)
    tip = np.asarray(window.bullseye.tip_marker.position)[:2]
    assert np.linalg.norm(tip) == pytest.approx(state.trajectory.lateral_offset_mm, abs=1e-9)
    assert window.bullseye.reach_marker.GetVisibility()
    window.screenshot()  # the newest numbers (see the next tests)
    assert "to go 15.0 mm" in window.bullseye.numbers.text


def test_showing_moves_things_and_adds_nothing(window, navigation):
    def props():
        return {name: r.GetViewProps().GetNumberOfItems() for name, r in window.renderers.items()}

    window.show(state_at(navigation, np.array([5.0, 5.0, 5.0])))
    counts, planes = props(), [p.outline.plane for p in window.slice_panels.values()]
    tip = np.array([-3.0, 9.0, -7.0])  # in the vessel: every plane meets it
    window.show(state_at(navigation, tip))
    assert props() == counts
    for panel, plane in zip(window.slice_panels.values(), planes, strict=True):
        assert panel.outline.plane is plane
        np.testing.assert_allclose(plane.GetOrigin(), tip)
    stylus = window.scene_panel.tools["stylus"]
    np.testing.assert_allclose(np.asarray(stylus.user_matrix), stylus_pose(tip), atol=1e-12)


def test_the_slices_show_the_voxel_slice_nearest_to_the_tip(window, navigation, scene):
    """The CT is resampled on the voxel plane nearest to the tip (within half a voxel, through
    voxel centres), and not again while the tip stays within that voxel slice."""
    spacing = np.array(scene.ct.GetSpacing())
    origin = np.array(scene.ct.GetOrigin())
    voxel_centre = origin + np.round((np.array([-3.0, 4.0, 2.0]) - origin) / spacing) * spacing
    tip = voxel_centre + 0.3 * spacing
    window.show(state_at(navigation, tip))
    window.render()
    for panel in window.slice_panels.values():
        normal = np.asarray(panel.view.normal)
        axis = int(np.argmax(np.abs(normal)))
        on_slice = panel.image.origin_mm
        index = (on_slice[axis] - origin[axis]) / spacing[axis]
        assert index == pytest.approx(round(index), abs=1e-9)
        assert abs((tip - on_slice) @ normal) <= spacing[axis] / 2 + 1e-9

    def resampled():
        return {n: p.image.reslice.GetOutput().GetMTime() for n, p in window.slice_panels.items()}

    before = resampled()
    window.show(state_at(navigation, tip + 0.1 * spacing))  # the same voxel slices
    window.render()
    assert resampled() == before
    window.show(state_at(navigation, tip + 0.6 * spacing))  # the next ones
    window.render()
    assert all(resampled()[name] > before[name] for name in before)


@pytest.mark.parametrize("view", ["axial", "coronal", "sagittal"])
def test_a_slice_shows_the_ct_grey_levels_where_they_are(window, navigation, view):
    """On each slice through the ball's centre, a point in the 40 HU inside and one in the
    1200 HU shell are drawn in their grey levels through the window (HU -600..1200 to 0..255:
    91 and 255), each in its place on the screen."""
    window.show(state_at(navigation, np.array([0.0, 0.0, 0.0])))
    pixels = window.screenshot()
    panel = window.slice_panels[view]
    diagonal = panel.view.right + np.asarray(panel.view.up)  # away from the overlays
    for point, grey in ((12.0 * diagonal, 91), (-26.2 * diagonal, 255)):
        column, row = (round(v) for v in _display_xy(panel.renderer, point))
        np.testing.assert_array_equal(pixels[row, column], [grey, grey, grey])


def test_the_numbers_are_rewritten_at_most_at_numbers_hz_and_always_in_pictures(
    window, navigation, clock
):
    """Numbers changing within 1/numbers_hz stay on screen as they were (the panel says the new
    ones), a picture shows the newest, and a change of colour (a breach) shows at once."""
    period = 1.0 / window.settings.numbers_hz
    clock.now = 20.0
    window.show(state_at(navigation, np.array([5.0, 5.0, 25.0]), number=1))
    assert window.status.on_screen == window.status.texts
    first = list(window.status.on_screen)
    clock.now = 20.0 + 0.5 * period
    window.show(state_at(navigation, np.array([5.0, 5.0, 24.0]), number=2))
    assert window.status.on_screen == first
    assert "target T1: 19.0 mm" in window.status.texts
    window.render()  # not due yet
    assert window.status.on_screen == first
    clock.now = 20.0 + 1.01 * period
    window.render()  # due: the numbers of a run that stopped there are shown
    assert window.status.on_screen == window.status.texts
    clock.now = 20.0 + 1.1 * period
    window.show(state_at(navigation, np.array([5.0, 5.0, 23.0]), number=3))
    assert window.status.on_screen != window.status.texts
    window.screenshot()
    assert window.status.on_screen == window.status.texts
    clock.now = 20.0 + 1.2 * period
    window.show(state_at(navigation, np.array([0.0, 10.0, -8.0]), number=4))  # in the vessel
    assert "avoid vessel: INSIDE" in window.status.on_screen
    clock.now = 20.0 + 2.3 * period
    window.show(state_at(navigation, np.array([0.0, 10.0, -7.0]), number=5))  # still inside
    assert window.status.on_screen == window.status.texts


def test_label_distances_are_rewritten_at_most_at_numbers_hz_and_always_in_pictures(
    window, navigation, clock
):
    """A label's distance from the slice (and the alignment view's numbers) changing within
    1/numbers_hz stays on screen as it was; a label coming into the slab (full colour) shows at
    once; a picture shows the newest."""
    period = 1.0 / window.settings.numbers_hz
    axial = window.slice_panels["axial"]
    clock.now = 40.0
    window.show(state_at(navigation, np.array([5.0, -7.0, 15.0])))
    assert axial.labels[0].text == "T1 10 mm I"
    numbers = window.bullseye.numbers.text
    clock.now = 40.0 + 0.5 * period
    window.show(state_at(navigation, np.array([5.0, -7.0, 14.0])))
    window.render()  # not due yet
    assert axial.labels[0].text == "T1 10 mm I"
    assert axial.paced_labels.newest[0] == "T1 9 mm I"
    assert window.bullseye.numbers.text == numbers
    clock.now = 40.0 + 1.01 * period
    window.render()  # due
    assert axial.labels[0].text == "T1 9 mm I"
    assert window.bullseye.numbers.text != numbers
    clock.now = 40.0 + 1.1 * period
    window.show(state_at(navigation, np.array([5.0, -7.0, 13.0])))
    assert axial.labels[0].text == "T1 9 mm I"
    window.screenshot()
    assert axial.labels[0].text == "T1 8 mm I"
    clock.now = 40.0 + 1.2 * period
    window.show(state_at(navigation, np.array([5.0, -7.0, 6.0])))  # T1 within 2 mm: at once
    assert axial.labels[0].text == "T1"
    assert axial.labels[0].opacity == 1.0


def test_save_writes_the_picture_as_png(window, navigation, tmp_path):
    window.show(state_at(navigation, np.array([5.0, 5.0, 5.0])))
    path = window.save(tmp_path / "view.png")
    np.testing.assert_array_equal(imageio.imread(path), window.screenshot())


def test_rejects_a_tiny_window():
    with pytest.raises(GuidanceError, match="at least 300 x 200 pixels"):
        ViewSettings(window_size=(100, 100))


def test_rejects_rings_out_of_order():
    with pytest.raises(GuidanceError, match="increasing positive radii"):
        ViewSettings(bullseye_rings_mm=(5.0, 2.0))


def _moving_states(navigation, count: int, rate_hz: float):
    """``count`` states of the tip sliding 1 mm per frame along x, ``rate_hz`` frames per s."""
    return [
        state_at(navigation, np.array([-20.0 + i, 4.0, 6.0]), number=i, timestamp=i / rate_hz)
        for i in range(count)
    ]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_video_of_a_run_has_a_frame_per_tick_of_its_pace(window, navigation, tmp_path, suffix):
    """40 states at 50 Hz (0.78 s) at 10 frames per second: ticks at 0, 0.1, ... 0.7 s."""
    path = tmp_path / f"run{suffix}"
    count = write_video(window, _moving_states(navigation, 40, 50.0), path, fps=10.0)
    assert count == 8
    reader = imageio_v2.get_reader(path)
    frames = [np.asarray(frame)[..., :3] for frame in reader]
    reader.close()
    assert len(frames) == 8
    assert all(frame.shape == (SIZE[1], SIZE[0], 3) for frame in frames)
    # Each frame shows the tip 5 mm further on: the slices' cross-hairs move, so frames differ.
    for before, after in itertools.pairwise(frames):
        assert np.abs(before.astype(int) - after).mean() > 0.2
    # The last frame is the state at 0.7 s (frame 35): the window's last picture.
    assert "frame 35 at 0.70 s" in "\n".join(window.status.texts)


def test_rejects_an_opacity_above_one():
    with pytest.raises(GuidanceError, match=r"surface_opacity must be in \[0, 1\]"):
        ViewSettings(surface_opacity=1.5)


def test_notes_go_above_the_numbers_and_follow_a_video(scene, navigation, tmp_path):
    """An exercise's notes (``note_lines`` reserved at the top of the text panel) in their own
    colour, the numbers below them; a video asks for the notes with each state it draws."""
    settings = ViewSettings(window_size=SIZE)
    with NavigationWindow(scene, skin(), TOOLS, navigation.plan, settings, note_lines=2) as noted:
        state = state_at(navigation, np.array([5.0, 5.0, 5.0]))
        noted.show(state, ["step 1 of 3", "hold the tip still on F1"])
        texts = noted.status.texts
        assert texts[:2] == ["step 1 of 3", "hold the tip still on F1"]
        assert texts[2].startswith("tools: ")
        assert any(text.startswith("frame ") for text in texts)  # nothing pushed out
        panel, _, _ = _panel(noted.screenshot(), noted.renderers["status"])
        blue = np.abs(panel.astype(int) - [135, 206, 250]).max(axis=2) < 30
        assert blue.sum() > 30  # lightskyblue notes
        noted.show(state)
        assert noted.status.texts[0].startswith("tools: ")
        asked = []

        def notes() -> list[str]:
            asked.append(len(asked))
            return [f"note {len(asked)}"]

        count = write_video(
            noted, _moving_states(navigation, 20, 50.0), tmp_path / "n.gif", 10.0, notes
        )
        assert len(asked) == count == 4
        assert noted.status.texts[0] == "note 4"
