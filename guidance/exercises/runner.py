"""The thin runner of an exercise: set it up, acquire, hand the recording to the exercise's
steps, write the files.

Written to the output folder, in this order so that a crash loses nothing already known:
``run.json`` (the set-up, with the ground truth in simulation) before tracking starts, the
recording ``recording.igs.mha`` as it arrives, then ``report.json`` and ``report.html``. The
score is always computed from the recording read back from its file (bit-exact: sequence files
keep every digit), so a replay of it with its ``run.json`` gives the same score, and so does
``gestes grade``.
"""

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from devices.clock import FakeClock
from devices.sequence_file import TrackingSequence, read_sequence
from devices.tools import BUILTIN_TOOLS
from guidance.exceptions import GuidanceError
from guidance.exercises import fiducials, pivot, simulate, surface, targeting
from guidance.exercises.acquire import (
    acquire,
    exercise_plan,
    exercise_tools,
    make_coach,
    navigator_before_registration,
    write_run_video,
)
from guidance.exercises.errors import SOURCES, ErrorSources
from guidance.exercises.live import NOTE_LINES
from guidance.exercises.setup import RUN_FILE, ExerciseSetup, Truth, TruthEvent
from guidance.output import prepare_output_folder
from guidance.session import SessionEnd
from registration.transforms import apply_transform, invert_rigid
from scenes.phantoms import resolve_scene
from scenes.scene import Scene
from scenes.student import SKILLS, Skill

if TYPE_CHECKING:
    from devices.igtl.settings import ServerSettings
    from guidance.views import NavigationWindow, ViewSettings

logger = logging.getLogger(__name__)

EXERCISES: dict[str, ModuleType] = {
    module.NAME: module for module in (pivot, fiducials, surface, targeting)
}
RECORDING_FILE = "recording.igs.mha"
REPORT_FILE = "report.json"
DEFAULT_SCENE = "builtin:skull"
DEFAULT_SEED = 0
# The simulated student is a student: a novice hand (its errors land where the literature puts a
# navigation system's; an expert hand does better).
DEFAULT_SKILL = Skill.NOVICE
# Real trackers a student moves by hand (the keyboard is one too): the exercise prompts each
# dwell and ends once all are held.
LIVE_TRACKERS = ("ndi", "igtl")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExerciseOptions:
    """What the student asked for (``gestes exercise``). ``scene``, ``seed`` and ``skill`` left
    None take the replayed run's (from its ``run.json``), else the defaults; ``without`` names
    error sources to leave out of a simulation; ``snapshots`` draws navigation pictures into the
    report. ``window``: the interactive navigation window during the run (needs a display; the
    simulated student and a replay then go at real pace); without it the run is headless and
    goes as fast as it can, and ``video`` (.mp4 or .gif) is drawn from its recording.
    ``igtl_server`` streams the session to OpenIGTLink clients; ``view`` sets the window's look
    (None: ``ViewSettings()``)."""

    exercise: str
    tracker: str = "sim"
    out: Path = Path("gestes-exercise")
    scene: str | None = None
    seed: int | None = None
    skill: Skill | None = None
    tool_tip: Path | None = None
    without: tuple[str, ...] = ()
    snapshots: bool = True
    window: bool = False
    video: Path | None = None
    igtl_server: "ServerSettings | None" = None
    view: "ViewSettings | None" = None

    def __post_init__(self) -> None:
        if self.exercise not in EXERCISES:
            raise GuidanceError(
                f"unknown exercise {self.exercise!r}; the exercises are {', '.join(EXERCISES)}"
            )
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise GuidanceError(f"seed must be an integer >= 0; got {self.seed!r}")
        if self.window and self.video is not None:
            raise GuidanceError("a video is drawn from headless runs: leave out the window")
        if self.tracker.partition(":")[0] == "keyboard" and not self.window:
            raise GuidanceError(
                "the keyboard stylus is moved from the navigation window: run with a display, "
                "without --headless"
            )


@dataclass(frozen=True, eq=False)
class ExerciseRun:
    """What a run wrote and scored: the report dict and the files."""

    report: dict[str, Any]
    out_dir: Path
    report_path: Path
    page_path: Path | None
    recording_path: Path
    run_path: Path

    @property
    def files(self) -> list[Path]:
        """Every file the run wrote, the report first."""
        pictures = [self.out_dir / s["file"] for s in self.report.get("snapshots", [])]
        page = [] if self.page_path is None else [self.page_path]
        return [self.report_path, *page, *pictures, self.recording_path, self.run_path]


