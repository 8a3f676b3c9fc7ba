"""A simulated student holding a tracked stylus: the hand that moves it in unattended exercises.

A script is built task by task (``StudentScript``: touch a point, pivot in a divot, sweep a
surface, insert along a trajectory) and becomes a ``StudentMotion``, the ``Motion`` that
``devices.simulated.SimulatedTracker`` samples: ``motion(t_s) -> {tool: tracker_from_tool}``
(4x4, mm, tracker frame). Everything here is the truth of the simulation; the tracker adds its
own errors on top.

How a person moves, as modelled here (each trait has a setting in ``HandSettings``):
- reaches last as Fitts' law says (MacKenzie's form, ``a + b log2(D / W + 1)``: Fitts 1954,
  J Exp Psychol 47(6); MacKenzie 1992, Hum-Comput Interact 7(1)) and follow minimum-jerk speed
  profiles (Flash & Hogan 1985, J Neurosci 5(7), eq. 3);
- a reach is a primary submovement that overshoots the goal followed by a corrective one
  (Meyer et al. 1988, Psychol Rev 95(3): the stochastic optimised-submovement model);
- the tip lands beside a small target and slides into it; it rests near, not exactly on, a
  divot or bead (the placement error, a fixed offset for each touch);
- some reaches stop for a moment halfway (hesitation), never as long as a capture dwell;
- physiological tremor, 8-12 Hz and tenths of a millimetre (Elble & Koller 1990, "Tremor",
  Johns Hopkins; Riviere, Rader & Thakor 1998, IEEE TBME 45(10) for surgeons' hands), moves the
  tip in the air; with the tip in a divot it only rocks the shaft about the tip;
- the stylus travels between points on an arc around the phantom, never through it, its
  markers turned toward the camera.

Skills (``Skill``) are two sets of these settings; a script is deterministic for its seed.
"""

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from registration.transforms import rotations_from_vectors
from scenes.exceptions import SceneError
from scenes.motions import (
    StylusGeometry,
    Touch,
    aligning_rotation,
    minimum_jerk,
    perpendicular,
)

# Sinusoids summed into the tremor: enough for a band-limited, non-periodic look.
TREMOR_COMPONENTS = 8
# Width of the target a reach aims at (mm), for Fitts' index of difficulty: a fiducial divot.
TARGET_WIDTH_MM = 4.0
# Distance from the tip to where the fingers hold the stylus (mm): tremor at the fingers rocks a
# tip held in a divot by tremor / grip angle.
GRIP_FROM_TIP_MM = 80.0
# Time for the tip to slide from where it landed into the divot, and to blend tremor in and out.
SLIDE_S = 0.35
CONTACT_BLEND_S = 0.15
# A reach shorter than this (mm) is no reach: the hand only turns the stylus.
MIN_REACH_MM = 1.0
# The shaft's tilt off the surface normal while sweeping (rad), and how fast a needle goes in.
SWEEP_TILT_RAD = math.radians(10.0)
NEEDLE_SPEED_MM_S = 10.0


class Skill(enum.Enum):
    """How practised the simulated student is."""

    EXPERT = "expert"
    NOVICE = "novice"


