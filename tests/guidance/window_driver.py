"""Runs the interactive navigation window of the small test scene, driven by a replayed
recording, in its own process (the X11 window cannot share a process with the off-screen tests).

    python -m tests.guidance.window_driver RECORDING RESULT.json [--until-end]

A thread replays the recording in real time through the navigator and keeps the newest state in
a slot; the window draws that slot at its own rate. Key presses and slice drags the window hands
out are written to RESULT.json with why the window ended and how many states it was given; how
many it has been given so far is in RESULT.given as it runs (a test waits on it).
"""

import argparse
import json
import sys
import threading
from pathlib import Path

from devices.exceptions import StreamEnded
from devices.replay import ReplayTracker
from guidance.views import NavigationWindow, ViewSettings
from tests.guidance.views_scene import TOOLS, navigator, skin, small_scene

WINDOW_SIZE = (900, 600)


def given_path(result: Path) -> Path:
    """Where the driver writing ``result`` says how many states the window has been given."""
    return result.with_suffix(".given")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("recording", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--until-end", action="store_true", help="close when the replay ends")
    args = parser.parse_args(argv)

    scene = small_scene()
    navigation = navigator(scene)
    settings = ViewSettings(window_size=WINDOW_SIZE, refresh_hz=20.0)
    window = NavigationWindow(scene, skin(), TOOLS, navigation.plan, settings, interactive=True)
    newest: list = [None]
    ended = threading.Event()

    tracker = ReplayTracker(args.recording, speed=1.0)
    navigation.navigate(tracker.sequence.frame(0))  # compiles the navigator before the replay

    def track() -> None:
        tracker.start()
        try:
            while True:
                newest[0] = navigation.navigate(tracker.read(timeout=5.0))
        except StreamEnded:
            pass
        finally:
            tracker.stop()
            ended.set()

    keys: list[str] = []
    drags: list[dict] = []
    given: list[int] = []
    progress = given_path(args.result)
    window.on_key(keys.append)
    window.on_drag(
        lambda drag: drags.append({"panel": drag.panel, "delta_mm": drag.delta_mm.tolist()})
    )

    def latest():
        state = newest[0]
        if state is not None and (not given or given[-1] != state.frame_number):
            given.append(state.frame_number)
            progress.write_text(str(len(given)))
        return state

    threading.Thread(target=track, daemon=True).start()
    end = window.run(latest, stop_when=ended.is_set if args.until_end else lambda: False)
    window.close()
    result = {"end": end.value, "keys": keys, "drags": drags, "frames_given": given}
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
