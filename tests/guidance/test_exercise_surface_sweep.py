"""The surface exercise's choice of swept points and its warnings: samples are kept by their
distance to the skin (not to its nearest vertex), again at the refined pose, and a refined pose
that cannot be trusted says so."""

import dataclasses
import logging
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pyvista as pv

from devices.frame import Frame, PoseStatus, ToolPose
from guidance.exercises import fiducials, simulate, surface
from guidance.exercises.errors import ErrorSources
from guidance.exercises.live import SweepCount
from guidance.exercises.runner import simulated_setup
from registration.closest_point import ClosestPointField
from registration.icp import STYLUS_CONE_RAD, SurfaceRegistration
from registration.point_normals import estimate_patch_normals
from registration.transforms import apply_transform, invert_rigid, rotation_from_vector
from scenes.phantoms import build_phantom
from scenes.student import Skill
from scenes.surface import mesh_arrays

UP = np.array([0.0, 0.0, 1.0])
WEAK_SWEEP = Path(__file__).parent / "data" / "weak_sweep_skull_seed30.npz"


@pytest.fixture(scope="module")
def square_field():
    """A 200 mm square of skin at z = 0 facing +z, in triangles of 20 mm cells: the middle of a
    cell is 14 mm from every vertex."""
    plane = pv.Plane(
        center=(100.0, 100.0, 0.0),
        direction=UP,
        i_size=200.0,
        j_size=200.0,
        i_resolution=10,
        j_resolution=10,
    ).triangulate()
    vertices = np.asarray(plane.points, dtype=np.float64)
    triangles = np.asarray(plane.faces).reshape(-1, 4)[:, 1:]
    return ClosestPointField(vertices, np.tile(UP, (len(vertices), 1)), triangles)


def sweep_of(points, axes=None):
    points = np.asarray(points, dtype=np.float64)
    axes = np.tile(UP, (len(points), 1)) if axes is None else np.asarray(axes, dtype=np.float64)
    return surface.Sweep(points, axes, len(points))


def test_a_sample_on_the_skin_far_from_every_vertex_is_kept(square_field):
    sweep = sweep_of([[110.0, 110.0, 0.05], [130.0, 70.0, -0.3]])
    kept = surface.on_skin(square_field, np.eye(4), sweep, surface.ON_SURFACE_MM)
    np.testing.assert_array_equal(kept.points_mm, sweep.points_mm)
    assert kept.samples == 2


def test_the_tip_in_the_air_is_left_out_and_the_band_is_in_the_ct(square_field):
    sweep = sweep_of([[150.0, 150.0, 2.0], [70.0, 150.0, 0.2]])
    near = surface.on_skin(square_field, np.eye(4), sweep, surface.ON_SURFACE_MM)
    np.testing.assert_array_equal(near.points_mm, sweep.points_mm[1:])
    wide = surface.on_skin(square_field, np.eye(4), sweep, surface.COARSE_BAND_MM)
    assert len(wide.points_mm) == 2
    # A pose that puts the first sample on the skin (2 mm down) keeps it, and loses the other.
    down = np.eye(4)
    down[2, 3] = -2.0
    moved = surface.on_skin(square_field, down, sweep, surface.ON_SURFACE_MM)
    np.testing.assert_array_equal(moved.points_mm, sweep.points_mm[:1])


def test_thinning_keeps_the_sample_nearest_the_skin_not_the_first(square_field):
    # The stylus comes down: 0.8 mm above the skin first, then on it 0.5 mm away.
    sweep = sweep_of([[50.0, 50.0, 0.8], [50.5, 50.0, 0.1], [90.0, 50.0, 0.0]])
    kept = surface.on_skin(square_field, np.eye(4), sweep, surface.ON_SURFACE_MM)
    np.testing.assert_array_equal(kept.points_mm, sweep.points_mm[1:])


def test_a_sample_whose_stylus_faces_the_other_side_is_not_on_this_skin(square_field):
    sweep = sweep_of([[90.0, 130.0, 0.2], [110.0, 130.0, 0.2]], [-UP, UP])
    kept = surface.on_skin(square_field, np.eye(4), sweep, surface.ON_SURFACE_MM)
    np.testing.assert_array_equal(kept.points_mm, sweep.points_mm[1:])


def test_thin_visits_in_the_order_given_and_returns_ascending_indices():
    points = np.array([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0], [5.5, 0, 0]])
    np.testing.assert_array_equal(surface.thin(points, 2.0), [0, 2])
    np.testing.assert_array_equal(surface.thin(points, 2.0, np.array([3, 1, 0, 2])), [1, 3])


