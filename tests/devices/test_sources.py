"""Tracker specs: sim:demo, replay:FILE, ndi:PORT, and the ones that are not."""

import pytest

from devices.exceptions import ConfigurationError
from devices.frame import Frame
from devices.ndi.tracker import NDITracker
from devices.replay import ReplayTracker
from devices.sequence_file import write_sequence
from devices.simulated import SimulatedTracker
from devices.sources import open_tracker


def test_sim_demo_is_the_builtin_stylus_and_reference():
    tracker = open_tracker("sim:demo", realtime=False)
    assert isinstance(tracker, SimulatedTracker)
    assert tracker.tools == ("stylus", "reference")
    with tracker:
        assert tracker.read().frame_number == 0


def test_replay_opens_the_file(tmp_path):
    path = tmp_path / "r.igs.mha"
    write_sequence(path, [Frame(1.0, 5, {})], ["stylus"])
    tracker = open_tracker(f"replay:{path}", realtime=False)
    assert isinstance(tracker, ReplayTracker)
    with tracker:
        assert tracker.read().frame_number == 5


def test_ndi_names_a_port_and_defaults_to_the_builtin_tools():
    tracker = open_tracker("ndi:/dev/ttyUSB7")
    assert isinstance(tracker, NDITracker)
    assert tracker.port == "/dev/ttyUSB7"
    assert tracker.tools == ("stylus", "reference")


@pytest.mark.parametrize("spec", ["", "ndi:", "replay:", "usb:/dev/x", "demo"])
def test_rejects_an_unknown_tracker_spec(spec):
    with pytest.raises(ConfigurationError, match="expected sim:demo, replay:FILE or ndi:PORT"):
        open_tracker(spec)


@pytest.mark.parametrize("spec", ["sim:skull", "sim"])
def test_rejects_an_unknown_simulation(spec):
    with pytest.raises(
        ConfigurationError, match=r"unknown simulation .* the built-in one is 'demo'"
    ):
        open_tracker(spec)
