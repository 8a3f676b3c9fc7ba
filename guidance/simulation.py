"""A scene in front of a simulated camera: where the phantom lies, where its reference tool is
clamped, how a stylus arrives at its fiducials and targets, and the simulated tracker that films
a scripted stylus there.

The ground truth is a ``Placement``: ``tracker_from_image`` (where the phantom lies in the
camera's frame) and ``image_from_reference`` (where the reference tool sits on it). A registration
estimates the latter; the simulation knows it exactly, so errors can be scored.

How a scene lies (its ``Posture``) follows the clinical set-up of each built-in phantom: the head
supine with the camera at the head end, the spine prone with its back to the camera, the needle
box on a table, lid up. A scene folder of another name is turned so that the side carrying its
fiducials (which the stylus must touch) faces the camera.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pyvista as pv
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from devices.clock import Clock
from devices.noise import OpticalNoise
from devices.simulated import Motion, SimulatedTracker, sample_motion
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from guidance.exceptions import GuidanceError
from registration.transforms import apply_transform, invert_rigid, make_rigid
from scenes.motions import StylusGeometry, aligning_rotation
from scenes.scene import Scene

# Where the scene sits: its centre 1.4 m from the camera (which looks along -z, y up: NDI
# convention), with the posture's facing side toward the camera; then a random tilt and shift.
SCENE_CENTRE_IN_TRACKER_MM = np.array([0.0, 0.0, -1400.0])
MAX_PLACEMENT_TILT_RAD = math.radians(15.0)
MAX_PLACEMENT_SHIFT_MM = 50.0
# Fiducial approach direction: mean skin normal within this radius of the bead.
NORMAL_RADIUS_MM = 15.0
# A scene folder's reference tool: this far beyond the scene's extent, beside it (mm).
REFERENCE_CLEARANCE_MM = 40.0
# The tools every simulated set-up tracks.
SIMULATED_TOOLS = MappingProxyType({name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")})


@dataclass(frozen=True, eq=False)
class Posture:
    """How a scene lies before the camera, as unit directions in the image (LPS) frame:
    ``facing`` is turned toward the camera, ``up`` points up in the camera's view; the reference
    tool is clamped at ``reference_offset_mm`` from the scene's centre (image frame, mm)."""

    facing: np.ndarray
    up: np.ndarray
    reference_offset_mm: np.ndarray

    def __post_init__(self) -> None:
        for name in ("facing", "up", "reference_offset_mm"):
            value = np.array(getattr(self, name), dtype=np.float64)
            if value.shape != (3,) or not np.all(np.isfinite(value)):
                raise GuidanceError(f"posture {name} must be 3 finite numbers; got {value!r}")
            value.setflags(write=False)
            object.__setattr__(self, name, value)


