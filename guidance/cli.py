"""The ``gestes`` command line: one subcommand per module in ``guidance.commands``.

Only this layer prints. Errors that a user can fix (bad files, degenerate input, a tracker that
does not answer) become a one-line message and exit status 2, never a traceback.

Start-up is kept short (``gestes --help`` well under half a second) by importing a subcommand's
module only when that subcommand runs: ``COMMANDS`` names each module with a one-line summary,
``gestes --help`` lists the summaries, and only the chosen module is imported and asked to
register its arguments (``add_parser(subparsers)``, then ``run(args)``). To add a subcommand,
write ``guidance/commands/NAME.py`` and add one ``Command`` line below.
"""

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from guidance.exceptions import USER_ERRORS


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, the module that implements it, and its one-line summary.

    ``summary`` is what ``gestes --help`` lists without importing the module; it is the same
    text as the module's own ``help=`` (a test checks they agree).
    """

    name: str
    module: str
    summary: str


COMMANDS = (
    Command(
        "capture",
        "guidance.commands.capture",
        "points where a tracked tip was held still in a recording (markups file)",
    ),
    Command(
        "demo",
        "guidance.commands.demo",
        "run a simulated registration and navigation exercise on a phantom",
    ),
    Command("emulate", "guidance.commands.emulate", "emulate a tracking device on a virtual port"),
    Command(
        "exercise",
        "guidance.commands.exercise",
        "a scored guidance exercise: pivot, fiducials, surface or targeting",
    ),
    Command("fiducials", "guidance.commands.fiducials", "fiducial beads in a CT"),
    Command(
        "grade",
        "guidance.commands.grade",
        "score every recorded exercise run in a folder tree again (a class table)",
    ),
    Command(
        "navigate",
        "guidance.commands.navigate",
        "navigate a tracked stylus in a scene's CT, live",
    ),
    Command(
        "pivot",
        "guidance.commands.pivot",
        "pivot calibration of a tool from a PLUS recording (JSON to stdout)",
    ),
    Command(
        "record",
        "guidance.commands.record",
        "record a tracker (simulated, replayed or NDI) to a .igs.mha file",
    ),
    Command("register", "guidance.commands.register", "paired-point or surface registration"),
    Command("replay", "guidance.commands.replay", "play a tracking recording (.igs.mha)"),
    Command("scene", "guidance.commands.scene", "inspect and save scenes (CT, fiducials, targets)"),
    Command(
        "study", "guidance.commands.study", "TRE studies over many simulated exercises, on Dask"
    ),
    Command("volume", "guidance.commands.volume", "inspect CT volumes"),
)


def version() -> str:
    """The installed gestes version (from the package metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("gestes")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first word that is not an option.

    gestes' own options (``-v``, ``--version``, ``--help``) take no value, so the first other
    word is the subcommand (or a typo argparse will report).
    """
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the subcommand named ``load`` (if any) imports its module.

    The other subcommands are registered by name and summary alone, enough for ``--help`` and
    for argparse to recognise them; ``load=None`` imports no command module at all.
    """
    parser = argparse.ArgumentParser(
        prog="gestes",
        description="Computer-assisted surgical-guidance simulator: CT scenes, tracked tools, "
        "registration and navigation, with or without a tracker plugged in.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    parser.add_argument("--version", action="version", version=f"gestes {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        if command.name == load:
            importlib.import_module(command.module).add_parser(subparsers)
        else:
            subparsers.add_parser(command.name, help=command.summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gestes`` console script; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(load=chosen_command(argv))
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
