"""The closest-point field: its tangent planes against brute force, facing, exactness on a
plane, the same build on any number of threads (a real CT surface), rejected input."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay, cKDTree

from registration.closest_point import (
    BIN_AXES,
    BIN_COVER_RAD,
    FROM_BAND,
    FROM_COARSE,
    NOT_FOUND,
    ClosestPointField,
    FieldSettings,
    _brick_grid,
    _longest_edges,
    _splat_nearest,
)
from registration.exceptions import RegistrationError
from registration.mesh import proper_triangles
from scenes.surface import extract_surface, mesh_arrays
from scenes.volume import load_volume
from tests.registration.shells import make_shell, sample_patch
from tests.shared_data import SHARED_DATA

FOREHEAD = (1.0, 0.2, 0.3)


@pytest.fixture(scope="module")
def shell():
    return make_shell()


@pytest.fixture(scope="module")
def field(shell):
    return ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles)


@pytest.fixture(scope="module")
def ct_surface():
    """The bone surface (200 HU) of TotalSegmentator's example CT, lumbar spine and pelvis at
    3 mm: 131k triangles, a few of them degenerate, as a real CT gives them."""
    image = load_volume(SHARED_DATA / "ct" / "totalsegmentator_example_ct.nii.gz")
    return mesh_arrays(extract_surface(image, 200.0))


def _segment_distances(p, a, b):
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=-1) / np.sum(ab * ab, axis=-1), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def _brute_force_on_triangles(shell, points):
    """Exact distance to the mesh: for every triangle that can hold the closest point, the
    distance to its plane when the foot falls inside it, else to its nearest edge."""
    vertices, triangles = shell.vertices_mm, shell.triangles
    edges = vertices[triangles] - vertices[np.roll(triangles, 1, axis=1)]
    longest_edge = np.linalg.norm(edges, axis=2).max()
    vertex_distance, _ = cKDTree(vertices).query(points)
    centroids = cKDTree(vertices[triangles].mean(axis=1))
    out = np.empty(len(points))
    for i, p in enumerate(points):
        near = centroids.query_ball_point(p, vertex_distance[i] + longest_edge)
        a, b, c = (vertices[triangles[near, k]] for k in range(3))
        normal = np.cross(b - a, c - a)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        height = np.sum((p - a) * normal, axis=1)
        foot = p - height[:, None] * normal
        inside = np.ones(len(near), dtype=bool)
        for u, v in ((a, b), (b, c), (c, a)):
            inside &= np.sum(np.cross(v - u, foot - u) * normal, axis=1) >= 0.0
        edge = np.minimum.reduce([_segment_distances(p, u, v) for u, v in ((a, b), (b, c), (c, a))])
        out[i] = np.min(np.where(inside, np.abs(height), edge))
    return out


def test_every_direction_is_within_the_bin_cover():
    directions = np.random.default_rng(0).normal(size=(100_000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    nearest = np.max(directions @ BIN_AXES.T, axis=1)
    assert np.all(nearest >= np.cos(BIN_COVER_RAD))


def _outward(points):
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_near_surface_planes_give_the_exact_distance(field, shell):
    """Points up to 1.5 mm off the outer table (the band covers them all: 2.5 mm minus half a
    node's diagonal): their nearest nodes' tangent planes give the signed distance to the mesh
    to 0.03 mm (the shell's triangles are ~2.5 mm: a smooth normal over flat facets) and an
    outward normal."""
    on_surface = sample_patch(shell, 500, FOREHEAD, 50.0, 0.0, 1)
    height = np.random.default_rng(1).uniform(-1.5, 1.5, len(on_surface))
    points = on_surface + height[:, None] * _outward(on_surface)
    planes = field.tangent_planes(points, _outward(points))
    assert np.all(planes.source == FROM_BAND)
    exact = _brute_force_on_triangles(shell, points)
    signed = np.where(height >= 0.0, exact, -exact)
    np.testing.assert_allclose(planes.residuals_mm, signed, atol=0.03)
    np.testing.assert_allclose(np.linalg.norm(planes.normals, axis=1), 1.0, atol=1e-6)
    assert np.all(np.sum(planes.normals * _outward(points), axis=1) > 0.8)


@settings(max_examples=30, deadline=None)
@given(st.floats(3.5, 25.0), st.integers(0, 1000))
@example(10.5, 216)  # found by Hypothesis: 3.8 mm off, beyond the bound this test first had
@example(10.5, 594)  # the worst of a scan of 501 seeds at this depth: 4.4 mm off
def test_points_inside_the_shell_still_find_the_outer_table(field, shell, depth_mm, seed):
    """Inside the 6 mm bone, or below the inner table (closer to it than to the outer one), an
    outward-facing query gets the outer table's plane: the inner table faces the other way, so
    the band refuses and the coarse grid, which knows about facing, answers."""
    points = sample_patch(shell, 50, FOREHEAD, 40.0, 0.0, seed)
    outward = _outward(points)
    planes = field.tangent_planes(points - depth_mm * outward, outward)
    assert np.all(planes.source == FROM_COARSE)
    assert np.all(np.sum(planes.normals * outward, axis=1) > 0.5)
    # Below the outer table's plane by about the depth: the coarse plane is a vertex's, up to a
    # coarse cell's diagonal from the closest point on this bumpy shell. Over 501 seeds and
    # depths of 3.5-25 mm (every 0.25 mm) it is off by 0.9 mm at worst up to 9 mm deep, and by
    # up to 42 % of the depth (4.6 mm at 11.5 mm) where the far grid takes over.
    np.testing.assert_allclose(planes.residuals_mm, -depth_mm, atol=0.45 * depth_mm + 0.5)


def test_unoriented_field_answers_with_the_nearer_table(shell):
    """With facing switched off (any normal counts), a point just above the inner table gets
    the inner table: what the facing test prevents."""
    field = ClosestPointField(
        shell.vertices_mm,
        shell.normals,
        shell.triangles,
        FieldSettings(max_normal_angle_rad=math.pi),
    )
    points = sample_patch(shell, 50, FOREHEAD, 40.0, 0.0, 3)
    outward = _outward(points)
    planes = field.tangent_planes(points - 7.0 * outward, outward)  # 1 mm inside the cavity
    assert np.all(np.sum(planes.normals * outward, axis=1) < -0.5)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_the_field_is_exact_for_a_plane(seed):
    """The tangent planes of a flat surface are the plane itself: the residual is the height
    above it (to float32 storage), wherever a point's nearest node is in the band."""
    rng = np.random.default_rng(seed)
    spacing = rng.uniform(0.5, 3.0)
    grid = np.stack(np.meshgrid(np.arange(12.0), np.arange(12.0), indexing="ij"), -1) * spacing
    vertices = np.column_stack([grid.reshape(-1, 2), np.zeros(144)])
    index = np.arange(144).reshape(12, 12)
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]
    triangles = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    normals = np.tile([0.0, 0.0, 1.0], (144, 1))
    field = ClosestPointField(vertices, normals, triangles)
    points = np.column_stack(
        [rng.uniform(2.0, 9.0 * spacing, (200, 2)), rng.uniform(-0.9, 0.9, 200)]
    )
    planes = field.tangent_planes(points, np.tile([0.0, 0.0, 1.0], (200, 1)))
    assert np.all(planes.source == FROM_BAND)
    np.testing.assert_allclose(planes.residuals_mm, points[:, 2], atol=1e-5)
    np.testing.assert_allclose(planes.normals, np.tile([0.0, 0.0, 1.0], (200, 1)), atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_the_field_is_exact_for_an_irregular_plane(seed):
    """A plane triangulated from random points (edges from a fraction of a millimetre to over
    ten): each vertex reaches the band nodes its triangles' size requires, so every point
    within 0.9 mm of the plane, away from its rim, still gets the plane itself."""
    rng = np.random.default_rng(seed)
    corners = np.array([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0], [40.0, 40.0]])
    flat = np.concatenate([corners, rng.uniform(0.0, 40.0, (rng.integers(5, 200), 2))])
    triangles = Delaunay(flat).simplices.astype(np.int64)
    vertices = np.column_stack([flat, np.zeros(len(flat))])
    normals = np.tile([0.0, 0.0, 1.0], (len(vertices), 1))
    field = ClosestPointField(vertices, normals, triangles)
    points = np.column_stack([rng.uniform(3.0, 37.0, (200, 2)), rng.uniform(-0.9, 0.9, 200)])
    planes = field.tangent_planes(points, np.tile([0.0, 0.0, 1.0], (200, 1)))
    assert np.all(planes.source == FROM_BAND)
    np.testing.assert_allclose(planes.residuals_mm, points[:, 2], atol=1e-5)


@pytest.mark.parametrize(
    "settings", [FieldSettings(), FieldSettings(coarse_radius_mm=4.0, far_spacing_mm=4.0)]
)
def test_coarse_answers_face_the_query_and_follow_its_distance(shell, settings):
    """Beyond the band (2.5 mm, plus half a node's diagonal), 4 to 45 mm off the outer table
    or 4 to 10 mm under it, an outward query anywhere on the shell gets a plane facing it whose
    distance is the distance to the outer table within a third of it (the plane of a vertex
    held at a node or cell up to a cell away): with the default grids, and with hardly any
    near grid and a dense far grid of 4 mm cells (as before the near grid)."""
    field = ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles, settings)
    outer = cKDTree(shell.vertices_mm[: shell.n_outer])
    rng = np.random.default_rng(0)
    for depth_mm in (4.0, 6.0, 10.0, 15.0, 20.0, 30.0, 45.0, -4.0, -10.0):
        k = rng.integers(0, shell.n_outer, 300)
        points = shell.vertices_mm[k] + depth_mm * shell.normals[k]
        planes = field.tangent_planes(points, shell.normals[k])
        assert np.all(planes.source == FROM_COARSE)
        assert np.all(np.sum(planes.normals * shell.normals[k], axis=1) > 0.5)
        distance, _ = outer.query(points)
        np.testing.assert_allclose(np.abs(planes.residuals_mm), distance, rtol=0.35)


