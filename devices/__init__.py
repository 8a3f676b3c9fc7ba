"""Tracked-tool streams: NDI trackers over serial, an NDI emulator, a simulated tracker, replay.

Every source yields the same ``Frame`` objects through the ``Tracker`` protocol (see ``frame``).
"""