def test_refinement_is_how_far_the_refined_pose_moves_each_point():
    rng = np.random.default_rng(4)
    coarse = np.eye(4)
    coarse[:3, :3] = rotation_from_vector(rng.normal(size=3))
    coarse[:3, 3] = rng.normal(scale=50.0, size=3)
    points = rng.normal(scale=80.0, size=(6, 3))
    shift = np.eye(4)
    shift[:3, 3] = [3.0, -4.0, 0.0]
    assert surface.refinement_mm(coarse, shift @ coarse, points) == pytest.approx(5.0)
    # A turn of 0.1 rad about the z axis through the origin moves a point r from it 2 r sin(0.05).
    turn = np.eye(4)
    turn[:3, :3] = rotation_from_vector(np.array([0.0, 0.0, 0.1]))
    far = np.array([[30.0, 40.0, 7.0], [3.0, 4.0, -9.0]])
    assert surface.refinement_mm(coarse, turn @ coarse, far) == pytest.approx(
        2 * 50.0 * math.sin(0.05)
    )


def test_trust_warnings_name_what_to_do():
    many = sweep_of(np.arange(3 * surface.MIN_SWEPT_POINTS, dtype=float).reshape(-1, 3))
    assert surface.trust_warnings(many, surface.MAX_REFINEMENT_MM) == []
    few = sweep_of(np.zeros((surface.MIN_SWEPT_POINTS - 1, 3)))
    (warning,) = surface.trust_warnings(few, 1.0)
    assert f"only {surface.MIN_SWEPT_POINTS - 1} swept points" in warning
    assert "sweep the tip slowly over more of the skin" in warning
    (warning,) = surface.trust_warnings(many, 7.25)
    assert "moved the targets 7.2 mm" in warning and "do not trust this pose" in warning


def _surface_run(seed: int, skill: Skill, errors: ErrorSources | None = None):
    scene = build_phantom("skull", seed=seed)
    stage = simulate.stage(scene, seed)
    setup, tracker = simulated_setup("surface", scene, stage, seed, skill, errors or ErrorSources())
    return scene, setup, tracker.sequence()


def _true_skin_distances(scene, setup, points_mm):
    """Each point's distance (mm) to the skin where it truly was in the session (VTK, not the
    field ICP uses): the CT's skin, less the run's skin shift."""
    in_ct = apply_transform(setup.truth.image_from_reference, points_mm)
    shift = simulate.skin_shift(ErrorSources(), setup.seed)
    where_the_scan_saw_them = pv.PolyData(in_ct + shift.displacement_mm(in_ct))
    skin = simulate.skin_surface(scene)
    return np.abs(where_the_scan_saw_them.compute_implicit_distance(skin)["implicit_distance"])


@pytest.mark.parametrize("seed", [30, 45])
def test_the_novice_sweeps_kept_are_on_the_skin_and_refine_the_landmarks(seed, caplog):
    # Seeds where the points were chosen by their distance to the nearest vertex of the skin at
    # the landmarks' pose: 6 and 10 of the kept points were the stylus in the air, 1-3 mm off
    # the skin, and the refined pose was worse than the landmarks': 4.7 mm off at the worst
    # target with no warning (seed 30, landmarks 2.8 mm), 27 mm (seed 45, landmarks 2.0 mm).
    scene, setup, sequence = _surface_run(seed, Skill.NOVICE)
    with caplog.at_level(logging.WARNING, logger="registration.icp"):
        result = surface.evaluate(sequence, scene, setup)
    # ICP returns its warnings and logs none: the report has the final pose's only (the first
    # choice of points, with the stylus in the air, warned here on seed 45).
    assert not [record for record in caplog.records if record.name == "registration.icp"]
    distances = _true_skin_distances(scene, setup, result.sweep.points_mm)
    assert len(distances) >= surface.MIN_SWEPT_POINTS
    assert np.max(distances) < 1.0
    # Within the exercise's own spread (worst target over 100 seeds, novice: 1.6 +- 0.8 mm), not
    # necessarily better than the landmarks': the skin the student sweeps has moved since the
    # scan, so surface matching can lose a few tenths of a millimetre to them (seed 45: 2.2 mm
    # against 2.0 mm after a change of the patch normals' windows that kept 95 points, not 92).
    refined = max(t.true_tre_mm for t in result.targets)
    landmarks = fiducials.true_tre_mm(result.coarse.image_from_reference, setup, scene.targets_mm)
    assert refined < max(3.0, np.max(landmarks))
    assert result.refinement_mm < surface.MAX_REFINEMENT_MM and result.warnings == ()


