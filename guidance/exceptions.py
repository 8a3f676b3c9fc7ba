"""Exceptions raised by the guidance layer (navigation, views, exercises, output)."""


class GuidanceError(Exception):
    """Base of every error raised by ``guidance``."""


class RenderingUnavailable(GuidanceError):
    """Off-screen rendering cannot start on this machine; the message names what to install."""