def _previous_setup(recording: Path) -> ExerciseSetup | None:
    """The ``run.json`` written beside a replayed recording, if there is one."""
    path = recording.parent / RUN_FILE
    return ExerciseSetup.read(path) if path.is_file() else None


def _agree(name: str, given: object, recorded: object, flag: str) -> object:
    """The value a replay uses: the recorded one, unless the student gave another (an error)."""
    if given is not None and recorded is not None and given != recorded:
        raise GuidanceError(
            f"this recording was made with {flag} {recorded}; replay it with the same {name} "
            f"(got {given})"
        )
    return recorded if given is None else given


def _truth(stage: "simulate.Stage", motion: Any) -> Truth:
    """The ground truth of a simulated run: the stage's placement, the stylus's true tip and
    where the student's true tip was at each task."""
    tracker_from_image = stage.placement.tracker_from_image
    return Truth(
        tracker_from_image,
        stage.placement.image_from_reference,
        np.array(BUILTIN_TOOLS["stylus"].tip_mm),
        _truth_events(motion, tracker_from_image),
    )


def _truth_events(motion: Any, tracker_from_image: np.ndarray) -> tuple[TruthEvent, ...]:
    image_from_tracker = invert_rigid(tracker_from_image)
    return tuple(
        TruthEvent(
            event.label,
            event.phase.value,
            event.start_s,
            event.end_s,
            apply_transform(image_from_tracker, event.tip_mm[None])[0],
        )
        for event in motion.events
    )


def _tool_tip(options: ExerciseOptions) -> tuple[np.ndarray, str] | None:
    """The tip given with ``--tool-tip`` (a pivot result file), or None."""
    if options.tool_tip is None:
        return None
    from guidance.navigator import ToolTip

    tip = ToolTip.from_pivot_file(options.tool_tip, "stylus", BUILTIN_TOOLS["stylus"])
    return np.array(tip.tip_mm), f"pivot calibration {options.tool_tip}"


def simulated_setup(
    exercise: str,
    scene: Scene,
    stage: "simulate.Stage",
    seed: int,
    skill: Skill,
    errors: ErrorSources,
    scene_spec: str = DEFAULT_SCENE,
    tool_tip: tuple[np.ndarray, str] | None = None,
    say: Progress | None = None,
    realtime: bool = False,
) -> tuple[ExerciseSetup, Any]:
    """A simulated run's set-up (with its ground truth) and the tracker that films the student
    (paced in real time when ``realtime``): the CT fiducials localised with the errors that are
    on, the navigator's tip (``tool_tip``, else a simulated pivot calibration, else the true
    tip), the student's script (a sweep on the skin where it lies in the session: the run's
    skin shift, ``simulate.skin_shift``)."""
    say = say or (lambda message: None)
    module = EXERCISES[exercise]
    stage = dataclasses.replace(stage, skin_shift=simulate.skin_shift(errors, seed))
    ct_points, _ = simulate.localise_fiducials(scene, errors, seed)
    stylus = BUILTIN_TOOLS["stylus"]
    hand = errors.hand(skill)
    tip_warnings: tuple[str, ...] = ()
    if tool_tip is not None:
        tip, source = tool_tip
    elif module is pivot:
        tip, source = np.array(stylus.tip_mm), "the stylus definition (being calibrated)"
    else:
        say("the student calibrates the stylus first (simulated pivot calibration)")
        calibrated = simulate.calibrate_tip(stage, hand, errors, seed)
        tip, tip_warnings = calibrated.tip_mm, calibrated.warnings
        source = "simulated pivot calibration" if errors.pivot_calibration else "true tip"
    student_seed = simulate.stream_seed(seed, simulate.Stream.STUDENT)
    motion = module.script(stage, hand, student_seed)
    setup = ExerciseSetup(
        exercise,
        scene_spec,
        "sim",
        seed,
        skill.value,
        tip,
        source,
        ct_fiducials_mm=ct_points,
        errors={name: getattr(errors, name) for name in SOURCES},
        truth=_truth(stage, motion),
        tool_tip_warnings=tip_warnings,
    )
    seed_of_tracker = simulate.stream_seed(seed, simulate.Stream.TRACKER)
    if module is targeting:
        # The student steers by what the navigator shows: the registration of the touches
        # filmed here (filmed again below with the same draws) and the run's tip.
        filmed = stage.tracker(motion, errors, seed_of_tracker).sequence()
        motion = targeting.script(
            stage, hand, student_seed, targeting.steering(filmed, scene, setup)
        )
        setup = dataclasses.replace(setup, truth=_truth(stage, motion))
    tracker = stage.tracker(motion, errors, seed_of_tracker, realtime=realtime)
    return setup, tracker


