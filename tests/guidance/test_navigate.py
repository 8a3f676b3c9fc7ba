"""``gestes navigate``: the set-up (registration files, tips, trackers, targets) refuses bad input
with one line before anything starts, and a simulated or replayed session records and navigates
every frame; ``navigation.json`` says what happened."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from devices.clock import FakeClock
from devices.exceptions import DeviceError
from devices.keyboard import KeyboardTracker
from devices.recorder import FrameRecorder
from devices.replay import ReplayTracker
from devices.sequence_file import read_sequence
from guidance.cli import main
from guidance.exceptions import GuidanceError
from guidance.navigation_report import highlights, navigate_recording, summary_document
from guidance.navigation_settings import NavigateSettings
from guidance.navigation_setup import (
    check_registration_fits,
    prepare_navigation,
    read_registration,
)
from guidance.session import NavigationSession
from registration.transforms import make_rigid
from scenes.phantoms import build_phantom

SCENE = "builtin:needle-box"


@pytest.fixture(scope="module")
def needle_box():
    return build_phantom("needle-box")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A needle-box run with the simulated tracker, registered automatically, not paced."""
    out = tmp_path_factory.mktemp("simulated")
    setup = prepare_navigation(NavigateSettings(scene=SCENE, realtime=False), out)
    live = []
    session = NavigationSession(
        setup.tracker,
        setup.navigator,
        out / "navigation.igs.mha",
        sinks=[lambda frame, state: live.append(state)],
    )
    return setup, session.run(), out, live