def test_memory_follows_the_surface_not_its_bounding_box(shell, field):
    """Two shells 600 mm apart (a bounding box about 30 times the volume of one) need about
    twice the memory of one."""
    apart = np.concatenate([shell.vertices_mm, shell.vertices_mm + np.array([600.0, 0.0, 0.0])])
    n = len(shell.vertices_mm)
    two = ClosestPointField(
        apart,
        np.concatenate([shell.normals, shell.normals]),
        np.concatenate([shell.triangles, shell.triangles + n]),
    )
    assert two.nbytes < 2.3 * field.nbytes


def test_the_build_is_the_same_on_any_number_of_threads(ct_surface):
    """The band's two loops and the near grid's are cut between threads (slabs of the grid,
    runs of vertices): the field of a real CT surface is the same bit for bit on one thread as
    on two or three (a cut that moves with the count)."""
    one = ClosestPointField(*ct_surface, threads=1).arrays
    for threads in (2, 3):
        other = ClosestPointField(*ct_surface, threads=threads).arrays
        for name, a, b in zip(one._fields, one, other, strict=True):
            same_bits = np.atleast_1d(a).view(np.uint8), np.atleast_1d(b).view(np.uint8)
            assert np.array_equal(*same_bits), name


def test_band_nodes_know_their_nearest_vertex(ct_surface):
    """On a real CT surface, every band node within the band's radius of a vertex holds a
    vertex at the nearest vertex's distance (a k-d tree's), split over two threads: what the
    band's planes start from."""
    vertices, _, triangles = ct_surface
    triangles = triangles[proper_triangles(vertices, triangles)]
    settings = FieldSettings()
    used = np.flatnonzero(np.bincount(triangles.ravel(), minlength=len(vertices)))
    longest = _longest_edges(len(vertices), vertices, triangles)[used]
    reach = np.sqrt(settings.band_radius_mm**2 + longest**2 / 3.0)
    spacing = settings.band_spacing_mm
    origin, brick_of, n_bricks = _brick_grid(vertices, used, reach, spacing, "band", 10**8)
    one_channel = np.ones(len(used), dtype=np.int64)
    nearest = _splat_nearest(
        vertices, used, reach, one_channel, 1, origin, spacing, brick_of, n_bricks, 2
    )
    bricks = np.argwhere(brick_of >= 0)
    bricks = bricks[np.argsort(brick_of[brick_of >= 0])]
    place = np.stack(np.unravel_index(np.arange(64), (4, 4, 4)), axis=1)
    nodes_mm = origin + spacing * (4 * bricks[:, None, :] + place[None]).reshape(-1, 3)
    sample = np.arange(0, len(nodes_mm), 7)  # one node in seven, for time
    distance, _ = cKDTree(vertices[used]).query(nodes_mm[sample])
    within = distance <= settings.band_radius_mm
    assert within.sum() > 100_000
    held = np.linalg.norm(vertices[nearest[sample[within]]] - nodes_mm[sample[within]], axis=1)
    np.testing.assert_allclose(held, distance[within], rtol=0, atol=1e-6)


