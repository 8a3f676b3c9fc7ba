"""Building blocks of scripted motions: how a stylus is held, the rotation that aims a tool,
the minimum-jerk profile, and bad input refused (the motions themselves: test_student.py,
test_demo_source.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenes.exceptions import SceneError
from scenes.motions import StylusGeometry, Touch, aligning_rotation, minimum_jerk


def test_stylus_geometry_from_markers_points_shaft_to_the_markers():
    markers = np.array([[0, 0, 0], [0, 0, 45], [0, 30, 95], [0, -30, 125]], float)
    geometry = StylusGeometry.from_markers(markers, np.array([0.0, 0.0, -95.0]))
    centroid = markers.mean(axis=0)
    expected_shaft = (centroid - geometry.tip_mm) / np.linalg.norm(centroid - geometry.tip_mm)
    np.testing.assert_allclose(geometry.shaft_axis, expected_shaft, atol=1e-12)
    assert abs(geometry.facing_axis @ geometry.shaft_axis) < 1e-12
    assert abs(abs(geometry.facing_axis[0]) - 1.0) < 0.01  # markers lie in the y-z plane


def test_stylus_geometry_faces_where_the_marker_normals_point():
    markers = np.array([[0, 0, 0], [0, 0, 45], [0, 30, 95], [0, -30, 125]], float)
    for sign in (1.0, -1.0):
        normals = np.tile([sign, 0.0, 0.0], (4, 1))
        geometry = StylusGeometry.from_markers(markers, np.array([0.0, 0.0, -95.0]), normals)
        np.testing.assert_allclose(geometry.facing_axis, [sign, 0.0, 0.0], atol=1e-12)


unit_vectors = (
    st.tuples(*[st.floats(-1, 1)] * 3).map(np.array).filter(lambda v: np.linalg.norm(v) > 0.1)
)


@given(unit_vectors, unit_vectors, unit_vectors, unit_vectors)
def test_aligning_rotation_maps_the_primary_axis_exactly(a_tool, b_tool, a_world, b_world):
    rotation = aligning_rotation(a_tool, b_tool, a_world, b_world)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-9)
    mapped = rotation @ (a_tool / np.linalg.norm(a_tool))
    np.testing.assert_allclose(mapped, a_world / np.linalg.norm(a_world), atol=1e-9)


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_minimum_jerk_rises_from_zero_to_one(s1, s2):
    assert minimum_jerk(0.0) == 0.0
    assert minimum_jerk(1.0) == 1.0
    low, high = sorted((s1, s2))
    assert minimum_jerk(low) <= minimum_jerk(high) + 1e-15


def test_rejects_an_approach_without_direction():
    with pytest.raises(SceneError, match="zero length"):
        Touch("F0", np.zeros(3), np.zeros(3))


def test_rejects_a_facing_axis_along_the_shaft():
    with pytest.raises(SceneError, match="perpendicular"):
        StylusGeometry(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.1, 1.0]))
