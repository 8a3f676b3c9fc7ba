"""The predicted-TRE map: its values are the prediction at the LPS point of each pixel, its planes
face the viewer as the navigation views do, and the picture is a real PNG."""

import io

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import image as mpimg

from guidance.exceptions import ReportError
from guidance.reports.tre_map import (
    FleModel,
    TreMapSettings,
    compute_tre_map,
    render_tre_map,
    tre_map_png,
)
from registration.tre import predict_tre_rms, predict_tre_rms_anisotropic

SPACING_MM = 2.0
ORIGIN_MM = np.array([-80.0, -90.0, -60.0])
SIZE = (81, 91, 61)  # voxel centres from -80 to 80 (x), -90 to 90 (y), -60 to 60 (z), LPS mm
FIDUCIALS = np.array(
    [[50.0, 10.0, 20.0], [-40.0, 30.0, -10.0], [0.0, -60.0, 15.0], [10.0, 20.0, 45.0]]
)
LABELS = ("F1", "F2", "F3", "F4")


def _ct(beads_mm: np.ndarray | None = None) -> sitk.Image:
    """A water box (0 HU) with 2000 HU beads at the given LPS points (nearest voxel)."""
    array = np.zeros(SIZE[::-1], dtype=np.int16)
    for bead in np.empty((0, 3)) if beads_mm is None else np.atleast_2d(beads_mm):
        i, j, k = np.round((bead - ORIGIN_MM) / SPACING_MM).astype(int)
        array[k, j, i] = 2000
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    image.SetOrigin(ORIGIN_MM.tolist())
    return image


def _pixel_point(plane, target: np.ndarray, row: int, col: int) -> np.ndarray:
    """The LPS point of a pixel, from PlaneMap's documented screen geometry."""
    left, right, bottom, top = plane.extent
    rows, cols = plane.tre_mm.shape
    s = left + (col + 0.5) * (right - left) / cols
    t = top - (row + 0.5) * (top - bottom) / rows
    return target + s * plane.view.right + t * np.asarray(plane.view.up)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.floats(-40.0, 40.0), min_size=3, max_size=3),
    st.floats(0.05, 3.0),
    st.integers(0, 2**32 - 1),
)
def test_each_pixel_is_the_prediction_at_its_lps_point(target, fle_rms_mm, seed):
    target = np.asarray(target)
    tre_map = compute_tre_map(_ct(), FIDUCIALS, target, FleModel(rms_mm=fle_rms_mm), 4.0)
    rng = np.random.default_rng(seed)
    for plane in tre_map.planes:
        rows, cols = plane.tre_mm.shape
        picks = [(int(rng.integers(rows)), int(rng.integers(cols))) for _ in range(5)]
        points = np.array([_pixel_point(plane, target, r, c) for r, c in picks])
        values = np.array([plane.tre_mm[r, c] for r, c in picks])
        inside = np.isfinite(values)
        np.testing.assert_allclose(
            values[inside], predict_tre_rms(FIDUCIALS, fle_rms_mm, points[inside]), rtol=1e-12
        )
    expected = predict_tre_rms(FIDUCIALS, fle_rms_mm, target[None])[0]
    assert tre_map.target_tre_mm == pytest.approx(expected, rel=1e-12)


def test_per_fiducial_covariances_give_the_anisotropic_prediction():
    covariances = np.array([np.diag([0.04, 0.01, 0.09]) * (1 + i) for i in range(4)])
    target = np.array([5.0, -10.0, 0.0])
    tre_map = compute_tre_map(_ct(), FIDUCIALS, target, FleModel(covariances_mm2=covariances), 4.0)
    plane = tre_map.planes[1]
    point = _pixel_point(plane, target, 7, 11)
    expected = predict_tre_rms_anisotropic(FIDUCIALS, covariances, point[None])[0]
    assert plane.tre_mm[7, 11] == pytest.approx(expected, rel=1e-12)
    assert "covariance" in tre_map.fle.description


def test_the_map_is_smallest_at_the_centroid_and_grows_away_from_it():
    centroid = FIDUCIALS.mean(axis=0)
    tre_map = compute_tre_map(_ct(), FIDUCIALS, centroid, FleModel(rms_mm=1.0), 2.0)
    assert tre_map.target_tre_mm == pytest.approx(1.0 / np.sqrt(len(FIDUCIALS)), rel=1e-9)
    for plane in tre_map.planes:
        np.testing.assert_allclose(plane.centroid_st, [0.0, 0.0], atol=1e-9)
        row, col = np.unravel_index(np.nanargmin(plane.tre_mm), plane.tre_mm.shape)
        where = _pixel_point(plane, centroid, row, col)
        assert np.linalg.norm(where - centroid) <= 2.0  # within a pixel diagonal (2 mm pixels)
        # Along the row and the column through the minimum, TRE rises on both sides (the CT's
        # edge pixels, rounded out to whole pixels, have no value).
        for profile, centre in ((plane.tre_mm[row, :], col), (plane.tre_mm[:, col], row)):
            rising, falling = np.diff(profile[centre:]), np.diff(profile[: centre + 1])
            assert np.all(rising[np.isfinite(rising)] > 0.0)
            assert np.all(falling[np.isfinite(falling)] < 0.0)
            assert np.isfinite(rising).sum() > 10 and np.isfinite(falling).sum() > 10


