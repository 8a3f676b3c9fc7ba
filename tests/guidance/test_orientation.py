"""The display convention: radiological slices whose edges name the patient directions."""

import numpy as np
import pytest

from guidance.orientation import SLICE_VIEWS, direction_letter, screen_edge_letters


@pytest.mark.parametrize(
    ("direction", "up", "expected"),
    [
        # Axial from the feet, anterior up: radiological, patient right on screen left.
        ((0, 0, 1), (0, -1, 0), {"right": "L", "left": "R", "top": "A", "bottom": "P"}),
        # Coronal from the front, superior up.
        ((0, 1, 0), (0, 0, 1), {"right": "L", "left": "R", "top": "S", "bottom": "I"}),
        # Sagittal from the patient's left, superior up: anterior on screen left.
        ((-1, 0, 0), (0, 0, 1), {"right": "P", "left": "A", "top": "S", "bottom": "I"}),
    ],
)
def test_slice_edges_name_the_patient_directions(direction, up, expected):
    assert screen_edge_letters(direction, up) == expected


def test_the_three_views_put_the_patient_left_on_the_screen_right_where_they_can():
    letters = {view.name: view.edge_letters() for view in SLICE_VIEWS}
    assert letters["axial"] == {"right": "L", "left": "R", "top": "A", "bottom": "P"}
    assert letters["coronal"] == {"right": "L", "left": "R", "top": "S", "bottom": "I"}
    assert letters["sagittal"] == {"right": "P", "left": "A", "top": "S", "bottom": "I"}


def test_each_view_looks_along_its_plane_normal():
    for view in SLICE_VIEWS:
        assert abs(np.dot(view.direction, view.normal)) == 1.0
        assert np.dot(view.up, view.normal) == 0.0
        np.testing.assert_array_equal(view.right, np.cross(view.direction, view.up))


@pytest.mark.parametrize(
    ("vector", "letter"),
    [((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"), ((0, 0, 1), "S")],
)
def test_lps_axes_have_their_letters(vector, letter):
    assert direction_letter(vector) == letter
