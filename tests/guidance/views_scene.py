"""A small scene for the view tests, and real navigation states in it.

A 64 mm ball phantom CT (1 mm voxels, a 1200 HU shell of radius 34-40 mm around 40 HU, air
outside), three fiducials on the shell, two targets inside, a vessel (a tube of radius 3 mm along
x at y = 10 mm, z = -8 mm) and one trajectory from the top of the ball to the first target. The
registration makes the image frame the tracker's, so a stylus pose in the tracker is its pose
in the image. States come from the real ``Navigator``, never built by hand.
"""

import numpy as np
import pyvista as pv
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from devices.frame import Frame, PoseStatus, ToolPose
from devices.tools import BUILTIN_TOOLS
from guidance.navigator import NavigationPlan, NavigationState, Navigator, ToolTip
from registration.transforms import make_rigid
from scenes.scene import Scene, Structure, Trajectory

FIDUCIALS = np.array([[37.0, 0.0, 0.0], [0.0, -37.0, 0.0], [0.0, 0.0, 37.0]])
TARGETS = np.array([[5.0, 5.0, 5.0], [-10.0, 0.0, 8.0]])
VESSEL = Structure("vessel", np.array([[-25.0, 10.0, -8.0], [25.0, 10.0, -8.0]]), 3.0)
TRAJECTORY = Trajectory("path", np.array([5.0, 5.0, 40.0]), TARGETS[0])
TOOLS = {name: BUILTIN_TOOLS[name] for name in ("stylus", "reference")}
STYLUS_TIP = ToolTip.from_tool(BUILTIN_TOOLS["stylus"])
DOWN = np.array([0.0, 0.0, -1.0])
# The reference stands beside the ball; registration makes the image frame the tracker's.
TRACKER_FROM_REFERENCE = make_rigid(np.eye(3), np.array([90.0, 0.0, -40.0]))


def ball_ct() -> sitk.Image:
    """The 64^3 ball phantom, centred on the origin (LPS mm)."""
    z, y, x = np.mgrid[:64, :64, :64] - 31.5
    radius = np.sqrt(x * x + y * y + z * z)
    hu = np.where(radius < 34, 40, np.where(radius < 40, 1200, -1000)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetOrigin((-31.5, -31.5, -31.5))
    return image


def small_scene() -> Scene:
    return Scene(
        name="ball",
        ct=ball_ct(),
        fiducials_mm=FIDUCIALS,
        fiducial_labels=("F1", "F2", "F3"),
        targets_mm=TARGETS,
        target_labels=("T1", "T2"),
        structures=(VESSEL,),
        trajectories=(TRAJECTORY,),
    )


def skin() -> pv.PolyData:
    return pv.Sphere(radius=40.0, theta_resolution=24, phi_resolution=24)


def navigator(scene: Scene) -> Navigator:
    """The scene's navigator, working on its trajectory, with the identity registration."""
    image_from_reference = TRACKER_FROM_REFERENCE  # image_from_tracker is the identity
    return Navigator(NavigationPlan.from_scene(scene), image_from_reference, STYLUS_TIP)


def stylus_pose(tip_mm: np.ndarray, axis: np.ndarray = DOWN) -> np.ndarray:
    """``tracker_from_stylus`` putting the tip at ``tip_mm`` with the stylus pointing along
    ``axis`` (unit, handle to tip)."""
    rotation, _ = Rotation.align_vectors([axis], [STYLUS_TIP.axis])
    rotation = rotation.as_matrix()
    return make_rigid(rotation, np.asarray(tip_mm, dtype=np.float64) - rotation @ STYLUS_TIP.tip_mm)


def frame(
    tip_mm: np.ndarray,
    axis: np.ndarray = DOWN,
    number: int = 0,
    timestamp: float | None = None,
    stylus: PoseStatus = PoseStatus.OK,
    reference: PoseStatus = PoseStatus.OK,
) -> Frame:
    """A frame with the stylus at ``tip_mm`` (image = tracker frame) and the reference beside
    the ball."""
    poses = {
        "stylus": ToolPose("stylus", stylus_pose(tip_mm, axis), PoseStatus.OK)
        if stylus is PoseStatus.OK
        else ToolPose.missing("stylus", stylus),
        "reference": ToolPose("reference", TRACKER_FROM_REFERENCE, PoseStatus.OK)
        if reference is PoseStatus.OK
        else ToolPose.missing("reference", reference),
    }
    return Frame(number * 0.02 if timestamp is None else timestamp, number, poses)


def state_at(
    navigation: Navigator, tip_mm: np.ndarray, axis: np.ndarray = DOWN, **kwargs
) -> NavigationState:
    """The navigator's state for a frame with the tip at ``tip_mm`` (see ``frame``)."""
    made = frame(tip_mm, axis, **kwargs)
    return navigation.navigate(made, now_s=made.timestamp + 0.015)