def test_a_sweep_mostly_hidden_from_the_camera_warns_to_sweep_more():
    scene, setup, sequence = _surface_run(0, Skill.EXPERT)
    strokes = [e for e in setup.truth.events if e.phase == "sweep"]
    times = sequence.timestamps_s
    hidden = (times >= strokes[0].start_s) & (times <= strokes[-1].end_s)
    for stroke in strokes[:2]:  # a second of each of the first two strokes is seen
        hidden &= ~((times >= stroke.start_s + 0.5) & (times <= stroke.start_s + 1.5))
    poses = sequence.reference_from_tool.copy()
    poses[hidden, sequence.column(setup.stylus)] = np.nan
    result = surface.evaluate(
        dataclasses.replace(sequence, reference_from_tool=poses), scene, setup
    )
    assert len(result.sweep.points_mm) < surface.MIN_SWEPT_POINTS
    assert any("swept points lie on the skin" in w for w in result.warnings)
    full = surface.evaluate(sequence, scene, setup)
    assert not any("swept points" in w for w in full.warnings)


def test_the_live_sweep_count_is_the_first_choice_of_the_scoring():
    """The coach's count (shown while the student sweeps) keeps the samples the scoring's first
    choice keeps: within COARSE_BAND_MM of the skin at the landmarks' pose, 2 mm apart."""
    scene, setup, sequence = _surface_run(1, Skill.EXPERT)
    result = surface.evaluate(sequence, scene, setup)
    field = ClosestPointField(*mesh_arrays(simulate.skin_surface(scene)))
    count = SweepCount(field)
    coach = SimpleNamespace(setup=setup, registration=result.coarse, sweeping=True)
    captured = result.digitisation.by_label()
    first = captured[result.order.landmarks[-1]].period.last + 1
    last = min(captured[label].period.first for label in result.order.validation) - 1
    columns = {tool: sequence.column(tool) for tool in (setup.stylus, setup.reference)}
    for k in range(first, last + 1):
        poses = {
            tool: ToolPose(tool, sequence.reference_from_tool[k, column], PoseStatus.OK)
            if np.all(np.isfinite(sequence.reference_from_tool[k, column]))
            else ToolPose.missing(tool)
            for tool, column in columns.items()
        }
        count(Frame(float(sequence.timestamps_s[k]), k, poses), coach)
    samples = surface.swept_samples(sequence, setup, first, last)
    image_from_reference = result.coarse.image_from_reference
    distances = surface.skin_distances(field, image_from_reference, samples, surface.COARSE_BAND_MM)
    near = samples.points_mm[distances <= surface.COARSE_BAND_MM]
    expected = len(surface.thin(near, surface.MIN_SPACING_MM))
    assert expected > surface.MIN_SWEPT_POINTS
    assert count.note() == f"swept points kept so far: {expected}"


def test_point_to_plane_icp_started_at_a_weakly_constrained_sweeps_optimum_stays_there():
    """A sweep of the novice of seed 30 (5 strokes over a smooth face; chosen within 1.5 mm of
    the skin at the landmarks' pose, then within 1 mm at the point-to-plane refined pose)
    constrains one direction of motion ~10^3 times less than the others. Point-to-plane ICP
    started at its best fit (point-to-point ICP from the truth: its steps cannot climb) used to
    climb away from it step after step: the RMS of the points it weighs went from 0.14 to
    0.19 mm and the pose 1.7 mm away at the worst target. Each step must lower ICP's own
    objective, so it stays. The sweep and its best fit are stored (``WEAK_SWEEP``, saved from
    the exercise of 5d0de1a, before the swept skin slid with the skin markers), so that a
    change to the simulated student does not take the weak direction away from this test."""
    scene = build_phantom("skull", seed=30)
    stored = np.load(WEAK_SWEEP)
    sweep = surface.Sweep(stored["points_mm"], stored["axes"], len(stored["points_mm"]))
    best = stored["image_from_reference"]
    plane = SurfaceRegistration.from_mesh(*mesh_arrays(simulate.skin_surface(scene)))
    facing = {"outward": sweep.axes, "outward_cone_rad": STYLUS_CONE_RAD}
    result = plane.register(sweep.points_mm, best, **facing)
    moved = apply_transform(result.fixed_from_moving @ invert_rigid(best), scene.targets_mm)
    assert np.max(np.linalg.norm(moved - scene.targets_mm, axis=1)) < 0.1
    assert result.converged and result.warnings == ()
    patch_normals = estimate_patch_normals(sweep.points_mm, sweep.axes, None, STYLUS_CONE_RAD)

    def rms(pose):
        planes = plane.field.tangent_planes(
            apply_transform(pose, sweep.points_mm), patch_normals @ pose[:3, :3].T, 2.5
        )
        return float(np.sqrt(np.nanmean(planes.residuals_mm**2)))

    assert rms(result.fixed_from_moving) <= rms(best) + 1e-3
