"""``gestes`` whose navigation window draws 1.5 s slower than it can, as on a slow laptop: longer
than a dwell (``StillnessSettings.still_s``), so keys pressed during a drawing wait in the
window's queue for longer than a student needs to hold a point.

    python -m tests.guidance.slow_window exercise fiducials --tracker keyboard ...
"""

import sys
import time

from guidance.cli import main
from guidance.views.window import NavigationWindow

EXTRA_DRAWING_S = 1.5


def _slow_render(window: NavigationWindow, render=NavigationWindow.render) -> None:
    render(window)
    time.sleep(EXTRA_DRAWING_S)


if __name__ == "__main__":
    NavigationWindow.render = _slow_render
    sys.exit(main(sys.argv[1:]))