def _write_json(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def _registration(path: Path, matrix=None, **fields) -> Path:
    matrix = np.eye(4) if matrix is None else matrix
    return _write_json(path, {"fixed_from_moving": np.asarray(matrix).tolist(), **fields})


def test_a_simulated_run_registers_itself_and_reaches_the_target_along_its_path(simulated):
    setup, summary, out, _ = simulated
    assert summary.error is None and summary.frames_recorded > 60
    assert (out / "registration.igs.mha").is_file()
    registration = setup.registration
    assert registration.source.startswith("automatic")
    assert registration.source.endswith("(the fiducials exercise)")
    assert 0.0 < registration.fre_rms_mm < 0.5
    run = highlights(navigate_recording(setup.navigator, summary.path), 1)
    # The tip on the target within the practised hand's errors (angle 1 deg, entry and depth
    # 0.5 mm RMS) and the registration's.
    assert run.closest.active_target_distance_mm < 2.0
    assert run.closest.trajectory.lateral_offset_mm < 2.0
    assert abs(run.closest.trajectory.remaining_mm) < 2.0
    assert run.closest_structures_mm[0] > 1.0  # the needle path clears the vessel
    document = summary_document(setup, summary, run, [])
    assert document["target"] == "T1" and document["trajectory"] == "T1"
    assert document["frames_recorded"] == summary.frames_recorded
    assert document["registration"]["true_error"]["translation_mm"] < 0.5
    json.dumps(document)  # plain JSON


def test_the_recording_replays_to_the_same_states(simulated):
    """The navigator is a pure function of the frame: navigating the recording again gives the
    states of the live run (to the precision the recording keeps its matrices with)."""
    setup, summary, _, live = simulated
    states = list(navigate_recording(setup.navigator, summary.path))
    assert len(states) == len(live) == summary.frames_recorded
    assert [s.frame_number for s in states] == [s.frame_number for s in live]
    np.testing.assert_allclose([s.tip_mm for s in states], [s.tip_mm for s in live], atol=0.01)


def test_a_replay_with_other_tool_names_needs_them_named(simulated, tmp_path):
    """A recording whose tools are 'Pointer' and 'Ref' (read back as 'pointer', 'ref') is
    refused until --stylus and --reference name them (and --tool-tip: gestes does not know a
    'Pointer')."""
    setup, summary, _, _ = simulated
    renamed = tmp_path / "renamed.igs.mha"
    recorder = FrameRecorder(renamed, ("Pointer", "Ref"))
    with ReplayTracker(summary.path, speed=None) as replay:
        for frame in replay:
            poses = {"Pointer": frame.poses["stylus"], "Ref": frame.poses["reference"]}
            recorder(type(frame)(frame.timestamp, frame.frame_number, poses))
    recorder.close()
    registration = _registration(
        tmp_path / "registration.json", setup.registration.image_from_reference
    )
    settings = NavigateSettings(
        scene=SCENE, tracker=f"replay:{renamed}", registration=str(registration), realtime=False
    )
    with pytest.raises(DeviceError, match=r"no tool 'stylus' in replay:.*'pointer', 'ref'"):
        prepare_navigation(settings, tmp_path)
    named = NavigateSettings(**{**settings.__dict__, "stylus": "pointer", "reference": "ref"})
    with pytest.raises(GuidanceError, match=r"give --tool-tip TIP\.json"):
        prepare_navigation(named, tmp_path)
    # The tip the simulated student calibrated, which the original run navigated with.
    calibrated = setup.navigator.tip.tip_mm.tolist()
    tip = _write_json(
        tmp_path / "tip.json", {"tool": "Pointer", "tip_in_tool": calibrated, "units": "mm"}
    )
    setup_replay = prepare_navigation(
        NavigateSettings(**{**named.__dict__, "tool_tip": tip}), tmp_path
    )
    replayed = NavigationSession(
        setup_replay.tracker, setup_replay.navigator, tmp_path / "again.igs.mha"
    ).run()
    assert replayed.frames_recorded == summary.frames_recorded
    again = highlights(navigate_recording(setup_replay.navigator, replayed.path), 1)
    original = highlights(navigate_recording(setup.navigator, summary.path), 1)
    np.testing.assert_allclose(again.closest.tip_mm, original.closest.tip_mm, atol=1e-3)


def test_the_keyboard_stylus_starts_before_the_trajectory_pointing_along_it(tmp_path):
    setup = prepare_navigation(
        NavigateSettings(scene=SCENE, tracker="keyboard"), tmp_path, clock=FakeClock()
    )
    assert isinstance(setup.tracker, KeyboardTracker)
    trajectory = setup.plan.trajectories[setup.plan.active_trajectory]
    with setup.tracker as tracker:
        state = setup.navigator.navigate(tracker.read())
    assert state.trajectory.depth_mm == pytest.approx(-30.0)
    assert state.trajectory.lateral_offset_mm == pytest.approx(0.0, abs=1e-9)
    assert state.trajectory.angle_rad == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(state.axis, trajectory.direction, atol=1e-12)


def test_a_registration_that_is_not_rigid_is_refused(tmp_path):
    scaled = np.diag([1.1, 1.1, 1.1, 1.0])
    with pytest.raises(GuidanceError, match=r"registration.json: the registration is not a rigid"):
        read_registration(_registration(tmp_path / "registration.json", scaled))
    expected = r"not a registration: expected the JSON that 'gestes register"
    with pytest.raises(GuidanceError, match=expected):
        read_registration(_write_json(tmp_path / "other.json", {"tip_in_tool": [0, 0, 1]}))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(GuidanceError, match="cannot read a registration"):
        read_registration(tmp_path / "broken.json")


def test_a_registration_for_another_scene_is_refused(tmp_path, needle_box):
    path = tmp_path / "registration.json"
    other_labels = {"fixed_from_moving": np.eye(4).tolist(), "residuals": {"A": 0.1, "F1": 0.2}}
    with pytest.raises(GuidanceError, match=r"for another scene: .*fiducials \['A'\]"):
        check_registration_fits(path, other_labels, needle_box)
    far = {"fixed_from_moving": make_rigid(np.eye(3), [0.0, 0.0, 900.0]).tolist()}
    with pytest.raises(GuidanceError, match=r"for another scene: it puts the reference tool \d+"):
        check_registration_fits(path, far, needle_box)
    surface = {"fixed_from_moving": np.eye(4).tolist(), "registered_centroid": [0, 600.0, 0]}
    with pytest.raises(GuidanceError, match="the registered points"):
        check_registration_fits(path, surface, needle_box)
    fits = {"fixed_from_moving": np.eye(4).tolist(), "residuals": {"F1": 0.1, "F3": 0.2}}
    check_registration_fits(path, fits, needle_box)


def _navigate(tmp_path, capsys, *arguments) -> tuple[int, str]:
    status = main(["navigate", "--scene", SCENE, "--out", str(tmp_path / "out"), *arguments])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "T9", "--headless"], r"no target or trajectory named 'T9'.*'T1'"),
        (["--tracker", "replay:x.mha", "--headless"], "--registration auto needs --tracker sim"),
        (["--tracker", "keyboard", "--headless"], "would run forever"),
        (["--video", "run.gif"], "--video is written by --headless runs"),
        (["--tracker", "sim:fast", "--headless"], "--tracker sim takes no argument"),
        (["--seed", "-1", "--headless"], "seed must be an integer >= 0"),
        (["--duration", "0", "--headless"], "duration must be > 0 s"),
    ],
)
def test_bad_input_is_one_line_before_anything_starts(tmp_path, capsys, arguments, message):
    status, err = _navigate(tmp_path, capsys, *arguments)
    assert status == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("gestes navigate: error: ")
    assert any(re.search(message, line) for line in lines), err
    assert not (tmp_path / "out" / "navigation.igs.mha").exists()


