"""The skull phantom: deterministic, head-sized, beads, targets and structures where claimed."""

import numpy as np
import pytest
import SimpleITK as sitk

from scenes.exceptions import SceneError
from scenes.phantoms import PhantomKind, build_phantom
from scenes.phantoms.painting import Grid
from scenes.physical import index_to_physical, physical_to_index


def hu_at(image: sitk.Image, points_mm: np.ndarray) -> np.ndarray:
    """HU of the voxel nearest each physical point."""
    array = sitk.GetArrayViewFromImage(image)
    index = np.rint(physical_to_index(image, np.atleast_2d(points_mm))).astype(int)
    return np.array([array[k, j, i] for i, j, k in index], dtype=float)


def test_skull_is_int16_head_sized_at_1_mm(skull):
    ct = skull.ct
    assert ct.GetPixelID() == sitk.sitkInt16
    assert max(ct.GetSpacing()) <= 1.0
    extent = np.array(ct.GetSize()) * np.array(ct.GetSpacing())
    assert extent[0] > 150 and extent[1] > 180 and extent[2] > 120


def test_skull_is_deterministic_from_seed(skull):
    again = build_phantom("builtin:skull", seed=0)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(again.ct), sitk.GetArrayViewFromImage(skull.ct)
    )
    np.testing.assert_array_equal(again.fiducials_mm, skull.fiducials_mm)
    other = build_phantom(PhantomKind.SKULL, seed=1)
    assert np.max(np.abs(other.fiducials_mm - skull.fiducials_mm)) > 1.0


def test_beads_are_bright_and_sit_outside_the_head(skull):
    assert len(skull.fiducials_mm) >= 6
    assert np.all(hu_at(skull.ct, skull.fiducials_mm) > 2500)
    outward = skull.fiducials_mm / np.linalg.norm(skull.fiducials_mm, axis=1, keepdims=True)
    assert np.all(hu_at(skull.ct, skull.fiducials_mm + 12.0 * outward) < -900)  # air beyond
    inward = hu_at(skull.ct, skull.fiducials_mm - 12.0 * outward)
    assert np.all(inward > 300)  # skull bone under the marker
    spacing = np.linalg.norm(skull.fiducials_mm[:, None] - skull.fiducials_mm[None], axis=2)
    assert np.min(spacing[np.triu_indices(len(spacing), 1)]) > 30.0


def test_targets_are_tumours_inside_the_brain_clear_of_structures(skull):
    assert len(skull.targets_mm) >= 2
    np.testing.assert_allclose(hu_at(skull.ct, skull.targets_mm), 60.0, atol=40.0)
    for structure in skull.structures:
        assert np.all(structure.signed_distance_mm(skull.targets_mm) > 5.0)


def test_structures_are_visible_where_declared(skull):
    assert len(skull.structures) >= 2
    for structure in skull.structures:
        centre = structure.centreline_mm[len(structure.centreline_mm) // 2]
        assert structure.signed_distance_mm(centre)[0] == pytest.approx(-structure.radius_mm)
        offsets = np.stack(np.meshgrid(*[[-2.0, 0.0, 2.0]] * 3), axis=-1).reshape(-1, 3)
        inside = hu_at(skull.ct, centre + offsets)  # 27 voxels: the mean beats the 10 HU noise
        assert abs(np.mean(inside) - 35.0) > 20.0  # differs from brain tissue (35 HU)


def test_unknown_phantom_is_refused():
    with pytest.raises(SceneError, match="builtin:skull"):
        build_phantom("builtin:liver")


@pytest.fixture(params=["skull", "spine", "needle_box"])
def phantom(request):
    return request.getfixturevalue(request.param)


def test_every_phantom_has_beads_targets_and_structures(phantom):
    assert phantom.ct.GetPixelID() == sitk.sitkInt16
    assert max(phantom.ct.GetSpacing()) <= 1.0
    assert len(phantom.fiducials_mm) >= 6 and len(phantom.targets_mm) >= 2
    assert len(phantom.structures) >= 1
    assert np.all(hu_at(phantom.ct, phantom.fiducials_mm) > 2500)  # metal beads
    for structure in phantom.structures:
        assert np.all(structure.signed_distance_mm(phantom.targets_mm) > 3.0)


def test_skull_and_spine_markers_are_on_the_skin_but_two_bone_anchored_and_the_box_has_none(
    skull, spine, needle_box
):
    for body in (skull, spine):
        assert body.skin_fiducials == body.fiducial_labels[:-2]
    assert needle_box.skin_fiducials == ()


def test_every_phantom_plans_trajectories_from_outside_to_its_targets(phantom):
    """Each path ends on a scene target, enters from the air (within 3 mm of the skin or the box),
    and keeps clear of every structure to avoid."""
    assert len(phantom.trajectories) >= 1
    for trajectory in phantom.trajectories:
        assert any(np.array_equal(trajectory.target_mm, t) for t in phantom.targets_mm)
        outside = trajectory.entry_mm - 3.0 * trajectory.direction
        inside = trajectory.entry_mm + 3.0 * trajectory.direction
        assert hu_at(phantom.ct, outside)[0] < phantom.skin_threshold_hu, trajectory.name
        assert hu_at(phantom.ct, inside)[0] > phantom.skin_threshold_hu, trajectory.name
        path = np.linspace(trajectory.entry_mm, trajectory.target_mm, 200)
        for structure in phantom.structures:
            assert structure.signed_distance_mm(path).min() > 1.0, (trajectory.name, structure)


def test_spine_targets_are_in_bone_and_sac_is_fluid(spine):
    pedicles = [i for i, label in enumerate(spine.target_labels) if "pedicle" in label]
    assert len(pedicles) == 2
    assert np.all(hu_at(spine.ct, spine.targets_mm[pedicles]) > spine.bone_threshold_hu)
    sac = next(s for s in spine.structures if s.name == "dural-sac")
    middle = sac.centreline_mm[len(sac.centreline_mm) // 2]
    assert hu_at(spine.ct, middle)[0] < 60.0  # cerebrospinal fluid, not bone


def test_needle_box_targets_are_contrast_spheres_in_gel(needle_box):
    np.testing.assert_allclose(hu_at(needle_box.ct, needle_box.targets_mm), 90.0, atol=40.0)
    vessel = needle_box.structures[0]
    middle = vessel.centreline_mm[len(vessel.centreline_mm) // 2]
    np.testing.assert_allclose(hu_at(needle_box.ct, middle), 200.0, atol=40.0)


def test_builtin_names_parse_to_kinds():
    assert PhantomKind.parse("builtin:needle-box") is PhantomKind.NEEDLE_BOX
    assert PhantomKind.parse("spine") is PhantomKind.SPINE


def test_painting_grid_agrees_with_the_image_it_makes():
    grid = Grid.covering(np.array([-10.5, 3.0, 100.0]), np.array([4.0, 9.0, 107.0]), 0.7)
    image = grid.to_image(grid.blank())
    x, y, z = grid.axes()
    index = np.array([[0, 0, 0], [3, 5, 2], [grid.size[0] - 1, grid.size[1] - 1, grid.size[2] - 1]])
    expected = index_to_physical(image, index)
    actual = np.column_stack(
        [x.ravel()[index[:, 0]], y.ravel()[index[:, 1]], z.ravel()[index[:, 2]]]
    )
    np.testing.assert_allclose(actual, expected, atol=1e-4)  # float32 coordinates
