"""Exceptions raised by tracking devices, their protocols, recordings and settings."""


class DeviceError(Exception):
    """Base of every error raised by ``devices``."""


class TrackerError(DeviceError):
    """A tracker could not be opened or stopped answering correctly."""


class TrackerTimeout(TrackerError):
    """The tracker did not answer within the allowed time."""


class FrameNotDue(TrackerTimeout):
    """A paced source's next frame is due later than the read's timeout: read again later."""


class TrackerDisconnected(TrackerError):
    """The tracker vanished (port closed, cable unplugged) while in use."""


class ProtocolError(DeviceError):
    """Bytes from a device that do not follow its protocol (bad CRC, truncated or garbled reply)."""


class ConfigurationError(DeviceError):
    """Invalid tracker or tool settings (unknown tool file, bad baud rate, ...)."""


class RecordingError(DeviceError):
    """A recording file that cannot be read or written (malformed, truncated, wrong format)."""


class StreamEnded(TrackerError):
    """A finite source (a simulation or a recording) has delivered its last frame."""


class RomError(ConfigurationError):
    """An NDI ``.rom`` tool definition that is corrupt or is not one (size, magic, checksum)."""
