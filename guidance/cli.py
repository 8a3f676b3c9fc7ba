"""The ``gestes`` command line: one subcommand per module in ``guidance.commands``.

Only this layer prints. Errors that a user can fix (bad files, degenerate input, a tracker that
does not answer) become a one-line message and exit status 2, never a traceback.
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from devices.exceptions import DeviceError
from guidance.commands import (
    demo,
    emulate,
    fiducials,
    pivot,
    record,
    register,
    replay,
    scene,
    volume,
)
from guidance.exceptions import GuidanceError
from registration.exceptions import RegistrationError
from scenes.exceptions import SceneError

# Each module registers its subcommand with ``add_parser(subparsers)``.
COMMANDS = (demo, emulate, fiducials, pivot, record, register, replay, scene, volume)

USER_ERRORS = (DeviceError, GuidanceError, RegistrationError, SceneError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gestes",
        description="Computer-assisted surgical-guidance simulator: CT scenes, tracked tools, "
        "registration and navigation, with or without a tracker plugged in.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gestes`` console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except USER_ERRORS as error:
        print(f"gestes {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gestes {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
