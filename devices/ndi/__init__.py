"""The NDI Combined API (Polaris, Aurora): CRC, framing, BX/TX replies, status bits, error codes.

The driver (``NDITracker``) and the device emulator build on these pure, tested pieces.
"""