def test_a_registration_file_for_another_scene_stops_the_command(tmp_path, capsys):
    registration = _registration(tmp_path / "registration.json", residuals={"Nasion": 0.3})
    status, err = _navigate(tmp_path, capsys, "--registration", str(registration), "--headless")
    assert status == 2 and "is for another scene" in err
    assert not (tmp_path / "out" / "navigation.igs.mha").exists()


def test_an_existing_recording_is_kept(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "navigation.igs.mha").write_text("yesterday's run")
    status, err = _navigate(tmp_path, capsys, "--headless")
    assert status == 2 and "exists" in err
    assert (tmp_path / "out" / "navigation.igs.mha").read_text() == "yesterday's run"


def test_settings_check_their_values():
    with pytest.raises(GuidanceError, match="rate must be > 0 Hz"):
        NavigateSettings(scene=SCENE, rate_hz=0.0)
    with pytest.raises(GuidanceError, match="loop duration must be > 0 s"):
        NavigateSettings(scene=SCENE, loop_s=-5.0)


def test_no_display_without_headless_is_one_line_before_anything_starts(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("DISPLAY", raising=False)
    status, err = _navigate(tmp_path, capsys)
    assert status == 2
    assert err.strip().splitlines()[-1].startswith("gestes navigate: error: no display")
    assert "--headless" in err
    assert not (tmp_path / "out").exists()


def test_a_headless_run_writes_its_recording_pictures_video_and_summary(tmp_path, capsys):
    import imageio.v2 as imageio

    video = tmp_path / "out" / "run.gif"
    # The first 3 s of the approach (the target reached: the simulated run above).
    status = main(
        ["navigate", "--scene", SCENE, "--headless", "--video", str(video),
         "--out", str(tmp_path / "out"), "--target", "T2", "--duration", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    document = json.loads((tmp_path / "out" / "navigation.json").read_text())
    assert document["target"] == "T2" and document["end"] == "duration reached"
    assert document["frames_recorded"] == len(
        read_sequence(tmp_path / "out" / "navigation.igs.mha")
    )
    assert f"closest to T2: {document['closest_to_target']['target_distance_mm']:.2f} mm" in out
    for name in ("first", "closest", "last"):
        assert (tmp_path / "out" / f"{name}.png").stat().st_size > 10_000
    frames = imageio.mimread(video)
    assert len(frames) == 31  # 10 frames/s of tracker time, both ends
    assert frames[0].shape == frames[-1].shape and not np.array_equal(frames[0], frames[-1])


def test_navigate_streams_the_tip_in_the_ct_to_an_openigtlink_client(tmp_path):
    """The OpenIGTLink sender is a session sink: a pyigtl client receives StylusTipToImage (RAS)
    where the keyboard stylus starts, 30 mm before the trajectory's entry."""
    import signal
    import subprocess
    import sys

    import pyigtl

    command = [
        sys.executable, "-m", "guidance.cli", "navigate", "--scene", SCENE, "--tracker",
        "keyboard", "--headless", "--duration", "60", "--igtl-server", "127.0.0.1:0",
        "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    client = None
    try:
        line = process.stderr.readline()
        assert line.startswith("serving OpenIGTLink on 127.0.0.1:"), line
        client = pyigtl.OpenIGTLinkClient("127.0.0.1", int(line.rsplit(":", 1)[1]))
        message = client.wait_for_message("StylusTipToImage", timeout=60.0)
        assert message is not None
    finally:
        if client is not None:
            client.stop()
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    trajectory = build_phantom("needle-box").trajectories[0]
    tip_lps = trajectory.entry_mm - 30.0 * trajectory.direction
    np.testing.assert_allclose(message.matrix[:3, 3], tip_lps * [-1.0, -1.0, 1.0], atol=1e-3)
    summary = json.loads((tmp_path / "out" / "navigation.json").read_text())
    assert summary["end"] == "stopped by Ctrl-C"
