"""The navigation views (PyVista/VTK): a window built once from a scene and moved in place for
each ``NavigationState``, off-screen (pictures, videos) or interactive (an X11 window).
"""

from guidance.views.rendering import check_display, check_rendering
from guidance.views.settings import ViewSettings
from guidance.views.video import VideoWriter
from guidance.views.window import NavigationWindow, PointerDrag, WindowEnd, write_video

__all__ = [
    "NavigationWindow",
    "PointerDrag",
    "VideoWriter",
    "ViewSettings",
    "WindowEnd",
    "check_display",
    "check_rendering",
    "write_video",
]
