"""Where the fiducials of a study go: ``spread`` around the targets, ``clustered`` to one side,
or ``coplanar``.

A phantom carries a handful of beads (8 on each built-in one), too few to choose 10 of them in
three different layouts. The study therefore places its fiducials where a teacher would stick
adhesive markers: on the scene's outer skin, on the side that faces the camera (the side the
stylus can reach). The candidate positions are the vertices of the skin surface the exercises
use (``exercises.simulate.skin_surface``, CT frame) whose outward normal is within
``REACHABLE_DEG`` of the posture's camera-facing direction (``guidance.simulation.posture_of``)
and that lie at least ``CT_MARGIN_MM`` inside the CT (where the scan cuts the body, the skin
surface ends in an edge that is not skin, and a marker there would be half out of the scan); each
is a marker with a divot at the skin, touched along the skin's normal as the beads are.

The layouts pick N of them with farthest-point sampling (each new point the candidate farthest
from those already picked), so that the points of a layout are as far apart as its region
allows and the N-point layout is the (N-1)-point one plus a point:
- ``spread``: the whole reachable skin, starting from the candidate farthest from the
  candidates' centroid (the fiducials then surround the targets);
- ``clustered``: the candidates within ``CLUSTER_RADIUS_MM`` of the reachable skin's extreme
  point toward the scene's side (the posture's facing x up direction, the patient's left on the
  skull);
- ``coplanar``: the candidates within ``PLANE_HALF_WIDTH_MM`` of a plane across the facing
  direction at the median height of the reachable skin (a ring around the head on the skull).
"""

import math
from dataclasses import dataclass

import numpy as np
import pyvista as pv

from guidance.exceptions import GuidanceError
from guidance.simulation import posture_of
from guidance.study.settings import LAYOUTS
from registration.tre import MIN_FIDUCIALS
from scenes.physical import voxel_centre_bounds
from scenes.scene import Scene

REACHABLE_DEG = 75.0
CT_MARGIN_MM = 5.0
CLUSTER_RADIUS_MM = 40.0
PLANE_HALF_WIDTH_MM = 1.0


@dataclass(frozen=True, eq=False)
class Candidates:
    """The positions a study may put a fiducial at: skin points (N, 3, CT mm, LPS) and the
    posture's unit ``facing`` and ``side`` directions (CT frame)."""

    points_mm: np.ndarray
    facing: np.ndarray
    side: np.ndarray


def reachable_skin(scene: Scene, surface: pv.PolyData) -> Candidates:
    """The skin vertices whose outward normal is within ``REACHABLE_DEG`` of the direction the
    scene faces the camera in (``posture_of``), ``CT_MARGIN_MM`` inside the CT."""
    posture = posture_of(scene, surface)
    facing = posture.facing / np.linalg.norm(posture.facing)
    side = np.cross(facing, posture.up)
    side /= np.linalg.norm(side)
    points = np.asarray(surface.points, dtype=np.float64)
    normals = np.asarray(surface.point_data["Normals"], dtype=np.float64)
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    low, high = voxel_centre_bounds(scene.ct)
    inside = np.all((points >= low + CT_MARGIN_MM) & (points <= high - CT_MARGIN_MM), axis=1)
    reachable = inside & (normals @ facing >= math.cos(math.radians(REACHABLE_DEG)))
    if not reachable.any():
        raise GuidanceError(
            f"scene {scene.name}: no skin faces the camera; the study has nowhere to put fiducials"
        )
    return Candidates(points[reachable], facing, side)


def farthest_points(points_mm: np.ndarray, count: int, first: int) -> np.ndarray:
    """Indices of ``count`` rows of ``points_mm`` chosen by farthest-point sampling from row
    ``first``: each next one is the point farthest from those already chosen (ties: the lowest
    index)."""
    chosen = [first]
    distance = np.linalg.norm(points_mm - points_mm[first], axis=1)
    for _ in range(count - 1):
        nearest = int(np.argmax(distance))
        chosen.append(nearest)
        distance = np.minimum(distance, np.linalg.norm(points_mm - points_mm[nearest], axis=1))
    return np.array(chosen)


def region(candidates: Candidates, layout: str) -> tuple[np.ndarray, int, str]:
    """The candidate points ``layout`` (one of ``settings.LAYOUTS``) chooses from, the one it
    starts at, and a description of the region (for messages)."""
    if layout not in LAYOUTS:
        raise GuidanceError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    points = candidates.points_mm
    if layout == "spread":
        first = int(np.argmax(np.linalg.norm(points - points.mean(axis=0), axis=1)))
        return points, first, "the skin facing the camera"
    if layout == "clustered":
        anchor = points[int(np.argmax(points @ candidates.side))]
        inside = points[np.linalg.norm(points - anchor, axis=1) <= CLUSTER_RADIUS_MM]
        first = int(np.argmin(np.linalg.norm(inside - anchor, axis=1)))
        return inside, first, f"the skin within {CLUSTER_RADIUS_MM:g} mm of its outermost point"
    heights = points @ candidates.facing
    level = float(np.median(heights))
    inside = points[np.abs(heights - level) <= PLANE_HALF_WIDTH_MM]
    if len(inside) == 0:
        return inside, 0, "no skin"
    first = int(np.argmax(np.linalg.norm(inside - inside.mean(axis=0), axis=1)))
    return inside, first, f"the skin within {PLANE_HALF_WIDTH_MM:g} mm of one plane"


def place_fiducials(candidates: Candidates, layout: str, count: int) -> np.ndarray:
    """``count`` fiducial positions (count, 3, CT mm) of ``layout``; GuidanceError for fewer
    than 3 fiducials or more than the layout's region offers."""
    if count < MIN_FIDUCIALS:
        raise GuidanceError(
            f"a registration needs at least {MIN_FIDUCIALS} fiducials; got a configuration of "
            f"{count}"
        )
    points, first, where = region(candidates, layout)
    if len(points) < count:
        raise GuidanceError(
            f"layout {layout} has {len(points)} candidate positions ({where}); "
            f"{count} fiducials asked"
        )
    return points[farthest_points(points, count, first)]
