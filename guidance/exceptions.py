"""Exceptions raised by the guidance layer (navigation, views, exercises, output), and which
errors of every layer a user can fix."""

from devices.exceptions import DeviceError
from registration.exceptions import RegistrationError
from scenes.exceptions import SceneError


class GuidanceError(Exception):
    """Base of every error raised by ``guidance``."""


class RenderingUnavailable(GuidanceError):
    """Off-screen rendering cannot start on this machine; the message names what to install."""


class OutputFolderError(GuidanceError):
    """The output folder cannot be created or written; the message names it and why."""


class ReportError(GuidanceError):
    """A report or a figure cannot be made from what it was given; the message says what."""


class DisplayUnavailable(GuidanceError):
    """The interactive window has no display to open on; the message says what to do."""


USER_ERRORS = (DeviceError, GuidanceError, RegistrationError, SceneError, OSError)
"""Errors a user can fix (a bad file, degenerate input, a tracker that does not answer): the CLI
prints them as one line and grading writes them as a failed run's reason, without a traceback."""
