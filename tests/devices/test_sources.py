"""Tracker specs: replay:FILE, ndi:PORT, igtl:HOST:PORT, kinds registered by others, bad specs
(``sim:demo`` is registered by guidance: tests/guidance/test_demo_source.py)."""

import pytest

from devices.clock import FakeClock
from devices.exceptions import ConfigurationError
from devices.frame import Frame
from devices.igtl.tracker import IgtlTracker
from devices.ndi.tracker import NDITracker
from devices.replay import ReplayTracker
from devices.sequence_file import write_sequence
from devices.sources import _KINDS, open_tracker, register_tracker, spec_help


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


def test_igtl_names_a_server_and_maps_tools_to_message_names():
    tracker = open_tracker("igtl:10.0.0.5:18945")
    assert isinstance(tracker, IgtlTracker)
    assert (tracker.host, tracker.port) == ("10.0.0.5", 18945)
    assert tracker.tools == ("stylus", "reference")
    tracker = open_tracker("igtl:18944", ndi_tools={"needle": "NeedleToTracker"})
    assert (tracker.host, tracker.port, tracker.tools) == ("127.0.0.1", 18944, ("needle",))


@pytest.mark.parametrize(
    ("spec", "tools", "match"),
    [
        ("igtl:host:port", None, r"expected \[HOST:\]PORT"),
        ("igtl:1:70000", None, r"expected \[HOST:\]PORT"),
        ("igtl:18944", {"stylus": b"x.rom"}, "names the OpenIGTLink message of tool 'stylus'"),
    ],
)
def test_igtl_rejects_bad_addresses_and_tool_specs(spec, tools, match):
    with pytest.raises(ConfigurationError, match=match):
        open_tracker(spec, ndi_tools=tools)


@pytest.mark.parametrize("spec", ["", "ndi:", "replay:", "igtl:", "usb:/dev/x", "demo"])
def test_rejects_an_unknown_tracker_spec(spec):
    for usage in ("replay:FILE", "ndi:PORT", "igtl:HOST:PORT", "keyboard"):
        assert usage in spec_help()
    with pytest.raises(ConfigurationError, match=f"unknown tracker .*: expected {spec_help()}$"):
        open_tracker(spec)


def test_the_clock_is_passed_to_the_tracker(tmp_path):
    path = tmp_path / "r.igs.mha"
    write_sequence(path, [Frame(0.0, 0, {}), Frame(0.5, 1, {})], ["stylus"])
    clock = FakeClock(3.0)
    tracker = open_tracker(f"replay:{path}", realtime=True, clock=clock)
    assert tracker.clock is clock
    with tracker:
        tracker.read()
        tracker.read()
    assert clock.now() == pytest.approx(3.5)  # paced on the fake clock


def test_other_modules_register_their_tracker_kinds():
    opened = []

    def open_keyboard(argument, options):
        opened.append((argument, options.realtime, options.clock))
        return "a keyboard tracker"

    clock = FakeClock()
    register_tracker("keyboardtest", open_keyboard, "keyboardtest", needs_argument=False)
    register_tracker("igtltest", lambda argument, options: argument, "igtltest:HOST:PORT")
    try:
        assert open_tracker("keyboardtest", clock=clock) == "a keyboard tracker"
        assert opened == [("", True, clock)]
        assert open_tracker("igtltest:localhost:18944") == "localhost:18944"
        assert "keyboardtest" in spec_help()
        assert spec_help().endswith("or igtltest:HOST:PORT")
        with pytest.raises(ConfigurationError, match="expected replay:FILE, ndi:PORT"):
            open_tracker("igtltest")
    finally:
        _KINDS.pop("keyboardtest")
        _KINDS.pop("igtltest")


@pytest.mark.parametrize("kind", ["", "a:b"])
def test_a_kind_is_a_word(kind):
    with pytest.raises(ConfigurationError, match="kind"):
        register_tracker(kind, lambda argument, options: None, kind)
