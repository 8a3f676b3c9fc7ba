"""The meshes the views draw (the CT's geometry, a tool ending at its tip), the colours they are
drawn in, and the rendering check (the window itself: test_navigation_window.py)."""

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkRenderer

from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import RenderingUnavailable
from guidance.orientation import SLICE_VIEWS
from guidance.views import check_rendering
from guidance.views.actors import rgb
from guidance.views.models import grey_image, tool_mesh
from guidance.views.slice_image import SliceImage


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    """A 1 mm ball phantom: 1200 HU shell of radius 34-40 mm around 40 HU, air outside."""
    z, y, x = np.mgrid[:64, :64, :64] - 31.5
    radius = np.sqrt(x * x + y * y + z * z)
    hu = np.where(radius < 34, 40, np.where(radius < 40, 1200, -1000)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetOrigin((-31.5, -31.5, -31.5))
    return image


def test_the_grey_image_keeps_the_ct_geometry_and_maps_the_window_to_bytes(ct):
    oblique = sitk.Image(ct)
    oblique.SetSpacing((0.5, 0.8, 1.2))
    oblique.SetOrigin((10.0, -20.0, 30.0))
    # The window 1800 HU wide at 300 HU: -600 HU and below are 0, 1200 HU and above are 255.
    grid = grey_image(oblique, 1800.0, 300.0)
    assert grid.point_data["grey"].dtype == np.uint8
    for index, grey in (((0, 0, 0), 0), ((5, 17, 40), 91), ((5, 5, 31), 255)):
        physical = np.array(oblique.TransformIndexToPhysicalPoint(index))
        point_id = grid.find_closest_point(physical)
        np.testing.assert_allclose(grid.points[point_id], physical, atol=1e-9)
        assert grid.point_data["grey"][point_id] == grey  # 40 HU: 640 / 1800 * 255 = 90.7


def test_grey_levels_are_rounded_to_the_nearest_and_clipped():
    hu = np.array([[[-1000, -500, -499, -1, 0, 1, 499, 500, 3000]]], dtype=np.int16)
    grey = grey_image(sitk.GetImageFromArray(hu), 1000.0, 0.0).point_data["grey"]
    # (HU + 500) * 255 / 1000, rounded: -499 -> 0.255 -> 0, -1 -> 127.2, 1 -> 127.8 -> 128.
    assert grey.tolist() == [0, 0, 0, 127, 128, 128, 255, 255, 255]


def _oriented_ct(direction: np.ndarray) -> sitk.Image:
    """A 7 x 6 x 5 CT whose voxels are numbered 1, 2, ... (in HU), with ``direction``."""
    hu = np.arange(1, 7 * 6 * 5 + 1, dtype=np.int16).reshape(5, 6, 7)
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((0.8, 1.1, 1.5))
    image.SetOrigin((3.0, -4.0, 5.0))
    image.SetDirection(direction.ravel().tolist())
    return image


@pytest.mark.parametrize(
    "direction",
    [
        np.eye(3),
        np.diag([-1.0, 1.0, -1.0]),
        np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    ],
    ids=["identity", "flipped", "permuted"],
)
@pytest.mark.parametrize("view", SLICE_VIEWS, ids=lambda v: v.name)
def test_a_slice_image_samples_the_voxels_of_its_voxel_slice(direction, view):
    """Every sample of a slice on a voxel plane is a voxel centre of the CT, with its grey
    level, and its texel's centre is drawn on that voxel centre: the slice shows the voxels
    where they are, not values interpolated between them, whatever the CT's orientation."""
    ct = _oriented_ct(direction)
    grey = grey_image(ct, 255.0, 127.5)  # grey level = HU: each voxel's number
    image = SliceImage(vtkRenderer(), grey, view.normal, view.right, view.up)
    depth_voxel = (3, 2, 1)
    image.move_to(ct.TransformIndexToPhysicalPoint(depth_voxel))
    image.reslice.Update()
    output = image.reslice.GetOutput()
    samples = vtk_to_numpy(output.GetPointData().GetScalars())
    extent, dimensions = output.GetExtent(), output.GetDimensions()
    quad = image.actor.GetMapper().GetInputAlgorithm()  # texture (0, 0), (1, 0), (0, 1) there
    corner, along_s, along_t = (
        np.array(p) for p in (quad.GetOrigin(), quad.GetPoint1(), quad.GetPoint2())
    )
    along_s, along_t = along_s - corner, along_t - corner
    corner = corner + np.array(image.actor.GetPosition())
    across = int(np.argmax(np.abs(np.reshape(direction, (3, 3)).T @ np.asarray(view.normal))))
    seen = 0
    for sample, value in enumerate(samples):
        i, j, _ = np.array(output.GetPoint(sample)) / np.array(output.GetSpacing())
        point = image.origin_mm + (i * output.GetSpacing()[0]) * view.right
        point = point + (j * output.GetSpacing()[1]) * np.asarray(view.up)
        texel_s = (i - extent[0] + 0.5) / dimensions[0]
        texel_t = (j - extent[2] + 0.5) / dimensions[1]
        drawn = corner + texel_s * along_s + texel_t * along_t
        np.testing.assert_allclose(drawn, point, atol=1e-9)
        index = np.array(ct.TransformPhysicalPointToContinuousIndex(point))
        np.testing.assert_allclose(index, np.round(index), atol=1e-6)
        inside = np.all((np.round(index) >= 0) & (np.round(index) < ct.GetSize()))
        if inside:
            voxel = tuple(int(v) for v in np.round(index))
            assert voxel[across] == depth_voxel[across]
            assert value == ct[voxel]
            seen += 1
        else:
            assert value == 0
    assert seen == np.prod(ct.GetSize()) // ct.GetSize()[across]  # the whole voxel slice


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
