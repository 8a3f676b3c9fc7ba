"""``gestes demo``: the targeting exercise on the skull (fiducials, then the biopsy) by a simulated
student, its files, its summary, and a folder it cannot write to."""

import json

import pytest

from guidance.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, main(["demo", "--out", str(out), "--seed", "1"])


def test_the_demo_is_the_targeting_exercise_on_the_skull_with_its_files(demo):
    out, code = demo
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["exercise"] == "targeting"
    assert report["settings"]["scene"] == "builtin:skull"
    assert report["trajectory"]["name"] == "biopsy"
    assert len(report["fiducials"]) == 8 and report["score"]["fre_rms_mm"] is not None
    for name in ("report.html", "recording.igs.mha", "run.json"):
        assert (out / name).is_file()
    (snapshot,) = report["snapshots"]
    assert (out / snapshot["file"]).stat().st_size > 10_000


def test_the_summary_names_each_score_and_the_files(demo, capsys):
    out, _ = demo
    main(["demo", "--out", str(out / "again"), "--seed", "1", "--no-picture"])
    printed = capsys.readouterr().out
    assert "gestes exercise targeting: skull (builtin:skull), novice student, seed 1" in printed
    assert "tip to target (mm)" in printed
    assert "errors simulated: tracker_jitter, tracker_drift" in printed
    assert "report.json" in printed and "navigation-1.png" not in printed
    first = json.loads((out / "report.json").read_text())["score"]
    again = json.loads((out / "again" / "report.json").read_text())["score"]
    assert first == again  # same seed, same run


def test_the_pivot_calibrations_warnings_reach_the_report_and_survive_a_replay(demo, capsys):
    """The novice pivots in a narrow cone, so the tip the navigator uses is doubtful: the report a
    student reads says so (it was only logged before), and run.json keeps it for a replay."""
    out, _ = demo
    report = json.loads((out / "report.json").read_text())
    calibration = json.loads((out / "run.json").read_text())["tool_tip_warnings"]
    assert any("least-covered direction" in warning for warning in calibration)
    prefix = "the stylus tip comes from a pivot calibration that warned: "
    repeated = [prefix + warning for warning in calibration]
    assert report["warnings"][: len(repeated)] == repeated
    recording = out / "recording.igs.mha"
    replay = ["exercise", "targeting", "--tracker", f"replay:{recording}", "--headless"]
    assert main([*replay, "--out", str(out / "replayed")]) == 0
    replayed = json.loads((out / "replayed" / "report.json").read_text())
    assert replayed["warnings"][: len(repeated)] == repeated
    assert replayed["score"] == report["score"]


def test_a_folder_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--out", str(blocker / "out")]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err
