"""The surface-registration methods the registration benchmarks compare, each built once per
target and called per trial: gestes, open3d and small_gicp (peers only when installed); and how
a trial is misaligned and scored.

A target is a dict with ``vertices``, ``normals`` (outward, unit) and ``triangles``; a trial
gives the digitised ``points`` (moving frame) and, for gestes, the stylus ``axes`` at them.
Every method starts from the identity and returns (fixed_from_moving, iterations or None).

What each call includes (so that ratios say what they compare):
- gestes: everything ``SurfaceRegistration.register`` does: the patch normals, ICP, and its
  multi-start fallback when the first run fits poorly (counted in ``starts``);
- small_gicp: the source's KD-tree and covariances (GICP) and the alignment; the target's tree
  and covariances are built once, in ``build``;
- open3d as users call it: ``registration_icp`` / ``registration_generalized_icp``, which build
  a KD-tree over the target inside every call (the target's normals or covariances are built
  once); the "tree taken out" variant reports the same calls minus the median time of building
  that KD-tree (``KDTreeFlann`` over the target), measured in ``build``.
"""

import math
import time

import numpy as np
from scipy.spatial.transform import Rotation

from registration.icp import (
    STYLUS_CONE_RAD,
    Facing,
    IcpMethod,
    IcpSettings,
    MultiStartSettings,
    SurfaceRegistration,
)
from registration.transforms import apply_transform, make_rigid


def misalignment(
    rng: np.random.Generator, centre: np.ndarray, shift_mm: float, angle_deg: float
) -> np.ndarray:
    """``moved_from_true`` (4x4): a turn of ``angle_deg`` about a random axis through
    ``centre`` and a shift of ``shift_mm`` in a random direction (the axis drawn first)."""
    axis = rng.normal(size=3)
    direction = rng.normal(size=3)
    rotation = Rotation.from_rotvec(math.radians(angle_deg) * axis / np.linalg.norm(axis))
    matrix = rotation.as_matrix()
    shift = shift_mm * direction / np.linalg.norm(direction)
    return make_rigid(matrix, centre - matrix @ centre + shift)


def errors(fixed_from_moving: np.ndarray, trial: dict) -> tuple[float, float]:
    """Rotation error (deg) and error at the patch centre (mm) of a registration of ``trial``
    (``moved_from_true``, ``centre``)."""
    residual = fixed_from_moving @ trial["moved_from_true"]
    angle = math.degrees(Rotation.from_matrix(residual[:3, :3]).magnitude())
    centre = trial["centre"]
    return angle, float(np.linalg.norm(apply_transform(residual, centre) - centre))


def optional(name: str):
    """The module, or None when it cannot be imported (that peer is left out)."""
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # any import failure only removes that peer from the table
        return None


class Gestes:
    """gestes ICP; ``facing``: "stylus" (the trial's stylus axes), or a ``Facing`` for patches
    given without them."""

    time_offset_s = time_offset_cpu_s = 0.0

    def __init__(self, method: IcpMethod, max_iterations: int, facing="stylus") -> None:
        self.method = method
        self.max_iterations = max_iterations
        self.facing = facing
        label = {"stylus": "", Facing.SURFACE_AT_POSE: ", no stylus axis"}.get(facing, "")
        self.name = f"gestes {method.value.replace('_', '-')}{label}"

    def build(self, target: dict) -> None:
        # Point-to-point crawls (linear convergence) and would nearly always fall back to the
        # multi-start: it runs as plain ICP, like the peers.
        multi_start = MultiStartSettings(enabled=self.method is IcpMethod.POINT_TO_PLANE)
        facing = Facing.AWAY_FROM_CENTRE if self.facing == "stylus" else self.facing
        settings = IcpSettings(
            method=self.method,
            max_iterations=self.max_iterations,
            multi_start=multi_start,
            facing=facing,
        )
        self.registration = SurfaceRegistration.from_mesh(
            target["vertices"], target["normals"], target["triangles"], settings
        )

    def register(self, trial: dict) -> tuple[np.ndarray, int | None]:
        if self.facing == "stylus":
            result = self.registration.register(
                trial["points"], outward=trial["axes"], outward_cone_rad=STYLUS_CONE_RAD
            )
        else:
            result = self.registration.register(trial["points"])
        self.last = result
        return result.fixed_from_moving, result.iterations


