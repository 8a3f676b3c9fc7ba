"""Tool definitions: the built-in tools' shape, and one test per rejected definition."""

import numpy as np
import pytest

from devices.exceptions import ConfigurationError
from devices.tools import BUILTIN_TOOLS, MIN_SEGMENT_DIFFERENCE_MM, ToolDefinition

SQUARE_MM = [[0.0, 0.0, 0.0], [0.0, 50.0, 0.0], [0.0, 50.0, 50.0], [0.0, 0.0, 50.0]]


def test_builtin_stylus_tip_is_150_to_170_mm_from_the_marker_centroid():
    stylus = BUILTIN_TOOLS["stylus"]
    distance = np.linalg.norm(stylus.tip_mm - stylus.centroid_mm)
    assert 150.0 <= distance <= 170.0


def test_builtin_reference_has_four_markers_and_no_tip():
    reference = BUILTIN_TOOLS["reference"]
    assert reference.markers_mm.shape == (4, 3)
    assert reference.tip_mm is None


@pytest.mark.parametrize("name", sorted(BUILTIN_TOOLS))
def test_builtin_tools_follow_ndi_segment_rule(name):
    assert BUILTIN_TOOLS[name].min_segment_difference_mm() >= MIN_SEGMENT_DIFFERENCE_MM


def test_definition_copies_and_freezes_its_arrays():
    markers = np.array(SQUARE_MM)
    tool = ToolDefinition("plate", markers, tip_mm=[1.0, 2.0, 3.0])
    markers[0, 0] = 99.0
    assert tool.markers_mm[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        tool.markers_mm[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        tool.tip_mm[0] = 1.0


def test_rejects_empty_name():
    with pytest.raises(ConfigurationError, match="name"):
        ToolDefinition("", SQUARE_MM)


def test_rejects_markers_of_wrong_shape():
    with pytest.raises(ConfigurationError, match=r"shape \(N, 3\); got \(4, 2\)"):
        ToolDefinition("plate", np.zeros((4, 2)))


def test_rejects_fewer_than_three_markers():
    with pytest.raises(ConfigurationError, match="at least 3 markers; got 2"):
        ToolDefinition("plate", SQUARE_MM[:2])


def test_rejects_non_finite_markers():
    markers = np.array(SQUARE_MM)
    markers[1, 2] = np.nan
    with pytest.raises(ConfigurationError, match="finite"):
        ToolDefinition("plate", markers)


def test_rejects_collinear_markers():
    with pytest.raises(ConfigurationError, match="collinear"):
        ToolDefinition("needle", [[0.0, 0.0, 0.0], [0.0, 0.0, 10.0], [0.0, 0.0, 30.0]])


def test_rejects_tip_of_wrong_shape():
    with pytest.raises(ConfigurationError, match="tip"):
        ToolDefinition("plate", SQUARE_MM, tip_mm=[1.0, 2.0])


def test_normals_are_scaled_to_unit_length():
    tool = ToolDefinition("plate", SQUARE_MM, normals=np.tile([2.0, 0.0, 0.0], (4, 1)))
    np.testing.assert_allclose(tool.normals, np.tile([1.0, 0.0, 0.0], (4, 1)))


def test_rejects_a_zero_normal():
    normals = np.tile([1.0, 0.0, 0.0], (4, 1))
    normals[2] = 0.0
    with pytest.raises(ConfigurationError, match="normals"):
        ToolDefinition("plate", SQUARE_MM, normals=normals)


def test_rejects_one_normal_too_few():
    with pytest.raises(ConfigurationError, match="normals must be 4"):
        ToolDefinition("plate", SQUARE_MM, normals=np.tile([1.0, 0.0, 0.0], (3, 1)))


def test_rejects_a_maximum_marker_angle_of_zero():
    with pytest.raises(ConfigurationError, match="max_marker_angle_rad"):
        ToolDefinition("plate", SQUARE_MM, max_marker_angle_rad=0.0)
