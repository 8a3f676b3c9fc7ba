"""Surface ICP on a small two-table shell: recovery from known misalignments, the inner table not
capturing an outer-table patch, multi-start, point-to-point, settings and rejected input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.closest_point import ClosestPointField, FieldSettings
from registration.exceptions import RegistrationError
from registration.icp import (
    KEEP_WEIGHTS_FACTOR,
    STALL_FACTOR,
    SUBSAMPLE_POINTS,
    IcpMethod,
    IcpSettings,
    MultiStartSettings,
    SurfaceRegistration,
    _stage,
    register_surface,
)
from registration.point_normals import away_from, estimate_patch_normals
from registration.transforms import apply_transform, invert_rigid, make_rigid
from tests.registration.shells import make_shell, sample_patch

# Success as in the benchmark: rotation error < 1 deg and error at the patch centroid < 1 mm.
# With 0.1-0.3 mm noise the shell's noise floor is ~0.1-0.4 deg and ~0.1 mm (tested below with
# tighter bounds where the noise is lower).
SUCCESS_DEG = 1.0
SUCCESS_MM = 1.0
FOREHEAD = (1.0, 0.2, 0.3)


@pytest.fixture(scope="module")
def shell():
    return make_shell()


@pytest.fixture(scope="module")
def registration(shell):
    return SurfaceRegistration.from_mesh(shell.vertices_mm, shell.normals, shell.triangles)


def _misalign(points, rotation_deg, shift_mm, seed):
    """Points turned by rotation_deg about a random axis through their centroid, then shifted
    shift_mm in a random direction; returns (moved points, the misalignment moved_from_true)."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    direction = rng.normal(size=3)
    rotation = Rotation.from_rotvec(
        math.radians(rotation_deg) * axis / np.linalg.norm(axis)
    ).as_matrix()
    centre = points.mean(axis=0)
    shift = shift_mm * direction / np.linalg.norm(direction)
    moved_from_true = make_rigid(rotation, centre - rotation @ centre + shift)
    return apply_transform(moved_from_true, points), moved_from_true


def _errors(fixed_from_moving, moved_from_true, centre):
    """Rotation (deg) and displacement at the patch centroid (mm) of the residual motion."""
    residual = fixed_from_moving @ moved_from_true
    angle = Rotation.from_matrix(residual[:3, :3]).magnitude()
    return math.degrees(angle), float(np.linalg.norm(apply_transform(residual, centre) - centre))


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 5.0), st.floats(0.0, 5.0), st.integers(0, 10_000))
def test_small_perturbations_are_recovered(registration, shell, rotation_deg, shift_mm, seed):
    truth = sample_patch(shell, 800, FOREHEAD, 50.0, 0.1, seed)
    moving, moved_from_true = _misalign(truth, rotation_deg, shift_mm, seed)
    result = registration.register(moving)
    rotation_error, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < 0.4
    assert shift_error < 0.2
    assert result.converged
    assert result.inlier_fraction > 0.95
    assert result.rmse_mm < 0.2  # 0.1 mm noise per axis: ~0.1 mm along the normal
    assert result.start == "initial"


@pytest.mark.parametrize("seed", range(3))
def test_patch_pushed_inside_is_not_captured_by_the_inner_table(registration, shell, seed):
    """Pushed 10 mm inwards, the patch is 4 mm from the inner table and 10 mm from the outer."""
    truth = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.3, seed)
    inward = -truth.mean(axis=0) / np.linalg.norm(truth.mean(axis=0))
    moved_from_true = make_rigid(np.eye(3), 10.0 * inward)
    result = registration.register(apply_transform(moved_from_true, truth))
    rotation_error, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < SUCCESS_DEG
    assert shift_error < SUCCESS_MM
    registered = apply_transform(result.fixed_from_moving, apply_transform(moved_from_true, truth))
    radius = np.linalg.norm(registered, axis=1)
    outer_radius = np.linalg.norm(truth, axis=1)
    assert np.median(np.abs(radius - outer_radius)) < 0.5


