"""The navigator: from one tracker frame to where the stylus tip is in the CT, and how far it is
from what the student must reach and what they must not touch.

The chain, read right to left, for every tool:
``image_from_tool = image_from_reference @ reference_from_tracker @ tracker_from_tool``.
``image_from_reference`` comes from registration; the two tracker poses come from each frame.
Working in the reference frame makes navigation immune to the camera or the patient moving,
since the reference tool is fixed to the patient. The stylus tip and the way it points (its axis,
from the handle through the tip) come from a ``ToolTip``: a pivot calibration or the tool's
definition.

A ``NavigationState`` is everything the views, exercises and an OpenIGTLink sender need; they
read it and keep no state of their own. The per-frame arithmetic is one Numba kernel
(``_navigate_kernel``); ``reference_navigate`` beside it does the same in plain numpy, line by
line, for reading and for the tests.
"""

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Self

import numba
import numpy as np

from devices.frame import Frame, PoseStatus, match_tool
from devices.tools import ToolDefinition
from guidance.exceptions import GuidanceError
from guidance.result_files import read_result
from registration.exceptions import RegistrationError
from registration.transforms import apply_transform, as_points, as_rigid, invert_rigid
from scenes.scene import Scene, Structure, Trajectory

logger = logging.getLogger(__name__)

# Two points closer than this are the same point (a trajectory ending on a scene target).
SAME_POINT_MM = 1e-6


