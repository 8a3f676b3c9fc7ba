"""Open a tracker from a short text spec, as the command line names them.

``sim:demo`` is the built-in scripted session (``devices.demo_motion``), ``replay:FILE`` a PLUS
sequence file, ``ndi:PORT`` an NDI device on a serial port (e.g. ``ndi:/dev/ttyUSB0``).
"""

import os
from collections.abc import Mapping

from devices.demo_motion import demo_tracker
from devices.exceptions import ConfigurationError
from devices.frame import Tracker
from devices.ndi.tool_specs import AuroraSensor
from devices.ndi.tracker import NDITracker
from devices.replay import ReplayTracker
from devices.tools import BUILTIN_TOOLS, ToolDefinition

SPEC_HELP = "sim:demo, replay:FILE or ndi:PORT"

NDIToolSpec = str | os.PathLike | bytes | ToolDefinition | AuroraSensor


def open_tracker(
    spec: str, realtime: bool = True, ndi_tools: Mapping[str, NDIToolSpec] | None = None
) -> Tracker:
    """The tracker named by ``spec`` (not started).

    ``realtime`` paces simulations and replays like a live device; without it they run as fast
    as they are read. ``ndi_tools`` names the tools an NDI device tracks (name -> .rom path,
    ``ToolDefinition`` or Aurora ``"PORT[:CHANNEL]"``); by default gestes' built-in stylus and
    reference, as served by the NDI emulator.
    """
    kind, _, argument = spec.partition(":")
    if kind == "sim":
        if argument != "demo":
            raise ConfigurationError(f"unknown simulation {argument!r}: the built-in one is 'demo'")
        return demo_tracker(realtime=realtime)
    if kind == "replay" and argument:
        return ReplayTracker(argument, speed=1.0 if realtime else None)
    if kind == "ndi" and argument:
        return NDITracker(argument, dict(ndi_tools) if ndi_tools else dict(BUILTIN_TOOLS))
    raise ConfigurationError(f"unknown tracker {spec!r}: expected {SPEC_HELP}")
