"""The demo's still picture (``NavigationView``) on a small synthetic CT and sphere, the meshes
the views draw (the CT's geometry, a tool ending at its tip), and the rendering check."""

import numpy as np
import pytest
import pyvista as pv
import SimpleITK as sitk

from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError, RenderingUnavailable
from guidance.navigator import NavigationState
from guidance.views import NavigationView, StillSettings, check_rendering
from guidance.views.models import image_data, tool_mesh
from registration.transforms import make_rigid

MARKERS = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 45.0], [0.0, 30.0, 95.0], [0.0, -30.0, 125.0]])
TIP = np.array([0.0, 0.0, -95.0])
FIDUCIALS = np.array([[40.0, 0.0, 0.0], [0.0, -40.0, 0.0], [0.0, 0.0, 40.0]])
TARGETS = np.array([[5.0, 5.0, 5.0], [-10.0, 0.0, 8.0]])
SMALL = StillSettings(window_size=(400, 300), slice_half_height_mm=50.0)


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    """A 1 mm ball phantom: 1200 HU shell of radius 34-40 mm around 40 HU, air outside."""
    z, y, x = np.mgrid[:64, :64, :64] - 31.5
    radius = np.sqrt(x * x + y * y + z * z)
    hu = np.where(radius < 34, 40, np.where(radius < 40, 1200, -1000)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetOrigin((-31.5, -31.5, -31.5))
    return image


def _state(tip_mm: np.ndarray, tracked: bool = True) -> NavigationState:
    pose = make_rigid(np.eye(3), tip_mm - TIP) if tracked else np.full((4, 4), np.nan)
    tip = tip_mm if tracked else np.full(3, np.nan)
    return NavigationState(
        timestamp=0.0,
        frame_number=0,
        tracked=tracked,
        tools={},
        image_from_stylus=pose,
        tip_mm=tip,
        axis=np.array([0.0, 0.0, -1.0]),
        target_distances_mm=np.zeros(2),
        active_target=None,
        trajectory=None,
        structure_distances_mm=np.zeros(0),
    )


@pytest.fixture(scope="module")
def view(ct):
    sphere = pv.Sphere(radius=40.0, theta_resolution=24, phi_resolution=24)
    with NavigationView(ct, sphere, FIDUCIALS, TARGETS, MARKERS, TIP, SMALL) as navigation_view:
        yield navigation_view


def test_image_data_keeps_the_ct_geometry_and_values(ct):
    oblique = sitk.Image(ct)
    oblique.SetSpacing((0.5, 0.8, 1.2))
    oblique.SetOrigin((10.0, -20.0, 30.0))
    grid = image_data(oblique)
    index = (5, 17, 40)
    physical = np.array(oblique.TransformIndexToPhysicalPoint(index))
    point_id = grid.find_closest_point(physical)
    np.testing.assert_allclose(grid.points[point_id], physical, atol=1e-9)
    assert grid.point_data["HU"][point_id] == oblique[index]


def test_picture_is_not_blank(view):
    view.show(_state(np.array([5.0, 5.0, 5.0])), "tip on T1")
    pixels = view.screenshot()
    assert pixels.shape == (300, 400, 3)
    assert pixels.std() > 20.0
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_show_moves_the_stylus_and_the_planes_in_place(view):
    stylus_actor = view._stylus
    first = np.array([5.0, 5.0, 5.0])
    view.show(_state(first))
    before = view.screenshot()
    second = np.array([-10.0, 0.0, 8.0])
    view.show(_state(second))
    assert view._stylus is stylus_actor
    np.testing.assert_allclose(np.asarray(view._stylus.user_matrix)[:3, 3], second - TIP)
    for plane in view._planes:
        np.testing.assert_allclose(plane.GetOrigin(), second)
    assert np.abs(view.screenshot().astype(int) - before).sum() > 0


def test_a_lost_stylus_is_hidden(view):
    view.show(_state(np.zeros(3), tracked=False))
    assert not view._stylus.GetVisibility()
    view.show(_state(np.zeros(3)))
    assert view._stylus.GetVisibility()


def test_the_stylus_model_ends_at_the_tip():
    """The lowest point along the shaft is the tip, within the shaft's 1.5 mm radius."""
    stylus = BUILTIN_TOOLS["stylus"]
    along_shaft = np.asarray(tool_mesh(stylus).points)[:, 2]
    assert along_shaft.min() == pytest.approx(stylus.tip_mm[2], abs=1.5)


def test_rendering_check_passes_on_this_machine():
    check_rendering()


def test_rendering_check_names_the_packages_when_egl_is_missing():
    with pytest.raises(RenderingUnavailable, match="apt-get install libegl1 libgl1-mesa-dri"):
        check_rendering(egl_library="gestes-no-such-egl")


def test_rendering_check_names_the_packages_when_mesa_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("LIBGL_DRIVERS_PATH", raising=False)
    with pytest.raises(RenderingUnavailable, match="libgl1-mesa-dri"):
        check_rendering(dri_folders=(tmp_path,))


def test_rejects_a_tiny_window():
    with pytest.raises(GuidanceError, match="at least 200 x 150 pixels"):
        StillSettings(window_size=(100, 100))
