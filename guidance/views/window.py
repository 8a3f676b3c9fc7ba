"""The navigation window: six panels built once from a scene, moved in place for each state.

Layout (row by row): the 3D view, the axial and coronal slices; the text panel, the sagittal
slice and the target-alignment view. ``show(state)`` moves actors and reslice planes and changes
strings, it never rebuilds a mesh, so the window keeps up with a live tracker.

The window is off-screen (EGL, for pictures and videos; ``save``, ``screenshot``,
``write_video``) or interactive (an X11 window: ``run`` draws the newest state at
``settings.refresh_hz`` from a timer on the window's own event loop, so the tracking thread never
waits for drawing; key presses and drags in the slices are handed to ``on_key``/``on_drag``
callbacks, e.g. the keyboard tracker's).
"""

import enum
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import numpy as np
import pyvista as pv
from vtkmodules import vtkRenderingFreeType, vtkRenderingOpenGL2  # noqa: F401 (registers them)
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import (
    vtkRenderer,
    vtkRenderWindow,
    vtkRenderWindowInteractor,
    vtkWindowToImageFilter,
)

from devices.tools import ToolDefinition
from guidance.navigator import NavigationPlan, NavigationState
from guidance.orientation import SLICE_VIEWS
from guidance.views.bullseye import BullseyePanel
from guidance.views.models import grey_image, tube_mesh
from guidance.views.rendering import prepare_rendering
from guidance.views.scene3d import FIDUCIAL, TARGET, ScenePanel
from guidance.views.settings import ViewSettings
from guidance.views.slices import LabelledPoint, SlicePanel
from guidance.views.status import (
    NOTE,
    SceneNames,
    StatusLine,
    StatusPanel,
    line_count,
    status_lines,
)
from scenes.scene import Scene

logger = logging.getLogger(__name__)

ROWS, COLUMNS = 2, 3
# (row, column) of each panel, row 0 at the top.
CELLS = {
    "3d": (0, 0),
    "axial": (0, 1),
    "coronal": (0, 2),
    "status": (1, 0),
    "sagittal": (1, 1),
    "alignment": (1, 2),
}
BACKGROUND = (0.0, 0.0, 0.0)
STATUS_BACKGROUND = (0.1, 0.1, 0.12)
WINDOW_TITLE = "gestes navigation"
CLOSE_KEYS = frozenset({"q", "Escape"})
RESET_CAMERA_KEY = "r"
FPS_WINDOW_S = 1.0
WHEEL_STEP_MM = 1.0
DEFAULT_SETTINGS = ViewSettings()


class WindowEnd(enum.Enum):
    """Why ``NavigationWindow.run`` returned."""

    CLOSED = "closed"  # the user closed the window (or pressed q / Escape)
    STOPPED = "stopped"  # ``stop_when`` said the session is over


@dataclass(frozen=True)
class PointerDrag:
    """A mouse movement in a slice panel, in the image frame: ``delta_mm`` (3,) LPS mm, in the
    slice's plane for a drag, along its normal for the wheel. ``tilt`` is True for the right
    button (the keyboard tracker tilts the stylus instead of moving it)."""

    panel: str
    delta_mm: np.ndarray
    tilt: bool = False


class DrivenTracker(Protocol):
    """A tracker moved from the window: key presses (X keysyms) and drags (image mm); held
    while the window draws (no frames: the keys pressed meanwhile wait in the window's queue)
    and released once the window has taken them."""

    def press(self, keysym: str) -> object: ...

    def drag(self, delta_mm: np.ndarray, tilt: bool = False) -> None: ...

    def hold(self) -> None: ...

    def release(self) -> None: ...