@dataclass(frozen=True)
class HandSettings:
    """How a hand moves a stylus. Seconds, millimetres, degrees (converted inside), hertz.

    Reaching: ``fitts_a_s + fitts_b_s * log2(D / 4 mm + 1)`` seconds for a reach of D mm;
    the primary submovement overshoots by ``overshoot_fraction`` of the distance (at most
    ``max_overshoot_mm``); with probability ``hesitation_probability`` a reach stops halfway for
    a time drawn in ``hesitation_s``. Touching: the tip lands ``landing_error_mm`` (RMS, across
    the surface) beside the point, slides in, and rests ``placement_error_mm`` (RMS) off it for
    ``dwell_s`` seconds while the hand sways the shaft by ``sway_deg``. Tremor:
    ``tremor_rms_mm`` (3D RMS) in ``tremor_band_hz``. Pivoting: circles of half-angle
    ``pivot_half_angle_deg`` for ``pivot_s``, the tip slipping out of the divot
    ``slip_rate_hz`` times a second by ``slip_mm``. Sweeping: ``sweep_speed_mm_s`` along the
    surface. Inserting: the needle axis is off the plan by ``insertion_angle_deg`` (RMS), its
    entry by ``entry_offset_mm`` (RMS) and its final depth by ``depth_error_mm`` (RMS).
    """

    fitts_a_s: float
    fitts_b_s: float
    overshoot_fraction: float
    max_overshoot_mm: float
    hesitation_probability: float
    hesitation_s: tuple[float, float]
    landing_error_mm: float
    placement_error_mm: float
    dwell_s: float
    sway_deg: float
    tremor_rms_mm: float
    pivot_half_angle_deg: float
    pivot_s: float
    slip_rate_hz: float
    slip_mm: float
    sweep_speed_mm_s: float
    insertion_angle_deg: float
    entry_offset_mm: float
    depth_error_mm: float
    tremor_band_hz: tuple[float, float] = (8.0, 12.0)

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
                raise SceneError(f"HandSettings.{name} must be finite and >= 0; got {value!r}")
        for name in ("hesitation_s", "tremor_band_hz"):
            low, high = getattr(self, name)
            if low > high:
                raise SceneError(f"HandSettings.{name} must be (low, high); got {(low, high)}")
        if self.hesitation_probability > 1.0:
            raise SceneError("HandSettings.hesitation_probability must be at most 1")
        if not 0.0 < self.pivot_half_angle_deg < 80.0:
            raise SceneError("HandSettings.pivot_half_angle_deg must be in (0, 80) degrees")
        for name in ("dwell_s", "pivot_s", "sweep_speed_mm_s", "fitts_a_s"):
            if getattr(self, name) <= 0.0:
                raise SceneError(f"HandSettings.{name} must be > 0; got {getattr(self, name)!r}")


# The two students. An expert reaches fast and straight, rests on a divot within 0.15 mm and
# pivots widely; a novice hesitates, overshoots, trembles more, rests 0.5 mm off and pivots
# timidly, slipping now and then. Hesitations stay well under a 1 s capture dwell.
SKILLS: Mapping[Skill, HandSettings] = {
    Skill.EXPERT: HandSettings(
        fitts_a_s=0.25,
        fitts_b_s=0.12,
        overshoot_fraction=0.04,
        max_overshoot_mm=5.0,
        hesitation_probability=0.1,
        hesitation_s=(0.15, 0.3),
        landing_error_mm=0.8,
        placement_error_mm=0.15,
        dwell_s=1.6,
        sway_deg=1.5,
        tremor_rms_mm=0.08,
        pivot_half_angle_deg=30.0,
        pivot_s=8.0,
        slip_rate_hz=0.0,
        slip_mm=0.0,
        sweep_speed_mm_s=30.0,
        insertion_angle_deg=1.0,
        entry_offset_mm=0.5,
        depth_error_mm=0.5,
    ),
    Skill.NOVICE: HandSettings(
        fitts_a_s=0.35,
        fitts_b_s=0.22,
        overshoot_fraction=0.12,
        max_overshoot_mm=15.0,
        hesitation_probability=0.5,
        hesitation_s=(0.25, 0.5),
        landing_error_mm=2.0,
        placement_error_mm=0.5,
        dwell_s=2.0,
        sway_deg=3.0,
        tremor_rms_mm=0.15,
        pivot_half_angle_deg=15.0,
        pivot_s=8.0,
        slip_rate_hz=0.15,
        slip_mm=1.5,
        sweep_speed_mm_s=18.0,
        insertion_angle_deg=4.0,
        entry_offset_mm=1.5,
        depth_error_mm=2.0,
    ),
}


class Phase(enum.Enum):
    """What the hand is doing during a segment of the script."""

    TRAVEL = "travel"
    APPROACH = "approach"
    DWELL = "dwell"
    RETRACT = "retract"
    PIVOT = "pivot"
    SWEEP = "sweep"
    INSERT = "insert"


@dataclass(frozen=True, eq=False)
class Event:
    """A labelled task of the script, from ``start_s`` to ``end_s``: a dwell on a point, a pivot,
    a sweep, an insertion. ``tip_mm`` (3,) is where the true tip rests (tracker frame, mm; the
    point plus the placement error for a touch, the divot for a pivot, the final tip for an
    insertion; NaN for a sweep); ``phase`` says which task it is."""

    label: str
    phase: Phase
    start_s: float
    end_s: float
    tip_mm: np.ndarray