def test_threads_must_be_positive(shell):
    with pytest.raises(RegistrationError, match="threads must be at least 1"):
        ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles, threads=0)


def test_points_far_outside_the_grid_are_answered(field):
    points = np.array([[500.0, 0.0, 0.0], [0.0, -400.0, 300.0]])
    planes = field.tangent_planes(points, _outward(points))
    assert np.all(planes.source == FROM_COARSE)
    assert np.all(planes.residuals_mm > 300.0)


def test_coarse_answers_beyond_the_distance_limit_are_not_found(field):
    points = np.array([[500.0, 0.0, 0.0], [0.0, -400.0, 300.0]])
    planes = field.tangent_planes(points, _outward(points), max_distance_mm=50.0)
    assert np.all(planes.source == NOT_FOUND)
    assert np.all(np.isnan(planes.residuals_mm))


def test_band_answers_beyond_the_distance_limit_are_not_found(field, shell):
    on_surface = sample_patch(shell, 50, FOREHEAD, 40.0, 0.0, 2)
    points = on_surface + 1.2 * _outward(on_surface)
    near = field.tangent_planes(points, _outward(points))
    limited = field.tangent_planes(points, _outward(points), max_distance_mm=1.0)
    assert np.all(near.source == FROM_BAND)
    assert np.all(limited.source == NOT_FOUND)


