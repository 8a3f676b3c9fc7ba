"""Quaternion (q0, qx, qy, qz) <-> rigid transform round trips."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.ndi.quaternion import quaternion_from_rigid, rigid_from_quaternion

TOLERANCE = 1e-12


def test_quarter_turn_about_z():
    half = math.sqrt(0.5)
    pose = rigid_from_quaternion((half, 0.0, 0.0, half), (1.0, 2.0, 3.0))
    np.testing.assert_allclose(pose[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=TOLERANCE)
    np.testing.assert_allclose(pose[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(pose[3], [0, 0, 0, 1])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_half_turns_keep_their_accuracy(axis):
    quaternion = [0.0, 0.0, 0.0, 0.0]
    quaternion[axis + 1] = 1.0
    pose = rigid_from_quaternion(tuple(quaternion), (0, 0, 0))
    assert quaternion_from_rigid(pose) == pytest.approx(tuple(quaternion), abs=TOLERANCE)


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1))
def test_round_trip(values):
    quaternion = np.asarray(values) / np.linalg.norm(values)
    quaternion *= 1 if quaternion[0] >= 0 else -1
    recovered = quaternion_from_rigid(rigid_from_quaternion(tuple(quaternion), (0, 0, 0)))
    if abs(quaternion[0]) < 1e-9:  # q and -q are the same rotation
        recovered = np.sign(np.dot(recovered, quaternion)) * np.asarray(recovered)
    np.testing.assert_allclose(recovered, quaternion, atol=1e-9)