def simulated_report(
    exercise: str,
    scene: Scene,
    stage: "simulate.Stage",
    seed: int,
    skill: Skill,
    errors: ErrorSources,
) -> dict[str, Any]:
    """The report dict of a simulated run held in memory: no files, no report page, no
    session (for studies and benchmarks; the score is the one ``run_exercise`` would write,
    since a recording keeps every digit)."""
    setup, tracker = simulated_setup(exercise, scene, stage, seed, skill, errors)
    report, _ = build_report(EXERCISES[exercise], tracker.sequence(), scene, setup, "sim")
    return report


def run_exercise(options: ExerciseOptions, progress: Progress | None = None) -> ExerciseRun:
    """Run one exercise end to end and write its files (see the module docstring)."""
    say = progress or (lambda message: None)
    module = EXERCISES[options.exercise]
    kind, _, argument = options.tracker.partition(":")
    previous = None
    if kind == "replay":
        if not argument:
            raise GuidanceError("replay needs a recording: --tracker replay:FILE.igs.mha")
        recorded = Path(argument)
        if not recorded.is_file():
            raise GuidanceError(f"no recording {recorded}")
        previous = _previous_setup(recorded)
    elif kind not in ("sim", "keyboard", *LIVE_TRACKERS):
        raise GuidanceError(
            f"tracker {options.tracker!r} is not available to exercises; use sim, keyboard, "
            f"replay:FILE, {' or '.join(k + ':...' for k in LIVE_TRACKERS)}"
        )
    seed = _agree("seed", options.seed, previous and previous.seed, "--seed")
    seed = DEFAULT_SEED if seed is None else int(seed)
    scene_spec = _agree("scene", options.scene, previous and previous.scene, "--scene")
    scene_spec = scene_spec or DEFAULT_SCENE
    skill_name = _agree(
        "skill", options.skill and options.skill.value, previous and previous.skill, "--skill"
    )
    skill = Skill(skill_name or DEFAULT_SKILL.value)
    options = dataclasses.replace(options, scene=scene_spec, seed=seed, skill=skill)
    out = prepare_output_folder(options.out)
    recording = out / RECORDING_FILE
    if kind == "replay" and Path(argument).resolve() == recording.resolve():
        raise GuidanceError(
            f"{argument} is this run's own output: give the replay another --out folder"
        )
    say(f"scene {scene_spec} (seed {seed})")
    scene = resolve_scene(scene_spec, seed=seed)
    module.check(scene)
    skin = None
    if kind == "sim":
        errors = ErrorSources().without(options.without)
        say("placing the phantom in front of the simulated camera")
        stage = simulate.stage(scene, seed)
        skin = stage.surface
        setup, tracker = simulated_setup(
            options.exercise,
            scene,
            stage,
            seed,
            skill,
            errors,
            scene_spec,
            _tool_tip(options),
            say,
            realtime=options.window,
        )
    elif kind == "replay":
        from devices.replay import ReplayTracker

        setup = previous or _plain_setup(options, scene, seed, skill)
        setup = dataclasses.replace(setup, tracker=options.tracker)
        tracker = ReplayTracker(argument, speed=1.0 if options.window else None)
        _check_tools(tracker.tools, setup, argument)
    elif kind == "keyboard":
        skin = simulate.skin_surface(scene)
        setup, tracker = _keyboard_setup(options, module, scene, seed, skill, skin)
    else:
        from devices.sources import open_tracker

        setup = _plain_setup(options, scene, seed, skill)
        tracker = open_tracker(options.tracker, realtime=True)
        _check_tools(tracker.tools, setup, options.tracker)
    run_path = setup.write(out)
    with contextlib.ExitStack() as stack:
        window = None
        if options.window or options.video is not None:
            skin = simulate.skin_surface(scene) if skin is None else skin
            window = stack.enter_context(_window(module, scene, skin, options))
            if kind == "keyboard":
                window.drive(tracker)
        sinks = []
        if options.igtl_server is not None:
            from guidance.igtlink import IgtlSender

            sender = stack.enter_context(IgtlSender(options.igtl_server, tracker.tools, scene))
            host, port = sender.address
            say(f"serving OpenIGTLink on {host}:{port}")
            sinks.append(sender)
        say(f"tracking ({options.exercise}, {skill.value} student) -> {recording}")
        navigator, unregistered = navigator_before_registration(module, scene, setup)
        person = kind not in ("sim", "replay")  # someone moves the stylus: end when all is held
        coach = make_coach(
            module, scene, setup, navigator, unregistered, say, person, skin if window else None
        )
        summary = acquire(
            tracker,
            navigator,
            coach,
            recording,
            window if options.window else None,
            sinks,
            clock=None if options.window or person else FakeClock(),
        )
        sequence = read_sequence(recording)
        say(f"scoring {summary.frames_recorded} frames")
        report, result = build_report(module, sequence, scene, setup, options.tracker)
        if summary.error:
            report["warnings"].append(f"the tracking ended early: {summary.error}")
        if summary.end is SessionEnd.WINDOW_CLOSED:
            report["warnings"].append("the window was closed before the end of the run")
        if result is not None and hasattr(module, "write_files"):
            module.write_files(result, setup, out)
        if options.video is not None and window is not None:
            say(f"drawing the video {options.video}")
            frames = write_run_video(module, scene, setup, recording, window, options.video, skin)
            say(f"{frames} video frames written")
        if result is not None and options.snapshots:
            report["snapshots"], warnings = _snapshots(
                module, result, sequence, scene, setup, out, skin, window
            )
            report["warnings"] += warnings
    report_path = out / REPORT_FILE
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page_path = _write_page(report, out, scene)
    if report.get("error"):
        raise GuidanceError(f"{report['error']} (recording kept: {recording})")
    return ExerciseRun(report, out, report_path, page_path, recording, run_path)


