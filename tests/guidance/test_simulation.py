"""A scene in front of the simulated camera: placement (posture, tilt, shift, reference facing the
camera), approach directions, and the simulated student that the simulated tracker films (the
fiducials exercise's touches, navigate's visit to a target), for every built-in phantom."""

import math

import numpy as np
import pytest
import pyvista as pv

from devices.noise import CameraView, OpticalNoise
from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials, simulate
from guidance.navigator import tip_in_reference_mm
from guidance.simulation import (
    MAX_PLACEMENT_SHIFT_MM,
    MAX_PLACEMENT_TILT_RAD,
    POSTURES,
    SCENE_CENTRE_IN_TRACKER_MM,
    LoopingMotion,
    approach_directions,
    place_phantom,
    posture_of,
    simulated_tracker,
)
from registration.transforms import apply_transform, as_rigid, invert_rigid
from scenes.phantoms import build_phantom
from scenes.scene import Scene
from scenes.student import SKILLS, Skill

EXACT_CAMERA = OpticalNoise(marker_jitter_rms_mm=0.0, camera=CameraView())


@pytest.fixture(scope="module", params=["skull", "spine", "needle-box"])
def staged(request) -> tuple[Scene, pv.PolyData]:
    scene = build_phantom(request.param)
    return scene, simulate.skin_surface(scene)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("name", sorted(POSTURES))
def test_placement_turns_the_posture_to_the_camera_and_the_reference_faces_it(name, seed):
    centre = np.array([1.0, -2.0, 20.0])
    posture = POSTURES[name]
    placement = place_phantom(centre, seed, posture)
    tracker_from_image = as_rigid(placement.tracker_from_image)
    as_rigid(placement.image_from_reference)
    in_tracker = apply_transform(tracker_from_image, centre)
    assert np.all(np.abs(in_tracker - SCENE_CENTRE_IN_TRACKER_MM) <= MAX_PLACEMENT_SHIFT_MM)
    tracker_from_reference = placement.tracker_from_reference
    normal = BUILTIN_TOOLS["reference"].normals.mean(axis=0)
    facing = tracker_from_reference[:3, :3] @ (normal / np.linalg.norm(normal))
    to_camera = -tracker_from_reference[:3, 3] / np.linalg.norm(tracker_from_reference[:3, 3])
    assert facing @ to_camera > math.cos(math.radians(1.0))
    # The posture's facing side points at the camera (+z), its up is up (+y), within the tilt.
    tilt_cosine = math.cos(MAX_PLACEMENT_TILT_RAD + 1e-9)
    assert (tracker_from_image[:3, :3] @ posture.facing)[2] > tilt_cosine
    assert (tracker_from_image[:3, :3] @ posture.up)[1] > tilt_cosine


def test_the_skull_lies_as_the_demo_always_had_it():
    """Supine, the camera at the head end: vertex (+z) toward it, face (-y) up."""
    placement = place_phantom(np.zeros(3), 0, POSTURES["skull"])
    superior = placement.tracker_from_image[:3, :3] @ [0.0, 0.0, 1.0]
    anterior = placement.tracker_from_image[:3, :3] @ [0.0, -1.0, 0.0]
    assert superior[2] > math.cos(MAX_PLACEMENT_TILT_RAD) and anterior[1] > 0.9


def test_a_scene_folder_of_another_name_turns_its_fiducials_to_the_camera(staged):
    scene, surface = staged
    renamed = Scene(
        "my-phantom", scene.ct, scene.fiducials_mm, scene.fiducial_labels, scene.targets_mm,
        scene.target_labels, scene.structures,
    )  # fmt: skip
    posture = posture_of(renamed, surface)
    toward = scene.fiducials_mm.mean(axis=0) - np.asarray(surface.center)
    np.testing.assert_allclose(posture.facing, toward / np.linalg.norm(toward), atol=1e-12)
    assert abs(posture.up @ posture.facing) < 0.75
    reference = np.asarray(surface.center) + posture.reference_offset_mm
    points = np.asarray(surface.points)
    assert np.linalg.norm(points - reference, axis=1).min() > 30.0  # clear of the surface
    assert posture_of(scene, surface) is POSTURES[scene.name]


def test_approach_directions_on_a_ball():
    """On a 50 mm ball: a bead on the surface is approached radially (within 1 degree, the
    facet size of the mesh); a target 30 mm deep leaves by its nearest surface point, or along
    its planned path when it has one."""
    ball = pv.Sphere(radius=50.0, theta_resolution=90, phi_resolution=90).compute_normals()
    bead = np.array([[0.0, 50.0, 0.0]])
    target = np.array([[0.0, 0.0, 20.0]])
    approaches = approach_directions(ball, bead, target, hover_mm=40.0)
    assert approaches.fiducial_dirs[0] @ [0.0, 1.0, 0.0] > math.cos(math.radians(1.0))
    assert approaches.target_dirs[0] @ [0.0, 0.0, 1.0] > math.cos(math.radians(1.0))
    assert approaches.target_hover_mm[0] == pytest.approx(30.0 + 40.0, abs=0.1)
    entry = np.array([50.0, 0.0, 20.0])
    along_path = approach_directions(ball, bead, target, 40.0, [entry])
    np.testing.assert_allclose(along_path.target_dirs[0], [1.0, 0.0, 0.0], atol=1e-12)
    assert along_path.target_hover_mm[0] == pytest.approx(50.0 + 40.0)


