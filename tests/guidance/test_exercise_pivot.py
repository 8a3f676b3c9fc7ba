"""The pivot exercise: a simulated student's calibration against the true tip, its file feeding
the other exercises' --tool-tip, the skills, and its replay to the same score."""

import numpy as np
import pytest

from devices.tools import BUILTIN_TOOLS
from guidance.exercises.runner import ExerciseOptions, run_exercise
from guidance.navigator import ToolTip
from scenes.student import Skill
from tests.guidance.reports.explained import unexplained

BOX = "builtin:needle-box"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {
        skill: run_exercise(
            ExerciseOptions(
                "pivot", scene=BOX, out=tmp_path_factory.mktemp(skill.value), seed=1, skill=skill
            )
        )
        for skill in Skill
    }


def test_the_calibrated_tip_is_near_the_true_one_and_the_score_says_by_how_much(runs):
    report = runs[Skill.EXPERT].report
    score = report["score"]
    tip = np.array([score["tip_x_mm"], score["tip_y_mm"], score["tip_z_mm"]])
    true_tip = BUILTIN_TOOLS["stylus"].tip_mm
    assert score["tip_error_mm"] == pytest.approx(np.linalg.norm(tip - true_tip), abs=2e-4)
    assert score["tip_error_mm"] < 0.5
    assert score["tip_offset_mm"] == pytest.approx(np.linalg.norm(tip), abs=2e-4)
    assert 0.0 < score["pivot_rms_mm"] < 1.0
    assert report["pivot"]["true_tip_in_stylus_mm"] == [round(v, 4) for v in true_tip]


def test_every_score_field_is_explained_in_the_report(runs):
    for run in runs.values():
        assert unexplained(run.report) == []


def test_a_novice_pivots_in_a_narrower_cone_and_calibrates_worse(runs):
    expert, novice = runs[Skill.EXPERT].report["score"], runs[Skill.NOVICE].report["score"]
    assert novice["rotation_coverage_deg"] < 0.7 * expert["rotation_coverage_deg"]
    assert novice["tip_error_mm"] > expert["tip_error_mm"]
    assert novice["pivot_rms_mm"] > expert["pivot_rms_mm"]


def test_pivot_json_feeds_the_other_exercises(runs, tmp_path):
    run = runs[Skill.EXPERT]
    pivot_file = run.out_dir / "pivot.json"
    tip = ToolTip.from_pivot_file(pivot_file, "stylus", BUILTIN_TOOLS["stylus"])
    score = run.report["score"]
    np.testing.assert_allclose(
        tip.tip_mm, [score["tip_x_mm"], score["tip_y_mm"], score["tip_z_mm"]], atol=1e-4
    )
    fiducials = run_exercise(
        ExerciseOptions("fiducials", scene=BOX, out=tmp_path, seed=1, tool_tip=pivot_file)
    )
    settings = fiducials.report["settings"]
    assert settings["tool_tip"] == f"pivot calibration {pivot_file}"
    np.testing.assert_allclose(settings["tool_tip_mm"], tip.tip_mm, atol=1e-4)


def test_replaying_a_pivot_recording_gives_the_same_score(runs, tmp_path):
    run = runs[Skill.NOVICE]
    replay = run_exercise(
        ExerciseOptions("pivot", tracker=f"replay:{run.recording_path}", out=tmp_path)
    )
    assert replay.report["score"] == run.report["score"]
    assert replay.report["settings"]["skill"] == "novice"


def test_the_command_line_offers_exactly_the_exercises_the_runner_has():
    from guidance.exercises import EXERCISES as OFFERED
    from guidance.exercises.runner import EXERCISES

    assert tuple(EXERCISES) == OFFERED
