"""OpenIGTLink, the network protocol of 3D Slicer and PLUS, written out in gestes' own code.

Protocol pieces: ``crc`` (CRC-64/ECMA-182), ``header`` (the 58-byte header and its 32.32
timestamp), ``messages`` (TRANSFORM, IMAGE, POINT contents), ``stream`` (a byte stream cut into
messages, bounded memory, bad input skipped or refused). Network: ``server`` (streams to any
number of clients, newest message wins for a slow one), ``tracker`` (``igtl:HOST:PORT``, a
tracker fed by TRANSFORM messages from PlusServer, Slicer or any OpenIGTLink server).
"""