def test_approach_directions_refuse_a_bead_off_the_skin():
    ball = pv.Sphere(radius=50.0).compute_normals()
    with pytest.raises(GuidanceError, match="not on the skin"):
        approach_directions(ball, np.array([[0.0, 0.0, 200.0]]), np.zeros((1, 3)), 40.0)


def _filmed(stage: simulate.Stage, motion) -> list:
    tracker = simulated_tracker(motion, EXACT_CAMERA, 60.0, 3)
    with tracker:
        frames = list(tracker)
    assert all(pose.valid for frame in frames for pose in frame.poses.values())
    return frames


def _tips_in_image(stage: simulate.Stage, frames: list) -> np.ndarray:
    tip = BUILTIN_TOOLS["stylus"].tip_mm
    image_from_reference = stage.placement.image_from_reference
    return np.array(
        [apply_transform(image_from_reference, tip_in_reference_mm(f, tip)) for f in frames]
    )


def test_the_camera_films_every_fiducial_touch(staged):
    """For each phantom: the student of the fiducials exercise, filmed with exact markers by a
    camera with a line of sight: both tools are seen throughout, and the tip held on each
    fiducial, taken through the reference and the true image_from_reference, is where the
    student rested it, within the placement error of the bead."""
    scene, surface = staged
    stage = simulate.Stage(scene, *_placed(scene, surface))
    motion = fiducials.script(stage, SKILLS[Skill.EXPERT], 3)
    frames = _filmed(stage, motion)
    times = np.array([f.timestamp for f in frames])
    image_from_tracker = invert_rigid(stage.placement.tracker_from_image)
    beads = dict(zip(scene.fiducial_labels, scene.fiducials_mm, strict=True))
    for event in motion.events:
        held = [f for f, t in zip(frames, times, strict=True) if event.start_s <= t <= event.end_s]
        rest = apply_transform(image_from_tracker, event.tip_mm)
        # (within the dwell's first and last 0.15 s, tremor fades out and back in)
        np.testing.assert_allclose(_tips_in_image(stage, held).mean(axis=0), rest, atol=0.01)
        assert np.linalg.norm(rest - beads[event.label]) < 1.0


def test_the_stylus_visits_the_target_along_its_trajectory(staged):
    """For each phantom: navigate's simulated stylus goes in along the planned trajectory and
    stops near its target (an expert's depth error), seen by the camera throughout."""
    scene, surface = staged
    stage = simulate.Stage(scene, *_placed(scene, surface))
    trajectory = scene.trajectories[0]
    hand = SKILLS[Skill.EXPERT]
    motion = simulate.target_visit(stage, hand, 3, "T", trajectory.target_mm, trajectory.entry_mm)
    tips = _tips_in_image(stage, _filmed(stage, motion))
    offsets = tips - trajectory.entry_mm
    depth = offsets @ trajectory.direction
    lateral = np.linalg.norm(offsets - depth[:, None] * trajectory.direction, axis=1)
    inside = depth > 1.0
    # Inside the body the tip keeps within the expert's entry and angle errors of the line.
    assert inside.any() and lateral[inside].max() < 5.0
    assert abs(depth.max() - trajectory.length_mm) < 4.0 * hand.depth_error_mm + 2.0


def _placed(scene: Scene, surface: pv.PolyData) -> tuple:
    placement = place_phantom(np.asarray(surface.center), 3, posture_of(scene, surface))
    centre = apply_transform(placement.tracker_from_image, np.asarray(surface.center))
    return placement, surface, centre, simulate.SIMULATED_TOOLS


def test_a_looping_motion_plays_the_script_again_and_again(staged):
    scene, surface = staged
    stage = simulate.Stage(scene, *_placed(scene, surface))
    target = scene.targets_mm[0]
    motion = simulate.target_visit(stage, SKILLS[Skill.NOVICE], 0, "T", target)
    looping = LoopingMotion(motion, 10 * motion.duration_s)
    assert looping.duration_s == 10 * motion.duration_s
    for t in (0.1, 0.5 * motion.duration_s):
        for name, pose in motion(t).items():
            np.testing.assert_allclose(looping(t + 3 * motion.duration_s)[name], pose, atol=1e-9)
    times = np.array([0.1, 3.5 * motion.duration_s, 9.9 * motion.duration_s])
    for name, poses in looping.sample(times).items():
        for t, pose in zip(times, poses, strict=True):
            np.testing.assert_allclose(pose, looping(t)[name], atol=1e-12)
    with pytest.raises(GuidanceError, match="duration > 0 s"):
        LoopingMotion(motion, 0.0)
