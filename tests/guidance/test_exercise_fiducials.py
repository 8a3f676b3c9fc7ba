"""The fiducials exercise end to end with a simulated student, its replay to the same score, the
error sources' shares, and bad input (the skills and the skin shift: test_exercise_errors)."""

import json

import numpy as np
import pytest

from devices.sequence_file import read_sequence, write_sequence
from guidance.exceptions import GuidanceError
from guidance.exercises.errors import SOURCES
from guidance.exercises.runner import ExerciseOptions, run_exercise
from scenes.phantoms import build_phantom
from scenes.student import Skill
from tests.browser import check_page
from tests.guidance.reports.explained import unexplained

# The needle box builds in a fraction of the skull's time; the demo runs on the skull.
BOX = "builtin:needle-box"


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fiducials")
    return run_exercise(
        ExerciseOptions("fiducials", scene=BOX, out=out, seed=2, skill=Skill.EXPERT)
    )


def test_a_simulated_run_writes_its_files_and_a_complete_score(expert_run):
    report = expert_run.report
    for path in (expert_run.report_path, expert_run.recording_path, expert_run.run_path):
        assert path.is_file()
    assert expert_run.page_path is not None and expert_run.page_path.is_file()
    assert json.loads(expert_run.report_path.read_text()) == report
    score = report["score"]
    assert set(score) == {
        "fre_rms_mm",
        "max_residual_mm",
        "fle_from_fre_mm",
        "n_points",
        "validation_tre_rms_mm",
        "predicted_tre_rms_mm",
        "registration_error_mm",
    }
    assert all(value is not None for value in score.values())
    assert score["n_points"] == 6  # 8 beads on the box: 6 registered, 2 to validate
    assert [f["used"] for f in report["fiducials"]] == [True] * 6 + [False] * 2
    assert [c["label"] for c in report["captures"]] == [f"F{k}" for k in range(1, 9)]
    assert {e["source"] for e in report["errors_simulated"]} == set(SOURCES)
    assert report["warnings"] == []


def test_every_number_is_explained_and_the_page_opens_cleanly_in_a_browser(expert_run):
    assert unexplained(expert_run.report) == []
    check = check_page(expert_run.page_path)
    assert (check.console_errors, check.script_errors, check.outside_requests) == ((), (), ())
    assert len(check.images) >= 2  # residual bars and the predicted-TRE map at least
    assert all(width > 0 and height > 0 for _, width, height in check.images)


def test_the_score_agrees_with_what_the_steps_recorded(expert_run):
    """FRE is the RMS of the registered residuals; the validation TRE the RMS of theirs."""
    report = expert_run.report
    used = [f["residual_mm"] for f in report["fiducials"] if f["used"]]
    validation = [f["measured_tre_mm"] for f in report["fiducials"] if not f["used"]]
    score = report["score"]
    assert score["fre_rms_mm"] == pytest.approx(np.sqrt(np.mean(np.square(used))), abs=2e-4)
    assert score["max_residual_mm"] == pytest.approx(max(used), abs=1e-4)
    assert score["validation_tre_rms_mm"] == pytest.approx(
        np.sqrt(np.mean(np.square(validation))), abs=2e-4
    )
    assert score["registration_error_mm"] == max(
        t["registration_error_mm"] for t in report["targets"]
    )


def test_replaying_the_recording_gives_the_same_score(expert_run, tmp_path):
    replay = run_exercise(
        ExerciseOptions(
            "fiducials", tracker=f"replay:{expert_run.recording_path}", out=tmp_path / "replay"
        )
    )
    for key in ("score", "fiducials", "targets", "captures", "errors_simulated"):
        assert replay.report[key] == expert_run.report[key], key
    assert replay.report["settings"]["seed"] == 2  # taken from the recording's run.json


def test_replay_refuses_another_seed_than_the_recording_had(expert_run, tmp_path):
    with pytest.raises(GuidanceError, match="made with --seed 2"):
        run_exercise(
            ExerciseOptions(
                "fiducials",
                tracker=f"replay:{expert_run.recording_path}",
                out=tmp_path / "replay",
                seed=5,
            )
        )


