"""``gestes capture``: a real PLUS recording, a simulated landmark session whose points are known,
the round trip into ``gestes register points``, and the errors a student can fix."""

import json

import numpy as np
import pytest

from devices.noise import OpticalNoise
from devices.sequence_file import write_sequence
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from guidance.cli import main
from registration.transforms import apply_transform, invert_rigid, make_rigid, rotation_from_vector
from scenes.markups import Markups, read_markups, write_markups
from scenes.motions import StylusGeometry, Touch
from scenes.student import SKILLS, Skill, StudentScript
from tests.shared_data import SHARED_DATA

WATER_TANK = SHARED_DATA / "tracking" / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha"
CENTRE = np.array([0.0, 0.0, -1400.0])
TRACKER_FROM_REFERENCE = make_rigid(
    rotation_from_vector(np.array([0.0, 0.3, 0.0])), CENTRE + np.array([120.0, 0.0, 60.0])
)


def test_real_recording_stylus_held_still_throughout(tmp_path, capsys):
    """In PLUS's water-tank recording the stylus never moves relative to the reference: one
    point over all 801 frames, equal to the mean tip computed here frame by frame."""
    out = tmp_path / "points.mrk.json"
    tip = np.array([0.0, 0.0, -150.0])
    assert (
        main(
            [
                "capture",
                str(WATER_TANK),
                "--tool",
                "Stylus",
                "--relative-to",
                "Reference",
                "--tip",
                "0,0,-150",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    points = read_markups(out)
    assert points.labels == ("P1",)
    assert points.descriptions[0].startswith("frames 0-800 ")
    from devices.sequence_file import read_sequence

    sequence = read_sequence(WATER_TANK)
    stylus = sequence.tracker_from_tool[:, sequence.tools.index("stylus")]
    reference = sequence.tracker_from_tool[:, sequence.tools.index("reference")]
    # Recorded rotations are orthonormal to ~3e-4 only (0.1 mm at this tip): gestes inverts them
    # as rigid (transposed rotation), as the navigator does, not as general matrices.
    tips = [
        apply_transform(invert_rigid(r) @ s, tip) for s, r in zip(stylus, reference, strict=True)
    ]
    np.testing.assert_allclose(points.points_mm[0], np.mean(tips, axis=0), atol=1e-9)
    assert "1 points written" in capsys.readouterr().out


def _landmark_session(path, seed=0):
    """A simulated student touches four points (tracker frame) with the built-in stylus; returns
    the points in the reference frame where the tip really rested."""
    stylus = BUILTIN_TOOLS["stylus"]
    geometry = StylusGeometry.from_markers(stylus.markers_mm, stylus.tip_mm, stylus.normals)
    up = np.array([0.0, 0.0, 1.0])
    script = StudentScript(SKILLS[Skill.EXPERT], geometry, CENTRE, CENTRE + 60 * up, up, seed)
    offsets = np.array([[40.0, 0, 50], [-40, 0, 50], [0, 40, 50], [0, -40, 30]])
    rests = [script.touch(Touch(f"L{k}", CENTRE + o, up)) for k, o in enumerate(offsets)]
    motion = script.motion(TRACKER_FROM_REFERENCE)
    tracker = SimulatedTracker(
        motion,
        {"stylus": stylus, "reference": BUILTIN_TOOLS["reference"]},
        OpticalNoise(marker_jitter_rms_mm=0.05),
        60.0,
        seed,
    )
    with tracker:
        write_sequence(path, list(tracker), ("stylus", "reference"))
    return apply_transform(invert_rigid(TRACKER_FROM_REFERENCE), np.array(rests))


def test_simulated_landmark_session_gives_each_touched_point_in_order(tmp_path):
    recording = tmp_path / "landmarks.igs.mha"
    truth = _landmark_session(recording)
    out = tmp_path / "points.fcsv"
    assert (
        main(
            [
                "capture",
                str(recording),
                "--tool",
                "stylus",
                "--relative-to",
                "reference",
                "--tip",
                ",".join(str(v) for v in BUILTIN_TOOLS["stylus"].tip_mm),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    points = read_markups(out)
    assert points.labels == ("P1", "P2", "P3", "P4")
    # 0.05 mm marker jitter: each dwell mean is within 0.1 mm of where the tip rested.
    assert np.max(np.linalg.norm(points.points_mm - truth, axis=1)) < 0.1
    firsts = [int(d.split()[1].split("-")[0]) for d in points.descriptions]
    assert firsts == sorted(firsts)


def test_captured_points_register_with_gestes_register_points(tmp_path, capsys):
    """A landmark session captured, then registered to the same points known in another frame
    (a CT 'image' frame): the printed transform is the true one within 0.1 mm."""
    recording = tmp_path / "landmarks.igs.mha"
    truth = _landmark_session(recording, seed=3)
    image_from_reference = make_rigid(
        rotation_from_vector(np.array([0.4, -0.2, 1.0])), [5.0, -7, 30]
    )
    fixed = tmp_path / "ct.mrk.json"
    write_markups(
        Markups(("P1", "P2", "P3", "P4"), apply_transform(image_from_reference, truth)), fixed
    )
    captured = tmp_path / "captured.mrk.json"
    tip = ",".join(str(v) for v in BUILTIN_TOOLS["stylus"].tip_mm)
    main(
        [
            "capture",
            str(recording),
            "--tool",
            "stylus",
            "--relative-to",
            "reference",
            "--tip",
            tip,
            "--out",
            str(captured),
        ]
    )
    capsys.readouterr()
    assert main(["register", "points", str(fixed), str(captured)]) == 0
    result = json.loads(capsys.readouterr().out)
    matrix = np.array(result["fixed_from_moving"])
    probe = truth.mean(axis=0) + np.array([0.0, 0.0, 80.0])
    error = apply_transform(matrix, probe) - apply_transform(image_from_reference, probe)
    assert np.linalg.norm(error) < 0.1


def test_a_tip_never_still_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "points.mrk.json"
    code = main(
        [
            "capture",
            str(WATER_TANK),
            "--tool",
            "probe",
            "--relative-to",
            "reference",
            "--tip",
            "0,0,0",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert (
        "never held still relative to the reference for 1 s within 0.3 mm"
        in capsys.readouterr().err
    )
    assert not out.exists()


def test_an_unknown_tool_names_the_tools_the_recording_has(tmp_path, capsys):
    code = main(
        [
            "capture",
            str(WATER_TANK),
            "--tool",
            "pointer",
            "--relative-to",
            "reference",
            "--tip",
            "0,0,0",
            "--out",
            str(tmp_path / "p.mrk.json"),
        ]
    )
    assert code == 2
    assert "no tool 'pointer' in the recording; its tools are" in capsys.readouterr().err


@pytest.mark.parametrize("tip", ["0,0", "a,b,c", "1,2,3,4"])
def test_a_malformed_tip_is_refused_by_the_parser(tmp_path, capsys, tip):
    with pytest.raises(SystemExit):
        main(
            [
                "capture",
                str(WATER_TANK),
                "--tool",
                "stylus",
                "--relative-to",
                "reference",
                "--tip",
                tip,
                "--out",
                str(tmp_path / "p.mrk.json"),
            ]
        )
    assert "expected X,Y,Z" in capsys.readouterr().err
