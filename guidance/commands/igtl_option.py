"""``--igtl-server [HOST:]PORT``: stream a command's frames to 3D Slicer over OpenIGTLink.

Shared by ``gestes navigate``, ``gestes exercise`` and ``gestes replay``. Without a value it
serves on the loopback interface at OpenIGTLink's port (127.0.0.1:18944); another interface
only when named (``0.0.0.0:18944`` serves every one). Light at import: the sender (numpy,
SimpleITK, Numba) is imported only when the option is used.
"""

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from devices.exceptions import ConfigurationError
from devices.igtl.settings import ServerSettings

if TYPE_CHECKING:
    from guidance.igtlink import IgtlSender
    from scenes.scene import Scene


def _settings(text: str) -> ServerSettings:
    try:
        return ServerSettings().at(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_igtl_server_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--igtl-server [HOST:]PORT`` (``args.igtl_server``: ``ServerSettings`` or None)."""
    defaults = ServerSettings()
    parser.add_argument(
        "--igtl-server",
        nargs="?",
        const=f"{defaults.host}:{defaults.port}",
        type=_settings,
        metavar="[HOST:]PORT",
        help="stream transforms (and the scene's CT and points) to OpenIGTLink clients such as "
        f"3D Slicer; alone: {defaults.host}:{defaults.port}; 0.0.0.0:PORT serves every "
        "network interface",
    )


@contextlib.contextmanager
def igtl_sender(
    settings: ServerSettings | None, tools: Sequence[str], scene: "Scene | None" = None
) -> Iterator["IgtlSender | None"]:
    """The started sender for ``--igtl-server`` (None when the option was not given); says on
    stderr where it listens, and stops it on exit."""
    if settings is None:
        yield None
        return
    from guidance.igtlink import IgtlSender

    with IgtlSender(settings, tools, scene) as sender:
        host, port = sender.address
        print(f"serving OpenIGTLink on {host}:{port}", file=sys.stderr, flush=True)
        yield sender
