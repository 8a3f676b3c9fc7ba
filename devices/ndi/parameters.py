"""Fixed parameter codes of NDI commands shared by the driver and the emulator."""

BAUD_CODES = {
    "0": 9600,
    "1": 14400,
    "2": 19200,
    "3": 38400,
    "4": 57600,
    "5": 115200,
    "6": 921600,
    "7": 1228739,
    "A": 230400,
}
"""COMM's first parameter digit -> baud rate."""

BAUD_DIGITS = {baud: digit for digit, baud in BAUD_CODES.items()}

OPTION_TRANSFORMS = 0x0001
OPTION_OUT_OF_VOLUME = 0x0800
ROM_CHUNK = 64
"""PVWR writes tool definitions in chunks of 64 bytes (128 hex digits)."""


def is_hex(text: str) -> bool:
    """True for a non-empty string of hexadecimal digits."""
    return bool(text) and all(character in "0123456789ABCDEFabcdef" for character in text)
