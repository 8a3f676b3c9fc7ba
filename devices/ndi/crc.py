"""CRC-16 of the NDI Combined API: CRC-16/ARC (polynomial 0x8005 reflected as 0xA001, initial 0).

ASCII commands and replies carry it as 4 upper-case hex digits after the body; binary replies
(``BX``) carry it as a little-endian u16. The table-driven loop runs in Numba for long inputs,
so that a 4-tool ``BX`` frame is checked in a few microseconds.
"""

import numba
import numpy as np


def _crc_table() -> np.ndarray:
    """The 256-entry table of CRC-16/ARC: the remainder of each byte value, LSB first."""
    table = np.zeros(256, dtype=np.uint16)
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[value] = crc
    return table


_TABLE = _crc_table()
_TABLE_LIST = _TABLE.tolist()
_NUMBA_FROM_BYTES = 32


@numba.njit(cache=True, nogil=True)
def _crc16_kernel(data: np.ndarray, table: np.ndarray, crc: int) -> int:
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


# Compile (or load from the cache) now, not inside the first long reply's time budget.
_crc16_kernel(np.zeros(1, dtype=np.uint8), _TABLE, 0)


def crc16(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16/ARC of ``data`` continuing from ``crc`` (0 to start): ``b"123456789"`` -> 0xBB3D.

    Short inputs (commands, the 4-byte BX header) run the same table loop in Python, which is
    faster than the Numba call overhead below about 32 bytes.
    """
    if len(data) < _NUMBA_FROM_BYTES:
        table = _TABLE_LIST
        for byte in bytes(data):
            crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
        return crc
    return int(_crc16_kernel(np.frombuffer(data, dtype=np.uint8), _TABLE, crc))


def crc16_hex(data: bytes | bytearray | memoryview) -> bytes:
    """The CRC of ``data`` as the 4 upper-case ASCII hex digits NDI appends to ASCII messages."""
    return b"%04X" % crc16(data)
