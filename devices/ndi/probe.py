"""Find NDI devices on serial ports: a port is one when ``INIT`` gets a CRC-valid reply."""

import logging
from collections.abc import Iterable

from serial.tools import list_ports

from devices.exceptions import DeviceError
from devices.ndi.exceptions import NDICommandError
from devices.ndi.link import SerialLink

logger = logging.getLogger(__name__)


def probe_ports(candidates: Iterable[str] | None = None, timeout_s: float = 0.5) -> list[str]:
    """The ports among ``candidates`` (default: every serial port of the system) where an NDI
    device answers ``INIT`` at 9600 baud within ``timeout_s``.

    An ``ERRORxx`` reply counts (the device is there, e.g. already tracking); ports that cannot
    be opened, stay silent or answer garbage are skipped. A device left at another baud rate
    is not found: reset it (``NDITracker`` does, with a serial break).
    """
    ports = (
        list(candidates) if candidates is not None else [p.device for p in list_ports.comports()]
    )
    found = []
    for port in ports:
        try:
            link = SerialLink(port, timeout_s)
        except DeviceError as error:
            logger.info("probe: %s", error)
            continue
        try:
            link.command("INIT")
            found.append(port)
        except NDICommandError:
            found.append(port)
        except DeviceError as error:
            logger.info("probe: no NDI device on %s (%s)", port, error)
        finally:
            link.close()
    return found
