"""Where a study puts its fiducials: farthest-point sampling and the three layouts on a phantom."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from guidance.exceptions import GuidanceError
from guidance.study import worker_cache
from guidance.study.layouts import (
    CLUSTER_RADIUS_MM,
    PLANE_HALF_WIDTH_MM,
    REACHABLE_DEG,
    farthest_points,
    place_fiducials,
    reachable_skin,
)
from registration.tre import predict_tre_rms

BOX = "builtin:needle-box"
clouds = arrays(
    np.float64, st.tuples(st.integers(2, 30), st.just(3)), elements=st.floats(-100, 100)
)


@given(clouds, st.data())
def test_farthest_point_sampling_picks_each_time_the_point_farthest_from_the_others(points, data):
    count = data.draw(st.integers(1, len(points)))
    first = data.draw(st.integers(0, len(points) - 1))
    chosen = farthest_points(points, count, first)
    assert chosen[0] == first and len(chosen) == count
    for k in range(1, count):
        before = points[chosen[:k]]
        gaps = np.min(np.linalg.norm(points[:, None] - before[None], axis=2), axis=1)
        assert gaps[chosen[k]] == gaps.max()
    # A layout of N + 1 fiducials is the layout of N plus one.
    if count < len(points):
        assert list(farthest_points(points, count + 1, first)[:count]) == list(chosen)


@pytest.fixture(scope="module")
def box():
    return worker_cache.scene(BOX, 0), worker_cache.skin(BOX, 0)


def test_candidates_are_skin_points_facing_the_camera(box):
    scene, skin = box
    candidates = reachable_skin(scene, skin)
    normals = np.asarray(skin.point_data["Normals"])
    index = {tuple(p): k for k, p in enumerate(np.asarray(skin.points))}
    rows = [index[tuple(p)] for p in candidates.points_mm]
    cosines = normals[rows] @ candidates.facing / np.linalg.norm(normals[rows], axis=1)
    assert len(rows) > 100
    assert cosines.min() >= math.cos(math.radians(REACHABLE_DEG)) - 1e-12


def test_the_three_layouts_are_what_their_names_say(box):
    scene, skin = box
    candidates = reachable_skin(scene, skin)
    spread = place_fiducials(candidates, "spread", 8)
    clustered = place_fiducials(candidates, "clustered", 8)
    coplanar = place_fiducials(candidates, "coplanar", 8)
    heights = coplanar @ candidates.facing
    assert np.ptp(heights) <= 2 * PLANE_HALF_WIDTH_MM
    assert np.ptp(clustered @ candidates.facing) > np.ptp(heights)
    assert np.linalg.norm(clustered - clustered[0], axis=1).max() <= 2 * CLUSTER_RADIUS_MM
    # Spread fiducials surround the targets; clustered ones predict a far larger TRE there.
    assert np.all(
        predict_tre_rms(spread, 0.5, scene.targets_mm)
        < predict_tre_rms(clustered, 0.5, scene.targets_mm)
    )
    assert len({tuple(p) for p in spread}) == 8


def test_too_few_or_too_many_fiducials_are_refused(box):
    candidates = reachable_skin(*box)
    with pytest.raises(GuidanceError, match="at least 3 fiducials"):
        place_fiducials(candidates, "spread", 2)
    with pytest.raises(GuidanceError, match="coplanar has"):
        place_fiducials(candidates, "coplanar", 100_000)
    with pytest.raises(GuidanceError, match="unknown layout"):
        place_fiducials(candidates, "ring", 4)