def _window(
    module: ModuleType, scene: Scene, skin: Any, options: ExerciseOptions
) -> "NavigationWindow":
    """The navigation window of the exercise: interactive (on the display) or off-screen (for
    the video and the pictures), with room for the coach's notes."""
    from guidance.views import NavigationWindow, ViewSettings

    return NavigationWindow(
        scene,
        skin,
        exercise_tools(),
        exercise_plan(module, scene),
        options.view or ViewSettings(),
        interactive=options.window,
        note_lines=NOTE_LINES,
    )


def _keyboard_setup(
    options: ExerciseOptions,
    module: ModuleType,
    scene: Scene,
    seed: int,
    skill: Skill,
    skin: Any,
) -> tuple[ExerciseSetup, Any]:
    """A run with the keyboard stylus: its tracker frame is the CT's (the reference at the
    origin, the identity registration: the truth, known exactly), the tip the tool's
    definition; the stylus starts 30 mm above the first point asked (the divot for the pivot,
    else the first fiducial, along the skin's normal there)."""
    from devices.keyboard import KeyboardTracker
    from guidance.navigation_setup import pointing_pose
    from guidance.navigator import ToolTip
    from guidance.simulation import approach_directions

    stylus = BUILTIN_TOOLS["stylus"]
    setup = _plain_setup(options, scene, seed, skill)
    truth = Truth(np.eye(4), np.eye(4), np.array(stylus.tip_mm))
    setup = dataclasses.replace(setup, truth=truth)
    if module is pivot:
        point, up = pivot.divot_mm(np.asarray(skin.center)), pivot.DIVOT_UP
    else:
        point = setup.ct_fiducials_mm[module.tasks(scene)[0].label]
        up = approach_directions(skin, point[None], np.empty((0, 3)), 0.0).fiducial_dirs[0]
    start = pointing_pose(ToolTip.from_tool(stylus), point, -up)
    return setup, KeyboardTracker(start)


def _plain_setup(options: ExerciseOptions, scene: Scene, seed: int, skill: Skill) -> ExerciseSetup:
    """The set-up of a run without ground truth: the given tip (else the tool definition's) and
    the fiducials where the CT shows them."""
    from guidance.exercises import simulate

    given = _tool_tip(options)
    tip, source = given or (np.array(BUILTIN_TOOLS["stylus"].tip_mm), "the stylus definition")
    ct_points, _ = simulate.localise_fiducials(scene, None, seed)
    return ExerciseSetup(
        options.exercise,
        options.scene or DEFAULT_SCENE,
        options.tracker,
        seed,
        skill.value,
        tip,
        source,
        ct_fiducials_mm=ct_points,
    )


