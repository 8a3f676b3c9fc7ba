"""The meshes the views draw (the CT's geometry, a tool ending at its tip), the colours they are
drawn in, and the rendering check (the window itself: test_navigation_window.py)."""

import numpy as np
import pytest
import SimpleITK as sitk

from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import RenderingUnavailable
from guidance.views import check_rendering
from guidance.views.actors import rgb
from guidance.views.models import image_data, tool_mesh


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    """A 1 mm ball phantom: 1200 HU shell of radius 34-40 mm around 40 HU, air outside."""
    z, y, x = np.mgrid[:64, :64, :64] - 31.5
    radius = np.sqrt(x * x + y * y + z * z)
    hu = np.where(radius < 34, 40, np.where(radius < 40, 1200, -1000)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetOrigin((-31.5, -31.5, -31.5))
    return image


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


def test_colours_are_css_names_or_rgb():
    assert rgb("lightskyblue") == pytest.approx((135 / 255, 206 / 255, 250 / 255))
    assert rgb((0.1, 0.2, 0.3)) == (0.1, 0.2, 0.3)
    with pytest.raises(ValueError, match="unknown colour name 'blurple'"):
        rgb("blurple")
