"""Tracked-tool streams: NDI trackers over serial, an NDI emulator, a simulated tracker, replay.

Every source yields the same ``Frame`` objects through the ``Tracker`` protocol (see ``frame``,
which also holds the one rule of which statuses carry a pose and the matching of tool names).
``acquisition`` is the one acquisition path: the ``TrackerDevice`` base class (pacing on a
``clock``, timeouts, timestamps, building frames) that every tracker extends, and the
``Acquisition`` thread that hands frames to sinks. Tools: ``tools`` (geometry, built-in stylus
and reference), ``rom`` (NDI .rom files). Simulation: ``simulated.SimulatedTracker`` with the
error models of ``noise`` and the loss events of ``events`` (scripted motions live in ``scenes``).
Recordings: ``sequence_file`` (PLUS .igs.mha read/write), ``recorder``, ``replay.ReplayTracker``.
``sources.open_tracker`` opens ``replay:FILE`` / ``ndi:PORT`` / ``igtl:`` / ``keyboard`` and the
kinds other layers register (``sim:demo``: ``guidance.demo_source``). NDI: ``ndi``.
"""