# The built-in phantoms, as their real counterparts lie on the table.
POSTURES = MappingProxyType(
    {
        # Supine, camera at the head end: the vertex (+z) toward it, the face (-y) up; the
        # reference beside the head on the patient's left, above the ear.
        "skull": Posture((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), (115.0, 10.0, 50.0)),
        # Prone: the back (+y, posterior) toward the camera, the head (+z) up; the reference on
        # a post beside the torso on the patient's left, level with L2.
        "spine": Posture((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (150.0, 60.0, 35.0)),
        # On a table, lid (+z) up toward the camera, the front (-y) up in its view; the
        # reference beside the box on its left.
        "needle-box": Posture((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), (95.0, 0.0, 30.0)),
    }
)


def posture_of(scene: Scene, surface: pv.PolyData) -> Posture:
    """The built-in posture of a phantom by its name; for another scene, its fiducials' side
    toward the camera, the image axis most across it up, and the reference beside its surface
    (``REFERENCE_CLEARANCE_MM`` past it along the third axis)."""
    if scene.name in POSTURES:
        return POSTURES[scene.name]
    centre = np.asarray(surface.center, dtype=np.float64)
    if len(scene.fiducials_mm) == 0:
        raise GuidanceError(
            f"scene {scene.name}: no fiducials to turn toward the camera; a simulated set-up "
            "needs the points the stylus must touch"
        )
    toward = scene.fiducials_mm.mean(axis=0) - centre
    if np.linalg.norm(toward) < 1e-6:
        toward = np.array([0.0, 0.0, 1.0])
    facing = toward / np.linalg.norm(toward)
    candidates = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    up = candidates[int(np.argmin(np.abs(candidates @ facing)))]
    side = np.cross(facing, up)
    side /= np.linalg.norm(side)
    bounds = np.reshape(surface.bounds, (3, 2))
    half_extent = 0.5 * float(np.abs(side) @ (bounds[:, 1] - bounds[:, 0]))
    return Posture(facing, up, (half_extent + REFERENCE_CLEARANCE_MM) * side)


def _marker_axes(tool: ToolDefinition) -> tuple[np.ndarray, np.ndarray]:
    """A tool's facing axis (its markers' mean normal, else the normal of their plane) and long
    axis (the markers' first principal axis)."""
    axes = np.linalg.svd(tool.markers_mm - tool.centroid_mm)[2]
    facing = axes[2] if tool.normals is None else np.mean(tool.normals, axis=0)
    return facing, axes[0]


@dataclass(frozen=True, eq=False)
class Placement:
    """The ground truth of the set-up (4x4, mm): where the phantom is in the tracker frame and
    where the reference tool is on the phantom."""

    tracker_from_image: np.ndarray
    image_from_reference: np.ndarray

    @property
    def tracker_from_reference(self) -> np.ndarray:
        """Where the reference tool is in the tracker frame (4x4, mm)."""
        return self.tracker_from_image @ self.image_from_reference


def place_phantom(
    scene_centre_mm: np.ndarray, seed: int, posture: Posture = POSTURES["skull"]
) -> Placement:
    """The scene centre ``SCENE_CENTRE_IN_TRACKER_MM`` in front of the camera, ``posture``'s
    facing side toward it, with a random tilt (up to ``MAX_PLACEMENT_TILT_RAD``) and shift (up
    to ``MAX_PLACEMENT_SHIFT_MM`` per axis) drawn from ``seed``; the reference tool at the
    posture's offset, its markers facing the camera."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    angle = rng.uniform(0.0, MAX_PLACEMENT_TILT_RAD)
    tilt = Rotation.from_rotvec(angle * axis / np.linalg.norm(axis)).as_matrix()
    lying = aligning_rotation(
        posture.facing, posture.up, np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    )
    rotation = tilt @ lying
    centre = SCENE_CENTRE_IN_TRACKER_MM + rng.uniform(-1.0, 1.0, 3) * MAX_PLACEMENT_SHIFT_MM
    tracker_from_image = make_rigid(rotation, centre - rotation @ scene_centre_mm)
    position = scene_centre_mm + posture.reference_offset_mm
    camera_in_image = apply_transform(invert_rigid(tracker_from_image), np.zeros(3))
    facing, long_axis = _marker_axes(SIMULATED_TOOLS["reference"])
    reference_rotation = aligning_rotation(
        facing, long_axis, camera_in_image - position, posture.up
    )
    return Placement(tracker_from_image, make_rigid(reference_rotation, position))


@dataclass(frozen=True, eq=False)
class Approaches:
    """How the stylus arrives, image frame: unit directions (N, 3) at the fiducials and (M, 3) at
    the targets, and each target's hover distance (M,) in mm (its depth + the hover height)."""

    fiducial_dirs: np.ndarray
    target_dirs: np.ndarray
    target_hover_mm: np.ndarray


def approach_directions(
    surface: pv.PolyData,
    fiducials_mm: np.ndarray,
    targets_mm: np.ndarray,
    hover_mm: float,
    target_entries_mm: Sequence[np.ndarray | None] | None = None,
) -> Approaches:
    """For fiducials the mean outward skin normal around each bead; for a target, back along
    its planned path when ``target_entries_mm`` gives the path's entry (image, mm), else the way
    out along the shortest path to the skin; hovering ``hover_mm`` above the skin."""
    points = np.asarray(surface.points, dtype=np.float64)
    normals = np.asarray(surface.point_data["Normals"], dtype=np.float64)
    tree = cKDTree(points)
    fiducial_dirs = []
    for bead in fiducials_mm:
        near = tree.query_ball_point(bead, NORMAL_RADIUS_MM)
        if not near:
            raise GuidanceError(
                f"no skin surface within {NORMAL_RADIUS_MM} mm of the fiducial at {bead}: "
                "the bead is not on the skin"
            )
        mean = normals[near].mean(axis=0)
        fiducial_dirs.append(mean / np.linalg.norm(mean))
    targets = np.asarray(targets_mm, dtype=np.float64).reshape(-1, 3)
    depths, nearest = tree.query(targets)
    target_dirs = points[np.asarray(nearest, dtype=int)].reshape(-1, 3) - targets
    depths = np.asarray(depths, dtype=np.float64).reshape(-1)
    for j, entry in enumerate(target_entries_mm or [None] * len(targets)):
        if entry is not None:
            target_dirs[j] = entry - targets[j]
            depths[j] = np.linalg.norm(target_dirs[j])
    target_dirs /= np.linalg.norm(target_dirs, axis=1, keepdims=True)
    return Approaches(np.array(fiducial_dirs).reshape(-1, 3), target_dirs, depths + hover_mm)


def stylus_geometry(tool: ToolDefinition = SIMULATED_TOOLS["stylus"]) -> StylusGeometry:
    """How a hand holds ``tool``: its tip, its shaft and the way its markers face."""
    if tool.tip_mm is None:
        raise GuidanceError(f"tool {tool.name!r} has no tip: it cannot be used as a stylus")
    return StylusGeometry.from_markers(tool.markers_mm, tool.tip_mm, tool.normals)


class LoopingMotion:
    """``motion`` played over and over for ``duration_s`` seconds (the ``Motion`` protocol):
    a scripted stylus that keeps going while someone watches."""

    def __init__(self, motion: Motion, duration_s: float) -> None:
        if not (math.isfinite(duration_s) and duration_s > 0.0 and motion.duration_s > 0.0):
            raise GuidanceError(f"a looping motion needs a duration > 0 s; got {duration_s!r}")
        self.motion = motion
        self.duration_s = float(duration_s)

    def __call__(self, t_s: float) -> Mapping[str, np.ndarray]:
        return self.motion(math.fmod(max(t_s, 0.0), self.motion.duration_s))

    def sample(self, times_s: np.ndarray) -> dict[str, np.ndarray]:
        """The poses at many times at once (``devices.simulated.sample_motion``)."""
        looped = np.fmod(np.maximum(times_s, 0.0), self.motion.duration_s)
        return sample_motion(self.motion, looped)


def simulated_tracker(
    motion: Motion,
    noise: OpticalNoise,
    rate_hz: float,
    seed: int,
    realtime: bool = False,
    tools: Mapping[str, ToolDefinition] = SIMULATED_TOOLS,
    clock: Clock | None = None,
) -> SimulatedTracker:
    """The simulated camera filming ``motion`` (the stylus and the reference) with ``noise``,
    at ``rate_hz``, reproducibly from ``seed``; paced in real time on ``clock`` when
    ``realtime``."""
    return SimulatedTracker(
        motion, tools, noise, rate_hz=rate_hz, seed=seed, realtime=realtime, clock=clock
    )
