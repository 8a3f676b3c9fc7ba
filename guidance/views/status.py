"""The text panel: the live numbers of a ``NavigationState``, one coloured line each.

``status_lines`` decides what is said (plain Python, tested alone); ``StatusPanel`` only puts the
lines in a fixed stack of texts (one ``TextSheet``), so a frame changes strings and colours,
nothing else.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vtkmodules.vtkRenderingCore import vtkRenderer

from guidance.navigator import NavigationState
from guidance.views.state import tool_status
from guidance.views.text_sheet import PacedTexts, TextSheet

NORMAL = "white"
GOOD = "palegreen"
WARNING = "orange"
DANGER = "red"
NOTE = "lightskyblue"
MAX_ALERTS = 3


@dataclass(frozen=True)
class StatusLine:
    """One line of the panel and its colour (a name pyvista knows)."""

    text: str
    colour: str = NORMAL


@dataclass(frozen=True)
class SceneNames:
    """The names the numbers of a state refer to, in the state's order."""

    targets: tuple[str, ...]
    structures: tuple[str, ...]
    trajectories: tuple[str, ...]
    tools: tuple[str, ...]


def status_lines(
    state: NavigationState, names: SceneNames, view_fps: float | None = None
) -> list[StatusLine]:
    """What the panel says about ``state``: tools, target, trajectory, structures (breaches in
    red), alerts, then the frame, the view's frame rate and the latency (mm, degrees, ms)."""
    statuses = [(name, tool_status(state, name)) for name in names.tools]
    lost = [name for name, status in statuses if status != "ok"]
    lines = [
        StatusLine(
            "tools: " + ", ".join(f"{name} {status}" for name, status in statuses),
            DANGER if lost else GOOD,
        )
    ]
    if state.active_target is not None:
        label = names.targets[state.active_target]
        distance = state.target_distances_mm[state.active_target]
        lines.append(StatusLine(f"target {label}: {_mm(distance)}"))
    trajectory = state.trajectory
    if trajectory is not None:
        lines += [
            StatusLine(f"trajectory {names.trajectories[trajectory.index]}:"),
            StatusLine(
                f"  tilt {_degrees(trajectory.angle_rad)}, "
                f"off line {_mm(trajectory.lateral_offset_mm)}"
            ),
            StatusLine(f"  depth {_mm(trajectory.depth_mm)}, to go {_mm(trajectory.remaining_mm)}"),
        ]
    breaches = set(state.breaches)
    for name, distance in zip(names.structures, state.structure_distances_mm, strict=True):
        if name in breaches:
            where = "INSIDE" if distance < 0.0 else f"{_mm(distance)}, too close"
            lines.append(StatusLine(f"avoid {name}: {where}", DANGER))
        else:
            lines.append(StatusLine(f"avoid {name}: {_mm(distance)}"))
    alerts = list(state.alerts)
    lines += [StatusLine(alert, WARNING) for alert in alerts[:MAX_ALERTS]]
    if len(alerts) > MAX_ALERTS:
        lines.append(StatusLine(f"... and {len(alerts) - MAX_ALERTS} more alerts", WARNING))
    rate = "" if view_fps is None else f", view {view_fps:.0f} fps"
    lines.append(
        StatusLine(
            f"frame {state.frame_number} at {state.timestamp:.2f} s{rate}, "
            f"latency {_ms(state.latency_s)}"
        )
    )
    return lines


def line_count(names: SceneNames) -> int:
    """The most lines ``status_lines`` can give for a scene with these names."""
    return 5 + len(names.structures) + MAX_ALERTS + 2


def _mm(value: float) -> str:
    return "--" if not math.isfinite(value) else f"{value:.1f} mm"


def _ms(seconds: float) -> str:
    return "--" if not math.isfinite(seconds) else f"{1000.0 * seconds:.0f} ms"


def _degrees(radians: float) -> str:
    return "--" if not math.isfinite(radians) else f"{math.degrees(radians):.1f} deg"


class StatusPanel:
    """A stack of text lines from the top of ``renderer``'s panel, rewritten on screen at most
    every ``min_interval_s`` of the window's clock, a change of colour (a breach, an alert, a
    tool lost or found) at once (see ``PacedTexts``).
    """

    def __init__(
        self,
        renderer: vtkRenderer,
        count: int,
        font_size: int,
        panel_height_px: int,
        min_interval_s: float = 0.0,
    ) -> None:
        step = 1.6 * font_size / panel_height_px
        self.renderer = renderer
        self.text = TextSheet(renderer)
        lines = [
            self.text.panel_text("", (0.03, 0.97 - i * step), "top left", font_size)
            for i in range(count)
        ]
        self.lines = PacedTexts(lines, min_interval_s)

    def show(self, lines: Sequence[StatusLine], now_s: float) -> None:
        """Say ``lines`` (extra lines are dropped, the rest blanked); on screen now if the last
        rewrite is ``min_interval_s`` old (``now_s``: the window's clock, s) or a colour
        changed, else at the next rewrite or ``flush``."""
        self.lines.show([(line.text, line.colour, 1.0) for line in lines], now_s)

    @property
    def pending(self) -> bool:
        """True when the newest lines are not on screen yet."""
        return self.lines.pending

    def flush(self, now_s: float | None = None) -> None:
        """Put the newest lines on screen if they are not there yet (see ``PacedTexts``)."""
        self.lines.flush(now_s)

    @property
    def texts(self) -> list[str]:
        """What the panel says about the newest state, line by line (blank lines included);
        what is on screen may be up to ``min_interval_s`` older (see ``flush``)."""
        return self.lines.newest

    @property
    def on_screen(self) -> list[str]:
        """What the panel's lines show now (blank lines included)."""
        return [text.text for text in self.lines.texts]
