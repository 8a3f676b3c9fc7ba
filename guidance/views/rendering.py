"""Can this machine draw? Checks that run before VTK opens a window, because VTK without its
system libraries or display does not raise a Python error: it crashes the process.

Off-screen pictures use EGL with Mesa's software renderer (no display needed); the interactive
window uses X11 (a real display, or Xvfb). One process uses one of the two: Mesa refuses an X11
window in a process that has already drawn with EGL.
"""

import ctypes
import ctypes.util
import os
from collections.abc import Sequence
from pathlib import Path

from guidance.exceptions import DisplayUnavailable, RenderingUnavailable

MISSING_LIBRARIES_HINT = (
    "off-screen rendering needs the EGL and Mesa libraries: "
    "apt-get install libegl1 libgl1-mesa-dri (Debian/Ubuntu)"
)
DRI_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu/dri",
    "/usr/lib/aarch64-linux-gnu/dri",
    "/usr/lib64/dri",
    "/usr/lib/dri",
)
SOFTWARE_DRIVER = "swrast_dri.so"
OFF_SCREEN_WINDOW = "vtkEGLRenderWindow"
ON_SCREEN_WINDOW = "vtkXOpenGLRenderWindow"
# The kind of window this process has opened (at most one kind: see the module docstring).
_window_kinds_used: set[str] = set()


def check_rendering(
    egl_library: str = "EGL", dri_folders: Sequence[str | Path] = DRI_FOLDERS
) -> None:
    """Raise RenderingUnavailable unless the EGL library and Mesa's software driver are present.

    Without them VTK's off-screen window crashes the process (a segfault, no Python error), so
    this runs before the first window exists. ``LIBGL_DRIVERS_PATH`` adds driver folders.
    """
    name = ctypes.util.find_library(egl_library)
    try:
        ctypes.CDLL(name or f"lib{egl_library}.so.1")
    except OSError as error:
        raise RenderingUnavailable(
            f"cannot load lib{egl_library}: {MISSING_LIBRARIES_HINT}"
        ) from error
    extra = os.environ.get("LIBGL_DRIVERS_PATH", "")
    folders = [*filter(None, extra.split(":")), *dri_folders]
    if not any((Path(folder) / SOFTWARE_DRIVER).exists() for folder in folders):
        raise RenderingUnavailable(
            f"no Mesa software driver ({SOFTWARE_DRIVER}) in {', '.join(map(str, folders))}: "
            f"{MISSING_LIBRARIES_HINT}"
        )


def check_display(display: str | None = None) -> str:
    """The X display the interactive window will open on (``display`` or ``$DISPLAY``); raise
    DisplayUnavailable when there is none or it does not answer (VTK would abort the process)."""
    name = display if display is not None else os.environ.get("DISPLAY", "")
    if not name:
        raise DisplayUnavailable(
            "no display: DISPLAY is not set; run with --headless to write pictures and a video "
            "instead, or start a virtual display (Xvfb)"
        )
    path = ctypes.util.find_library("X11")
    try:
        xlib = ctypes.CDLL(path or "libX11.so.6")
    except OSError as error:
        raise DisplayUnavailable(
            "cannot load libX11 for the window: apt-get install libx11-6 libgl1 (Debian/Ubuntu)"
        ) from error
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(name.encode())
    if not connection:
        raise DisplayUnavailable(
            f"cannot open the display {name!r}: is the X server running? "
            "Use --headless to render off-screen instead"
        )
    xlib.XCloseDisplay(connection)
    return name


def prepare_rendering(off_screen: bool) -> None:
    """Check what the chosen kind of window needs and pick it before VTK creates one."""
    kind = OFF_SCREEN_WINDOW if off_screen else ON_SCREEN_WINDOW
    if _window_kinds_used and kind not in _window_kinds_used:
        raise RenderingUnavailable(
            "this process has already drawn "
            + ("in a window" if off_screen else "off-screen")
            + "; Mesa cannot mix off-screen (EGL) and on-screen (X11) windows in one process: "
            "use another process"
        )
    if off_screen:
        check_rendering()
    else:
        check_display()
    _window_kinds_used.add(kind)
    os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = kind
