"""Tracked-tool streams: NDI trackers over serial, an NDI emulator, a simulated tracker, replay.

Every source yields the same ``Frame`` objects through the ``Tracker`` protocol (see ``frame``;
``source_base.TrackerSource`` adds ``with`` and iteration). Tools: ``tools`` (geometry, built-in
stylus and reference), ``rom`` (NDI .rom files). Simulation: ``simulated.SimulatedTracker`` with
the error models of ``noise`` and the loss events of ``events``; ``demo_motion`` is ``sim:demo``.
Recordings: ``sequence_file`` (PLUS .igs.mha read/write), ``recorder``, ``replay.ReplayTracker``.
``sources.open_tracker`` opens ``sim:demo`` / ``replay:FILE`` / ``ndi:PORT``. NDI: ``ndi``.
"""
