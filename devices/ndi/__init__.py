"""The NDI Combined API (Polaris, Aurora) in pure Python, tested byte for byte.

Protocol pieces: ``crc`` (CRC-16/ARC), ``framing`` (ASCII commands and replies), ``bx`` and
``tx`` (tracking replies), ``status`` (port/system bits -> ``PoseStatus``), ``error_codes``
(``ERRORxx`` meanings), ``parameters``, ``quaternion`` (.rom files: ``devices.rom``).
Driver: ``tracker.NDITracker`` over ``link.SerialLink`` (pyserial), ``probe``.
Emulator: ``emulator`` (device state machine, pty server with faults, child process).
"""
