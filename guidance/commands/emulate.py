"""``gestes emulate ndi``: an NDI Polaris or Aurora on a virtual serial port, fed by a simulation
or a recording, so that the real driver code path runs without hardware.

Prints the port path on the first line of stdout, then serves until Ctrl-C (or ``--duration``).
"""

import argparse
import signal
import sys
import time
from collections.abc import Sequence

import guidance.demo_source  # noqa: F401 (registers sim:demo)
from devices.exceptions import ConfigurationError
from devices.frame import match_tool
from devices.ndi.emulator.process import run_emulator
from devices.ndi.emulator.settings import EmulatorSettings, Faults, Model
from devices.ndi.error_codes import ERROR_MEANINGS
from devices.sources import open_tracker

NDICAPI_MAX_ERROR = 0x42  # ndicapi reads past its table (and may crash) beyond this code


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes emulate ndi``."""
    parser = subparsers.add_parser("emulate", help="emulate a tracking device on a virtual port")
    devices = parser.add_subparsers(dest="device", metavar="DEVICE", required=True)
    ndi = devices.add_parser(
        "ndi",
        help="an NDI Polaris or Aurora on a pseudo-terminal",
        description="Serve the NDI Combined API on a new pseudo-terminal; open the printed path "
        "with 'gestes record --tracker ndi:PATH', ndicapi or any NDI client.",
    )
    ndi.add_argument("--source", required=True, help="pose source: sim:demo or replay:FILE")
    ndi.add_argument(
        "--model", choices=[model.value for model in Model], default="polaris", help="device"
    )
    ndi.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: never)"
    )
    ndi.add_argument(
        "--wire-timing",
        action="store_true",
        help="pace replies like a serial line at the baud rate",
    )
    faults = ndi.add_argument_group("faults (to see how a client copes)")
    faults.add_argument(
        "--corrupt-crc-every", type=int, default=0, metavar="N", help="every N-th reply: bad CRC"
    )
    faults.add_argument(
        "--drop-byte-every", type=int, default=0, metavar="N", help="every N-th reply: lose a byte"
    )
    faults.add_argument(
        "--split-replies", action="store_true", help="write replies in small pieces with pauses"
    )
    faults.add_argument(
        "--reply-delay", type=float, default=0.0, metavar="S", help="delay every reply by S s"
    )
    faults.add_argument(
        "--silent-after", type=int, default=None, metavar="FRAMES", help="then stop answering"
    )
    faults.add_argument(
        "--vanish-after", type=int, default=None, metavar="FRAMES", help="then close the port"
    )
    faults.add_argument(
        "--missing", action="append", default=[], metavar="TOOL", help="report TOOL missing"
    )
    faults.add_argument(
        "--out-of-volume", action="append", default=[], metavar="TOOL", help="TOOL out of volume"
    )
    faults.add_argument(
        "--error-on",
        default=None,
        metavar="COMMAND",
        help="answer COMMAND (e.g. PENA) with an error",
    )
    faults.add_argument(
        "--error-code",
        type=error_code,
        default=0x01,
        metavar="HEX",
        help=f"code for --error-on, e.g. 0D (above {NDICAPI_MAX_ERROR:02X}, ndicapi clients crash)",
    )
    ndi.set_defaults(run=run)


def error_code(text: str) -> int:
    """An ``ERRORxx`` code given in hex (``0D``, ``0x0D``)."""
    return int(text, 16)


def _settings(args: argparse.Namespace, tools: Sequence[str]) -> EmulatorSettings:
    """The emulator's settings; ``--missing`` / ``--out-of-volume`` name the source's ``tools``
    in any case."""

    def named(names: list[str]) -> frozenset[str]:
        return frozenset(match_tool(name, tools, f"the source {args.source}") for name in names)

    faults = Faults(
        corrupt_crc_every=args.corrupt_crc_every,
        drop_byte_every=args.drop_byte_every,
        split_replies=args.split_replies,
        reply_delay_s=args.reply_delay,
        silent_after_frames=args.silent_after,
        vanish_after_frames=args.vanish_after,
        missing_tools=named(args.missing),
        out_of_volume_tools=named(args.out_of_volume),
        error_command=args.error_on.upper() if args.error_on else None,
        error_code=args.error_code,
    )
    return EmulatorSettings(model=Model(args.model), faults=faults, wire_timing=args.wire_timing)


def run(args: argparse.Namespace) -> int:
    """Serve the emulated device until interrupted; 0 on a clean stop."""
    if not args.source.startswith(("sim:", "replay:")):
        raise ConfigurationError(
            f"the emulator's source is sim:demo or replay:FILE; got {args.source!r}"
        )
    if args.duration is not None and args.duration <= 0:
        raise ConfigurationError(f"--duration must be > 0 s; got {args.duration}")
    source = open_tracker(args.source, realtime=True)
    settings = _settings(args, source.tools)
    if args.error_on and args.error_code not in ERROR_MEANINGS:
        print(f"warning: ERROR{args.error_code:02X} is not an NDI error code", file=sys.stderr)
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stopping.append(number))
    deadline = None if args.duration is None else time.monotonic() + args.duration

    def should_stop() -> bool:
        return bool(stopping) or (deadline is not None and time.monotonic() > deadline)

    def on_ready(port: str) -> None:
        print(port, flush=True)
        print(
            f"NDI {settings.model.value} emulator on {port}, tools {', '.join(source.tools)} "
            f"from {args.source}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    run_emulator(source, settings, on_ready, should_stop)
    return 0
