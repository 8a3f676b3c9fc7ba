"""CRC-64 of OpenIGTLink message bodies: ECMA-182 (polynomial 0x42F0E1EBA9EA3693, MSB first,
initial value 0, no final XOR), as the protocol's header page and its reference library define it.

The check value of ``b"123456789"`` is 0x6C40DF5F0B497347 (the CRC catalogue's CRC-64/ECMA-182).
The table-driven loop runs in Numba: a 256^3 CT (32 MiB) is checked in well under a second,
where a Python loop would take a minute.
"""

import numba
import numpy as np

POLYNOMIAL = 0x42F0E1EBA9EA3693
_MASK = (1 << 64) - 1


def _crc_table() -> np.ndarray:
    """The 256-entry table: the remainder of each byte value placed in the top 8 bits."""
    table = np.zeros(256, dtype=np.uint64)
    for value in range(256):
        crc = value << 56
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) & _MASK if crc >> 63 else (crc << 1) & _MASK
        table[value] = crc
    return table


_TABLE = _crc_table()


@numba.njit(cache=True, nogil=True)
def _crc64_kernel(data: np.ndarray, table: np.ndarray, crc: np.uint64) -> np.uint64:
    shift_top = np.uint64(56)
    shift_byte = np.uint64(8)
    for byte in data:
        crc = table[np.uint64(byte) ^ (crc >> shift_top)] ^ (crc << shift_byte)
    return crc


# Compile (or load from the cache) now, not when the first message arrives.
_crc64_kernel(np.zeros(1, dtype=np.uint8), _TABLE, np.uint64(0))


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/ECMA-182 of ``data`` continuing from ``crc`` (0 to start), as an unsigned int."""
    return int(_crc64_kernel(np.frombuffer(data, dtype=np.uint8), _TABLE, np.uint64(crc)))