def test_planes_face_the_viewer_radiologically():
    """Beads 20 mm to the patient's left, front and top of the target appear where the views'
    edge letters say: left = screen right (axial, coronal), anterior = up (axial) and screen
    left (sagittal), superior = up (coronal, sagittal)."""
    target = np.array([0.0, 0.0, 0.0])
    offsets = {"left": [20.0, 0, 0], "anterior": [0, -20.0, 0], "superior": [0, 0, 20.0]}
    expected_st = {
        "axial": {"left": (20, 0), "anterior": (0, 20)},
        "coronal": {"left": (20, 0), "superior": (0, 20)},
        "sagittal": {"anterior": (-20, 0), "superior": (0, 20)},
    }
    for name, offset in offsets.items():
        tre_map = compute_tre_map(
            _ct(target + np.asarray(offset)), FIDUCIALS, target, FleModel(rms_mm=1.0), 1.0
        )
        for plane in tre_map.planes:
            if name not in expected_st[plane.view.name]:
                continue
            row, col = np.unravel_index(np.nanargmax(plane.ct_hu), plane.ct_hu.shape)
            left, _, _, top = plane.extent
            s, t = left + col + 0.5, top - row - 0.5
            np.testing.assert_allclose((s, t), expected_st[plane.view.name][name], atol=1.0)


def test_pixels_outside_the_ct_have_no_prediction():
    """An oblique CT's box seen in an LPS plane has corners that are not CT: no value there."""
    ct = _ct()
    direction = sitk.VersorTransform((0.0, 0.0, 1.0), 0.5).GetMatrix()
    ct.SetDirection(direction)
    tre_map = compute_tre_map(ct, FIDUCIALS, np.zeros(3), FleModel(rms_mm=1.0), 4.0)
    axial = tre_map.planes[0]
    assert np.isnan(axial.tre_mm[0, 0]) and np.isnan(axial.ct_hu[0, 0])
    assert np.isfinite(axial.tre_mm).mean() > 0.5


def test_a_target_outside_the_ct_is_refused_with_where_the_ct_is():
    with pytest.raises(ReportError, match=r"outside the CT, whose voxel centres span"):
        compute_tre_map(_ct(), FIDUCIALS, np.array([0.0, 0.0, 200.0]), FleModel(rms_mm=1.0))


def test_the_fle_is_given_one_way():
    with pytest.raises(ReportError, match="not both and not neither"):
        FleModel()
    with pytest.raises(ReportError, match="not both and not neither"):
        FleModel(rms_mm=1.0, covariances_mm2=np.zeros((4, 3, 3)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pixel_mm", 0.0, "pixel_mm"),
        ("opacity", 1.5, "opacity"),
        ("iso_lines", 0, "iso_lines"),
        ("max_tre_mm", -1.0, "max_tre_mm"),
        ("window_hu", 0.0, "window_hu"),
    ],
)
def test_settings_out_of_range_are_refused(field, value, message):
    with pytest.raises(ReportError, match=message):
        TreMapSettings(**{field: value})


def test_labels_must_match_the_fiducials():
    with pytest.raises(ReportError, match="3 fiducial labels for 4 fiducials"):
        tre_map_png(_ct(), FIDUCIALS, LABELS[:3], np.zeros(3), "T", FleModel(rms_mm=1.0))


def test_the_picture_is_a_png_in_colour_with_three_panels_worth_of_detail():
    png = tre_map_png(
        _ct(),
        FIDUCIALS,
        LABELS,
        np.zeros(3),
        "target <1>",
        FleModel(rms_mm=0.5),
        TreMapSettings(pixel_mm=2.0, dpi=60),
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    height, width = pixels.shape[:2]
    assert width > 2 * height > 0
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 1000  # a colour map over a CT, not a flat image


def test_a_fixed_colour_scale_changes_the_picture():
    tre_map = compute_tre_map(_ct(), FIDUCIALS, np.zeros(3), FleModel(rms_mm=0.5), 4.0)
    auto = render_tre_map(tre_map, LABELS, "T", TreMapSettings(dpi=40))
    fixed = render_tre_map(tre_map, LABELS, "T", TreMapSettings(dpi=40, max_tre_mm=5.0))
    assert auto != fixed
