"""The exercise as the student does it: what is asked, dwell by dwell, followed on the live
tracking stream, the registration made as soon as its points are held, and the notes the
navigation window shows above its numbers.

A ``Coach`` is a session sink (``sink(frame, state)``, called on the acquisition thread for every
frame). It finds the dwells with the stillness detector the scoring uses, on the tip in the
reference tool's frame, names each after the task asked, and says it on the terminal. Once the
points the exercise registers are all held, it registers them (the register step) and hands the
registration to the navigator: from the next frame on, the views and OpenIGTLink show the stylus
where the student's own registration puts it in the CT. The window reads ``notes()`` at its own
rate. Nothing here scores: the score is computed from the recording afterwards (``runner``), so
a replay scores the same.
"""

import math
import textwrap
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from devices.frame import Frame
from guidance.exceptions import GuidanceError
from guidance.exercises import surface
from guidance.exercises.digitise import MIN_TRAVEL_MM, CapturedPoint, is_new_point
from guidance.exercises.register import PointRegistration, register_points
from guidance.exercises.setup import ExerciseSetup
from guidance.navigator import NavigationState, Navigator, reference_from_stylus
from registration.closest_point import ClosestPointField
from registration.digitize import StillnessDetector, StillnessSettings
from registration.pivot import PivotSettings, rotation_coverage_rad
from registration.transforms import apply_transform

# Lines the coach writes at the top of the window's text panel, and their width (characters:
# the panel of the default window holds about 60).
NOTE_LINES = 8
NOTE_WIDTH = 58
# The pivot's coverage is worked out again every this many frames (it is shown, not scored).
COVERAGE_EVERY = 10
Say = Callable[[str], None]


@dataclass(frozen=True)
class Task:
    """One thing the student is asked to do, ending with the tip held still: ``label`` (the
    dwell's name in the report), ``prompt`` (what the terminal and the window say), whether its
    point ``registers`` (goes into the registration made as soon as all of them are held), and
    whether it ends when the student ``lifts`` the tip (a pivot goes on well past the shortest
    dwell) rather than once the tip has been still long enough."""

    label: str
    prompt: str
    registers: bool = False
    lifts: bool = False


class PivotCoverage:
    """How widely the stylus has turned so far in the dwell under way (``rotation_coverage_rad``
    of its poses in the reference frame), for a student pivoting in a divot."""

    def __init__(self, stylus: str, reference: str, want_rad: float | None = None) -> None:
        self._names = (stylus, reference)
        self._want_rad = PivotSettings().min_coverage_rad if want_rad is None else want_rad
        self._rotations: deque[tuple[int, np.ndarray]] = deque()
        self._coverage_rad = 0.0
        self._count = 0

    def __call__(self, frame: Frame, coach: "Coach") -> None:
        pose = reference_from_stylus(frame, *self._names)
        if pose is not None:
            self._rotations.append((coach.frame_index, pose[:3, :3]))
        since = coach.detector.held_since
        while self._rotations and (since is None or self._rotations[0][0] < since):
            self._rotations.popleft()
        self._count += 1
        if self._count % COVERAGE_EVERY == 0:
            rotations = [rotation for _, rotation in self._rotations]
            self._coverage_rad = rotation_coverage_rad(np.array(rotations)) if rotations else 0.0

    def note(self) -> str:
        return (
            f"pivoting: the stylus turned {math.degrees(self._coverage_rad):.1f} deg about its "
            f"least-turned axis (want {math.degrees(self._want_rad):.0f})"
        )


