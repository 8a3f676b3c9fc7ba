"""Open a tracker from a short text spec, as the command line names them.

``replay:FILE`` is a PLUS sequence file, ``ndi:PORT`` an NDI device on a serial port (e.g.
``ndi:/dev/ttyUSB0``), ``igtl:HOST:PORT`` an OpenIGTLink server, ``keyboard`` a virtual stylus
moved from the navigation window (``devices.keyboard``). Other layers add their kinds with
``register_tracker`` without this module importing them: ``sim:demo``, a scripted session from
``scenes``, is registered by ``guidance.demo_source``.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from devices.clock import Clock
from devices.exceptions import ConfigurationError
from devices.frame import Tracker
from devices.igtl.tracker import IgtlTracker
from devices.keyboard import KeyboardTracker
from devices.ndi.tool_specs import AuroraSensor
from devices.ndi.tracker import NDITracker
from devices.replay import ReplayTracker
from devices.tools import BUILTIN_TOOLS, ToolDefinition

NDIToolSpec = str | os.PathLike | bytes | ToolDefinition | AuroraSensor


@dataclass(frozen=True)
class TrackerOptions:
    """What every opener may use besides the spec's argument.

    ``realtime`` paces simulations and replays like a live device (without it they run as fast
    as they are read); ``ndi_tools`` names the tools an NDI device tracks; ``clock`` is the
    clock of pacing and stamping (None: the host's monotonic clock).
    """

    realtime: bool = True
    ndi_tools: Mapping[str, NDIToolSpec] = field(default_factory=dict)
    clock: Clock | None = None


Opener = Callable[[str, TrackerOptions], Tracker]


@dataclass(frozen=True)
class _Kind:
    opener: Opener
    usage: str
    needs_argument: bool


_KINDS: dict[str, _Kind] = {}


def register_tracker(kind: str, opener: Opener, usage: str, needs_argument: bool = True) -> None:
    """Make ``open_tracker`` open specs ``KIND:ARGUMENT`` with ``opener(argument, options)``
    (the argument may be empty when ``needs_argument`` is False: ``keyboard``); ``usage`` is
    how the spec is written in help texts (e.g. ``"igtl:HOST:PORT"``). Registering a kind
    again replaces it.
    """
    if not kind or ":" in kind:
        raise ConfigurationError(f"a tracker kind is a word without ':'; got {kind!r}")
    _KINDS[kind] = _Kind(opener, usage, needs_argument)


def spec_help() -> str:
    """The tracker specs that can be opened now, e.g. ``"replay:FILE, ndi:PORT or sim:demo"``."""
    usages = [kind.usage for kind in _KINDS.values()]
    return ", ".join(usages[:-1]) + " or " + usages[-1] if len(usages) > 1 else usages[0]


def open_tracker(
    spec: str,
    realtime: bool = True,
    ndi_tools: Mapping[str, NDIToolSpec] | None = None,
    clock: Clock | None = None,
) -> Tracker:
    """The tracker named by ``spec`` (not started); see ``TrackerOptions`` for the options.

    ``ndi_tools`` maps tool names to a .rom path, a ``ToolDefinition`` or an Aurora
    ``"PORT[:CHANNEL]"``; by default gestes' built-in stylus and reference, as served by the
    NDI emulator.
    """
    kind_name, _, argument = spec.partition(":")
    kind = _KINDS.get(kind_name)
    if kind is None or (kind.needs_argument and not argument):
        raise ConfigurationError(f"unknown tracker {spec!r}: expected {spec_help()}")
    options = TrackerOptions(realtime, dict(ndi_tools or {}), clock)
    return kind.opener(argument, options)


def _open_replay(path: str, options: TrackerOptions) -> Tracker:
    return ReplayTracker(path, speed=1.0 if options.realtime else None, clock=options.clock)


def _open_keyboard(argument: str, options: TrackerOptions) -> Tracker:
    if argument:
        raise ConfigurationError(
            f"the keyboard tracker takes no argument; got 'keyboard:{argument}'"
        )
    return KeyboardTracker(clock=options.clock)


def _open_ndi(port: str, options: TrackerOptions) -> Tracker:
    return NDITracker(port, options.ndi_tools or dict(BUILTIN_TOOLS), clock=options.clock)


def _open_igtl(address: str, options: TrackerOptions) -> Tracker:
    return IgtlTracker.from_spec(address, options.ndi_tools or None, clock=options.clock)


register_tracker("replay", _open_replay, "replay:FILE")
register_tracker("ndi", _open_ndi, "ndi:PORT")
register_tracker("igtl", _open_igtl, "igtl:HOST:PORT")
register_tracker("keyboard", _open_keyboard, "keyboard", needs_argument=False)
