"""``sim:demo``: the built-in scripted session (``scenes.demo_session``) filmed by a simulated
camera, as a tracker spec the commands open (``gestes record --tracker sim:demo``, ``gestes
emulate ndi --source sim:demo``).

``devices`` may not import ``scenes``, so the kind ``sim`` is registered here, in
``devices.sources``, when a command imports this module. Light to import: the simulation is
built only when a spec is opened.
"""

from typing import TYPE_CHECKING

from devices.clock import Clock
from devices.exceptions import ConfigurationError
from devices.sources import TrackerOptions, register_tracker

if TYPE_CHECKING:
    from devices.noise import EMNoise, OpticalNoise
    from devices.simulated import SimulatedTracker

RATE_HZ = 60.0


def demo_tracker(
    noise: "OpticalNoise | EMNoise | None" = None,
    rate_hz: float = RATE_HZ,
    seed: int = 0,
    realtime: bool = True,
    clock: Clock | None = None,
) -> "SimulatedTracker":
    """A ``SimulatedTracker`` playing the demo session with gestes' built-in stylus and
    reference, seen by default (``noise`` None) by an optical camera with a measurement volume
    and line of sight."""
    from devices.noise import CameraView, OpticalNoise
    from devices.simulated import SimulatedTracker
    from devices.tools import BUILTIN_TOOLS
    from guidance.simulation import stylus_geometry
    from scenes.demo_session import demo_motion

    noise = OpticalNoise(camera=CameraView()) if noise is None else noise
    motion = demo_motion(stylus_geometry(BUILTIN_TOOLS["stylus"]))
    return SimulatedTracker(motion, BUILTIN_TOOLS, noise, rate_hz, seed, realtime, clock)


def _open_simulation(name: str, options: TrackerOptions) -> "SimulatedTracker":
    if name != "demo":
        raise ConfigurationError(f"unknown simulation {name!r}: the built-in one is 'demo'")
    return demo_tracker(realtime=options.realtime, clock=options.clock)


register_tracker("sim", _open_simulation, "sim:demo", needs_argument=False)
