"""Rasterising analytic shapes into a CT grid with partial-volume antialiasing.

A voxel is painted with ``fraction * hu + (1 - fraction) * previous``, where ``fraction`` is the
share of the voxel inside the shape: exactly (by supersampling) for small spheres such as
fiducial beads, so that their centroid is unbiased, and from the signed distance (a linear ramp
one voxel wide) for large smooth surfaces.
"""

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from scenes.physical import affine_from_geometry

AIR_HU = -1000.0
PLASTIC_HU = 120.0
METAL_HU = 3000.0
BEAD_RADIUS_MM = 2.0  # 4 mm metal bead
HOUSING_RADIUS_MM = 5.0  # plastic housing of the adhesive marker, around the bead
NOISE_HU = 10.0


@dataclass(frozen=True)
class Grid:
    """An axis-aligned CT grid (identity direction): first voxel centre, spacing, size (x, y, z)."""

    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    size: tuple[int, int, int]

    @classmethod
    def covering(cls, low_mm: np.ndarray, high_mm: np.ndarray, spacing_mm: float) -> "Grid":
        """The grid of isotropic ``spacing_mm`` voxels whose centres cover ``[low, high]``."""
        low = np.asarray(low_mm, dtype=np.float64)
        size = np.ceil((np.asarray(high_mm) - low) / spacing_mm).astype(int) + 1
        return cls(tuple(low.tolist()), (spacing_mm,) * 3, tuple(int(n) for n in size))

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates x, y, z (mm, float32) that broadcast over a [z, y, x] array."""
        matrix = affine_from_geometry(self.origin_mm, self.spacing_mm, np.eye(3).ravel())
        x, y, z = (
            (matrix[a, 3] + matrix[a, a] * np.arange(self.size[a])).astype(np.float32)
            for a in range(3)
        )
        return x[None, None, :], y[None, :, None], z[:, None, None]

    def blank(self, hu: float = AIR_HU) -> np.ndarray:
        """A float32 ``[z, y, x]`` array filled with ``hu``."""
        return np.full(self.size[::-1], hu, dtype=np.float32)

    def to_image(self, array: np.ndarray) -> sitk.Image:
        """The int16 SimpleITK image of a ``[z, y, x]`` HU array, rounded, with this geometry."""
        rounded = np.clip(np.rint(array), -32768, 32767).astype(np.int16)
        image = sitk.GetImageFromArray(rounded)
        image.SetOrigin(self.origin_mm)
        image.SetSpacing(self.spacing_mm)
        return image

    def box(self, low_mm: np.ndarray, high_mm: np.ndarray) -> tuple[slice, slice, slice]:
        """Array slices ``[z, y, x]`` of the voxels whose centres lie in ``[low_mm, high_mm]``."""
        slices = []
        for axis in (2, 1, 0):
            low = (low_mm[axis] - self.origin_mm[axis]) / self.spacing_mm[axis]
            high = (high_mm[axis] - self.origin_mm[axis]) / self.spacing_mm[axis]
            start = max(int(np.floor(low)), 0)
            stop = min(int(np.ceil(high)) + 1, self.size[axis])
            slices.append(slice(start, stop))
        return tuple(slices)

    def ball_box(self, centre_mm: np.ndarray, radius_mm: float) -> tuple[slice, slice, slice]:
        """Array slices ``[z, y, x]`` of the cube of half side ``radius_mm`` at ``centre_mm``."""
        centre = np.asarray(centre_mm, dtype=np.float64)
        return self.box(centre - radius_mm, centre + radius_mm)


def ramp_fraction(signed_distance_mm: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Share of a voxel inside a smooth surface from its signed distance (negative inside)."""
    return np.clip(0.5 - signed_distance_mm / voxel_mm, 0.0, 1.0)


def paint(volume: np.ndarray, fraction: np.ndarray, hu: float) -> None:
    """Blend ``hu`` into ``volume`` in place with the per-voxel ``fraction`` inside the shape."""
    volume += fraction * (np.float32(hu) - volume)