class Open3d:
    """open3d point-to-point, point-to-plane or GICP; ``tree_out`` reports each call minus the
    KD-tree build that ``registration_icp`` does inside it."""

    def __init__(
        self, o3d, kind: str, threads: int, max_mm: float, iterations: int, tree_out: bool = False
    ):
        self.o3d, self.kind, self.max_mm, self.iterations = o3d, kind, max_mm, iterations
        self.tree_out = tree_out
        name = {"p2p": "point-to-point", "p2l": "point-to-plane", "gicp": "GICP"}[kind]
        self.name = f"open3d {name}" + (" (tree build taken out)" if tree_out else "")
        self.time_offset_s = self.time_offset_cpu_s = 0.0
        o3d.utility.set_max_threads(threads)  # open3d >= 0.19 ignores OMP_NUM_THREADS
        o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)

    def build(self, target: dict) -> None:
        o3d = self.o3d
        registration = o3d.pipelines.registration
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target["vertices"]))
        if self.kind == "p2l":
            cloud.normals = o3d.utility.Vector3dVector(target["normals"])
        if self.kind == "gicp":
            cloud.estimate_covariances(o3d.geometry.KDTreeSearchParamKNN(20))
        self.target = cloud
        self.criteria = registration.ICPConvergenceCriteria(1e-6, 1e-6, self.iterations)
        self.estimation = {
            "p2p": registration.TransformationEstimationPointToPoint,
            "p2l": registration.TransformationEstimationPointToPlane,
            "gicp": registration.TransformationEstimationForGeneralizedICP,
        }[self.kind]()
        if self.tree_out:
            builds, builds_cpu = [], []
            for _ in range(7):
                begin, begin_cpu = time.perf_counter(), time.process_time()
                o3d.geometry.KDTreeFlann(cloud)
                builds.append(time.perf_counter() - begin)
                builds_cpu.append(time.process_time() - begin_cpu)
            self.time_offset_s = float(np.median(builds))
            self.time_offset_cpu_s = float(np.median(builds_cpu))

    def register(self, trial: dict) -> tuple[np.ndarray, int | None]:
        o3d = self.o3d
        registration = o3d.pipelines.registration
        source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(trial["points"]))
        run = (
            registration.registration_generalized_icp
            if self.kind == "gicp"
            else registration.registration_icp
        )
        result = run(source, self.target, self.max_mm, np.eye(4), self.estimation, self.criteria)
        return np.asarray(result.transformation), None


class SmallGicp:
    """small_gicp ICP, PLANE_ICP or GICP, the target's tree and covariances built once."""

    time_offset_s = time_offset_cpu_s = 0.0

    def __init__(self, small_gicp, kind: str, threads: int, max_mm: float, iterations: int):
        self.small_gicp, self.kind, self.threads = small_gicp, kind, threads
        self.max_mm, self.iterations = max_mm, iterations
        self.name = f"small_gicp {kind}"

    def build(self, target: dict) -> None:
        small_gicp = self.small_gicp
        self.target = small_gicp.PointCloud(target["vertices"])
        self.tree = small_gicp.KdTree(self.target, self.threads)
        if self.kind != "ICP":
            small_gicp.estimate_normals_covariances(self.target, self.tree, 20, self.threads)

    def register(self, trial: dict) -> tuple[np.ndarray, int | None]:
        small_gicp = self.small_gicp
        source = small_gicp.PointCloud(trial["points"])
        if self.kind == "GICP":
            small_gicp.estimate_covariances(
                source, small_gicp.KdTree(source, self.threads), 20, self.threads
            )
        result = small_gicp.align(
            self.target, source, self.tree, np.eye(4), self.kind, self.max_mm,
            self.threads, self.iterations, 1e-4, 1e-3,
        )  # fmt: skip
        return np.asarray(result.T_target_source), int(result.iterations)