def _match_name(name: str, available: Sequence[str], what: str) -> str:
    """``name`` as written in ``available``: exact, else the one case-insensitive match."""
    if name in available:
        return name
    matches = [candidate for candidate in available if candidate.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise GuidanceError(f"no {what} named {name!r}; there are {list(available)}")


@dataclass(frozen=True, eq=False)
class NavigationPlan:
    """What the student navigates to, in the image (CT, LPS) frame, mm.

    ``targets_mm`` (M, 3) with their ``target_labels``; ``trajectories`` (entry -> target);
    ``structures`` to avoid, with a breach warning when the tip is inside one or closer to its
    surface than ``breach_margin_mm``; ``active_target`` and ``active_trajectory`` index the
    target and the trajectory being worked on (None: none).
    """

    target_labels: tuple[str, ...]
    targets_mm: np.ndarray
    trajectories: tuple[Trajectory, ...] = ()
    structures: tuple[Structure, ...] = ()
    breach_margin_mm: float = 2.0
    active_target: int | None = None
    active_trajectory: int | None = None

    def __post_init__(self) -> None:
        targets = np.array(self.targets_mm, dtype=np.float64)
        targets = targets.reshape(0, 3) if targets.size == 0 else targets
        try:
            as_points(targets, "targets_mm", min_count=0)
        except RegistrationError as error:
            raise GuidanceError(f"navigation plan: {error}") from error
        targets.setflags(write=False)
        object.__setattr__(self, "targets_mm", targets)
        for name in ("target_labels", "trajectories", "structures"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.target_labels) != len(targets):
            raise GuidanceError(
                f"navigation plan: {len(self.target_labels)} labels for {len(targets)} targets"
            )
        if not (math.isfinite(self.breach_margin_mm) and self.breach_margin_mm >= 0.0):
            raise GuidanceError(
                f"breach_margin_mm must be a distance >= 0 mm; got {self.breach_margin_mm!r}"
            )
        for name, count in (
            ("active_target", len(targets)),
            ("active_trajectory", len(self.trajectories)),
        ):
            index = getattr(self, name)
            if index is not None and not 0 <= index < count:
                raise GuidanceError(f"{name} {index} is not in 0..{count - 1}")

    @classmethod
    def from_scene(cls, scene: Scene, target: str | None = None) -> Self:
        """The scene's targets, trajectories and structures. A trajectory whose target is not one
        of the scene's targets adds its target, labelled with the trajectory's name. ``target``
        names the target or trajectory to work on (see ``select``); by default the first
        trajectory, else the first target."""
        labels, points = list(scene.target_labels), list(scene.targets_mm)
        for trajectory in scene.trajectories:
            if _point_index(points, trajectory.target_mm) is None:
                labels.append(trajectory.name)
                points.append(trajectory.target_mm)
        plan = cls(tuple(labels), np.array(points), scene.trajectories, scene.structures)
        if target is not None:
            return plan.select(target)
        if plan.trajectories:
            return plan.select(plan.trajectories[0].name)
        return dataclasses.replace(plan, active_target=0) if labels else plan

    def select(self, name: str) -> Self:
        """The plan working on the trajectory or target ``name`` (case-insensitive): a trajectory
        also activates its target; a target activates the first trajectory ending on it."""
        trajectory_names = [trajectory.name for trajectory in self.trajectories]
        try:
            index = trajectory_names.index(_match_name(name, trajectory_names, "trajectory"))
        except GuidanceError:
            index = None
        if index is not None:
            target = _point_index(list(self.targets_mm), self.trajectories[index].target_mm)
            return dataclasses.replace(self, active_target=target, active_trajectory=index)
        try:
            target = self.target_labels.index(_match_name(name, self.target_labels, "target"))
        except GuidanceError:
            raise GuidanceError(
                f"no target or trajectory named {name!r}; the targets are "
                f"{list(self.target_labels)} and the trajectories {trajectory_names}"
            ) from None
        ending = [
            j
            for j, trajectory in enumerate(self.trajectories)
            if np.linalg.norm(trajectory.target_mm - self.targets_mm[target]) < SAME_POINT_MM
        ]
        return dataclasses.replace(
            self, active_target=target, active_trajectory=ending[0] if ending else None
        )


def _point_index(points: Sequence[np.ndarray], point: np.ndarray) -> int | None:
    """Index of the first of ``points`` within ``SAME_POINT_MM`` of ``point``, else None."""
    for index, candidate in enumerate(points):
        if np.linalg.norm(np.asarray(candidate) - point) < SAME_POINT_MM:
            return index
    return None


@dataclass(frozen=True, eq=False)
class ToolTip:
    """A pointer's tip ``tip_mm`` (3,) and its unit ``axis`` (3,) in the tool's own frame: the
    axis is the way the tool points, from the handle (the markers' centroid, else the tool's
    origin) through the tip. ``source`` says where they came from; ``warnings`` carries those of
    the pivot calibration that produced them."""

    tip_mm: np.ndarray
    axis: np.ndarray
    source: str = ""
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("tip_mm", "axis"):
            value = np.array(getattr(self, name), dtype=np.float64)
            if value.shape != (3,) or not np.all(np.isfinite(value)):
                raise GuidanceError(f"tool tip {name} must be 3 finite numbers; got {value!r}")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if abs(np.linalg.norm(self.axis) - 1.0) > 1e-9:
            raise GuidanceError(f"tool tip axis must be a unit vector; got {self.axis}")
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @classmethod
    def pointing(
        cls,
        tip_mm: np.ndarray,
        handle_mm: np.ndarray,
        source: str = "",
        warnings: Sequence[str] = (),
    ) -> Self:
        """The tip ``tip_mm`` with the axis from ``handle_mm`` through it (tool frame, mm)."""
        tip = np.asarray(tip_mm, dtype=np.float64)
        shaft = tip - np.asarray(handle_mm, dtype=np.float64)
        length = float(np.linalg.norm(shaft))
        if not length > 1.0:
            raise GuidanceError(
                f"the tip {tip} is {length:.3g} mm from the tool's handle: a pointer's axis "
                "needs a tip at least 1 mm from its markers"
            )
        return cls(tip, shaft / length, source, tuple(warnings))

    @classmethod
    def from_tool(cls, tool: ToolDefinition) -> Self:
        """The tip written in the tool's definition, pointing away from its markers."""
        if tool.tip_mm is None:
            raise GuidanceError(
                f"tool {tool.name!r} has no tip in its definition: give a pivot calibration "
                "result (gestes pivot ... > tip.json, then --tool-tip tip.json)"
            )
        return cls.pointing(tool.tip_mm, tool.centroid_mm, f"tool definition {tool.name}")

    @classmethod
    def from_pivot_file(
        cls, path: Path | str, tool_name: str, tool: ToolDefinition | None = None
    ) -> Self:
        """The tip in the JSON ``gestes pivot`` prints (``tool``, ``tip_in_tool`` in mm), for
        ``tool_name``; the axis from ``tool``'s markers when its definition is known."""
        path = Path(path)
        report = read_result(path, "tip_in_tool", "a pivot result", "'gestes pivot'")
        pivoted = report.get("tool")
        if isinstance(pivoted, str) and pivoted.lower() != tool_name.lower():
            raise GuidanceError(
                f"{path}: the pivot calibration of tool {pivoted!r}, not of {tool_name!r}"
            )
        if report.get("units", "mm") != "mm":
            raise GuidanceError(f"{path}: units {report['units']!r}; expected 'mm'")
        try:
            tip = np.array(report["tip_in_tool"], dtype=np.float64)
        except (TypeError, ValueError):
            tip = np.empty(0)
        if tip.shape != (3,) or not np.all(np.isfinite(tip)):
            raise GuidanceError(
                f"{path}: tip_in_tool must be 3 finite numbers (mm); got {report['tip_in_tool']!r}"
            )
        warnings = report.get("warnings", [])
        handle = np.zeros(3) if tool is None else tool.centroid_mm
        return cls.pointing(
            tip,
            handle,
            f"pivot calibration {path.name}",
            [str(warning) for warning in warnings] if isinstance(warnings, list) else (),
        )


class ToolState(NamedTuple):
    """One tool in one frame: its tracker status and ``image_from_tool`` (4x4, mm; NaN when the
    tool or the reference is not tracked: never the last known pose). (A named tuple, not a
    dataclass: one is made per tool and frame, and it is several times cheaper.)"""

    status: PoseStatus
    image_from_tool: np.ndarray


class TrajectoryState(NamedTuple):
    """The tip against the active trajectory (image frame): ``angle_rad`` between the tool axis
    and the trajectory's direction, ``lateral_offset_mm`` from the tip to the trajectory's line,
    ``depth_mm`` of the tip along it past the entry (negative before it), ``remaining_mm`` still
    to go to the target along it (negative when past it). NaN when the tip is not tracked.
    ``index`` is the trajectory's place in the plan's ``trajectories``. (A named tuple: one is
    made per frame.)"""

    angle_rad: float
    lateral_offset_mm: float
    depth_mm: float
    remaining_mm: float
    index: int


@dataclass(frozen=True, eq=False)
class NavigationState:
    """What the navigator knows at one frame, in the image (CT, LPS) frame, mm and s.

    ``tracked`` is False when the stylus or the reference is not tracked; then
    ``image_from_stylus``, ``tip_mm``, ``axis`` and every distance are NaN. ``tools`` holds every
    tool of the frame. ``axis`` is the unit vector the stylus points along (handle to tip).
    ``target_distances_mm`` (M,) are tip-to-target distances (the plan's order);
    ``structure_distances_mm`` (K,) are distances to each structure's surface, negative inside;
    ``breaches`` names the structures the tip is inside or within the plan's margin of.
    ``alerts`` are human-readable warnings without numbers (tools not tracked, breaches; the
    session adds its watchdog's), so that a run can count them; the numbers are the fields.
    ``latency_s`` is the time from the frame's timestamp to this state, in the frame's time base
    (see ``guidance.session``: NaN when no time was given). Arrays are read-only.
    """

    timestamp: float
    frame_number: int
    tracked: bool
    tools: Mapping[str, ToolState]
    image_from_stylus: np.ndarray
    tip_mm: np.ndarray
    axis: np.ndarray
    target_distances_mm: np.ndarray
    active_target: int | None
    trajectory: TrajectoryState | None
    structure_distances_mm: np.ndarray
    breaches: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    latency_s: float = math.nan

    @property
    def active_target_distance_mm(self) -> float:
        """Tip to the active target (mm); NaN when there is none or the tip is not tracked."""
        if self.active_target is None:
            return math.nan
        return float(self.target_distances_mm[self.active_target])


STATUS_WORDS = {
    PoseStatus.MISSING: "missing",
    PoseStatus.OUT_OF_VOLUME: "out of the tracker's volume",
    PoseStatus.PARTIALLY_OUT_OF_VOLUME: "partially out of the tracker's volume",
    PoseStatus.DISABLED: "disabled",
}


@numba.njit(cache=True)
def _structure_distance(point, polyline, radius):
    """Distance (mm) from ``point`` to the surface of a tube of ``radius`` around ``polyline``
    (P, 3); negative inside. One point is a ball. Same maths as ``Structure.signed_distance_mm``."""
    best = np.inf
    last = max(len(polyline) - 1, 1)
    for s in range(last):
        a = polyline[s]
        b = polyline[min(s + 1, len(polyline) - 1)]
        ab0, ab1, ab2 = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        ap0, ap1, ap2 = point[0] - a[0], point[1] - a[1], point[2] - a[2]
        length_sq = max(ab0 * ab0 + ab1 * ab1 + ab2 * ab2, 1e-300)
        t = min(max((ap0 * ab0 + ap1 * ab1 + ap2 * ab2) / length_sq, 0.0), 1.0)
        d0, d1, d2 = ap0 - t * ab0, ap1 - t * ab1, ap2 - t * ab2
        best = min(best, math.sqrt(d0 * d0 + d1 * d1 + d2 * d2))
    return best - radius


@numba.njit(cache=True)
def _compose(a_from_b, b_from_c, a_from_c):
    """``a_from_c = a_from_b @ b_from_c`` for rigid 4x4s (the last row is set, not computed)."""
    for i in range(3):
        for j in range(4):
            a_from_c[i, j] = (
                a_from_b[i, 0] * b_from_c[0, j]
                + a_from_b[i, 1] * b_from_c[1, j]
                + a_from_b[i, 2] * b_from_c[2, j]
            )
        a_from_c[i, 3] += a_from_b[i, 3]
    a_from_c[3, :3] = 0.0
    a_from_c[3, 3] = 1.0


@numba.njit(cache=True)
def _navigate_kernel(
    tracker_from_tools,
    valid,
    reference,
    stylus,
    image_from_reference,
    tip_and_axis,
    targets,
    trajectory,
    structure_points,
    structure_starts,
    structure_radii,
    image_from_tools,
    values,
):
    """Fill ``image_from_tools`` (n, 4, 4) and ``values`` = [tip (3), axis (3), target distances
    (M), trajectory (angle, lateral, depth, remaining; when ``trajectory`` (3, 3) = entry, unit
    direction, (length, 0, 0) is given), structure distances (K)]; NaN where not tracked.
    Returns whether the stylus tip is tracked. ``reference_navigate`` is the numpy equivalent."""
    image_from_tools[:] = np.nan
    values[:] = np.nan
    if not valid[reference]:
        return False
    # reference_from_tracker: the rigid inverse (R^T, -R^T t) of tracker_from_reference.
    r = tracker_from_tools[reference]
    reference_from_tracker = np.empty((4, 4))
    for i in range(3):
        for j in range(3):
            reference_from_tracker[i, j] = r[j, i]
        reference_from_tracker[i, 3] = -(r[0, i] * r[0, 3] + r[1, i] * r[1, 3] + r[2, i] * r[2, 3])
    image_from_tracker = np.empty((4, 4))
    _compose(image_from_reference, reference_from_tracker, image_from_tracker)
    for k in range(len(valid)):
        if valid[k]:
            _compose(image_from_tracker, tracker_from_tools[k], image_from_tools[k])
    if not valid[stylus]:
        return False
    pose = image_from_tools[stylus]
    tip_in_stylus, axis_in_stylus = tip_and_axis[0], tip_and_axis[1]
    for i in range(3):
        values[i] = (
            pose[i, 0] * tip_in_stylus[0]
            + pose[i, 1] * tip_in_stylus[1]
            + pose[i, 2] * tip_in_stylus[2]
            + pose[i, 3]
        )
        values[3 + i] = (
            pose[i, 0] * axis_in_stylus[0]
            + pose[i, 1] * axis_in_stylus[1]
            + pose[i, 2] * axis_in_stylus[2]
        )
    tip, axis = values[0:3], values[3:6]
    m = len(targets)
    for j in range(m):
        d0, d1, d2 = targets[j, 0] - tip[0], targets[j, 1] - tip[1], targets[j, 2] - tip[2]
        values[6 + j] = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    at = 6 + m
    if len(trajectory):
        entry, direction, length = trajectory[0], trajectory[1], trajectory[2, 0]
        o0, o1, o2 = tip[0] - entry[0], tip[1] - entry[1], tip[2] - entry[2]
        depth = o0 * direction[0] + o1 * direction[1] + o2 * direction[2]
        l0, l1, l2 = o0 - depth * direction[0], o1 - depth * direction[1], o2 - depth * direction[2]
        cosine = axis[0] * direction[0] + axis[1] * direction[1] + axis[2] * direction[2]
        c0 = axis[1] * direction[2] - axis[2] * direction[1]
        c1 = axis[2] * direction[0] - axis[0] * direction[2]
        c2 = axis[0] * direction[1] - axis[1] * direction[0]
        # atan2(|a x d|, a . d) keeps its digits near 0 and pi, where acos(a . d) loses half.
        values[at] = math.atan2(math.sqrt(c0 * c0 + c1 * c1 + c2 * c2), cosine)
        values[at + 1] = math.sqrt(l0 * l0 + l1 * l1 + l2 * l2)
        values[at + 2] = depth
        values[at + 3] = length - depth
        at += 4
    for k in range(len(structure_radii)):
        polyline = structure_points[structure_starts[k] : structure_starts[k + 1]]
        values[at + k] = _structure_distance(tip, polyline, structure_radii[k])
    return True


def reference_navigate(
    image_from_reference: np.ndarray,
    tracker_from_reference: np.ndarray,
    tracker_from_stylus: np.ndarray,
    tip: ToolTip,
    plan: NavigationPlan,
) -> dict[str, object]:
    """The navigator's arithmetic in plain numpy, for one tracked frame (both poses valid): what
    ``_navigate_kernel`` computes, written as a student would, to check the kernel against."""
    image_from_stylus = image_from_reference @ invert_rigid(tracker_from_reference)
    image_from_stylus = image_from_stylus @ tracker_from_stylus
    tip_mm = apply_transform(image_from_stylus, tip.tip_mm)
    axis = image_from_stylus[:3, :3] @ tip.axis
    result: dict[str, object] = {
        "image_from_stylus": image_from_stylus,
        "tip_mm": tip_mm,
        "axis": axis,
        "target_distances_mm": np.linalg.norm(plan.targets_mm - tip_mm, axis=1),
        "structure_distances_mm": np.array(
            [s.signed_distance_mm(tip_mm)[0] for s in plan.structures]
        ).reshape(-1),
    }
    if plan.active_trajectory is not None:
        trajectory = plan.trajectories[plan.active_trajectory]
        direction = trajectory.direction
        depth = float((tip_mm - trajectory.entry_mm) @ direction)
        along = trajectory.entry_mm + depth * direction
        cosine = float(np.clip(axis @ direction, -1.0, 1.0))
        result["trajectory"] = TrajectoryState(
            angle_rad=math.acos(cosine),
            lateral_offset_mm=float(np.linalg.norm(tip_mm - along)),
            depth_mm=depth,
            remaining_mm=trajectory.length_mm - depth,
            index=plan.active_trajectory,
        )
    return result


def reference_from_stylus(
    frame: Frame, stylus: str = "stylus", reference: str = "reference"
) -> np.ndarray | None:
    """``reference_from_tracker @ tracker_from_stylus`` (4x4, mm) in ``frame``, or None when
    either tool is not tracked (never a stale pose). Tool names match as ``match_tool`` says."""
    where = f"frame {frame.frame_number}"
    stylus_pose = frame.poses[match_tool(stylus, frame.poses, where)]
    reference_pose = frame.poses[match_tool(reference, frame.poses, where)]
    if not (stylus_pose.valid and reference_pose.valid):
        return None
    return invert_rigid(reference_pose.tracker_from_tool) @ stylus_pose.tracker_from_tool


def tip_in_reference_mm(
    frame: Frame, tip_in_stylus_mm: np.ndarray, stylus: str = "stylus", reference: str = "reference"
) -> np.ndarray | None:
    """Stylus tip (3,) in the reference tool's frame (mm), or None when either tool is lost."""
    pose = reference_from_stylus(frame, stylus, reference)
    return None if pose is None else apply_transform(pose, tip_in_stylus_mm)


class Navigator:
    """Turns frames into ``NavigationState``s once registration has given
    ``image_from_reference`` (4x4, mm). ``stylus`` and ``reference`` name the tools in the
    frames (matched by ``devices.frame.match_tool``: case-insensitively, as recordings write
    them); ``tip`` is the stylus tip and axis in its own frame. One navigator serves one thread
    (the acquisition thread)."""

    def __init__(
        self,
        plan: NavigationPlan,
        image_from_reference: np.ndarray,
        tip: ToolTip,
        stylus: str = "stylus",
        reference: str = "reference",
    ) -> None:
        self.register(image_from_reference)
        self.plan = plan
        self.tip = tip
        self.stylus = stylus
        self.reference = reference
        self._tip_and_axis = np.array([tip.tip_mm, tip.axis])
        self._targets = np.ascontiguousarray(plan.targets_mm)
        self._trajectory = np.zeros((0, 3))
        self._trajectory_index = plan.active_trajectory
        if plan.active_trajectory is not None:
            active = plan.trajectories[plan.active_trajectory]
            self._trajectory = np.array(
                [active.entry_mm, active.direction, [active.length_mm, 0.0, 0.0]]
            )
        lines = [structure.centreline_mm for structure in plan.structures]
        self._structure_points = np.ascontiguousarray(np.concatenate(lines or [np.zeros((0, 3))]))
        self._structure_starts = np.cumsum([0] + [len(line) for line in lines]).astype(np.int64)
        self._structure_radii = np.array([s.radius_mm for s in plan.structures], dtype=np.float64)
        self._structure_names = tuple(structure.name for structure in plan.structures)
        self._n_values = 6 + len(self._targets) + 4 * bool(len(self._trajectory))
        self._n_values += len(self._structure_radii)
        self._names: tuple[str, ...] = ()
        self._roles = (0, 0)

    def register(self, image_from_reference: np.ndarray) -> None:
        """Navigate with this registration (4x4, mm) from the next frame on: an exercise that
        registers while the student works (call it on the thread that navigates)."""
        try:
            matrix = as_rigid(image_from_reference, "image_from_reference")
        except RegistrationError as error:
            raise GuidanceError(f"navigator: {error}") from error
        # The kernel gets its own writable copy: a read-only array is another Numba signature
        # (its helpers compiled twice on a first run).
        self._image_from_reference = matrix.copy()
        matrix.setflags(write=False)
        self.image_from_reference = matrix

    def _resolve(self, names: tuple[str, ...]) -> None:
        """Find the reference and the stylus among a frame's tool names (once per tool set)."""
        where = "the tracker's frames"
        reference = names.index(match_tool(self.reference, names, where))
        stylus = names.index(match_tool(self.stylus, names, where))
        self._names, self._roles = names, (reference, stylus)

    def navigate(self, frame: Frame, now_s: float = math.nan) -> NavigationState:
        """The navigation state in ``frame``; ``now_s`` (the time the frame is handled, in the
        frame's time base) gives ``latency_s``."""
        poses = frame.poses
        names = tuple(poses)
        if names != self._names:
            self._resolve(names)
        n = len(names)
        tracker_from_tools = np.empty((n, 4, 4))
        valid = np.empty(n, dtype=np.bool_)
        statuses = []
        for k, name in enumerate(names):
            pose = poses[name]
            tracker_from_tools[k] = pose.tracker_from_tool
            valid[k] = pose.valid
            statuses.append(pose.status)
        image_from_tools = np.empty((n, 4, 4))
        values = np.empty(self._n_values)
        reference, stylus = self._roles
        tracked = _navigate_kernel(
            tracker_from_tools,
            valid,
            reference,
            stylus,
            self._image_from_reference,
            self._tip_and_axis,
            self._targets,
            self._trajectory,
            self._structure_points,
            self._structure_starts,
            self._structure_radii,
            image_from_tools,
            values,
        )
        image_from_tools.setflags(write=False)
        values.setflags(write=False)
        m = len(self._targets)
        at = 6 + m
        trajectory = None
        if len(self._trajectory):
            trajectory = TrajectoryState(*values[at : at + 4].tolist(), self._trajectory_index)
            at += 4
        structure_distances = values[at:]
        alerts = [
            f"{name} {STATUS_WORDS[status]}"
            for name, status in zip(names, statuses, strict=True)
            if status is not PoseStatus.OK
        ]
        breaches = self._breaches(structure_distances, alerts) if tracked else ()
        return NavigationState(
            timestamp=frame.timestamp,
            frame_number=frame.frame_number,
            tracked=tracked,
            tools=dict(zip(names, map(ToolState, statuses, image_from_tools), strict=True)),
            image_from_stylus=image_from_tools[stylus],
            tip_mm=values[0:3],
            axis=values[3:6],
            target_distances_mm=values[6 : 6 + m],
            active_target=self.plan.active_target,
            trajectory=trajectory,
            structure_distances_mm=structure_distances,
            breaches=breaches,
            alerts=tuple(alerts),
            latency_s=now_s - frame.timestamp,
        )

    def _breaches(self, distances: np.ndarray, alerts: list[str]) -> tuple[str, ...]:
        """Names of the structures the tip is inside or within the margin of; adds an alert
        for each."""
        margin = self.plan.breach_margin_mm
        if not len(distances) or distances.min() >= margin:
            return ()
        names = []
        for name, distance in zip(self._structure_names, distances.tolist(), strict=True):
            if distance < 0.0:
                alerts.append(f"BREACH: the tip is inside {name}")
            elif distance < margin:
                alerts.append(f"the tip is within {margin:g} mm of {name}")
            else:
                continue
            names.append(name)
        return tuple(names)
