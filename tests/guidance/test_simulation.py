"""A scene in front of the simulated camera: placement (posture, tilt, shift, reference facing the
camera), approach directions, and a scripted stylus that the simulated tracker films, for every
built-in phantom."""

import math

import numpy as np
import pytest
import pyvista as pv

from devices.noise import CameraView, OpticalNoise
from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError
from guidance.navigator import tip_in_reference_mm
from guidance.simulation import (
    MAX_PLACEMENT_SHIFT_MM,
    MAX_PLACEMENT_TILT_RAD,
    POSTURES,
    SCENE_CENTRE_IN_TRACKER_MM,
    LoopingMotion,
    approach_directions,
    build_motion,
    place_phantom,
    posture_of,
    simulated_tracker,
)
from registration.transforms import apply_transform, as_rigid
from scenes.motions import TouchSettings
from scenes.phantoms import build_phantom
from scenes.scene import Scene
from scenes.surface import extract_surface

QUICK_TOUCH = TouchSettings(travel_s=0.3, approach_s=0.2, dwell_s=0.3)


@pytest.fixture(scope="module", params=["skull", "spine", "needle-box"])
def staged(request) -> tuple[Scene, pv.PolyData]:
    scene = build_phantom(request.param)
    surface = extract_surface(
        scene.ct, scene.skin_threshold_hu, outer_only=True, target_reduction=0.9
    )
    return scene, surface


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


def test_the_camera_films_every_fiducial_touch_and_the_target_path(staged):
    """For each phantom: with exact markers, the tip held on each fiducial, expressed in the
    reference frame and mapped by the true image_from_reference, is the bead; the stylus
    reaches the planned trajectory's target along it; the camera sees both tools throughout."""
    scene, surface = staged
    placement = place_phantom(np.asarray(surface.center), 3, posture_of(scene, surface))
    trajectory = scene.trajectories[0]
    target = next(
        label
        for label, point in zip(scene.target_labels, scene.targets_mm, strict=True)
        if np.array_equal(point, trajectory.target_mm)
    )
    motion = build_motion(scene, surface, placement, QUICK_TOUCH, 3, target_labels=[target])
    tracker = simulated_tracker(
        motion, OpticalNoise(marker_jitter_rms_mm=0.0, camera=CameraView()), 60.0, 3
    )
    with tracker:
        frames = list(tracker)
    assert all(pose.valid for frame in frames for pose in frame.poses.values())
    tip = BUILTIN_TOOLS["stylus"].tip_mm
    image_from_reference = placement.image_from_reference
    points = [scene.fiducials_mm, trajectory.target_mm[None]]
    for dwell, point in zip(motion.dwells, np.vstack(points), strict=True):
        held = [f for f in frames if dwell.start_s <= f.timestamp <= dwell.end_s]
        tips = [apply_transform(image_from_reference, tip_in_reference_mm(f, tip)) for f in held]
        np.testing.assert_allclose(np.mean(tips, axis=0), point, atol=1e-6)
    # On its way in, the stylus is on the planned line: its tip 10 mm before the target.
    approach = next(f for f in frames if f.timestamp > motion.dwells[-1].start_s - 0.1)
    along = apply_transform(image_from_reference, tip_in_reference_mm(approach, tip))
    offset = along - trajectory.entry_mm
    lateral = offset - (offset @ trajectory.direction) * trajectory.direction
    assert np.linalg.norm(lateral) < 1e-6


def test_a_named_target_that_does_not_exist_is_refused(staged):
    scene, surface = staged
    placement = place_phantom(np.asarray(surface.center), 0, posture_of(scene, surface))
    with pytest.raises(GuidanceError, match=r"no target named 'nowhere'; there are \["):
        build_motion(scene, surface, placement, QUICK_TOUCH, 0, target_labels=["nowhere"])


def test_a_looping_motion_plays_the_script_again_and_again(staged):
    scene, surface = staged
    placement = place_phantom(np.asarray(surface.center), 0, posture_of(scene, surface))
    motion = build_motion(scene, surface, placement, QUICK_TOUCH, 0, (), scene.target_labels[:1])
    looping = LoopingMotion(motion, 10 * motion.duration_s)
    assert looping.duration_s == 10 * motion.duration_s
    for t in (0.1, 0.5 * motion.duration_s):
        for name, pose in motion(t).items():
            np.testing.assert_allclose(looping(t + 3 * motion.duration_s)[name], pose, atol=1e-9)
    with pytest.raises(GuidanceError, match="duration > 0 s"):
        LoopingMotion(motion, 0.0)
