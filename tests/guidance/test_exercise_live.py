"""What a run shows besides its score: the headless video of an exercise with its prompts, the
session streamed to an OpenIGTLink client, and the options that cannot go together."""

import time

import imageio.v2 as imageio
import numpy as np
import pytest

from devices.igtl.settings import ServerSettings
from devices.sequence_file import read_sequence
from guidance.exceptions import GuidanceError
from guidance.exercises import pivot
from guidance.exercises.acquire import navigator_before_registration
from guidance.exercises.runner import ExerciseOptions, run_exercise
from guidance.exercises.setup import ExerciseSetup
from guidance.views import ViewSettings
from scenes.phantoms import build_phantom
from scenes.student import Skill
from tests.devices.igtl.peers import wait_until

BOX = "builtin:needle-box"
SMALL = ViewSettings(window_size=(600, 400), font_size=10)


def test_a_headless_run_draws_a_video_with_the_prompts(tmp_path):
    """The pivot exercise headless with --video: a frame per 0.1 s of the run, the exercise's
    notes in the text panel (its step, then how far the stylus has turned), frames that
    differ."""
    video = tmp_path / "run.mp4"
    run = run_exercise(
        ExerciseOptions(
            "pivot",
            scene=BOX,
            out=tmp_path / "out",
            seed=1,
            skill=Skill.EXPERT,
            video=video,
            view=SMALL,
        )
    )
    recording = read_sequence(run.recording_path)
    duration = recording.timestamps_s[-1] - recording.timestamps_s[0]
    reader = imageio.get_reader(video)
    frames = [np.asarray(frame)[..., :3].astype(int) for frame in reader]
    reader.close()
    assert len(frames) == int(duration * 10.0 + 1e-9) + 1
    assert frames[0].shape == (400, 600, 3)
    assert np.abs(frames[len(frames) // 2] - frames[0]).mean() > 0.5
    # The text panel (bottom left) shows the notes, light blue (the numbers are white or green).
    panel = frames[len(frames) // 2][200:, :200]
    red, green, blue = panel[..., 0], panel[..., 1], panel[..., 2]
    assert ((blue > 150) & (blue - red > 60) & (blue > green + 15)).sum() > 20
    assert run.report["score"]["pivot_rms_mm"] is not None


def test_a_run_streams_the_tip_in_the_ct_to_an_openigtlink_client(tmp_path):
    """--igtl-server on an exercise: the client connected when the run says where it serves
    receives the stylus and, in the CT (RAS), its tip: the last one where the navigator puts
    the last recorded frame (on the true registration: the pivot registers nothing)."""
    import pyigtl

    clients = []

    def progress(line: str) -> None:
        if line.startswith("serving OpenIGTLink on"):
            client = pyigtl.OpenIGTLinkClient("127.0.0.1", int(line.rsplit(":", 1)[1]))
            clients.append(client)
            wait_until(client.is_connected, "the OpenIGTLink client to connect")

    server = ServerSettings().at("127.0.0.1:0")
    out = tmp_path / "out"
    options = ExerciseOptions("pivot", scene=BOX, out=out, seed=1, igtl_server=server)
    try:
        run = run_exercise(options, progress)
        assert clients
        scene = build_phantom("needle-box", seed=1)
        setup = ExerciseSetup.read(run.run_path)
        navigator, _ = navigator_before_registration(pivot, scene, setup)
        sequence = read_sequence(run.recording_path)
        last_ras = navigator.navigate(sequence.frame(len(sequence) - 1)).tip_mm * [-1, -1, 1]
        tip = _newest_until(clients[0], "StylusTipToImage", lambda m: _at(m, last_ras))
        stylus = clients[0].wait_for_message("StylusToTracker", timeout=10.0)
    finally:
        for client in clients:
            client.stop()
    assert stylus is not None
    np.testing.assert_allclose(tip.matrix[:3, 3], last_ras, atol=1e-3)


def _at(message, position_mm: np.ndarray) -> bool:
    return np.allclose(message.matrix[:3, 3], position_mm, atol=1e-3)


def _newest_until(client, name: str, wanted, deadline_s: float = 10.0):
    """The newest ``name`` message once it is ``wanted`` (the client reads on its own thread,
    so the run's last frame may still be on its way), or the newest at the deadline."""
    newest = None
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not (newest is not None and wanted(newest)):
        newest = client.wait_for_message(name, timeout=0.05) or newest
    assert newest is not None, f"no {name} message reached the client"
    return newest


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tracker": "keyboard"}, "the keyboard stylus is moved from the navigation window"),
        ({"window": True, "video": "v.mp4"}, "a video is drawn from headless runs"),
    ],
)
def test_options_that_cannot_go_together_are_refused(options, message):
    with pytest.raises(GuidanceError, match=message):
        ExerciseOptions("fiducials", **options)
