"""The targeting and surface exercises end to end with a simulated student, replayed to the same
score, and their bad input."""

import dataclasses

import numpy as np
import pytest
from scipy.spatial import cKDTree

from devices.sequence_file import read_sequence
from guidance.exceptions import GuidanceError
from guidance.exercises import surface
from guidance.exercises.runner import ExerciseOptions, run_exercise
from guidance.exercises.setup import ExerciseSetup
from guidance.exercises.simulate import skin_surface
from registration.icp import STYLUS_CONE_RAD
from registration.transforms import apply_transform
from scenes.phantoms import build_phantom, resolve_scene
from scenes.scene import Trajectory
from scenes.student import Skill
from scenes.surface import mesh_arrays
from tests.guidance.reports.explained import unexplained

BOX = "builtin:needle-box"


@pytest.fixture(scope="module")
def targeting_runs(tmp_path_factory):
    return {
        skill: run_exercise(
            ExerciseOptions(
                "targeting",
                scene=BOX,
                out=tmp_path_factory.mktemp(skill.value),
                seed=3,
                skill=skill,
            )
        )
        for skill in Skill
    }


def test_targeting_scores_the_end_position_against_the_plan(targeting_runs):
    report = targeting_runs[Skill.EXPERT].report
    score = report["score"]
    assert all(score[key] is not None for key in score)
    # The navigated tip is off the target by its lateral offset and depth error (Pythagoras,
    # within the hold's averaging), and the true tip is off it by about as much.
    assert score["tip_to_target_mm"] == pytest.approx(
        np.hypot(score["lateral_offset_mm"], score["depth_error_mm"]), abs=0.05
    )
    assert score["true_tip_to_target_mm"] < 5.0
    assert score["breaches"] == sum(s["breached"] for s in report["structures"])
    assert score["closest_structure_mm"] == min(s["closest_mm"] for s in report["structures"])
    assert report["trajectory"]["name"] == "T1"
    assert report["tre_map"]["target"] == "T1"


def test_every_number_of_the_targeting_report_is_explained(targeting_runs):
    for run in targeting_runs.values():
        assert unexplained(run.report) == []


def test_a_novice_is_farther_off_and_slower(targeting_runs):
    expert = targeting_runs[Skill.EXPERT].report["score"]
    novice = targeting_runs[Skill.NOVICE].report["score"]
    assert novice["angle_error_deg"] > expert["angle_error_deg"]
    assert novice["time_s"] > expert["time_s"]


def test_targeting_replays_to_the_same_score(targeting_runs, tmp_path):
    run = targeting_runs[Skill.NOVICE]
    replay = run_exercise(
        ExerciseOptions("targeting", tracker=f"replay:{run.recording_path}", out=tmp_path)
    )
    assert replay.report["score"] == run.report["score"]
    assert replay.report["structures"] == run.report["structures"]


def test_a_target_outside_the_ct_is_refused_before_anything_starts(tmp_path):
    scene = build_phantom("needle-box", seed=0)
    outside = Trajectory("far", scene.trajectories[0].entry_mm, np.array([0.0, 0.0, 900.0]))
    folder = tmp_path / "scene"
    dataclasses.replace(scene, trajectories=(outside,)).save(folder)
    out = tmp_path / "out"
    with pytest.raises(GuidanceError, match=r"trajectory 'far': its target .* is outside the CT"):
        run_exercise(ExerciseOptions("targeting", scene=str(folder), out=out))
    assert not (out / "recording.igs.mha").exists()


def test_surface_refines_the_landmark_registration_and_replays(tmp_path):
    run = run_exercise(
        ExerciseOptions(
            "surface", scene="builtin:skull", out=tmp_path / "a", seed=0, skill=Skill.EXPERT
        )
    )
    score = run.report["score"]
    assert all(score[key] is not None for key in score)
    assert unexplained(run.report) == []
    assert score["n_points"] > 50
    assert score["inlier_fraction"] > 0.8
    assert score["surface_rms_mm"] < 0.5
    assert [f["used"] for f in run.report["fiducials"]] == [True] * 4 + [False] * 2
    replay = run_exercise(
        ExerciseOptions("surface", tracker=f"replay:{run.recording_path}", out=tmp_path / "b")
    )
    assert replay.report["score"] == score
    # Each swept point faces the way the stylus pointed: in the CT, within the stylus cone of the
    # skin's normal where it was taken (the sweep holds the shaft within ~20 deg of it).
    setup = ExerciseSetup.read(tmp_path / "a" / "run.json")
    scene = resolve_scene(setup.scene, seed=setup.seed)
    result = surface.evaluate(read_sequence(run.recording_path), scene, setup)
    vertices, normals, _ = mesh_arrays(skin_surface(scene))
    image_from_reference = result.icp.fixed_from_moving
    _, nearest = cKDTree(vertices).query(
        apply_transform(image_from_reference, result.sweep.points_mm)
    )
    axes = result.sweep.axes @ image_from_reference[:3, :3].T
    cosines = np.sum(axes * normals[nearest], axis=1)
    assert np.all(cosines > np.cos(STYLUS_CONE_RAD))
