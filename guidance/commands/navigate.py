"""``gestes navigate``: live navigation of a tracked stylus in a scene's CT.

The tracker is read on its own thread and every frame recorded (``navigation.igs.mha`` in
``--out``); the window draws the newest state at its own rate. ``--headless`` runs without a
window and afterwards draws pictures (and ``--video``) off-screen from the recording. Every run
ends with a summary on stdout and in ``navigation.json``.
"""

import argparse
import sys
from pathlib import Path

from guidance.commands.igtl_option import add_igtl_server_option, igtl_sender
from guidance.exceptions import GuidanceError

RECORDING = "navigation.igs.mha"
# How long the simulated stylus goes on in a window without --duration (s).
WINDOW_LOOP_S = 3600.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes navigate``."""
    from guidance.navigation_settings import AUTO, NavigateSettings

    defaults = NavigateSettings(scene="builtin:skull")
    parser = subparsers.add_parser(
        "navigate",
        help="navigate a tracked stylus in a scene's CT, live",
        description="Follow a tracked stylus in the CT of a scene: where its tip is, how far from "
        "the target and along the planned trajectory, how close to what must not be touched. "
        "Records every frame. With --tracker keyboard the arrow keys, w/s (push/pull), "
        "i/k j/l u/o (tilt) and the mouse move a virtual stylus.",
    )
    parser.add_argument(
        "--scene", required=True, help="scene folder or builtin:skull|spine|needle-box"
    )
    parser.add_argument(
        "--tracker",
        default=defaults.tracker,
        help="sim (the scene before a simulated camera), keyboard, replay:FILE, ndi:PORT, "
        f"igtl:HOST:PORT (default: {defaults.tracker})",
    )
    parser.add_argument(
        "--registration",
        default=defaults.registration,
        metavar="FILE.json|auto",
        help="image_from_reference: the JSON of 'gestes register points|surface', or auto "
        "(sim: touch the fiducials and register; keyboard: the CT's frame) "
        f"(default: {AUTO})",
    )
    parser.add_argument("--target", help="target or trajectory to work on (default: the first)")
    parser.add_argument(
        "--tool-tip", type=Path, metavar="FILE.json", help="stylus tip from 'gestes pivot'"
    )
    parser.add_argument("--stylus", default=defaults.stylus, help="the stylus's tool name")
    parser.add_argument("--reference", default=defaults.reference, help="the reference's name")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no window: draw pictures (and --video) off-screen after the run",
    )
    parser.add_argument(
        "--video", type=Path, metavar="RUN.mp4|RUN.gif", help="headless: a video of the run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("gestes-navigation"),
        help="output folder (default: gestes-navigation)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a recording already in --out"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S s of tracking")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="simulation seed (placement, noise)"
    )
    parser.add_argument(
        "--rate", type=float, default=defaults.rate_hz, help="simulated tracker rate (Hz)"
    )
    add_igtl_server_option(parser)
    parser.set_defaults(run=run)


def _check_display(args: argparse.Namespace) -> None:
    """Refuse, before anything starts, a window without a display and options that cannot work."""
    if args.video is not None and not args.headless:
        raise GuidanceError("--video is written by --headless runs; add --headless")
    if args.headless and args.tracker.startswith("keyboard") and args.duration is None:
        raise GuidanceError(
            "--tracker keyboard --headless would run forever (nobody moves the stylus): "
            "give --duration S"
        )
    if not args.headless:
        from guidance.views import check_display

        check_display()


def run(args: argparse.Namespace) -> int:
    """Set up, navigate until the source ends, the window closes, --duration or Ctrl-C, and
    report; the recording is kept whatever happens."""
    from guidance.navigation_report import (
        highlights,
        navigate_recording,
        render_run,
        summary_document,
        write_summary,
    )
    from guidance.navigation_settings import NavigateSettings
    from guidance.navigation_setup import prepare_navigation
    from guidance.output import prepare_output_folder
    from guidance.session import NavigationSession, SessionEnd, SessionSettings

    _check_display(args)
    settings = NavigateSettings(
        scene=args.scene,
        tracker=args.tracker,
        registration=args.registration,
        target=args.target,
        tool_tip=args.tool_tip,
        stylus=args.stylus,
        reference=args.reference,
        seed=args.seed,
        rate_hz=args.rate,
        # Nobody watches a headless run live: simulations and replays go as fast as they can,
        # unless OpenIGTLink clients are following it.
        realtime=not args.headless or args.igtl_server is not None,
        # In a window the simulated stylus keeps going back to the target until it is closed
        # (or --duration); headless it goes once.
        loop_s=None if args.headless else args.duration or WINDOW_LOOP_S,
    )
    session_settings = SessionSettings(duration_s=args.duration)
    out = prepare_output_folder(args.out)
    setup = prepare_navigation(settings, out)
    for warning in setup.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _say_setup(setup)
    with igtl_sender(args.igtl_server, setup.tracker.tools, setup.scene) as sender:
        session = NavigationSession(
            setup.tracker,
            setup.navigator,
            out / RECORDING,
            sinks=() if sender is None else (sender,),
            settings=session_settings,
            overwrite=args.overwrite,
        )
        print(f"navigating; recording to {session.recorder.path} (Ctrl-C ends)", flush=True)
        summary = session.run(None if args.headless else _window(setup).run)
    if args.headless:
        run_highlights, pictures = render_run(setup, summary.path, out, args.video)
    else:
        n_structures = len(setup.plan.structures)
        run_highlights = highlights(navigate_recording(setup.navigator, summary.path), n_structures)
        pictures = []
    document = summary_document(setup, summary, run_highlights, pictures)
    path = write_summary(document, out)
    _say_summary(document, path)
    if summary.end is SessionEnd.FAILED:
        print(
            f"gestes navigate: error: {summary.error} ({summary.frames_recorded} frames before it "
            f"are kept in {summary.path})",
            file=sys.stderr,
        )
        return 2
    return 0


def _window(setup):
    """The interactive window; the keyboard tracker's keys and drags bound to it."""
    from devices.keyboard import KeyboardTracker
    from guidance.views import NavigationWindow

    window = NavigationWindow(setup.scene, setup.surface, setup.tools, setup.plan, interactive=True)
    if isinstance(setup.tracker, KeyboardTracker):
        window.drive(setup.tracker)
    return window


def _say_setup(setup) -> None:
    plan, registration = setup.plan, setup.registration
    target = "none" if plan.active_target is None else plan.target_labels[plan.active_target]
    trajectory = (
        "" if plan.active_trajectory is None
        else f" along trajectory {plan.trajectories[plan.active_trajectory].name}"
    )  # fmt: skip
    print(f"scene {setup.scene.name}: target {target}{trajectory}")
    fre = registration.fre_rms_mm
    print(
        f"registration: {registration.source}" + ("" if fre != fre else f" (FRE {fre:.2f} mm RMS)")
    )


def _say_summary(document: dict, path: Path) -> None:
    print(
        f"{document['frames_recorded']} frames recorded in {document['recording']} "
        f"({document['end']})"
    )
    closest = document["closest_to_target"]
    if closest is not None and closest["target_distance_mm"] is not None:
        print(f"closest to {document['target']}: {closest['target_distance_mm']:.2f} mm")
    for alert, count in document["alerts_seen"].items():
        print(f"warning: {alert} ({count} frames)", file=sys.stderr)
    for tool in document["tools_never_seen"]:
        print(f"warning: the tracker never showed the tool {tool!r}", file=sys.stderr)
    for picture in document["pictures"]:
        print(f"written: {picture}")
    print(f"written: {path}")
