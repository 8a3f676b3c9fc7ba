"""Meaning of every ``ERRORxx`` code of the NDI Combined API (our own table, by code value).

The table follows the value-to-text mapping that ndicapi applies in practice, and adds the
flash codes F4-F6 with their intended meanings. Codes missing from it are reported as unknown
rather than guessed.
"""

from collections.abc import Mapping
from types import MappingProxyType

ERROR_MEANINGS: Mapping[int, str] = MappingProxyType(
    {
        0x01: "invalid command",
        0x02: "command too long",
        0x03: "command too short",
        0x04: "invalid CRC calculated for command",
        0x05: "timeout on command execution",
        0x06: "unable to set up new communication parameters",
        0x07: "incorrect number of command parameters",
        0x08: "invalid port handle selected",
        0x09: "invalid tracking priority selected (must be S, D or B)",
        0x0A: "invalid LED selected",
        0x0B: "invalid LED state selected",
        0x0C: "command is invalid while in the current operating mode",
        0x0D: "no tool is assigned to the selected port handle",
        0x0E: "selected port handle is not initialized",
        0x0F: "selected port handle is not enabled",
        0x10: "system not initialized",
        0x11: "unable to stop tracking",
        0x12: "unable to start tracking",
        0x13: "unable to initialize tool-in-port",
        0x14: "invalid position sensor or field generator characterization parameters",
        0x15: "unable to initialize the measurement system",
        0x16: "unable to start diagnostic mode",
        0x17: "unable to stop diagnostic mode",
        0x18: "unable to determine environmental infrared or magnetic interference",
        0x19: "unable to read device's firmware version information",
        0x1A: "internal system error",
        0x1B: "unable to initialize for environmental infrared diagnostics",
        0x1C: "unable to set marker firing signature",
        0x1D: "unable to search for SROM device IDs",
        0x1E: "unable to read SROM device data",
        0x1F: "unable to write SROM device data",
        0x20: "unable to select SROM device",
        0x21: "unable to perform tool current test",
        0x22: "no camera parameters for the tool wavelength in the selected volume",
        0x23: "command parameter out of range",
        0x24: "unable to select parameters by volume",
        0x25: "unable to determine the system's supported features",
        0x28: "too many tools enabled, too many frames requested or tool type not supported",
        0x29: "main processor firmware is corrupt",
        0x2A: "no memory is available for dynamic allocation (heap is full)",
        0x2B: "requested port handle has not been allocated",
        0x2C: "requested port handle has become unoccupied",
        0x2D: "all port handles have been allocated",
        0x2E: "incompatible firmware versions",
        0x2F: "invalid port description",
        0x30: "requested port is already assigned a port handle",
        0x32: "invalid operation for the device associated with the port handle",
        0x33: "feature not available",
        0x34: "user parameter does not exist",
        0x35: "invalid value type for the user parameter",
        0x36: "user parameter value is out of range",
        0x37: "user parameter array index is out of range",
        0x38: "user parameter value has the wrong size",
        0x39: "permission denied (connection is in monitor mode)",
        0x3B: "file not found",
        0x3C: "error writing to file",
        0x3D: "error reading from file",
        0x40: "tool definition file error (bad CRC or format)",
        0x41: "tool characteristics not supported",
        0x42: "device not present",
        0xF1: "too much environmental infrared",
        0xF4: "unable to erase flash SROM device",
        0xF5: "unable to write flash SROM device",
        0xF6: "unable to read flash SROM device",
    }
)


def error_meaning(code: int) -> str:
    """What ``ERROR{code:02X}`` means, or a sentence saying the code is not in the NDI table."""
    meaning = ERROR_MEANINGS.get(code)
    if meaning is None:
        return f"unknown error code 0x{code:02X} (not in the NDI Combined API table)"
    return meaning