def test_with_every_error_source_off_the_registration_is_nearly_exact(tmp_path, expert_run):
    """What is left is the bead detector's (~0.01 mm on the ideal CT) and the first frames of
    each departure inside the dwell: a tenth of the default errors or less."""
    run = run_exercise(
        ExerciseOptions("fiducials", scene=BOX, out=tmp_path, seed=2, without=SOURCES)
    )
    score, default = run.report["score"], expert_run.report["score"]
    assert score["fre_rms_mm"] < min(0.05, 0.2 * default["fre_rms_mm"])
    assert score["registration_error_mm"] < min(0.05, 0.2 * default["registration_error_mm"])
    assert score["validation_tre_rms_mm"] < min(0.05, 0.2 * default["validation_tre_rms_mm"])
    assert not any(entry["enabled"] for entry in run.report["errors_simulated"])


def test_a_scene_without_enough_fiducials_is_refused_before_anything_starts(tmp_path):
    scene = build_phantom("needle-box", seed=0)
    folder = tmp_path / "scene"
    import dataclasses

    dataclasses.replace(
        scene, fiducials_mm=scene.fiducials_mm[:2], fiducial_labels=scene.fiducial_labels[:2]
    ).save(folder)
    out = tmp_path / "out"
    with pytest.raises(
        GuidanceError, match="has 2 fiducials; the fiducials exercise needs at least 3"
    ):
        run_exercise(ExerciseOptions("fiducials", scene=str(folder), out=out))
    assert not (out / "recording.igs.mha").exists()


def test_a_replay_without_the_scene_tools_is_refused_before_anything_starts(tmp_path):
    recording = tmp_path / "other.igs.mha"
    source = read_sequence(
        __import__("tests.shared_data", fromlist=["SHARED_DATA"]).SHARED_DATA
        / "tracking"
        / "SlidingProbeTrackingData.igs.mha"
    )
    write_sequence(recording, [source.frame(k) for k in range(len(source))], source.tools)
    out = tmp_path / "out"
    with pytest.raises(
        GuidanceError, match=r"tracks \['needle', 'probe', 'reference'\], not the exercise's stylus"
    ):
        run_exercise(ExerciseOptions("fiducials", tracker=f"replay:{recording}", out=out))
    assert not (out / "recording.igs.mha").exists()


def test_too_few_captured_points_keep_the_recording_and_say_why(expert_run, tmp_path):
    """A recording cut after the second fiducial: the report says which fiducials have no still
    period and that 3 are needed; the recording is kept."""
    sequence = read_sequence(expert_run.recording_path)
    second = expert_run.report["captures"][1]["frames"][1]
    folder = tmp_path / "cut"
    folder.mkdir()
    write_sequence(
        folder / "recording.igs.mha",
        [sequence.frame(k) for k in range(second + 30)],
        sequence.tools,
    )
    (folder / "run.json").write_text(expert_run.run_path.read_text())
    out = tmp_path / "out"
    with pytest.raises(GuidanceError, match=r"at least 3 captured points; got 2 \(F1, F2\)"):
        run_exercise(
            ExerciseOptions("fiducials", tracker=f"replay:{folder / 'recording.igs.mha'}", out=out)
        )
    report = json.loads((out / "report.json").read_text())
    assert "no still period was found for F3, F4" in report["error"]
    assert report["error"] in report["warnings"]
    assert (out / "recording.igs.mha").is_file()


def test_a_run_held_in_memory_scores_as_the_written_one(expert_run):
    """``simulated_report`` (no files, for studies) gives the score ``run_exercise`` wrote."""
    from guidance.exercises import simulate
    from guidance.exercises.errors import ErrorSources
    from guidance.exercises.runner import simulated_report

    scene = build_phantom("needle-box", seed=2)
    stage = simulate.stage(scene, 2)
    report = simulated_report("fiducials", scene, stage, 2, Skill.EXPERT, ErrorSources())
    assert report["score"] == expert_run.report["score"]
    assert report["fiducials"] == expert_run.report["fiducials"]


