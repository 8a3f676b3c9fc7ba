"""Rigid-transform helpers: validation messages, inversion and composition."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.transforms import (
    RECORDED_ORTHONORMAL_TOL,
    apply_transform,
    as_points,
    as_rigid,
    invert_rigid,
    make_rigid,
    rotation_angle_rad,
    rotation_from_vector,
    transform_difference,
)

finite = st.floats(-500, 500, allow_nan=False)


@st.composite
def rigid_transforms(draw) -> np.ndarray:
    quaternion = draw(st.lists(st.floats(-1, 1), min_size=4, max_size=4))
    if np.linalg.norm(quaternion) < 1e-3:
        quaternion = [0.0, 0.0, 0.0, 1.0]
    translation = draw(st.lists(finite, min_size=3, max_size=3))
    return make_rigid(Rotation.from_quat(quaternion).as_matrix(), translation)


@given(rigid_transforms(), st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=10))
def test_inverse_undoes_transform(a_from_b, points):
    points_b = np.array(points)
    back = apply_transform(invert_rigid(a_from_b), apply_transform(a_from_b, points_b))
    np.testing.assert_allclose(back, points_b, atol=1e-9)


@given(rigid_transforms())
def test_difference_to_itself_is_zero(a_from_b):
    difference = transform_difference(a_from_b, a_from_b)
    assert difference.rotation_rad < 1e-6
    assert difference.translation_mm < 1e-9


def test_difference_reports_known_rotation_and_translation():
    truth = np.eye(4)
    estimate = make_rigid(Rotation.from_euler("z", 3, degrees=True).as_matrix(), [0, 0, 2])
    difference = transform_difference(estimate, truth)
    assert difference.rotation_rad == pytest.approx(np.radians(3))
    assert difference.translation_mm == pytest.approx(2)


def test_points_wrong_shape_names_expected_and_received():
    with pytest.raises(RegistrationError, match=r"\(N, 3\).*\(4, 2\)"):
        as_points(np.zeros((4, 2)))


def test_points_with_nan_are_rejected():
    points = np.zeros((3, 3))
    points[1, 2] = np.nan
    with pytest.raises(RegistrationError, match="NaN"):
        as_points(points)


def test_too_few_points_are_rejected():
    with pytest.raises(RegistrationError, match="at least 3"):
        as_points(np.zeros((2, 3)), min_count=3)


def test_reflection_is_not_rigid():
    with pytest.raises(RegistrationError, match="reflection"):
        as_rigid(np.diag([1.0, 1.0, -1.0, 1.0]))


def test_scaled_rotation_is_not_rigid():
    with pytest.raises(RegistrationError, match="orthonormal"):
        as_rigid(np.diag([2.0, 1.0, 1.0, 1.0]))


@given(st.floats(0.0, np.pi), st.lists(st.floats(-1, 1), min_size=3, max_size=3))
def test_rotation_angle_is_recovered_to_round_off_from_zero_to_pi(angle_rad, axis):
    if np.linalg.norm(axis) < 1e-3:
        axis = [0.0, 0.0, 1.0]
    rotvec = angle_rad * np.asarray(axis) / np.linalg.norm(axis)
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    assert rotation_angle_rad(rotation) == pytest.approx(angle_rad, abs=1e-12)


def test_matrix_printed_with_six_digits_is_rigid_at_the_recorded_tolerance():
    # A tracker file prints 6 significant digits: its rotation is orthonormal to ~1e-6 only.
    exact = make_rigid(
        Rotation.from_euler("xyz", [31, -47, 112], degrees=True).as_matrix(), [1, 2, 3]
    )
    printed = np.array([float(f"{value:.6g}") for value in exact.ravel()]).reshape(4, 4)
    assert np.abs(printed[:3, :3].T @ printed[:3, :3] - np.eye(3)).max() > 1e-7
    np.testing.assert_array_equal(as_rigid(printed, tol=RECORDED_ORTHONORMAL_TOL), printed)


def test_recorded_tolerance_still_rejects_a_sheared_rotation():
    sheared = np.eye(4)
    sheared[0, 1] = 0.01
    with pytest.raises(RegistrationError, match="orthonormal"):
        as_rigid(sheared, tol=RECORDED_ORTHONORMAL_TOL)


@given(
    st.lists(st.floats(-4.0, 4.0, allow_nan=False), min_size=3, max_size=3),
)
def test_rotation_from_vector_is_scipys_rotvec(vector):
    """Rodrigues' formula against scipy's rotation vectors (the zero vector gives the identity)."""
    v = np.array(vector)
    np.testing.assert_allclose(
        rotation_from_vector(v), Rotation.from_rotvec(v).as_matrix(), atol=1e-12
    )