class SweepCount:
    """How many swept points the surface exercise's first choice will keep: tip samples the
    registration made so far puts within ``surface.COARSE_BAND_MM`` of the skin facing the
    stylus (``field``: the skin's closest-point field, CT frame), at least
    ``surface.MIN_SPACING_MM`` apart, taken between the landmarks and the first validation
    point (the scoring then chooses again, nearer the skin, at the refined pose)."""

    def __init__(self, field: ClosestPointField):
        self._field = field
        self._kept: list[np.ndarray] = []

    def __call__(self, frame: Frame, coach: "Coach") -> None:
        setup = coach.setup
        pose = reference_from_stylus(frame, setup.stylus, setup.reference)
        if coach.registration is None or pose is None or not coach.sweeping:
            return
        sample = surface.Sweep(
            apply_transform(pose, setup.tool_tip_mm)[None],
            (pose[:3, :3] @ surface.towards_handle(setup))[None],
            1,
        )
        image_from_reference = coach.registration.image_from_reference
        distance = surface.skin_distances(
            self._field, image_from_reference, sample, surface.COARSE_BAND_MM
        )
        if distance[0] > surface.COARSE_BAND_MM:
            return
        point = apply_transform(image_from_reference, sample.points_mm)[0]
        if self._kept and np.min(np.linalg.norm(np.array(self._kept) - point, axis=1)) < (
            surface.MIN_SPACING_MM
        ):
            return
        self._kept.append(point)

    def note(self) -> str:
        return f"swept points kept so far: {len(self._kept)}"


Watch = PivotCoverage | SweepCount