class NavigationWindow:
    """The navigation views of one scene: ``show(state)``, then ``save``/``screenshot`` or, with
    ``interactive=True``, ``run`` the window.

    ``scene`` gives the CT and the fiducials; ``plan`` the targets, trajectories and structures
    the states' numbers refer to (by default the scene's, as ``NavigationPlan.from_scene``).
    ``skin`` is the skin surface (LPS mm; decimated here to ``settings.skin_max_triangles``),
    ``tools`` the tracked tools to draw (name -> definition, moved by the state's
    ``image_from_tool``). ``now`` is the clock (s) for the view's frame rate. ``note_lines``
    reserves lines at the top of the text panel for notes shown with each state (an exercise's
    prompts and progress).
    """

    def __init__(
        self,
        scene: Scene,
        skin: pv.PolyData,
        tools: Mapping[str, ToolDefinition],
        plan: NavigationPlan | None = None,
        settings: ViewSettings = DEFAULT_SETTINGS,
        interactive: bool = False,
        now: Callable[[], float] = time.monotonic,
        note_lines: int = 0,
    ) -> None:
        prepare_rendering(off_screen=not interactive)
        plan = NavigationPlan.from_scene(scene) if plan is None else plan
        self.settings = settings
        self.interactive = interactive
        self._now = now
        self._shown_at: deque[float] = deque()
        width, height = settings.window_size
        self._window = vtkRenderWindow()
        self._window.SetSize(width, height)
        self._window.SetMultiSamples(0)
        self._window.SetWindowName(WINDOW_TITLE)
        self._window.SetOffScreenRendering(not interactive)
        self.renderers = {name: self._add_renderer(*cell) for name, cell in CELLS.items()}
        self.renderers["status"].SetBackground(*STATUS_BACKGROUND)
        aspect = (width / COLUMNS) / (height / ROWS)

        self.scene_panel = ScenePanel(self.renderers["3d"], scene, plan, skin, tools, settings)
        grey = grey_image(scene.ct, settings.window_hu, settings.level_hu)
        points = [
            *(
                LabelledPoint(label, point, TARGET)
                for label, point in zip(plan.target_labels, plan.targets_mm, strict=True)
            ),
            *(
                LabelledPoint(label, point, FIDUCIAL)
                for label, point in zip(scene.fiducial_labels, scene.fiducials_mm, strict=True)
            ),
        ]
        structures = (
            pv.merge([tube_mesh(s.centreline_mm, s.radius_mm) for s in plan.structures])
            if plan.structures
            else None
        )
        lines = [(t.entry_mm, t.target_mm) for t in plan.trajectories]
        self.slice_panels = {
            o.name: SlicePanel(
                self.renderers[o.name], o, grey, points, structures, lines, settings, aspect
            )
            for o in SLICE_VIEWS
        }
        self.bullseye = BullseyePanel(
            self.renderers["alignment"], plan.trajectories, settings, aspect
        )
        self._names = SceneNames(
            targets=plan.target_labels,
            structures=tuple(s.name for s in plan.structures),
            trajectories=tuple(t.name for t in plan.trajectories),
            tools=tuple(tools),
        )
        self.status = StatusPanel(
            self.renderers["status"],
            note_lines + line_count(self._names),
            settings.font_size,
            height // ROWS,
            1.0 / settings.numbers_hz,
        )
        # The numbers rewritten at most ``numbers_hz``.
        self._paced = [
            self.status.lines,
            *(panel.paced_labels for panel in self.slice_panels.values()),
            self.bullseye.paced_numbers,
        ]
        self._grab = vtkWindowToImageFilter()
        self._grab.SetInput(self._window)
        self._grab.SetInputBufferTypeToRGB()
        self._grab.ReadFrontBufferOff()
        self._key_callbacks: list[Callable[[str], None]] = []
        self._drag_callbacks: list[Callable[[PointerDrag], None]] = []
        self._driven: list[DrivenTracker] = []
        self._interactor: vtkRenderWindowInteractor | None = None
        if interactive:
            self._interactor = self._make_interactor()

    def _add_renderer(self, row: int, column: int) -> vtkRenderer:
        renderer = vtkRenderer()
        renderer.SetViewport(
            column / COLUMNS, 1.0 - (row + 1) / ROWS, (column + 1) / COLUMNS, 1.0 - row / ROWS
        )
        renderer.SetBackground(*BACKGROUND)
        # Plain alpha blending for what is translucent (the skin in 3D, faded markers on the
        # slices), not VTK's order-independent pass: that pass copies the depth buffer and
        # blends float buffers in each panel, and each copy makes Mesa finish drawing before
        # the next command is issued. Same picture here: the slices to within 2/255, the
        # skin (one surface, one colour) to within 26/255 on a few hundred pixels.
        renderer.SetUseOIT(False)
        self._window.AddRenderer(renderer)
        return renderer

    # -- drawing ----------------------------------------------------------------------------

    @property
    def view_fps(self) -> float | None:
        """How many states the window showed per second over the last second (None at first)."""
        if len(self._shown_at) < 2 or self._shown_at[-1] <= self._shown_at[0]:
            return None
        return (len(self._shown_at) - 1) / (self._shown_at[-1] - self._shown_at[0])

    def show(self, state: NavigationState, notes: Sequence[str] = ()) -> None:
        """Move every panel to ``state``, in place (call ``render`` or ``screenshot`` to draw);
        ``notes`` go above the state's numbers in the text panel (at most ``note_lines``)."""
        now = self._now()
        self._shown_at.append(now)
        while len(self._shown_at) > 2 and now - self._shown_at[0] > FPS_WINDOW_S:
            self._shown_at.popleft()
        self.scene_panel.show(state)
        for panel in self.slice_panels.values():
            panel.show(state, now)
        self.bullseye.show(state, now)
        noted = [StatusLine(note, NOTE) for note in notes]
        self.status.show([*noted, *status_lines(state, self._names, self.view_fps)], now)

    def render(self) -> None:
        """Draw the window as the panels are now (the newest numbers once they are due: see
        ``PacedTexts``)."""
        now = self._now()
        for paced in self._paced:
            paced.flush(now)
        self._window.Render()

    def screenshot(self) -> np.ndarray:
        """Draw, and return the picture as an (H, W, 3) uint8 array, top row first (the
        newest numbers included: see ``PacedTexts``)."""
        for paced in self._paced:
            paced.flush()
        self.render()
        self._grab.Modified()
        self._grab.Update()
        image = self._grab.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return np.ascontiguousarray(pixels[::-1, :, :3])

    def save(self, path: Path | str) -> Path:
        """Draw and write the picture as a PNG; returns the path."""
        import imageio.v3 as imageio

        path = Path(path)
        imageio.imwrite(path, self.screenshot(), compress_level=3)  # 2x faster than the default
        logger.info("navigation picture written to %s", path)
        return path

    def close(self) -> None:
        """Release the window."""
        if self._interactor is not None:
            self._interactor.TerminateApp()
        self._window.Finalize()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- interactive ------------------------------------------------------------------------

    def on_key(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(keysym)`` for each key pressed in the window (X keysyms: ``Left``,
        ``Up``, ``Prior``, ``a``...), except the window's own ``q``/``Escape`` and ``r``."""
        self._key_callbacks.append(callback)

    def on_drag(self, callback: Callable[[PointerDrag], None]) -> None:
        """Call ``callback(drag)`` for each mouse drag or wheel step in a slice panel."""
        self._drag_callbacks.append(callback)

    def drive(self, tracker: "DrivenTracker") -> None:
        """Hand the window's key presses and slice drags to a tracker moved from the window (the
        keyboard tracker): ``tracker.press(keysym)``, ``tracker.drag(delta_mm, tilt)``; ``run``
        holds it while it draws (see ``run``)."""
        self.on_key(tracker.press)
        self.on_drag(lambda drag: tracker.drag(drag.delta_mm, drag.tilt))
        self._driven.append(tracker)

    def run(
        self,
        latest: Callable[[], NavigationState | None],
        stop_when: Callable[[], bool] = lambda: False,
        notes: Callable[[], Sequence[str]] = tuple,
    ) -> WindowEnd:
        """Open the window and draw ``latest()`` (the newest state, or None before the first) at
        ``settings.refresh_hz``, with ``notes()`` above its numbers, until the user closes the
        window or ``stop_when()`` is true.

        Runs the window's event loop on this (the main) thread; an error raised by a callback
        ends the loop and is raised here. Each drawing is followed by a full refresh period in
        which the loop only handles input (a one-shot timer armed after the drawing), so that
        key presses and drags are taken at once even where drawing is slow (Mesa's software
        renderer on a busy machine), never queued behind drawings. The trackers the window
        ``drive``s are held from the start of each drawing until the loop has handled the
        events that came meanwhile (a timer of no delay: VTK's loop fires timers only once no
        event is pending), so that none of their frames shows the stylus still where keys
        pressed during the drawing would have moved it.
        """
        if self._interactor is None:
            raise RuntimeError("run needs a window made with interactive=True")
        interactor = self._interactor
        period_ms = max(1, round(1000.0 / self.settings.refresh_hz))
        shown: list[NavigationState | None] = [None]
        ended: list[WindowEnd] = []
        failure: list[BaseException] = []
        timers: list[int] = []
        held = [False]

        def hold() -> None:
            held[0] = True
            for tracker in self._driven:
                tracker.hold()

        def release() -> None:
            held[0] = False
            for tracker in self._driven:
                tracker.release()

        def tick(_caller: object, _event: str) -> None:
            timers.clear()
            try:
                if held[0]:  # the events that came during the drawing are handled
                    release()
                    timers.append(interactor.CreateOneShotTimer(period_ms))
                    return
                hold()
                # Asked before taking the newest state, so that the state a session leaves
                # when it ends is drawn before the window stops.
                stopping = stop_when()
                state = latest()
                if state is not None and state is not shown[0]:
                    shown[0] = state
                    self.show(state, notes())
                    self.render()
                elif any(p.pending for p in self._paced):  # no state: the last numbers, once due
                    self.render()
                if stopping:
                    ended.append(WindowEnd.STOPPED)
                    interactor.TerminateApp()
                else:
                    timers.append(interactor.CreateOneShotTimer(0))
            except BaseException as error:  # the event loop would swallow it: end and re-raise
                failure.append(error)
                interactor.TerminateApp()

        def closed(_caller: object, _event: str) -> None:
            ended.append(WindowEnd.CLOSED)
            interactor.TerminateApp()

        timer_observer = interactor.AddObserver("TimerEvent", tick)
        exit_observer = interactor.AddObserver("ExitEvent", closed)
        interactor.Initialize()
        try:
            hold()
            self.render()
            timers.append(interactor.CreateOneShotTimer(0))
            interactor.Start()
        finally:
            release()
            for timer in timers:
                interactor.DestroyTimer(timer)
            interactor.RemoveObserver(timer_observer)
            interactor.RemoveObserver(exit_observer)
        if failure:
            raise failure[0]
        return ended[0] if ended else WindowEnd.CLOSED

    def _make_interactor(self) -> vtkRenderWindowInteractor:
        """An interactor whose style rotates the 3D panel's camera with the mouse, hands key
        presses and drags in the slices to the callbacks, and does nothing else (VTK's own key
        actions, such as wireframe on ``w``, are off)."""
        interactor = vtkRenderWindowInteractor()
        interactor.SetRenderWindow(self._window)
        style = vtkInteractorStyleTrackballCamera()
        interactor.SetInteractorStyle(style)
        drag = _DragTracker(self, interactor, style)
        # Keep the style and the mouse handler alive with the window: VTK does not, and a
        # collected one crashes the process at the next key press.
        self._style, self._drag_tracker = style, drag
        style.AddObserver("CharEvent", lambda *_: None)  # an observer replaces VTK's key actions
        style.AddObserver("KeyPressEvent", lambda *_: self._key_pressed(interactor))
        for event in ("LeftButtonPressEvent", "RightButtonPressEvent"):
            style.AddObserver(event, drag.press)
        for event in ("LeftButtonReleaseEvent", "RightButtonReleaseEvent"):
            style.AddObserver(event, drag.release)
        style.AddObserver("MouseMoveEvent", drag.move)
        style.AddObserver("MouseWheelForwardEvent", drag.wheel)
        style.AddObserver("MouseWheelBackwardEvent", drag.wheel)
        return interactor

    def _key_pressed(self, interactor: vtkRenderWindowInteractor) -> None:
        key = interactor.GetKeySym() or ""
        if key in CLOSE_KEYS:
            interactor.ExitCallback()
        elif key == RESET_CAMERA_KEY:
            self.renderers["3d"].ResetCamera()
            self.render()
        else:
            for callback in self._key_callbacks:
                callback(key)

    def _slice_at(self, x: int, y: int) -> str | None:
        """The slice panel under the pixel (x, y) (VTK's: from the bottom left), if any."""
        width, height = self._window.GetSize()
        for name in self.slice_panels:
            x0, y0, x1, y1 = self.renderers[name].GetViewport()
            if x0 * width <= x < x1 * width and y0 * height <= y < y1 * height:
                return name
        return None

    def _mm_per_pixel(self, name: str) -> float:
        camera = self.renderers[name].GetActiveCamera()
        _, height = self._window.GetSize()
        return 2.0 * camera.GetParallelScale() / (height / ROWS)

    def _drag(self, name: str, dx_px: float, dy_px: float, tilt: bool) -> None:
        view = self.slice_panels[name].view
        delta = self._mm_per_pixel(name) * (dx_px * view.right + dy_px * np.asarray(view.up))
        for callback in self._drag_callbacks:
            callback(PointerDrag(name, delta, tilt))

    def _wheel(self, name: str, steps: int) -> None:
        delta = steps * WHEEL_STEP_MM * np.asarray(self.slice_panels[name].view.normal)
        for callback in self._drag_callbacks:
            callback(PointerDrag(name, delta))


class _DragTracker:
    """Mouse handling: in the 3D panel, VTK's camera control; in a slice panel, drags and wheel
    steps go to the window's drag callbacks (the slice cameras never move by hand)."""

    def __init__(
        self,
        window: NavigationWindow,
        interactor: vtkRenderWindowInteractor,
        style: vtkInteractorStyleTrackballCamera,
    ) -> None:
        self._window = window
        self._interactor = interactor
        self._style = style
        self._slice: str | None = None
        self._tilt = False
        self._last = (0, 0)
        self._camera_drag = False

    def press(self, _caller: object, event: str) -> None:
        x, y = self._interactor.GetEventPosition()
        self._slice = self._window._slice_at(x, y)
        self._tilt = event.startswith("Right")
        self._last = (x, y)
        if self._slice is None:
            self._camera_drag = True
            if self._tilt:
                self._style.OnRightButtonDown()
            else:
                self._style.OnLeftButtonDown()

    def release(self, _caller: object, event: str) -> None:
        if self._camera_drag:
            if event.startswith("Right"):
                self._style.OnRightButtonUp()
            else:
                self._style.OnLeftButtonUp()
        self._camera_drag = False
        self._slice = None

    def move(self, _caller: object, _event: str) -> None:
        x, y = self._interactor.GetEventPosition()
        if self._slice is not None:
            dx, dy = x - self._last[0], y - self._last[1]
            self._last = (x, y)
            if dx or dy:
                self._window._drag(self._slice, dx, dy, self._tilt)
        else:
            self._style.OnMouseMove()

    def wheel(self, _caller: object, event: str) -> None:
        x, y = self._interactor.GetEventPosition()
        name = self._window._slice_at(x, y)
        if name is not None:
            self._window._wheel(name, 1 if event == "MouseWheelForwardEvent" else -1)
        elif event == "MouseWheelForwardEvent":
            self._style.OnMouseWheelForward()
        else:
            self._style.OnMouseWheelBackward()


def write_video(
    window: NavigationWindow,
    states: Iterable[NavigationState],
    path: Path | str,
    fps: float,
    notes: Callable[[], Sequence[str]] = tuple,
) -> int:
    """Write a video of a run at its own pace: one frame per 1/``fps`` s of the states'
    timestamps (the first state at or after each tick is shown, with ``notes()`` as they are
    when it comes, and grabbed; a stretch with no state adds no frame). Returns the number of
    frames written."""
    from guidance.views.video import VideoWriter

    start: float | None = None
    last_tick = -1
    with VideoWriter(path, fps) as video:
        for state in states:
            if start is None:
                start = state.timestamp
            tick = math.floor((state.timestamp - start) * fps + 1e-9)
            if tick <= last_tick:
                continue
            last_tick = tick
            window.show(state, notes())
            video.add(window.screenshot())
    return video.frame_count
