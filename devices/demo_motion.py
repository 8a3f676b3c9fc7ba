"""``sim:demo``: a built-in scripted session of the stylus and the reference, no scene needed.

The reference hangs still 1.3 m in front of the camera (Polaris-like tracker frame: the camera
looks down -z, y up), its markers facing the camera. The stylus first pivots about a fixed tip
point (a cone of half-angle 25 degrees, two turns: pivot-calibration data), then touches four
points 60 mm apart beside the reference, pausing on each. Tracker units: mm, s.
"""

import math
from dataclasses import dataclass

import numpy as np

from devices.clock import Clock
from devices.noise import CameraView, EMNoise, OpticalNoise
from devices.simulated import SimulatedTracker
from devices.tools import BUILTIN_TOOLS
from registration.transforms import rotation_from_vector

# Tool +x (marker normals) toward the camera (+z), tool +z (tip to markers) up (+y).
FACING_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
REFERENCE_POSITION_MM = np.array([-150.0, -40.0, -1300.0])
PIVOT_POINT_MM = np.array([0.0, -120.0, -1250.0])
# Corners of a 60 mm square in the tracker's x-z plane, 150 mm right of the reference.
TOUCH_POINTS_MM = np.array(
    [
        [0.0, -120.0, -1280.0],
        [60.0, -120.0, -1280.0],
        [60.0, -120.0, -1220.0],
        [0.0, -120.0, -1220.0],
    ]
)
PIVOT_HALF_ANGLE_RAD = math.radians(25.0)
PIVOT_DURATION_S = 6.0
PIVOT_TURNS = 2.0
MOVE_DURATION_S = 1.5
DWELL_DURATION_S = 1.5
TOUCH_TILT_RAD = math.radians(15.0)


def _smoothstep(fraction: float) -> float:
    """0 -> 0, 1 -> 1 with zero velocity at both ends (3f^2 - 2f^3)."""
    fraction = min(max(fraction, 0.0), 1.0)
    return fraction * fraction * (3.0 - 2.0 * fraction)


def _pose_with_tip_at(rotation: np.ndarray, tip_tracker_mm: np.ndarray) -> np.ndarray:
    """``tracker_from_stylus`` whose tip lands on ``tip_tracker_mm`` with the given rotation."""
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = tip_tracker_mm - rotation @ BUILTIN_TOOLS["stylus"].tip_mm
    return pose


@dataclass(frozen=True)
class DemoMotion:
    """The ``sim:demo`` script (implements ``devices.simulated.Motion``)."""

    duration_s: float = PIVOT_DURATION_S + len(TOUCH_POINTS_MM) * (
        MOVE_DURATION_S + DWELL_DURATION_S
    )

    def __call__(self, t_s: float) -> dict[str, np.ndarray]:
        reference = np.eye(4)
        reference[:3, :3] = FACING_CAMERA
        reference[:3, 3] = REFERENCE_POSITION_MM
        return {"reference": reference, "stylus": self._stylus(t_s)}

    def _stylus(self, t_s: float) -> np.ndarray:
        if t_s < PIVOT_DURATION_S:
            azimuth = 2.0 * math.pi * PIVOT_TURNS * t_s / PIVOT_DURATION_S
            axis = np.array([math.cos(azimuth), 0.0, math.sin(azimuth)])
            tilt = rotation_from_vector(PIVOT_HALF_ANGLE_RAD * axis)
            return _pose_with_tip_at(tilt @ FACING_CAMERA, PIVOT_POINT_MM)
        touching = rotation_from_vector(np.array([TOUCH_TILT_RAD, 0.0, 0.0])) @ FACING_CAMERA
        step = MOVE_DURATION_S + DWELL_DURATION_S
        index = min(int((t_s - PIVOT_DURATION_S) // step), len(TOUCH_POINTS_MM) - 1)
        into_step = t_s - PIVOT_DURATION_S - index * step
        start = PIVOT_POINT_MM if index == 0 else TOUCH_POINTS_MM[index - 1]
        # Lift 20 mm (along +y) between points so the tip never drags across the surface.
        fraction = _smoothstep(into_step / MOVE_DURATION_S)
        lift = np.array([0.0, 20.0 * math.sin(math.pi * fraction), 0.0])
        tip = start + fraction * (TOUCH_POINTS_MM[index] - start) + lift
        if index == 0:
            # Leave the pivot pose smoothly: blend the last pivot rotation into the touching one.
            last_pivot = self._stylus(PIVOT_DURATION_S - 1e-9)[:3, :3]
            rotation = _blend(last_pivot, touching, fraction)
        else:
            rotation = touching
        return _pose_with_tip_at(rotation, tip)


def _blend(start: np.ndarray, end: np.ndarray, fraction: float) -> np.ndarray:
    """The rotation ``fraction`` of the way from ``start`` to ``end``, about their relative axis."""
    relative = end @ start.T
    angle = math.acos(min(max((np.trace(relative) - 1.0) / 2.0, -1.0), 1.0))
    if angle < 1e-12:
        return end
    axis = np.array(
        [
            relative[2, 1] - relative[1, 2],
            relative[0, 2] - relative[2, 0],
            relative[1, 0] - relative[0, 1],
        ]
    ) / (2.0 * math.sin(angle))
    return rotation_from_vector(fraction * angle * axis) @ start


def demo_tracker(
    noise: OpticalNoise | EMNoise = OpticalNoise(camera=CameraView()),  # noqa: B008 (frozen)
    rate_hz: float = 60.0,
    seed: int = 0,
    realtime: bool = True,
    clock: Clock | None = None,
) -> SimulatedTracker:
    """A ``SimulatedTracker`` playing ``DemoMotion`` with gestes' built-in stylus and reference,
    seen by default by an optical camera with a measurement volume and line of sight.
    """
    return SimulatedTracker(DemoMotion(), BUILTIN_TOOLS, noise, rate_hz, seed, realtime, clock)
