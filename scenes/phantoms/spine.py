"""A lumbar-spine phantom: torso with skin, fat and muscle, five vertebrae L1-L5, discs, vessels.

Each vertebra has a body (cortical shell around cancellous bone) and posterior elements
(pedicles, laminae, spinous and transverse processes) whose sizes and orientation vary a little
with the seed; together they follow a lumbar lordosis, which gives surface registration a shape
to lock onto. Targets are pedicle-screw entry points and a vertebral body centre; the dural sac,
the aorta and the inferior vena cava are the structures to avoid. Each pedicle target has a
percutaneous trajectory: from the skin of the back, converging medially along the pedicle axis, as
a Jamshidi needle docks on the pedicle before the screw. Frame: physical LPS mm,
x to the patient's left, y posterior, z superior; L3 at the origin.
"""

import numpy as np
from scipy.spatial.transform import Rotation

from scenes.phantoms.painting import (
    Grid,
    finish,
    marker_centre,
    paint,
    paint_marker,
    paint_tube,
    ramp_fraction,
)
from scenes.scene import Scene, Structure, Trajectory

TORSO_SEMI_AXES_MM = (120.0, 95.0)  # skin, left-right and anterior-posterior
FAT_MM = 15.0
HALF_LENGTH_MM = 90.0
LEVELS = ("L1", "L2", "L3", "L4", "L5")
PITCH_MM = 35.0  # body height plus disc
BODY_SEMI_AXES_MM = (22.0, 16.0, 13.0)  # half width, half depth, half height
CORTEX_MM = 1.5
LORDOSIS_MM = 10.0  # how far the middle of the lumbar curve lies anterior to its ends
SPINE_Y_MM = 20.0  # body centres at the ends of the curve (posterior half of the torso)
# Lumbar pedicle screws converge toward the midline by about 10 degrees (transverse angle).
PEDICLE_CONVERGENCE_RAD = np.radians(10.0)
# The last beads sit on posts anchored in the bone (validation points that move with the spine,
# not with the skin; the posts are not painted); the others are adhesive skin markers.
BONE_ANCHORED = 2
HU = {
    "fat": -100.0,
    "muscle": 50.0,
    "cortical_bone": 700.0,
    "cancellous_bone": 280.0,
    "disc": 90.0,
    "csf": 15.0,
    "blood": 150.0,  # contrast-enhanced
}