Pose = tuple[np.ndarray, np.ndarray]
# A segment maps times since its start (K,) s to the tips (K, 3) (tracker, mm) and the stylus
# rotations (K, 3, 3) (stylus to tracker) at those times. Arrays of times: the simulated tracker
# samples a motion for hundreds of frames at once.
PoseFunction = Callable[[np.ndarray], Pose]


@dataclass(frozen=True, eq=False)
class Segment:
    """A piece of the script from ``start_s`` to ``end_s``: ``pose(t)`` gives the tips and the
    rotations, tremor aside, at the times ``t`` (K,) seconds after the start; with ``contact``
    the tip rests on something, and tremor rocks the shaft instead of moving the tip."""

    phase: Phase
    start_s: float
    end_s: float
    pose: PoseFunction
    contact: bool


@dataclass(frozen=True, eq=False)
class Tremor:
    """Physiological tremor: a sum of sinusoids with frequencies drawn in the band, random phases
    and directions, scaled to ``rms_mm`` (3D RMS); ``displacement_mm(t)`` is a pure function of
    time, so the motion can be sampled at any instant in any order."""

    rms_mm: float
    frequencies_hz: np.ndarray
    phases_rad: np.ndarray
    directions: np.ndarray

    @classmethod
    def draw(
        cls, rms_mm: float, band_hz: tuple[float, float], rng: np.random.Generator
    ) -> "Tremor":
        """A tremor of ``rms_mm`` in ``band_hz`` from ``rng``."""
        directions = rng.normal(size=(TREMOR_COMPONENTS, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        return cls(
            rms_mm,
            rng.uniform(band_hz[0], band_hz[1], TREMOR_COMPONENTS),
            rng.uniform(0.0, 2.0 * math.pi, TREMOR_COMPONENTS),
            directions,
        )

    def displacement_mm(self, t_s: float | np.ndarray) -> np.ndarray:
        """The tremor (mm) at ``t_s``: (3,) for a time, (K, 3) for K times. Each sinusoid of
        amplitude A has a mean square A^2 / 2."""
        amplitude = self.rms_mm * math.sqrt(2.0 / TREMOR_COMPONENTS)
        t = np.asarray(t_s, dtype=np.float64)[..., None]
        waves = np.sin(2.0 * math.pi * self.frequencies_hz * t + self.phases_rad)
        return amplitude * (waves @ self.directions)


@dataclass(frozen=True, eq=False)
class StudentMotion:
    """The stylus moved by the student through ``segments``, the reference tool fixed at
    ``tracker_from_reference``; implements ``devices.simulated.Motion``.

    Before 0 and after ``duration_s`` the stylus rests at its first and last pose. ``events``
    lists the tasks in order; ``stylus`` is the true stylus geometry (its true tip).
    """

    segments: tuple[Segment, ...]
    events: tuple[Event, ...]
    stylus: StylusGeometry
    tracker_from_reference: np.ndarray
    tremor: Tremor
    stylus_name: str = "stylus"
    reference_name: str = "reference"
    _starts_s: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.segments:
            raise SceneError("a student motion needs at least one task")
        reference = np.array(self.tracker_from_reference, dtype=np.float64)
        if reference.shape != (4, 4) or not np.all(np.isfinite(reference)):
            raise SceneError("tracker_from_reference must be a finite 4x4 matrix")
        reference.setflags(write=False)
        object.__setattr__(self, "tracker_from_reference", reference)
        object.__setattr__(self, "_starts_s", np.array([s.start_s for s in self.segments]))

    @property
    def duration_s(self) -> float:
        """Length of the whole script (s)."""
        return self.segments[-1].end_s

    def segment_index(self, t_s: float) -> int:
        """Which segment is under way at ``t_s`` (clamped to the script)."""
        return int(self._segment_indices(np.array([t_s]))[0])

    def _segment_indices(self, times_s: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(times_s)):
            raise SceneError(f"motion time must be finite; got {times_s[~np.isfinite(times_s)]}")
        return np.maximum(np.searchsorted(self._starts_s, times_s, side="right") - 1, 0)

    def tip_and_rotation(self, t_s: float) -> Pose:
        """The true tip (3,) (tracker, mm) and stylus-to-tracker rotation (3x3) at ``t_s``,
        tremor included."""
        tips, rotations = self.tips_and_rotations(np.array([t_s], dtype=np.float64))
        return tips[0], rotations[0]

    def tips_and_rotations(self, times_s: np.ndarray) -> Pose:
        """The true tips (K, 3) (tracker, mm) and stylus-to-tracker rotations (K, 3, 3) at
        ``times_s`` (K,) seconds, tremor included."""
        times = np.asarray(times_s, dtype=np.float64).reshape(-1)
        indices = self._segment_indices(times)
        t = np.clip(times, 0.0, self.duration_s)
        tips = np.empty((len(t), 3))
        rotations = np.empty((len(t), 3, 3))
        free = np.ones(len(t))
        for index in np.unique(indices):
            rows = indices == index
            segment = self.segments[index]
            tips[rows], rotations[rows] = segment.pose(t[rows] - segment.start_s)
            if segment.contact:
                free[rows] = self._freedom(index, t[rows])
        shake = self.tremor.displacement_mm(t)
        held = free < 1.0
        if np.any(held):
            # In contact, the fingers' tremor rocks the shaft about the tip.
            shafts = rotations[held] @ self.stylus.shaft_axis
            rock = np.cross(shafts, shake[held]) / GRIP_FROM_TIP_MM * (1.0 - free[held])[:, None]
            rotations[held] = rotations_from_vectors(rock) @ rotations[held]
        return tips + free[:, None] * shake, rotations

    def _freedom(self, index: int, t: np.ndarray) -> np.ndarray:
        """For times ``t`` (K,) in contact segment ``index``: 0 in contact, rising to 1 (the tip
        in the air) over CONTACT_BLEND_S at an edge next to a segment in the air."""
        segment = self.segments[index]
        before = self.segments[index - 1].contact if index > 0 else True
        after = self.segments[index + 1].contact if index + 1 < len(self.segments) else True
        edge = np.full(len(t), math.inf)
        if not before:
            edge = np.minimum(edge, t - segment.start_s)
        if not after:
            edge = np.minimum(edge, segment.end_s - t)
        return np.where(np.isfinite(edge), np.maximum(0.0, 1.0 - edge / CONTACT_BLEND_S), 0.0)

    def sample(self, times_s: np.ndarray) -> dict[str, np.ndarray]:
        """``tracker_from_tool`` (K, 4, 4) mm of the stylus and the reference at ``times_s`` (K,)
        seconds (``devices.simulated.sample_motion``)."""
        tips, rotations = self.tips_and_rotations(times_s)
        stylus = np.zeros((len(tips), 4, 4))
        stylus[:, :3, :3] = rotations
        stylus[:, :3, 3] = tips - rotations @ self.stylus.tip_mm
        stylus[:, 3, 3] = 1.0
        reference = np.repeat(self.tracker_from_reference[None], len(tips), axis=0)
        return {self.stylus_name: stylus, self.reference_name: reference}

    def __call__(self, t_s: float) -> Mapping[str, np.ndarray]:
        """``tracker_from_tool`` (4x4, mm) of the stylus and the reference at ``t_s`` seconds."""
        return {name: poses[0] for name, poses in self.sample(np.array([t_s])).items()}


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _relative_rotation(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The rotation vector taking rotation ``start`` to ``end`` in ``start``'s frame:
    ``log(start^T end)``."""
    return Rotation.from_matrix(start.T @ end).as_rotvec()


def _turned(start: np.ndarray, relative: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """The rotations (K, 3, 3) a ``fraction`` (K,) of the way from ``start`` (3x3, or (K, 3, 3))
    along its ``relative`` rotation vector ((3,) or (K, 3)): spherical linear interpolation,
    ``start @ exp(fraction * relative)``."""
    return start @ rotations_from_vectors(fraction[:, None] * relative)


def _turn(start: np.ndarray, end: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The rotations (K, 3, 3) fractions (K,) of the way from ``start`` to ``end`` (3x3) about
    their relative axis (``_turned``)."""
    relative = _relative_rotation(start, end)  # once, when the script is built
    return lambda fraction: _turned(start, relative, fraction)


def _tangent_offset(normal: np.ndarray, rms_mm: float, rng: np.random.Generator) -> np.ndarray:
    """A random offset across the surface of given normal, 3D RMS ``rms_mm``."""
    offset = rng.normal(0.0, rms_mm / math.sqrt(2.0), 3)
    return offset - np.dot(offset, normal) * normal


class StudentScript:
    """Builds a ``StudentMotion`` task by task, in the tracker frame (mm, s).

    ``centre_mm`` is the phantom's centre, around which the stylus travels at ``hover_mm`` above
    the surface; ``camera_mm`` where the camera is (the markers are turned toward it). The stylus
    starts hovering above ``start_mm`` along ``start_up``.
    """

    def __init__(
        self,
        hand: HandSettings,
        stylus: StylusGeometry,
        centre_mm: np.ndarray,
        start_mm: np.ndarray,
        start_up: np.ndarray,
        seed: int,
        camera_mm: np.ndarray | None = None,
        hover_mm: float = 40.0,
    ) -> None:
        self.hand = hand
        self.stylus = stylus
        self.centre_mm = np.asarray(centre_mm, dtype=np.float64)
        self.camera_mm = np.zeros(3) if camera_mm is None else np.asarray(camera_mm, float)
        self.hover_mm = hover_mm
        streams = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(streams[0])
        self._tremor = Tremor.draw(
            hand.tremor_rms_mm, hand.tremor_band_hz, np.random.default_rng(streams[1])
        )
        self._segments: list[Segment] = []
        self._events: list[Event] = []
        self._clock = 0.0
        up = _unit(np.asarray(start_up, dtype=np.float64))
        self._tip = np.asarray(start_mm, dtype=np.float64) + hover_mm * up
        self._rotation = self._held_rotation(up, np.asarray(start_mm, float), tilt_rad=0.0)

    # -- building blocks -----------------------------------------------------------------------

    def _append(self, phase: Phase, duration_s: float, pose: PoseFunction, contact: bool) -> None:
        start = self._clock
        self._segments.append(Segment(phase, start, start + duration_s, pose, contact))
        self._clock = start + duration_s
        tips, rotations = pose(np.array([duration_s]))
        self._tip, self._rotation = tips[0], rotations[0]

    def _event(self, label: str, phase: Phase, start_s: float, tip_mm: np.ndarray) -> None:
        tip = np.array(tip_mm, dtype=np.float64)
        tip.setflags(write=False)
        self._events.append(Event(label, phase, start_s, self._clock, tip))

    def _fitts_s(self, distance_mm: float) -> float:
        return self.hand.fitts_a_s + self.hand.fitts_b_s * math.log2(
            distance_mm / TARGET_WIDTH_MM + 1.0
        )

    def _held_rotation(self, up: np.ndarray, point: np.ndarray, tilt_rad: float) -> np.ndarray:
        """Stylus rotation with the shaft tilted ``tilt_rad`` off ``up`` in a random direction and
        the markers turned toward the camera."""
        sideways = perpendicular(up, self._rng.normal(size=3))
        shaft = math.cos(tilt_rad) * up + math.sin(tilt_rad) * sideways
        return aligning_rotation(
            self.stylus.shaft_axis, self.stylus.facing_axis, shaft, self.camera_mm - point
        )

    def _arc(self, start: np.ndarray, end: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The tips (K, 3) on an arc around the centre from ``start`` to ``end``, by fractions
        (K,) (any real numbers: beyond 1 the arc goes on, for overshoots)."""
        a, b = start - self.centre_mm, end - self.centre_mm
        r0, r1 = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        u0, u1 = a / r0, b / r1
        angle = math.acos(min(max(float(np.dot(u0, u1)), -1.0), 1.0))
        axis = np.cross(u0, u1)
        axis = perpendicular(u0, np.array([0.0, 0.0, 1.0])) if np.linalg.norm(axis) < 1e-9 else axis
        axis = _unit(axis)

        def at(fraction: np.ndarray) -> np.ndarray:
            directions = rotations_from_vectors(fraction[:, None] * (axis * angle)) @ u0
            return self.centre_mm + (r0 + (r1 - r0) * fraction)[:, None] * directions

        return at

    def _reach(
        self, path: Callable[[np.ndarray], np.ndarray], length_mm: float, end: np.ndarray
    ) -> None:
        """Move the tip along ``path`` (fraction 0 -> 1) and turn to ``end``: a minimum-jerk
        primary submovement that overshoots, maybe a hesitation halfway, then the correction."""
        hand, rng = self.hand, self._rng
        start_rotation = self._rotation
        turn = _turn(start_rotation, end)
        if length_mm < MIN_REACH_MM:
            # Already there: only turn the stylus, briefly (never long enough to be a dwell).
            duration = hand.fitts_a_s
            self._append(
                Phase.TRAVEL,
                duration,
                lambda t: (path(np.ones(len(t))), turn(minimum_jerk(t / duration))),
                contact=False,
            )
            return
        overshoot = min(hand.overshoot_fraction * length_mm, hand.max_overshoot_mm)
        beyond = 1.0 + overshoot / max(length_mm, 1e-9)
        pieces = [(0.0, beyond)]
        if rng.uniform() < hand.hesitation_probability:
            pause = rng.uniform(0.35, 0.65)
            pieces = [(0.0, pause), (pause, pause), (pause, beyond)]
        pieces.append((beyond, 1.0))
        for begin, finish in pieces:
            distance = abs(finish - begin) * length_mm
            if begin == finish:
                duration = rng.uniform(*hand.hesitation_s)
            elif finish == 1.0:
                duration = max(0.25, self._fitts_s(distance))
            else:
                duration = self._fitts_s(distance)

            def pose(t: np.ndarray, begin=begin, finish=finish, duration=duration) -> Pose:
                fraction = begin + (finish - begin) * minimum_jerk(t / duration)
                return path(fraction), turn(np.minimum(fraction, 1.0))

            self._append(Phase.TRAVEL, duration, pose, contact=False)

    # -- tasks ---------------------------------------------------------------------------------

    def touch(self, touch: Touch, max_tilt_deg: float = 20.0) -> np.ndarray:
        """Travel above ``touch``, come down along its approach direction, land beside the point,
        slide in and rest there (a dwell), then lift off. Returns where the true tip rested
        (the point plus the placement error, tracker mm)."""
        hand, rng = self.hand, self._rng
        up = touch.approach
        hover = touch.point_mm + self.hover_mm * up
        held = self._held_rotation(up, touch.point_mm, rng.uniform(0.0, math.radians(max_tilt_deg)))
        self._reach(self._arc(self._tip, hover), self._arc_length(self._tip, hover), held)
        rest = touch.point_mm + _tangent_offset(up, hand.placement_error_mm, rng)
        landing = rest + _tangent_offset(up, hand.landing_error_mm, rng)
        self._move(Phase.APPROACH, landing)
        self._move(Phase.APPROACH, rest, contact=True, duration_s=SLIDE_S)
        start = self._clock
        self._append(Phase.DWELL, hand.dwell_s, self._sway(rest, held, hand.dwell_s), True)
        self._event(touch.label, Phase.DWELL, start, rest)
        self._move(Phase.RETRACT, hover, rotation=held)
        return rest

    def pivot(self, label: str, divot_mm: np.ndarray, up: np.ndarray) -> None:
        """Put the tip in the divot at ``divot_mm`` and pivot the stylus about it in circles of the
        hand's half-angle around ``up``, the tip slipping now and then, then lift off."""
        hand, rng = self.hand, self._rng
        up = _unit(np.asarray(up, dtype=np.float64))
        divot = np.asarray(divot_mm, dtype=np.float64)
        hover = divot + self.hover_mm * up
        upright = self._held_rotation(up, divot, tilt_rad=0.0)
        self._reach(self._arc(self._tip, hover), self._arc_length(self._tip, hover), upright)
        self._move(Phase.APPROACH, divot)
        cone = math.radians(hand.pivot_half_angle_deg)
        u = perpendicular(up, rng.normal(size=3))
        v = np.cross(up, u)
        turns_hz = rng.uniform(0.35, 0.5)
        wobble_phase = rng.uniform(0.0, 2.0 * math.pi)
        slips = self._slips(hand.pivot_s)
        duration = hand.pivot_s

        def pose(t: np.ndarray) -> Pose:
            # Ramp the cone up and down over the first and last second; wobble its size.
            envelope = np.minimum(np.minimum(1.0, t), duration - t) if duration > 2.0 else 1.0
            tilt = cone * np.maximum(envelope, 0.0) * (1.0 + 0.15 * np.sin(1.3 * t + wobble_phase))
            azimuth = 2.0 * math.pi * turns_hz * t
            axes = np.cos(azimuth)[:, None] * u + np.sin(azimuth)[:, None] * v
            return divot + slips(t), rotations_from_vectors(tilt[:, None] * axes) @ upright

        start = self._clock
        self._append(Phase.PIVOT, duration, pose, contact=True)
        self._event(label, Phase.PIVOT, start, divot)
        self._move(Phase.RETRACT, hover, rotation=upright)

    def sweep(self, label: str, points_mm: np.ndarray, normals: np.ndarray) -> None:
        """Slide the tip over a surface through ``points_mm`` (K, 3) whose outward ``normals``
        (K, 3) say how to hold the stylus; one stroke, at the hand's sweep speed."""
        points = np.asarray(points_mm, dtype=np.float64)
        normals = np.asarray(normals, dtype=np.float64)
        if points.shape != normals.shape or points.ndim != 2 or len(points) < 2:
            raise SceneError("a sweep needs K >= 2 points and K normals, each (K, 3)")
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        along = np.concatenate([[0.0], np.cumsum(lengths)])
        up = _unit(normals[0])
        hover = points[0] + self.hover_mm * up
        first = self._held_rotation(up, points[0], SWEEP_TILT_RAD)
        self._reach(self._arc(self._tip, hover), self._arc_length(self._tip, hover), first)
        self._move(Phase.APPROACH, points[0])
        held = [
            self._held_rotation(_unit(n), p, SWEEP_TILT_RAD)
            for n, p in zip(normals, points, strict=True)
        ]
        starts = np.array([first, *held[1:-1]])
        relatives = np.array(
            [_relative_rotation(a, b) for a, b in zip(starts, held[1:], strict=True)]
        )
        duration = max(float(along[-1]) / self.hand.sweep_speed_mm_s, 0.5)

        def pose(t: np.ndarray) -> Pose:
            s = float(along[-1]) * minimum_jerk(t / duration)
            k = np.minimum(np.searchsorted(along, s, side="right") - 1, len(relatives) - 1)
            fraction = (s - along[k]) / np.maximum(along[k + 1] - along[k], 1e-12)
            tips = points[k] + fraction[:, None] * (points[k + 1] - points[k])
            return tips, _turned(starts[k], relatives[k], fraction)

        start = self._clock
        self._append(Phase.SWEEP, duration, pose, contact=False)
        self._event(label, Phase.SWEEP, start, np.full(3, np.nan))
        self._move(Phase.RETRACT, points[-1] + self.hover_mm * _unit(normals[-1]))

    def insert(
        self,
        label: str,
        entry_mm: np.ndarray,
        target_mm: np.ndarray,
        sighted_tip_mm: np.ndarray | None = None,
    ) -> np.ndarray:
        """Bring the tip above the entry point, align the stylus with the entry -> target line
        (off by the hand's angle error), push in to the target depth (off by the depth error),
        hold, and pull back out. Returns where the true tip stopped (tracker mm).

        ``sighted_tip_mm`` (stylus frame, mm) is the tip the student steers by, the one the
        navigator shows (a calibrated tip): that point, not the true tip, is brought to the
        entry and the target. None: the true tip."""
        hand, rng = self.hand, self._rng
        entry = np.asarray(entry_mm, dtype=np.float64)
        target = np.asarray(target_mm, dtype=np.float64)
        planned = _unit(target - entry)
        # Angle and entry errors: isotropic across the planned line, RMS as the hand says.
        tilt = _tangent_offset(planned, math.tan(math.radians(hand.insertion_angle_deg)), rng)
        direction = _unit(planned + tilt)
        start_point = entry + _tangent_offset(planned, hand.entry_offset_mm, rng)
        depth = max(
            float(np.linalg.norm(target - entry)) + rng.normal(0.0, hand.depth_error_mm), 0.0
        )
        end_point = start_point + depth * direction
        held = aligning_rotation(
            self.stylus.shaft_axis, self.stylus.facing_axis, -direction, self.camera_mm - entry
        )
        if sighted_tip_mm is not None:  # the true tip sits where the sighted one is not
            sighted_from_true = held @ (np.asarray(sighted_tip_mm) - self.stylus.tip_mm)
            start_point, end_point = start_point - sighted_from_true, end_point - sighted_from_true
        hover = start_point - self.hover_mm * direction
        self._reach(self._arc(self._tip, hover), self._arc_length(self._tip, hover), held)
        self._move(Phase.APPROACH, start_point)
        push_s = max(depth, 1.0) / NEEDLE_SPEED_MM_S
        self._move(Phase.INSERT, end_point, duration_s=push_s)
        start = self._clock
        self._append(
            Phase.DWELL, hand.dwell_s, self._sway(end_point, held, hand.dwell_s, 0.0), True
        )
        self._event(label, Phase.INSERT, start, end_point)
        self._move(Phase.RETRACT, hover, duration_s=push_s + 0.5)
        return end_point

    def motion(
        self,
        tracker_from_reference: np.ndarray,
        stylus_name: str = "stylus",
        reference_name: str = "reference",
    ) -> StudentMotion:
        """The script so far as a motion, the reference tool fixed at ``tracker_from_reference``."""
        return StudentMotion(
            tuple(self._segments),
            tuple(self._events),
            self.stylus,
            tracker_from_reference,
            self._tremor,
            stylus_name,
            reference_name,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _arc_length(self, start: np.ndarray, end: np.ndarray) -> float:
        a, b = start - self.centre_mm, end - self.centre_mm
        r0, r1 = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        angle = math.acos(min(max(float(np.dot(a, b) / (r0 * r1)), -1.0), 1.0))
        return math.hypot(0.5 * (r0 + r1) * angle, r1 - r0)

    def _move(
        self,
        phase: Phase,
        end: np.ndarray,
        contact: bool = False,
        rotation: np.ndarray | None = None,
        duration_s: float | None = None,
    ) -> None:
        """A minimum-jerk straight move of the tip from where it is to ``end``, the stylus held as
        it is (or as ``rotation``), lasting as Fitts' law says unless ``duration_s`` is given."""
        start, held = self._tip.copy(), self._rotation if rotation is None else rotation
        duration = duration_s or self._fitts_s(float(np.linalg.norm(end - start)))

        def pose(t: np.ndarray) -> Pose:
            tips = start + minimum_jerk(t / duration)[:, None] * (end - start)
            return tips, np.broadcast_to(held, (len(t), 3, 3))

        self._append(phase, duration, pose, contact)

    def _sway(
        self, tip: np.ndarray, held: np.ndarray, duration_s: float, sway_deg: float | None = None
    ) -> PoseFunction:
        """The tip at rest while the hand sways the shaft in a slow circle, zero at both ends."""
        sway = math.radians(self.hand.sway_deg if sway_deg is None else sway_deg)
        shaft = held @ self.stylus.shaft_axis
        u = perpendicular(shaft, np.array([1.0, 0.0, 0.0]))
        v = np.cross(shaft, u)
        phase = self._rng.uniform(0.0, 2.0 * math.pi)

        def pose(t: np.ndarray) -> Pose:
            envelope = np.sin(math.pi * np.clip(t / duration_s, 0.0, 1.0))
            angle = 2.0 * math.pi * 0.7 * t + phase
            circle = np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * v
            rotvecs = (sway * envelope)[:, None] * circle
            return np.broadcast_to(tip, (len(t), 3)), rotations_from_vectors(rotvecs) @ held

        return pose

    def _slips(self, duration_s: float) -> Callable[[np.ndarray], np.ndarray]:
        """Tip offsets (K, 3) mm at times (K,) s of a pivot: brief slips out of the divot, each
        0.4 s, at the hand's rate (a Poisson process), in random directions."""
        rng = self._rng
        count = rng.poisson(self.hand.slip_rate_hz * duration_s)
        starts = np.sort(rng.uniform(1.0, max(duration_s - 1.5, 1.0), count))
        offsets = rng.normal(size=(count, 3))
        offsets *= self.hand.slip_mm / np.linalg.norm(offsets, axis=1, keepdims=True).clip(1e-9)

        def at(t: np.ndarray) -> np.ndarray:
            total = np.zeros((len(t), 3))
            for start, offset in zip(starts, offsets, strict=True):
                slipping = (start <= t) & (t <= start + 0.4)
                total[slipping] += np.sin(math.pi * (t[slipping] - start) / 0.4)[:, None] * offset
            return total

        return at