def paint_sphere(
    volume: np.ndarray,
    grid: Grid,
    centre_mm: np.ndarray,
    radius_mm: float,
    hu: float,
    supersampling: int = 8,
) -> None:
    """Paint a ball with the exact volume fraction of each voxel (``supersampling``^3 samples)."""
    region = grid.ball_box(centre_mm, radius_mm + max(grid.spacing_mm))
    x, y, z = grid.axes()
    xs, ys, zs = x[..., region[2]], y[:, region[1], :], z[region[0]]
    offsets = (np.arange(supersampling) + 0.5) / supersampling - 0.5
    inside = np.zeros(np.broadcast_shapes(xs.shape, ys.shape, zs.shape), dtype=np.float32)
    for oz in offsets * grid.spacing_mm[2]:
        dz2 = (zs + oz - centre_mm[2]) ** 2
        for oy in offsets * grid.spacing_mm[1]:
            dyz2 = dz2 + (ys + oy - centre_mm[1]) ** 2
            for ox in offsets * grid.spacing_mm[0]:
                inside += (dyz2 + (xs + ox - centre_mm[0]) ** 2) <= radius_mm**2
    paint(volume[region], inside / supersampling**3, hu)


def paint_tube(
    volume: np.ndarray, grid: Grid, centreline_mm: np.ndarray, radius_mm: float, hu: float
) -> None:
    """Paint a tube of ``radius_mm`` around a polyline (antialiased from the signed distance)."""
    points = np.atleast_2d(np.asarray(centreline_mm, dtype=np.float64))
    margin = radius_mm + 2 * max(grid.spacing_mm)
    region = grid.box(points.min(axis=0) - margin, points.max(axis=0) + margin)
    x, y, z = grid.axes()
    px, py, pz = x[..., region[2]], y[:, region[1], :], z[region[0]]
    distance = np.full(np.broadcast_shapes(px.shape, py.shape, pz.shape), np.inf, np.float32)
    ends = points[1:] if len(points) > 1 else points
    for start, end in zip(points[: len(ends)], ends, strict=True):
        segment = end - start
        t = (
            (px - start[0]) * segment[0]
            + (py - start[1]) * segment[1]
            + (pz - start[2]) * segment[2]
        )
        t = np.clip(t / max(float(segment @ segment), 1e-12), 0.0, 1.0)
        squared = (
            (px - start[0] - t * segment[0]) ** 2
            + (py - start[1] - t * segment[1]) ** 2
            + (pz - start[2] - t * segment[2]) ** 2
        )
        np.minimum(distance, np.sqrt(squared), out=distance)
    paint(volume[region], ramp_fraction(distance - radius_mm, min(grid.spacing_mm)), hu)


def marker_centre(surface_mm: np.ndarray, outward: np.ndarray) -> np.ndarray:
    """Bead centre of a marker stuck on a surface point: its housing just touches the surface."""
    normal = np.asarray(outward, dtype=np.float64)
    return np.asarray(surface_mm, dtype=np.float64) + (
        HOUSING_RADIUS_MM - BEAD_RADIUS_MM
    ) * normal / np.linalg.norm(normal)


def paint_marker(volume: np.ndarray, grid: Grid, bead_mm: np.ndarray) -> None:
    """An adhesive CT marker: a plastic ball with a metal bead at its centre (exact partial volume).

    The plastic keeps the bead's surroundings uniform, as real marker housings do, so that the
    background-subtracted centroid of the bead is not pulled towards the skin or the air.
    """
    paint_sphere(volume, grid, bead_mm, HOUSING_RADIUS_MM, PLASTIC_HU)
    paint_sphere(volume, grid, bead_mm, BEAD_RADIUS_MM, METAL_HU)


def finish(volume: np.ndarray, grid: Grid, rng: np.random.Generator) -> sitk.Image:
    """Add Gaussian CT noise (``NOISE_HU``) and round to the int16 image."""
    volume += rng.normal(0.0, NOISE_HU, volume.shape).astype(np.float32)
    return grid.to_image(volume)