def _centre_and_rotation(z_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Body centre on the lordotic curve and the rotation that follows its slope."""
    y = SPINE_Y_MM - LORDOSIS_MM * (1.0 - (z_mm / HALF_LENGTH_MM) ** 2)
    slope = 2.0 * LORDOSIS_MM * z_mm / HALF_LENGTH_MM**2  # dy/dz
    return np.array([0.0, y, z_mm]), Rotation.from_rotvec([-np.arctan(slope), 0.0, 0.0]).as_matrix()


def _elliptic_cylinder_distance(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, semi_axes: tuple[float, float, float]
) -> np.ndarray:
    """Approximate signed distance (mm) to a capped elliptic cylinder centred at the origin."""
    a, b, half_height = semi_axes
    rho = np.sqrt((x / a) ** 2 + (y / b) ** 2) + np.float32(1e-6)
    gradient = np.sqrt((x / a**2) ** 2 + (y / b**2) ** 2) / rho + np.float32(1e-6)
    return np.maximum((rho - 1.0) / gradient, np.abs(z) - half_height)


def _paint_body(volume, grid, centre, rotation, semi_axes, hu_outer, hu_inner=None) -> None:
    half = float(np.linalg.norm(semi_axes)) + 3.0
    region = grid.ball_box(centre, half)
    x, y, z = grid.axes()
    px, py, pz = x[..., region[2]], y[:, region[1], :], z[region[0]]
    offsets = (px - centre[0], py - centre[1], pz - centre[2])
    local = [sum(rotation[r, c] * offsets[r] for r in range(3)) for c in range(3)]  # R^T p
    distance = _elliptic_cylinder_distance(*local, semi_axes)
    voxel = min(grid.spacing_mm)
    paint(volume[region], ramp_fraction(distance, voxel), hu_outer)
    if hu_inner is not None:
        paint(volume[region], ramp_fraction(distance + np.float32(CORTEX_MM), voxel), hu_inner)


def _posterior_elements(centre: np.ndarray, rotation: np.ndarray, scale: float) -> list:
    """(polyline in LPS mm, radius mm) of pedicles, laminae, spinous and transverse processes."""

    def world(*points):
        return centre + scale * np.array(points, dtype=np.float64) @ rotation.T

    parts = []
    for side in (-1.0, 1.0):
        parts.append((world((side * 12, 12, 2), (side * 12, 28, 2)), 5.0 * scale))  # pedicle
        parts.append((world((side * 12, 28, 2), (0, 36, 2)), 4.0 * scale))  # lamina
        parts.append((world((side * 12, 26, 3), (side * 38, 24, 5)), 3.5 * scale))  # transverse
    parts.append((world((0, 36, 2), (0, 60, -8)), 4.5 * scale))  # spinous process
    return parts


def _skin_point(angle_rad: float, z_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Point of the torso skin at ``angle_rad`` from the posterior direction, and its normal."""
    a, b = TORSO_SEMI_AXES_MM
    direction = np.array([np.sin(angle_rad), np.cos(angle_rad)])
    t = 1.0 / np.sqrt((direction[0] / a) ** 2 + (direction[1] / b) ** 2)
    x, y = t * direction
    normal = np.array([x / a**2, y / b**2, 0.0])
    return np.array([x, y, z_mm]), normal / np.linalg.norm(normal)


def _skin_exit(start_mm: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Where the ray from ``start_mm`` (inside the torso) along ``direction`` crosses the skin,
    the elliptic cylinder of ``TORSO_SEMI_AXES_MM``: the positive root of a quadratic in the
    distance along the ray."""
    a, b = TORSO_SEMI_AXES_MM
    scale = np.array([1.0 / a, 1.0 / b])
    p, d = start_mm[:2] * scale, direction[:2] * scale
    qa, qb, qc = d @ d, 2.0 * p @ d, p @ p - 1.0
    distance = (-qb + np.sqrt(qb * qb - 4.0 * qa * qc)) / (2.0 * qa)
    return start_mm + distance * direction


def _pedicle_trajectory(
    name: str, pedicle_mm: np.ndarray, rotation: np.ndarray, side: float
) -> Trajectory:
    """Skin to pedicle along the pedicle axis: posterior and, outward, away from the midline."""
    outward = rotation @ np.array(
        [side * np.sin(PEDICLE_CONVERGENCE_RAD), np.cos(PEDICLE_CONVERGENCE_RAD), 0.0]
    )
    return Trajectory(name, _skin_exit(pedicle_mm, outward), pedicle_mm)


def build_spine(seed: int = 0, spacing_mm: float = 1.0) -> Scene:
    """The lumbar-spine phantom scene, deterministic from ``seed``, at ``spacing_mm`` voxels."""
    rng = np.random.default_rng(seed)
    a, b = TORSO_SEMI_AXES_MM
    grid = Grid.covering(
        np.array([-a - 7.0, -b - 2.0, -HALF_LENGTH_MM]),
        np.array([a + 7.0, b + 12.0, HALF_LENGTH_MM]),
        spacing_mm,
    )
    volume = grid.blank()
    x, y, _ = grid.axes()
    for semi_axes, tissue in (((a, b), "fat"), ((a - FAT_MM, b - FAT_MM), "muscle")):
        distance = _elliptic_cylinder_distance(x, y, np.float32(0.0), (*semi_axes, np.inf))
        fraction = ramp_fraction(distance, spacing_mm)
        paint(volume, np.broadcast_to(fraction, volume.shape), HU[tissue])

    targets, target_labels, sac_line, trajectories = [], [], [], []
    for index, level in enumerate(LEVELS):
        z = (2 - index) * PITCH_MM
        centre, rotation = _centre_and_rotation(z)
        scale = 1.0 + 0.04 * rng.standard_normal()
        semi_axes = tuple(scale * s for s in BODY_SEMI_AXES_MM)
        if index < len(LEVELS) - 1:  # the disc below this body
            below, below_rotation = _centre_and_rotation(z - PITCH_MM / 2)
            _paint_body(
                volume, grid, below, below_rotation, (semi_axes[0], semi_axes[1], 5.0), HU["disc"]
            )
        _paint_body(
            volume, grid, centre, rotation, semi_axes, HU["cortical_bone"], HU["cancellous_bone"]
        )
        for line, radius in _posterior_elements(centre, rotation, scale):
            paint_tube(volume, grid, line, radius, HU["cortical_bone"])
        sac_line.append(centre + scale * rotation @ np.array([0.0, 23.0, 2.0]))
        if level in ("L3", "L4"):
            side = 1.0 if level == "L3" else -1.0
            name = "left" if side > 0 else "right"
            targets.append(centre + scale * rotation @ np.array([side * 12.0, 22.0, 2.0]))
            target_labels.append(f"{level}-{name}-pedicle")
            trajectories.append(_pedicle_trajectory(target_labels[-1], targets[-1], rotation, side))
        if level == "L2":
            targets.append(centre)
            target_labels.append("L2-body-centre")

    sac = np.array(sac_line)
    sac = np.vstack([sac[0] + [0.0, 0.0, 25.0], sac, sac[-1] - [0.0, 0.0, 25.0]])
    structures = (
        Structure("dural-sac", sac, 6.0),
        Structure(
            "aorta", np.array([[15.0, -28.0, HALF_LENGTH_MM], [15.0, -28.0, -HALF_LENGTH_MM]]), 11.0
        ),
        Structure(
            "inferior-vena-cava",
            np.array([[-22.0, -25.0, HALF_LENGTH_MM], [-22.0, -25.0, -HALF_LENGTH_MM]]),
            10.0,
        ),
    )
    paint_tube(volume, grid, structures[0].centreline_mm, structures[0].radius_mm, HU["csf"])
    for vessel in structures[1:]:
        paint_tube(volume, grid, vessel.centreline_mm, vessel.radius_mm, HU["blood"])

    beads = []
    for row, z in enumerate((-60.0, -5.0, 55.0)):
        angles = (-0.55, 0.0, 0.55) if row != 1 else (-0.35, 0.35)
        for angle in angles:
            jitter = rng.uniform(-0.05, 0.05)
            beads.append(marker_centre(*_skin_point(angle + jitter, z + rng.uniform(-4.0, 4.0))))
    for bead in beads:
        paint_marker(volume, grid, bead)
    labels = tuple(f"F{index + 1}" for index in range(len(beads)))
    return Scene(
        name="spine",
        ct=finish(volume, grid, rng),
        fiducials_mm=np.array(beads),
        fiducial_labels=labels,
        skin_fiducials=labels[: len(labels) - BONE_ANCHORED],
        targets_mm=np.array(targets),
        target_labels=tuple(target_labels),
        structures=structures,
        trajectories=tuple(trajectories),
        bone_threshold_hu=200.0,
        skin_threshold_hu=-300.0,
        description=(
            f"lumbar spine phantom (seed {seed}): torso with fat and muscle, L1-L5 with discs, "
            f"dural sac, aorta and vena cava; {len(beads) - BONE_ANCHORED} skin markers on the "
            f"back and {BONE_ANCHORED} bone-anchored ones"
        ),
    )
