"""The navigation views (PyVista/VTK): a window built once from a scene and moved in place for
each ``NavigationState``, off-screen (pictures, videos) or interactive (an X11 window).

``NavigationView`` is the demo's still picture, kept until the demo draws with the window.
"""

from guidance.views.rendering import check_display, check_rendering
from guidance.views.settings import ViewSettings
from guidance.views.still import NavigationView, StillSettings
from guidance.views.video import VideoWriter
from guidance.views.window import NavigationWindow, PointerDrag, WindowEnd, write_video

__all__ = [
    "NavigationView",
    "NavigationWindow",
    "PointerDrag",
    "StillSettings",
    "VideoWriter",
    "ViewSettings",
    "WindowEnd",
    "check_display",
    "check_rendering",
    "write_video",
]