def test_query_direction_shape_must_match(field):
    with pytest.raises(RegistrationError, match="directions must have the shape"):
        field.tangent_planes(np.zeros((4, 3)), np.ones((3, 3)))


def test_field_too_large_is_rejected(shell):
    with pytest.raises(RegistrationError, match="too large"):
        ClosestPointField(
            shell.vertices_mm,
            shell.normals,
            shell.triangles,
            FieldSettings(spacing_mm=0.05),
        )


def test_degenerate_triangles_are_skipped(shell, field):
    """Zero-area triangles (a corner repeated, a corner duplicated at the same place, three
    corners on a line), as a CT's contour can leave: the field builds and answers as without
    them."""
    vertices, triangles = shell.vertices_mm, shell.triangles
    a, b = triangles[0, 0], triangles[0, 1]
    extra = np.array([vertices[a], 0.5 * (vertices[a] + vertices[b])])  # a twin, a midpoint
    n = len(vertices)
    degenerate = np.array([[a, a, b], [a, n, b], [a, n + 1, b], [n, a, n]])
    field_with = ClosestPointField(
        np.concatenate([vertices, extra]),
        np.concatenate([shell.normals, shell.normals[[a, a]]]),
        np.concatenate([triangles, degenerate]),
    )
    points = sample_patch(shell, 500, FOREHEAD, 60.0, 0.5, 5)
    directions = _outward(points)
    with_them = field_with.tangent_planes(points, directions)
    without = field.tangent_planes(points, directions)
    np.testing.assert_allclose(with_them.residuals_mm, without.residuals_mm, atol=1e-9)
    np.testing.assert_array_equal(with_them.source, without.source)


def test_a_surface_of_only_degenerate_triangles_is_rejected():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    normals = np.array([[0.0, 0, 1]] * 3)
    with pytest.raises(RegistrationError, match="spans a plane"):
        ClosestPointField(vertices, normals, np.array([[0, 1, 2], [0, 0, 1]]))


def test_triangles_out_of_range_are_rejected(shell):
    with pytest.raises(RegistrationError, match="only 20484 vertices"):
        ClosestPointField(shell.vertices_mm, shell.normals, shell.triangles + 5)


def test_zero_normals_are_rejected(shell):
    normals = shell.normals.copy()
    normals[7] = 0.0
    with pytest.raises(RegistrationError, match="1 zero-length rows"):
        ClosestPointField(shell.vertices_mm, normals, shell.triangles)


def test_non_positive_spacing_is_rejected():
    with pytest.raises(RegistrationError, match="spacing_mm must be > 0"):
        FieldSettings(spacing_mm=0.0)


def test_normal_angle_out_of_range_is_rejected():
    with pytest.raises(RegistrationError, match="max_normal_angle_rad"):
        FieldSettings(max_normal_angle_rad=4.0)


def test_non_positive_far_spacing_is_rejected():
    with pytest.raises(RegistrationError, match="far_spacing_mm must be > 0"):
        FieldSettings(far_spacing_mm=-1.0)


def test_coarse_radius_below_its_spacing_is_rejected():
    with pytest.raises(RegistrationError, match="coarse_radius_mm"):
        FieldSettings(spacing_mm=4.0, coarse_radius_mm=3.0)


def test_band_narrower_than_its_node_spacing_is_rejected():
    with pytest.raises(RegistrationError, match="band_radius_mm"):
        FieldSettings(band_spacing_mm=2.0, band_radius_mm=1.0)


def test_band_too_large_is_rejected(shell):
    with pytest.raises(RegistrationError, match="band of the closest-point field needs"):
        ClosestPointField(
            shell.vertices_mm,
            shell.normals,
            shell.triangles,
            FieldSettings(band_spacing_mm=0.05, band_radius_mm=0.1),
        )