class Coach:
    """Follows ``tasks`` on the live stream (see the module docstring) for the run set up as
    ``setup``; registers ``navigator`` once the registering tasks are held. ``say`` gets what a
    student with a real tracker needs on the terminal; with ``until_done`` (a person moves the
    stylus) each task is also named there and ``done()`` ends the session once the last is held;
    otherwise (a simulation, a replay) the source ends it. ``watch`` follows what the exercise
    needs besides dwells (a pivot's coverage, a sweep's points). ``unregistered`` says what the
    views show before the registration."""

    def __init__(
        self,
        tasks: Sequence[Task],
        setup: ExerciseSetup,
        navigator: Navigator,
        say: Say | None = None,
        stillness: StillnessSettings | None = None,
        until_done: bool = False,
        watch: Watch | None = None,
        unregistered: str = "",
    ) -> None:
        if not tasks:
            raise GuidanceError("an exercise asks for at least one thing to hold still on")
        self.tasks = tuple(tasks)
        self.setup = setup
        self.navigator = navigator
        self.stillness = StillnessSettings() if stillness is None else stillness
        self.until_done = until_done
        self.watch = watch
        self.unregistered = unregistered
        self._say = say or (lambda message: None)
        self.detector = StillnessDetector(self.stillness)
        self.frame_index = 0
        self.captured: tuple[CapturedPoint, ...] = ()
        self.registration: PointRegistration | None = None
        self.tip_in_reference_mm: np.ndarray | None = None
        self._previous_mm: np.ndarray | None = None  # the start, then the last point
        self._held_s = 0.0
        self._told_held = False
        self._registered = ""
        self._checked = ""
        if until_done:
            self._say(self.tasks[0].prompt)

    @property
    def current(self) -> Task | None:
        """The task under way (None once every task has been held)."""
        count = len(self.captured)
        return self.tasks[count] if count < len(self.tasks) else None

    @property
    def sweeping(self) -> bool:
        """Whether the student is between the registered points and the next dwell (the
        surface exercise's sweep)."""
        task = self.current
        return self.registration is not None and task is not None and not task.registers

    def done(self) -> bool:
        """Whether every task has been held (the last one once held ``still_s``: the student
        need not move away); only with ``until_done``."""
        if not self.until_done:
            return False
        count = len(self.captured)
        if count >= len(self.tasks):
            return True
        last = count == len(self.tasks) - 1 and not self.tasks[-1].lifts
        return last and self._held_s >= self.stillness.still_s and self._away_from_last_point()

    def _away_from_last_point(self) -> bool:
        """Whether the tip is where a dwell would be a new point (``is_new_point``): a dwell
        within ``MIN_TRAVEL_MM`` of the last point (a move cut by a pause) is not one."""
        tip = self.tip_in_reference_mm
        return tip is not None and is_new_point(tip, self._previous_mm)

    def __call__(self, frame: Frame, state: NavigationState) -> None:
        """The session sink: one more frame (acquisition thread)."""
        tip = reference_from_stylus(frame, self.setup.stylus, self.setup.reference)
        self.tip_in_reference_mm = (
            None if tip is None else apply_transform(tip, self.setup.tool_tip_mm)
        )
        if self._previous_mm is None and not self.captured:
            self._previous_mm = self.tip_in_reference_mm
        period = self.detector.push(self.frame_index, frame.timestamp, self.tip_in_reference_mm)
        self._held_s = self.detector.held_s
        self._tell_when_held()
        if self.watch is not None:
            self.watch(frame, self)
        self.frame_index += 1
        if period is None or self.current is None:
            return
        if is_new_point(period.point.point_mm, self._previous_mm):
            self._previous_mm = period.point.point_mm
            self._capture(CapturedPoint(self.current.label, period))
        else:
            self._say(
                f"still within {MIN_TRAVEL_MM:g} mm of where the tip was: not a new point "
                f"({period.description})"
            )

    def _tell_when_held(self) -> None:
        """With a person at the stylus (``until_done``), say once per dwell when it has lasted
        ``still_s`` away from the last point, as the window's note does: a student at the
        terminal (or a test driving the window) knows when to move on, never too early."""
        held = self._held_s >= self.stillness.still_s
        task = self.current
        if (
            held
            and not self._told_held
            and self.until_done
            and task is not None
            and not task.lifts
            and self._away_from_last_point()
        ):
            last = len(self.captured) + 1 == len(self.tasks)
            self._say(f"{task.label} held long enough" + ("" if last else ": move on"))
        self._told_held = held

    def _capture(self, point: CapturedPoint) -> None:
        self.captured = (*self.captured, point)
        self._say(f"held still: {point.label} ({point.period.description})")
        registering = [task.label for task in self.tasks if task.registers]
        held = [p for p in self.captured if p.label in registering]
        ct_points = {label: np.asarray(p) for label, p in self.setup.ct_fiducials_mm.items()}
        if self.registration is None and registering and len(held) == len(registering):
            try:
                self.registration = register_points(held, ct_points)
            except GuidanceError as error:
                self._registered = f"cannot register: {error}"
            else:
                self.navigator.register(self.registration.image_from_reference)
                self._registered = (
                    f"registered {len(held)} points: FRE {self.registration.fre_mm:.2f} mm"
                )
            self._say(self._registered)
        elif self.registration is not None and point.label in ct_points:
            navigated = apply_transform(self.registration.image_from_reference, point.point_mm)
            distance = float(np.linalg.norm(navigated - ct_points[point.label]))
            self._checked = (
                f"{point.label}: navigation puts the tip {distance:.2f} mm from the CT's bead"
            )
            self._say(self._checked)
        task = self.current
        if self.until_done and task is not None:
            self._say(task.prompt)

    def notes(self) -> list[str]:
        """What the window shows above its numbers (at most ``NOTE_LINES``), read on any
        thread: the task under way and how long the tip has been still, what was captured, the
        registration (or what the views show before it), what the watch follows."""
        captured, task, held = self.captured, self.current, self._held_s
        total = len(self.tasks)
        if task is None:
            lines = [f"{self.setup.exercise}: all {total} done", "scoring once the run ends"]
        else:
            lines = [f"{self.setup.exercise}: step {len(captured) + 1} of {total}", task.prompt]
            wanted = self.stillness.still_s
            if task.lifts:
                lines.append(f"tip in place for {held:.1f} s" if held > 0.1 else "")
            elif held >= wanted:
                lines.append("held: move on" if len(captured) + 1 < total else "held")
            elif held > 0.1:
                lines.append(f"still for {held:.1f} s of {wanted:g} s")
            else:
                lines.append("")
        if captured:
            names = [point.label for point in captured]
            shown = names if len(names) <= 8 else ["...", *names[-7:]]
            lines.append("captured: " + ", ".join(shown))
        if any(t.registers for t in self.tasks):
            lines.append(self._registered or self.unregistered)
        lines.append(self._checked)
        if self.watch is not None:
            lines.append(self.watch.note())
        wrapped = [part for line in lines for part in textwrap.wrap(line, NOTE_WIDTH)]
        return wrapped[:NOTE_LINES]
