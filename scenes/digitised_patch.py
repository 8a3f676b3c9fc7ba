"""What a surgeon digitises for a surface registration: the part of a CT surface exposed to the
stylus, and simulated stylus sweeps over it (tips with noise, and the stylus axis at each).

A patch is the surface inside a region (an exposure: the posterior elements of a few vertebrae,
an iliac crest, a face) that can be seen from the surgeon's side: triangles that face the
approach direction and are not hidden behind other surface of the region (a depth buffer on a
grid across the approach, keeping what lies within ``depth_mm`` of the nearest surface). The
stylus is held roughly along the surface normal: its axis (from the tip towards the handle) is
the normal at the touched point, tilted by up to ``tilt_rad`` in a random direction.
"""

from dataclasses import dataclass

import numpy as np

from registration.mesh import barycentric_samples
from scenes.exceptions import SceneError


@dataclass(frozen=True)
class Sweep:
    """Digitised points ``tips_mm`` (N, 3) and the stylus axis at each ``axes`` (N, 3, unit,
    from the tip towards the handle), in the surface's frame."""

    tips_mm: np.ndarray
    axes: np.ndarray


def _basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane across the unit ``direction``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(direction, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(direction, u)


def exposed_triangles(
    vertices_mm: np.ndarray,
    triangles: np.ndarray,
    region: np.ndarray,
    approach: np.ndarray,
    cell_mm: float = 1.0,
    depth_mm: float = 4.0,
) -> np.ndarray:
    """Mask (F,) of the triangles of ``region`` (F,) bool that the stylus can reach from the
    unit ``approach`` direction (from the anatomy towards the surgeon): facing it (normal within
    84 degrees) and within ``depth_mm`` of the region's nearest surface along it, on a grid of
    ``cell_mm`` across it."""
    direction = np.asarray(approach, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    inside = np.flatnonzero(region)
    if inside.size == 0:
        raise SceneError("the region holds no triangle of the surface")
    corners = vertices_mm[triangles[inside]]
    centres = corners.mean(axis=1)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    facing = normals @ direction > 0.1 * np.linalg.norm(normals, axis=1)
    u, v = _basis(direction)
    height = centres @ direction
    cells = np.floor(np.column_stack([centres @ u, centres @ v]) / cell_mm).astype(np.int64)
    _, cell_of = np.unique(cells, axis=0, return_inverse=True)
    nearest = np.full(cell_of.max() + 1, -np.inf)
    np.maximum.at(nearest, cell_of, height)
    exposed = np.zeros(len(triangles), dtype=bool)
    exposed[inside] = facing & (height > nearest[cell_of] - depth_mm)
    return exposed


def sweep(
    vertices_mm: np.ndarray,
    normals: np.ndarray,
    triangles: np.ndarray,
    patch: np.ndarray,
    count: int,
    rng: np.random.Generator,
    noise_mm: float = 0.3,
    tilt_rad: float = np.radians(30.0),
) -> Sweep:
    """``count`` stylus contacts spread uniformly by area over the ``patch`` (F,) triangles, each
    tip with Gaussian noise of ``noise_mm`` per axis, each axis the interpolated unit vertex
    normal tilted by up to ``tilt_rad`` (uniformly over that cone's cap)."""
    faces = triangles[patch]
    if len(faces) == 0:
        raise SceneError("the patch holds no triangle to digitise")
    picked, u, v = barycentric_samples(vertices_mm[faces], count, rng)
    weights = np.column_stack([1.0 - u - v, u, v])
    tips = np.einsum("nk,nkd->nd", weights, vertices_mm[faces[picked]])
    normal = np.einsum("nk,nkd->nd", weights, normals[faces[picked]])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    across = np.cross(normal, rng.normal(size=(count, 3)))
    across /= np.linalg.norm(across, axis=1, keepdims=True)
    tilt = np.arccos(1.0 - rng.random(count) * (1.0 - np.cos(tilt_rad)))
    axes = np.cos(tilt)[:, None] * normal + np.sin(tilt)[:, None] * across
    return Sweep(tips + rng.normal(0.0, noise_mm, tips.shape), axes)