def _check_tools(tools: tuple[str, ...], setup: ExerciseSetup, source: str) -> None:
    """Before anything starts: the recording must track the stylus and the reference."""
    names = [tool.lower() for tool in tools]
    missing = [n for n in (setup.stylus, setup.reference) if n.lower() not in names]
    if missing:
        raise GuidanceError(
            f"{source} tracks {list(tools)}, not the exercise's {' and '.join(missing)}: "
            "record with the scene's tool names"
        )


def build_report(
    module: ModuleType,
    sequence: Any,
    scene: Scene,
    setup: ExerciseSetup,
    tracker: str,
) -> tuple[dict[str, Any], Any]:
    """The report.json dict (schema in PLAN.md) and the exercise's result (None when scoring
    failed: the error is then the report's ``error``, and one of its warnings)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        gestes_version = version("gestes")
    except PackageNotFoundError:
        gestes_version = "unknown"
    report: dict[str, Any] = {
        "exercise": setup.exercise,
        "gestes_version": gestes_version,
        "scene": {"name": scene.name, "description": scene.description, "source": setup.scene},
        "settings": {
            "exercise": setup.exercise,
            "scene": setup.scene,
            "tracker": tracker,
            "seed": setup.seed,
            "skill": setup.skill,
            "tool_tip": setup.tool_tip_source,
            "tool_tip_mm": [round(float(v), 4) for v in setup.tool_tip_mm],
        },
        "recording": _recording_summary(sequence),
        "truth": RUN_FILE if setup.truth is not None else None,
        "score": {},
        "warnings": [],
    }
    if setup.errors:
        # A run recorded before a source existed did not simulate it.
        errors = ErrorSources(**({name: False for name in SOURCES} | dict(setup.errors)))
        report["errors_simulated"] = errors.report(
            SKILLS[Skill(setup.skill)].placement_error_mm, scene.skin_fiducials
        )
    try:
        result = module.evaluate(sequence, scene, setup)
    except GuidanceError as error:
        report["error"] = str(error)
        report["warnings"].append(str(error))
        return report, None
    report["score"] = module.score(result)
    report.update(module.report_parts(result, setup))
    report["warnings"] += [
        f"the stylus tip comes from a pivot calibration that warned: {warning}"
        for warning in setup.tool_tip_warnings
    ]
    report["warnings"] += list(result.warnings)
    return report, result


def _recording_summary(sequence: Any) -> dict[str, Any]:
    valid = np.all(np.isfinite(sequence.reference_from_tool), axis=(2, 3))
    times = sequence.timestamps_s
    return {
        "file": RECORDING_FILE,
        "n_frames": len(sequence),
        "n_frames_lost": int((~valid.all(axis=1)).sum()),
        "duration_s": round(float(times[-1] - times[0]), 4) if len(times) else 0.0,
    }


def _write_page(report: dict[str, Any], out: Path, scene: Scene) -> Path | None:
    """report.html, by the report module; a page that cannot be drawn is logged, not fatal."""
    from guidance.reports.exercise_report import write_report_page

    try:
        return write_report_page(report, out, ct=scene.ct)
    except (GuidanceError, OSError) as error:
        logger.warning("report.html not written: %s", error)
        return None


def _snapshots(
    module: ModuleType,
    result: Any,
    sequence: TrackingSequence,
    scene: Scene,
    setup: ExerciseSetup,
    out: Path,
    skin: Any = None,
    window: "NavigationWindow | None" = None,
) -> tuple[list[dict[str, str]], list[str]]:
    """Navigation pictures of the moments the exercise names (``module.snapshot_states``), as
    report entries, and warnings when they cannot be drawn (no off-screen rendering). ``skin``:
    the scene's skin surface when already extracted; ``window``: the run's window (its plan is
    the exercise's), else one is made off-screen."""
    if not hasattr(module, "snapshot_states"):
        return [], []
    from guidance.exceptions import RenderingUnavailable
    from guidance.views import NavigationWindow, check_rendering

    plan, states = module.snapshot_states(result, sequence, scene, setup)
    if not states:
        return [], []
    with contextlib.ExitStack() as stack:
        if window is None:
            try:
                check_rendering()
            except RenderingUnavailable as error:
                return [], [f"no navigation picture: {error}"]
            skin = simulate.skin_surface(scene) if skin is None else skin
            window = stack.enter_context(NavigationWindow(scene, skin, exercise_tools(), plan))
        entries = []
        for k, (state, caption) in enumerate(states):
            window.show(state)
            name = f"navigation-{k + 1}.png"
            window.save(out / name)
            entries.append({"file": name, "caption": caption})
    return entries, []
