"""What the text panel says about real navigation states: the numbers, breaches in red, tools
that are not tracked, alerts, and the view's rate."""

import numpy as np
import pytest

from devices.frame import PoseStatus
from guidance.views.status import DANGER, GOOD, SceneNames, line_count, status_lines
from tests.guidance.views_scene import TOOLS, VESSEL, frame, navigator, small_scene, state_at


@pytest.fixture(scope="module")
def scene():
    return small_scene()


@pytest.fixture(scope="module")
def navigation(scene):
    return navigator(scene)


@pytest.fixture(scope="module")
def names(navigation):
    plan = navigation.plan
    return SceneNames(
        targets=plan.target_labels,
        structures=tuple(s.name for s in plan.structures),
        trajectories=tuple(t.name for t in plan.trajectories),
        tools=tuple(TOOLS),
    )


def _texts(lines):
    return [line.text for line in lines]


def test_the_panel_gives_the_target_trajectory_and_structure_numbers(navigation, names):
    state = state_at(navigation, np.array([5.0, 5.0, 25.0]), number=12)
    lines = status_lines(state, names, view_fps=29.6)
    texts = "\n".join(_texts(lines))
    assert lines[0].text == "tools: stylus ok, reference ok"
    assert lines[0].colour == GOOD
    assert "target T1: 20.0 mm" in texts
    assert (
        "trajectory path:\n  tilt 0.0 deg, off line 0.0 mm\n  depth 15.0 mm, to go 20.0 mm" in texts
    )
    distance = float(VESSEL.signed_distance_mm(np.array([[5.0, 5.0, 25.0]]))[0])
    assert f"avoid vessel: {distance:.1f} mm" in texts
    assert lines[-1].text == "frame 12 at 0.24 s, view 30 fps, latency 15 ms"
    assert len(lines) <= line_count(names)


def test_a_breach_is_red_and_says_inside(navigation, names):
    state = state_at(navigation, np.array([0.0, 10.0, -8.0]))
    assert state.breaches == ("vessel",)
    vessel = [line for line in status_lines(state, names) if line.text.startswith("avoid")]
    assert vessel[0].text == "avoid vessel: INSIDE"
    assert vessel[0].colour == DANGER


def test_near_a_structure_within_the_margin_is_red_too(navigation, names):
    margin = navigation.plan.breach_margin_mm
    state = state_at(navigation, np.array([0.0, 10.0, -8.0 + 3.0 + margin / 2]))
    vessel = [line for line in status_lines(state, names) if line.text.startswith("avoid")]
    assert vessel[0].text == f"avoid vessel: {margin / 2:.1f} mm, too close"
    assert vessel[0].colour == DANGER


def test_a_latency_unknown_is_blank(navigation, names):
    state = navigation.navigate(frame(np.array([5.0, 5.0, 25.0]), number=3))  # no clock
    assert status_lines(state, names)[-1].text == "frame 3 at 0.06 s, latency --"


def test_a_lost_tool_is_named_in_red_and_the_numbers_are_blank(navigation, names):
    state = state_at(navigation, np.zeros(3), stylus=PoseStatus.OUT_OF_VOLUME)
    lines = status_lines(state, names)
    assert lines[0].text == "tools: stylus out of volume, reference ok"
    assert lines[0].colour == DANGER
    texts = "\n".join(_texts(lines))
    assert "target T1: --" in texts
    assert "avoid vessel: --" in texts
    assert "stylus out of the tracker's volume" in texts  # the navigator's alert
