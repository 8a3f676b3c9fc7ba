"""The target-alignment panel ("bullseye"): the active trajectory seen from its entry.

The centre is the trajectory line; rings mark distances from it in mm. Two markers tell how to
align the tool: a filled dot where the tip is (its offset from the line), and a ring where the
tool would cross the target's plane if pushed straight on (so the axis tilt shows as the gap
between the two). Aligned means both in the centre. The panel draws in its own flat coordinates
(screen mm, ``BullseyeFrame``); nothing is rebuilt when the tool or the trajectory changes.
"""

from collections.abc import Sequence

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkRenderer

from guidance.navigator import NavigationState
from guidance.orientation import direction_letter
from guidance.views.actors import mesh_actor
from guidance.views.geometry import BullseyeFrame
from guidance.views.models import crosshair, ring
from guidance.views.settings import ViewSettings
from guidance.views.text_sheet import PacedTexts, TextSheet
from scenes.scene import Trajectory

RINGS = (0.5, 0.5, 0.5)
TIP = "yellow"
REACH = "cyan"
NUMBERS = "white"
NOT_TRACKED = "red"
LETTERS = (1.0, 0.85, 0.3)
# A marker beyond the outer ring is pinned just outside it, in its direction.
PINNED_BEYOND = 1.1
SCREEN_RIGHT = np.array([1.0, 0.0, 0.0])
SCREEN_UP = np.array([0.0, 1.0, 0.0])
EDGES = {"right": (0.98, 0.5), "left": (0.02, 0.5), "top": (0.5, 0.98), "bottom": (0.5, 0.02)}


def pinned(point_mm: np.ndarray, limit_mm: float) -> np.ndarray:
    """``point_mm`` (2,), moved in toward the centre to at most ``limit_mm`` from it."""
    distance = float(np.linalg.norm(point_mm))
    return point_mm if distance <= limit_mm else point_mm * (limit_mm / distance)


class BullseyePanel:
    """The alignment view of the scene's trajectories in ``renderer``; ``show(state)`` moves the
    tip and reach markers for the state's trajectory."""

    def __init__(
        self,
        renderer: vtkRenderer,
        trajectories: Sequence[Trajectory],
        settings: ViewSettings,
        aspect: float,
    ) -> None:
        self.renderer = renderer
        self._trajectories = list(trajectories)
        self._frames = [BullseyeFrame.of(t.entry_mm, t.target_mm) for t in trajectories]
        outer = settings.bullseye_rings_mm[-1]
        self._limit = PINNED_BEYOND * outer
        self.text = TextSheet(renderer)
        for radius in settings.bullseye_rings_mm:
            mesh_actor(ring(radius, SCREEN_RIGHT, SCREEN_UP), renderer, RINGS, line_width=1.5)
            where = radius * np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0])
            self.text.point_text(f"{radius:g}", where, "centre", settings.font_size - 2, RINGS)
        axes = crosshair(np.array([0.0, 0.0, -1.0]), SCREEN_UP, 0.0, outer)
        mesh_actor(axes, renderer, RINGS, line_width=1.0)
        marker = outer / 25.0  # a dot that stays small beside the inner ring
        self.tip_marker = mesh_actor(pv.Disc(inner=0.0, outer=marker, c_res=24), renderer, TIP)
        self.reach_marker = mesh_actor(
            ring(1.4 * marker, SCREEN_RIGHT, SCREEN_UP, 24), renderer, REACH, line_width=3.0
        )
        self.tip_marker.SetVisibility(False)  # until a state places them
        self.reach_marker.SetVisibility(False)
        self._title = self.text.panel_text("alignment", (0.02, 0.98), "top left")
        self.numbers = self.text.panel_text("", (0.02, 0.02), "bottom left", settings.font_size)
        self.paced_numbers = PacedTexts([self.numbers], 1.0 / settings.numbers_hz)
        self._letters = {
            edge: self.text.panel_text("", position, edge, settings.font_size + 4, LETTERS)
            for edge, position in EDGES.items()
        }
        self._shown: int | None = None
        camera = renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        camera.SetFocalPoint(0.0, 0.0, 0.0)
        camera.SetPosition(0.0, 0.0, 100.0)
        camera.SetViewUp(*SCREEN_UP)
        camera.SetParallelScale(1.2 * outer * max(1.0, 1.0 / aspect))
        renderer.ResetCameraClippingRange()
        self._show_trajectory(None)

    def _show_trajectory(self, index: int | None) -> None:
        """Name the trajectory and the patient directions at the edges (when it changes)."""
        if index == self._shown and index is not None:
            return
        self._shown = index
        if index is None:
            self._title.text = "alignment: no trajectory"
            for letter in self._letters.values():
                letter.text = ""
            return
        frame = self._frames[index]
        self._title.text = f"alignment: {self._trajectories[index].name}"
        edges = {"right": frame.right, "left": -frame.right, "top": frame.up, "bottom": -frame.up}
        for edge, vector in edges.items():
            self._letters[edge].text = direction_letter(vector)

    def show(self, state: NavigationState, now_s: float) -> None:
        """Place the tip and reach markers of the state's trajectory, hide them without one;
        the numbers are rewritten at most ``numbers_hz`` of the window's clock ``now_s`` (s)."""
        trajectory = state.trajectory
        index = None if trajectory is None else trajectory.index
        self._show_trajectory(index)
        if index is None or not state.tracked:
            self.tip_marker.SetVisibility(False)
            self.reach_marker.SetVisibility(False)
            said = "" if index is None else "stylus not tracked"
            self.paced_numbers.show([(said, NOT_TRACKED, 1.0)], now_s)  # at once: a colour
            return
        frame = self._frames[index]
        tip = pinned(frame.screen_mm(state.tip_mm), self._limit)
        self.tip_marker.SetVisibility(True)
        self.tip_marker.position = (tip[0], tip[1], 0.2)
        reach = frame.reach_mm(state.tip_mm, state.axis)
        self.reach_marker.SetVisibility(bool(np.all(np.isfinite(reach))))
        if self.reach_marker.GetVisibility():
            reach = pinned(reach, self._limit)
            self.reach_marker.position = (reach[0], reach[1], 0.1)
        numbers = (
            f"tilt {np.degrees(trajectory.angle_rad):.1f} deg   "
            f"off line {trajectory.lateral_offset_mm:.1f} mm\n"
            f"to go {trajectory.remaining_mm:.1f} mm"
        )
        self.paced_numbers.show([(numbers, NUMBERS, 1.0)], now_s)