def test_unoriented_matching_is_captured_by_the_inner_table(shell):
    """The failure the facing test prevents: with normals ignored (any direction is facing),
    the same pushed-in patch locks onto the inner table."""
    field = ClosestPointField(
        shell.vertices_mm,
        shell.normals,
        shell.triangles,
        FieldSettings(max_normal_angle_rad=math.pi),
    )
    naive = SurfaceRegistration(field, IcpSettings(multi_start=MultiStartSettings(enabled=False)))
    truth = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.3, 0)
    inward = -truth.mean(axis=0) / np.linalg.norm(truth.mean(axis=0))
    moved_from_true = make_rigid(np.eye(3), 10.0 * inward)
    result = naive.register(apply_transform(moved_from_true, truth))
    _, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert shift_error > 3.0


@pytest.mark.parametrize("seed", range(4))
def test_large_misalignment_is_recovered(registration, shell, seed):
    truth = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.3, seed)
    moving, moved_from_true = _misalign(truth, 30.0, 30.0, seed)
    result = registration.register(moving)
    rotation_error, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < SUCCESS_DEG
    assert shift_error < SUCCESS_MM
    assert result.starts_tried >= 1


def test_multi_start_rescues_a_start_the_single_run_cannot(shell):
    """Shifted 40 mm and turned 90 deg, the single run locks in a wrong place; the multi-start
    finds the truth and says which start won."""
    truth = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.2, 1)
    moving, moved_from_true = _misalign(truth, 90.0, 40.0, 3)
    single = SurfaceRegistration.from_mesh(
        shell.vertices_mm,
        shell.normals,
        shell.triangles,
        IcpSettings(multi_start=MultiStartSettings(enabled=False)),
    ).register(moving)
    multi = SurfaceRegistration.from_mesh(
        shell.vertices_mm, shell.normals, shell.triangles
    ).register(moving)
    assert _errors(single.fixed_from_moving, moved_from_true, truth.mean(0))[0] > 5.0
    assert single.inlier_fraction < 0.9
    rotation_error, shift_error = _errors(multi.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < SUCCESS_DEG
    assert shift_error < SUCCESS_MM
    assert multi.start != "initial"
    assert multi.starts_tried > 1
    assert multi.inlier_fraction > 0.95


def test_a_good_result_has_no_warnings(registration, shell):
    truth = sample_patch(shell, 600, FOREHEAD, 50.0, 0.2, 5)
    moving, _ = _misalign(truth, 2.0, 2.0, 5)
    result = registration.register(moving)
    assert result.warnings == ()


def test_points_in_metres_get_warnings_not_a_silent_pose(shell):
    """Digitised points in metres (a thousandth of their size in mm) cannot fit the surface:
    the result says so, in words, rather than looking like any other pose."""
    truth = sample_patch(shell, 600, FOREHEAD, 50.0, 0.2, 6)
    registration = SurfaceRegistration.from_mesh(
        shell.vertices_mm,
        shell.normals,
        shell.triangles,
        IcpSettings(multi_start=MultiStartSettings(enabled=False)),
    )
    result = registration.register(truth / 1000.0)
    assert result.inlier_fraction < 0.9
    assert any("of the points end within 1 mm" in warning for warning in result.warnings)


def test_initial_pose_is_used(registration, shell):
    """Far off (90 deg) but given the paired-point-like initial pose, the run starts from it."""
    truth = sample_patch(shell, 500, FOREHEAD, 50.0, 0.2, 6)
    moving, moved_from_true = _misalign(truth, 90.0, 40.0, 6)
    near = invert_rigid(moved_from_true) @ make_rigid(
        Rotation.from_rotvec([0.03, 0.0, 0.02]).as_matrix(), [1.0, -1.0, 0.5]
    )
    result = registration.register(moving, near)
    rotation_error, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < SUCCESS_DEG
    assert shift_error < SUCCESS_MM
    assert result.start == "initial"


def test_point_to_plane_converges_where_point_to_point_crawls(shell):
    """Noise-free points all around the outer table, 3 deg / 3 mm off: point-to-plane lands on
    the truth in a few Gauss-Newton steps (to the field's error: its nodes' planes carry smooth
    normals over this shell's flat 2.5 mm facets, ~0.01 mm); point-to-point (the textbook ICP)
    improves only linearly and is still ~0.5-1 deg off after 100 iterations. Hence
    point-to-plane is the default."""
    rng = np.random.default_rng(3)
    truth = shell.vertices_mm[rng.choice(shell.n_outer, 600, replace=False)]
    moving, moved_from_true = _misalign(truth, 3.0, 3.0, 3)
    results = {}
    for method in IcpMethod:
        results[method] = SurfaceRegistration.from_mesh(
            shell.vertices_mm,
            shell.normals,
            shell.triangles,
            IcpSettings(
                method=method,
                max_iterations=100,
                multi_start=MultiStartSettings(enabled=False),
            ),
        ).register(moving)
    plane = results[IcpMethod.POINT_TO_PLANE]
    rotation_error, shift_error = _errors(plane.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < 0.02
    assert shift_error < 0.01
    assert plane.iterations <= 10
    point = results[IcpMethod.POINT_TO_POINT]
    rotation_error, shift_error = _errors(point.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < 1.5  # from 3 deg
    assert shift_error < 0.5
    assert point.iterations > plane.iterations


def test_given_normals_are_used(registration, shell):
    """Normals flipped to point inwards make the inner table the facing surface: a patch on the
    outer table given inward normals is pulled to the inner table."""
    truth = sample_patch(shell, 600, FOREHEAD, 40.0, 0.1, 7)
    inward = -truth / np.linalg.norm(truth, axis=1, keepdims=True)
    result = registration.register(truth, normals=inward)
    moved = apply_transform(result.fixed_from_moving, truth)
    depth = np.linalg.norm(truth, axis=1) - np.linalg.norm(moved, axis=1)
    assert np.median(depth) > 4.0  # the 6 mm thick shell, measured along the radius


def test_outliers_are_rejected(registration, shell):
    truth = sample_patch(shell, 1000, FOREHEAD, 50.0, 0.2, 8)
    rng = np.random.default_rng(8)
    corrupted = truth.copy()
    corrupted[:50] += rng.normal(0.0, 1.0, (50, 3)) * 15.0  # 5% stray points
    moving, moved_from_true = _misalign(corrupted, 3.0, 3.0, 8)
    result = registration.register(moving)
    rotation_error, shift_error = _errors(result.fixed_from_moving, moved_from_true, truth.mean(0))
    assert rotation_error < 0.5
    assert shift_error < 0.3
    assert 0.9 < result.inlier_fraction < 0.99


def test_first_pass_on_a_subsample_steps_only_from_afar(registration, shell):
    """The first pass looks at SUBSAMPLE_POINTS of the points: from a start 3 mm/3 deg off its
    step is taken (and closes most of the gap); from the true pose its step, within the
    subsample's noise, is not."""
    truth = sample_patch(shell, 4 * SUBSAMPLE_POINTS, FOREHEAD, 50.0, 0.2, 12)
    normals = estimate_patch_normals(truth, away_from(truth, registration._centre))
    moving, moved_from_true = _misalign(truth, 3.0, 3.0, 12)
    settings = registration.settings
    for points, far in ((moving, True), (truth, False)):
        limits = (
            registration._cos_max, settings.max_correspondence_mm**2, settings.kernel_sigmas,
            settings.min_kernel_mm, settings.rotation_tol_rad, settings.translation_tol_mm,
            settings.inlier_distance_mm,
        )  # fmt: skip
        pose, passes, taken, _, _, size = _stage(
            np.ascontiguousarray(points[::4]), np.ascontiguousarray(normals[::4]), np.eye(4),
            registration.field.arrays, True, 1, limits, points.mean(axis=0), np.inf, True,
        )  # fmt: skip
        assert passes == 1
        assert taken is far
        assert (size >= KEEP_WEIGHTS_FACTOR) is far
        if far:
            _, shift_error = _errors(pose, moved_from_true, truth.mean(axis=0))
            assert shift_error < 1.0
        else:
            assert np.array_equal(pose, np.eye(4))


def test_coarse_to_fine_ends_where_a_full_run_does(shell):
    """5,000 points registered through a 500-point subsample first: same answer as all points
    from the start, to within what the stop rule leaves to go (STALL_FACTOR tolerances)."""
    truth = sample_patch(shell, 5000, FOREHEAD, 50.0, 0.2, 10)
    moving, _ = _misalign(truth, 3.0, 3.0, 10)
    results = [
        SurfaceRegistration.from_mesh(
            shell.vertices_mm,
            shell.normals,
            shell.triangles,
            IcpSettings(coarse_points=points),
        ).register(moving)
        for points in (500, 5000)
    ]
    difference = results[0].fixed_from_moving @ invert_rigid(results[1].fixed_from_moving)
    centre = truth.mean(axis=0)
    settings = IcpSettings()
    rotation_bound = STALL_FACTOR * settings.rotation_tol_rad  # 0.029 deg
    assert Rotation.from_matrix(difference[:3, :3]).magnitude() < rotation_bound
    assert np.linalg.norm(apply_transform(difference, centre) - centre) < 0.01
    assert all(result.converged for result in results)


def test_one_shot_function_matches_bound_object(registration, shell):
    truth = sample_patch(shell, 400, FOREHEAD, 50.0, 0.2, 9)
    moving, _ = _misalign(truth, 4.0, 4.0, 9)
    once = register_surface(shell.vertices_mm, shell.normals, shell.triangles, moving)
    bound = registration.register(moving)
    np.testing.assert_allclose(once.fixed_from_moving, bound.fixed_from_moving, atol=1e-12)


def test_result_is_frozen(registration, shell):
    result = registration.register(sample_patch(shell, 100, FOREHEAD, 50.0, 0.1, 1))
    with pytest.raises(AttributeError):
        result.rmse_mm = 0.0


def test_too_few_points_are_rejected(registration):
    with pytest.raises(RegistrationError, match="at least 6"):
        registration.register(np.zeros((5, 3)))


def test_nan_points_are_rejected(registration, shell):
    points = sample_patch(shell, 50, FOREHEAD, 50.0, 0.1, 1)
    points[3, 0] = np.nan
    with pytest.raises(RegistrationError, match="NaN"):
        registration.register(points)


def test_collinear_points_are_rejected(registration):
    line = np.outer(np.linspace(0, 50, 20), [1.0, 0.5, 0.2]) + np.array([60.0, 0, 0])
    with pytest.raises(RegistrationError, match="line"):
        registration.register(line)


def test_reflection_as_initial_pose_is_rejected(registration, shell):
    with pytest.raises(RegistrationError, match="reflection"):
        registration.register(
            sample_patch(shell, 50, FOREHEAD, 50.0, 0.1, 1),
            np.diag([1.0, 1.0, -1.0, 1.0]),
        )


def test_normals_of_wrong_length_are_rejected(registration, shell):
    points = sample_patch(shell, 50, FOREHEAD, 50.0, 0.1, 1)
    with pytest.raises(RegistrationError, match="one row per point"):
        registration.register(points, normals=np.ones((10, 3)))


def test_non_positive_kernel_width_is_rejected():
    with pytest.raises(RegistrationError, match="kernel_sigmas"):
        IcpSettings(kernel_sigmas=0.0)


def test_too_few_coarse_points_are_rejected():
    with pytest.raises(RegistrationError, match="coarse_points"):
        IcpSettings(coarse_points=2)


def test_method_must_be_an_enum():
    with pytest.raises(RegistrationError, match="IcpMethod"):
        IcpSettings(method="point_to_plane")


def test_negative_rotation_step_is_rejected():
    with pytest.raises(RegistrationError, match="rotation_steps_rad"):
        MultiStartSettings(rotation_steps_rad=(-0.1,))
