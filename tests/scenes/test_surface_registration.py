"""Surface registration on CT surfaces extracted by ``scenes.surface``: the abdomen series and
TotalSegmentator's example CT (lumbar spine and pelvis, 3 mm), patches a surgeon would expose,
stylus sweeps with their axes."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from registration.icp import STYLUS_CONE_RAD, Facing, IcpSettings, SurfaceRegistration
from registration.point_normals import away_from, estimate_patch_normals
from registration.transforms import apply_transform, make_rigid
from scenes.digitised_patch import exposed_triangles, sweep
from scenes.surface import extract_surface
from scenes.volume import load_volume
from tests.shared_data import SHARED_DATA

SPINE_CT = SHARED_DATA / "ct" / "totalsegmentator_example_ct.nii.gz"
POSTERIOR = np.array([0.0, 1.0, 0.0])  # LPS: the surgeon stands behind a prone patient


def _mesh(image, threshold_hu):
    mesh = extract_surface(image, threshold_hu)
    vertices = np.asarray(mesh.points, dtype=np.float64)
    triangles = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    return vertices, np.asarray(mesh.point_data["Normals"]), triangles


@pytest.fixture(scope="module")
def spine():
    vertices, normals, triangles = _mesh(load_volume(SPINE_CT), 200.0)
    centres = vertices[triangles].mean(axis=1)
    # L3-L4 (TotalSegmentator's masks: L3 centre z 314 mm, L4 278 mm), behind the spinal canal.
    region = (
        (np.abs(centres[:, 0] - 4.0) < 45.0)
        & (centres[:, 1] > -118.0)
        & (centres[:, 1] < -50.0)
        & (centres[:, 2] > 262.0)
        & (centres[:, 2] < 332.0)
    )
    patch = exposed_triangles(vertices, triangles, region, POSTERIOR)
    registration = SurfaceRegistration.from_mesh(vertices, normals, triangles)
    return vertices, normals, triangles, patch, registration


def _misaligned(tips, axes, shift_mm, angle_deg, seed):
    """The sweep moved by a random turn about its centroid and shift: the registration must
    find the inverse of the returned ``moved_from_true``."""
    rng = np.random.default_rng(seed)
    centre = tips.mean(axis=0)
    rotation = Rotation.from_rotvec(
        math.radians(angle_deg) * Rotation.random(random_state=rng).apply([1.0, 0.0, 0.0])
    ).as_matrix()
    direction = rng.normal(size=3)
    shift = shift_mm * direction / np.linalg.norm(direction)
    moved_from_true = make_rigid(rotation, centre - rotation @ centre + shift)
    return apply_transform(moved_from_true, tips), axes @ rotation.T, moved_from_true


def _errors(fixed_from_moving, moved_from_true, centre):
    residual = fixed_from_moving @ moved_from_true
    angle = math.degrees(Rotation.from_matrix(residual[:3, :3]).magnitude())
    return angle, float(np.linalg.norm(apply_transform(residual, centre) - centre))


def test_away_from_the_surface_centroid_the_posterior_elements_face_inwards(spine):
    """Why the stylus axis is needed: the whole bone surface's centroid lies in the pelvis, far
    from the lumbar patch, and "away from it" turns many of the patch normals inwards."""
    vertices, normals, triangles, patch, registration = spine
    contacts = sweep(vertices, normals, triangles, patch, 1000, np.random.default_rng(0))
    assert np.linalg.norm(contacts.tips_mm.mean(axis=0) - vertices.mean(axis=0)) > 60.0
    truth = registration.field.nearest_normals(contacts.tips_mm, np.eye(4))
    centroid_side = estimate_patch_normals(
        contacts.tips_mm, away_from(contacts.tips_mm, vertices.mean(axis=0))
    )
    stylus_side = estimate_patch_normals(contacts.tips_mm, contacts.axes, None, STYLUS_CONE_RAD)
    assert np.mean(np.sum(centroid_side * truth, axis=1) < 0.0) > 0.2
    assert np.mean(np.sum(stylus_side * truth, axis=1) < 0.0) < 0.02


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_posterior_elements_register_with_the_stylus_axes(spine, seed):
    vertices, normals, triangles, patch, registration = spine
    contacts = sweep(vertices, normals, triangles, patch, 1000, np.random.default_rng(seed))
    moving, axes, moved_from_true = _misaligned(contacts.tips_mm, contacts.axes, 10.0, 10.0, seed)
    result = registration.register(moving, outward=axes, outward_cone_rad=STYLUS_CONE_RAD)
    angle, shift = _errors(result.fixed_from_moving, moved_from_true, contacts.tips_mm.mean(0))
    assert angle < 0.5 and shift < 0.5
    assert result.starts_tried == 1  # the first run fits: no multi-start
    assert result.warnings == ()


@pytest.mark.parametrize("seed", [4, 5])
def test_posterior_elements_register_from_the_surface_at_the_initial_pose(spine, seed):
    """Without stylus axes, the patch faces like the surface at a start a few mm off (a
    paired-point registration): the spine registers all the same."""
    vertices, normals, triangles, patch, registration = spine
    at_pose = SurfaceRegistration(registration.field, IcpSettings(facing=Facing.SURFACE_AT_POSE))
    contacts = sweep(vertices, normals, triangles, patch, 1000, np.random.default_rng(seed))
    moving, _, moved_from_true = _misaligned(contacts.tips_mm, contacts.axes, 3.0, 3.0, seed)
    result = at_pose.register(moving)
    angle, shift = _errors(result.fixed_from_moving, moved_from_true, contacts.tips_mm.mean(0))
    assert angle < 0.5 and shift < 0.5
    assert result.warnings == ()


def test_a_surface_of_the_abdomen_series_builds_and_registers(shared_data):
    """The whole 200 HU surface of the abdomen series (bone, the CT table), as extracted: the
    field builds and a sweep over the posterior elements of its vertebra registers."""
    image = load_volume(shared_data / "ct" / "abdomen_ct_dicom")
    vertices, normals, triangles = _mesh(image, 200.0)
    centres = vertices[triangles].mean(axis=1)
    region = (np.abs(centres[:, 0]) < 45.0) & (centres[:, 1] > -135.0) & (centres[:, 1] < -70.0)
    patch = exposed_triangles(vertices, triangles, region, POSTERIOR)
    registration = SurfaceRegistration.from_mesh(vertices, normals, triangles)
    contacts = sweep(vertices, normals, triangles, patch, 1000, np.random.default_rng(6))
    moving, axes, moved_from_true = _misaligned(contacts.tips_mm, contacts.axes, 2.0, 2.0, 6)
    result = registration.register(moving, outward=axes, outward_cone_rad=STYLUS_CONE_RAD)
    angle, shift = _errors(result.fixed_from_moving, moved_from_true, contacts.tips_mm.mean(0))
    assert angle < 0.5 and shift < 0.5


def test_warnings_flag_the_failures_of_a_test_set_and_not_the_successes(spine):
    """Sweeps from 10 mm/10 deg all succeed without a warning; from 30 mm/30 deg some land on
    another part of the spine, and each of those carries a warning (none fails quietly)."""
    vertices, normals, triangles, patch, registration = spine
    outcomes = []
    for seed, (shift, angle) in enumerate([(10.0, 10.0)] * 3 + [(30.0, 30.0)] * 6):
        contacts = sweep(vertices, normals, triangles, patch, 1000, np.random.default_rng(seed))
        moving, axes, moved_from_true = _misaligned(
            contacts.tips_mm, contacts.axes, shift, angle, seed
        )
        result = registration.register(moving, outward=axes, outward_cone_rad=STYLUS_CONE_RAD)
        errors = _errors(result.fixed_from_moving, moved_from_true, contacts.tips_mm.mean(0))
        outcomes.append((errors[0] < 1.0 and errors[1] < 1.0, bool(result.warnings)))
    assert all(success and not warned for success, warned in outcomes[:3])
    assert any(not success for success, _ in outcomes[3:])  # the set holds failures ...
    assert all(warned for success, warned in outcomes if not success)  # ... all flagged


@pytest.mark.parametrize("seed", [7, 8])
def test_posterior_elements_register_facing_an_approach_direction(spine, seed):
    """Points without stylus axes but with the side the surgeon came from (a markups file and
    ``--approach``): the approach orients the first run, the surface where it ends the rest."""
    vertices, normals, triangles, patch, registration = spine
    contacts = sweep(vertices, normals, triangles, patch, 500, np.random.default_rng(seed))
    moving, _, moved_from_true = _misaligned(contacts.tips_mm, contacts.axes, 3.0, 3.0, seed)
    approach = np.tile(moved_from_true[:3, :3] @ POSTERIOR, (len(moving), 1))
    result = registration.register(moving, outward=approach)
    angle, shift = _errors(result.fixed_from_moving, moved_from_true, contacts.tips_mm.mean(0))
    assert angle < 0.5 and shift < 0.5
    assert result.warnings == ()