def test_a_live_run_names_each_fiducial_in_turn_and_ends_once_all_are_held(expert_run, tmp_path):
    """The acquire step as a student with a real tracker meets it (a recording of the simulated
    student stands in for the hand, paced as recorded on a fake clock shared by the replay and
    the session, so the run takes no wall time and ends on the same frame however busy the
    machine): each fiducial named in the capture order, the next named once the last is held,
    the registration made (and handed to the navigator) once the registered ones are held, each
    validation point measured, and the session over on the frame that completes the last
    dwell, before the recording's last frames (the lift-off). The window's notes follow."""
    from devices.clock import FakeClock
    from devices.replay import ReplayTracker
    from guidance.exercises import fiducials
    from guidance.exercises.acquire import acquire, make_coach, navigator_before_registration
    from guidance.exercises.setup import ExerciseSetup

    scene = build_phantom("needle-box", seed=2)
    setup = ExerciseSetup.read(expert_run.run_path)
    navigator, unregistered = navigator_before_registration(fiducials, scene, setup)
    assert unregistered.endswith("the views show where the stylus truly is")
    np.testing.assert_array_equal(navigator.image_from_reference, setup.truth.image_from_reference)
    said = []
    coach = make_coach(fiducials, scene, setup, navigator, unregistered, said.append, True)
    assert coach.notes()[:2] == ["fiducials: step 1 of 8", fiducials.tasks(scene)[0].prompt]
    clock = FakeClock()
    tracker = ReplayTracker(expert_run.recording_path, speed=1.0, clock=clock)
    summary = acquire(tracker, navigator, coach, tmp_path / "live.igs.mha", clock=clock)
    asked = [line for line in said if line.startswith("hold the tip still")]
    assert asked == [task.prompt for task in fiducials.tasks(scene)]
    assert "validation point" in asked[-1] and "validation point" not in asked[0]
    held = [line for line in said if line.startswith("held still")]
    assert len(held) == 7 and coach.done()  # the last one ends the run while still held
    assert [point.label for point in coach.captured] == [f"F{k}" for k in range(1, 8)]
    # Registered as soon as F6 was held, with the points the scoring registers.
    fre = expert_run.report["score"]["fre_rms_mm"]
    assert [line for line in said if line.startswith("registered")] == [
        f"registered 6 points: FRE {fre:.2f} mm"
    ]
    np.testing.assert_allclose(
        navigator.image_from_reference, coach.registration.image_from_reference
    )
    measured = next(f for f in expert_run.report["fiducials"] if f["label"] == "F7")
    tre = measured["measured_tre_mm"]
    assert f"F7: navigation puts the tip {tre:.2f} mm from the CT's bead" in said
    assert coach.notes()[0] == "fiducials: step 8 of 8" and "held" in coach.notes()
    first, last = expert_run.report["captures"][-1]["frames"]
    assert summary.frames_recorded < len(read_sequence(expert_run.recording_path))
    assert first < summary.frames_recorded < last  # within the last dwell, still held
    assert summary.frames_recorded == coach.frame_index  # no frame after the one that ended it


def test_a_person_is_told_when_each_point_is_held_and_a_pause_by_the_last_point_ends_nothing(
    expert_run,
):
    """The coach of a person (``until_done``) says when a dwell is long enough to move on, and
    ends the run only on a dwell the scoring takes as the last point: a pause within 5 mm of
    the point before (a move cut short by a slow window) is no such dwell."""
    from devices.frame import Frame, PoseStatus, ToolPose
    from guidance.exercises import fiducials
    from guidance.exercises.acquire import make_coach, navigator_before_registration
    from guidance.exercises.setup import ExerciseSetup
    from registration.transforms import make_rigid

    scene = build_phantom("needle-box", seed=2)
    setup = ExerciseSetup.read(expert_run.run_path)
    navigator, unregistered = navigator_before_registration(fiducials, scene, setup)
    said = []
    coach = make_coach(fiducials, scene, setup, navigator, unregistered, said.append, True)
    tip_offset = np.asarray(setup.tool_tip_mm)
    frames = iter(range(10**6))

    def hold(tip_mm, seconds):
        for _ in range(round(seconds * 60)):
            k = next(frames)
            stylus = make_rigid(np.eye(3), np.asarray(tip_mm, dtype=float) - tip_offset)
            poses = {
                setup.stylus: ToolPose(setup.stylus, stylus, PoseStatus.OK),
                setup.reference: ToolPose(setup.reference, np.eye(4), PoseStatus.OK),
            }
            frame = Frame(k / 60.0, k, poses)
            coach(frame, navigator.navigate(frame))

    points = [np.array([30.0 * k, 0.0, 0.0]) for k in range(1, 9)]
    hold([0.0, 0.0, 0.0], 0.5)
    for point in points[:7]:
        hold(point, 1.5)
    hold(points[6] + [3.0, 0.0, 0.0], 2.0)  # a pause 3 mm from F7: not the last point
    assert [point.label for point in coach.captured] == [f"F{k}" for k in range(1, 8)]
    assert not coach.done()
    hold(points[7], 1.2)
    assert coach.done()
    told = [line for line in said if " held long enough" in line]
    assert told == [f"F{k} held long enough: move on" for k in range(1, 8)] + [
        "F8 held long enough"
    ]
