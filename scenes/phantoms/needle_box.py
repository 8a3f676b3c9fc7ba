"""A needle-insertion box: a gel block in an acrylic box, small targets and a vessel to avoid.

Like the training phantoms used for ultrasound- and CT-guided needle placement: 3 mm acrylic
walls around a soft-tissue-like gel, five 5 mm contrast spheres as targets (placed at random from
the seed, clear of the vessel), a winding contrast-filled tube as the vessel, and adhesive CT
markers on the lid and the sides (stuck on rigid acrylic: no skin to slide, so the scene
declares none of them ``skin_fiducials``). Each target has a needle path from the lid: straight down
when that keeps clear of the vessel, else tilted. Frame: physical LPS mm, box centre at the
origin.
"""

import numpy as np

from scenes.phantoms.painting import (
    Grid,
    finish,
    marker_centre,
    paint,
    paint_marker,
    paint_sphere,
    paint_tube,
    ramp_fraction,
)
from scenes.scene import Scene, Structure, Trajectory

INNER_HALF_MM = np.array([60.0, 50.0, 40.0])  # gel block half sizes: left-right, front-back, up
WALL_MM = 3.0
TARGET_RADIUS_MM = 2.5
N_TARGETS = 5
VESSEL_RADIUS_MM = 3.0
CLEARANCE_MM = 8.0  # from a target centre to the vessel wall and the box walls
# Needle tilts tried from the vertical, in this order, each at 8 azimuths (rad).
NEEDLE_TILTS_RAD = np.radians([0.0, 15.0, 30.0, 45.0])
HU = {"acrylic": 120.0, "gel": 20.0, "target": 90.0, "vessel": 200.0}


def _box_distance(x, y, z, half: np.ndarray) -> np.ndarray:
    """Signed distance (mm) to an axis-aligned box centred at the origin; negative inside."""
    qx, qy, qz = np.abs(x) - half[0], np.abs(y) - half[1], np.abs(z) - half[2]
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
    return outside + np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)


def _vessel(rng: np.random.Generator) -> Structure:
    """A tube winding across the box from left to right, ending at the inner walls."""
    x = np.linspace(-INNER_HALF_MM[0], INNER_HALF_MM[0], 25)
    phase = rng.uniform(0.0, 2 * np.pi)
    y = 18.0 * np.sin(2 * np.pi * x / 110.0 + phase)
    z = -5.0 + 10.0 * np.cos(2 * np.pi * x / 150.0 + phase)
    return Structure("vessel", np.column_stack([x, y, z]), VESSEL_RADIUS_MM)


def _targets(rng: np.random.Generator, vessel: Structure) -> np.ndarray:
    """Target centres in the gel, clear of the vessel, the walls and one another."""
    limit = INNER_HALF_MM - CLEARANCE_MM
    chosen: list[np.ndarray] = []
    while len(chosen) < N_TARGETS:
        candidate = rng.uniform(-limit, limit)
        clear_of_vessel = vessel.signed_distance_mm(candidate)[0] > CLEARANCE_MM
        spread = all(np.linalg.norm(candidate - other) > 20.0 for other in chosen)
        if clear_of_vessel and spread:
            chosen.append(candidate)
    return np.array(chosen)


def _vessel_clearance_mm(vessel: Structure, entry_mm: np.ndarray, target_mm: np.ndarray) -> float:
    """Smallest distance (mm) from the vessel wall to the segment entry-target, sampled each mm."""
    steps = max(int(np.linalg.norm(target_mm - entry_mm)), 1) + 1
    samples = np.linspace(entry_mm, target_mm, steps)
    return float(vessel.signed_distance_mm(samples).min())


def _needle_path(name: str, target_mm: np.ndarray, vessel: Structure) -> Trajectory:
    """From the lid to ``target_mm``: the first tilt (vertical first) whose path stays
    ``CLEARANCE_MM`` from the vessel wall and enters through the lid; else the clearest one."""
    lid_z = INNER_HALF_MM[2] + WALL_MM
    candidates = []
    for tilt in NEEDLE_TILTS_RAD:
        for azimuth in np.linspace(0.0, 2 * np.pi, 8 if tilt > 0 else 1, endpoint=False):
            up = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), 1.0])
            entry = target_mm + (lid_z - target_mm[2]) * up / up[2]
            if np.all(np.abs(entry[:2]) < INNER_HALF_MM[:2]):
                clearance = _vessel_clearance_mm(vessel, entry, target_mm)
                if clearance >= CLEARANCE_MM:
                    return Trajectory(name, entry, target_mm)
                candidates.append((clearance, entry))
    best = max(candidates, key=lambda candidate: candidate[0])[1]
    return Trajectory(name, best, target_mm)


def _marker_sites() -> list[tuple[np.ndarray, np.ndarray]]:
    """(surface point, outward normal) of the markers: four on the lid, two on each long side."""
    top = INNER_HALF_MM[2] + WALL_MM
    side = INNER_HALF_MM[1] + WALL_MM
    sites = [
        (np.array([x, y, top]), np.array([0.0, 0.0, 1.0]))
        for x, y in ((-40.0, -30.0), (35.0, -25.0), (-30.0, 32.0), (42.0, 28.0))
    ]
    for y_sign in (-1.0, 1.0):
        for x, z in ((-25.0, 15.0), (30.0, -20.0)):
            sites.append((np.array([x * y_sign, y_sign * side, z]), np.array([0.0, y_sign, 0.0])))
    return sites


def build_needle_box(seed: int = 0, spacing_mm: float = 1.0) -> Scene:
    """The needle-insertion box scene, deterministic from ``seed``, at ``spacing_mm`` voxels."""
    rng = np.random.default_rng(seed)
    outer = INNER_HALF_MM + WALL_MM
    margin = 12.0
    grid = Grid.covering(-outer - margin, outer + margin, spacing_mm)
    volume = grid.blank()
    x, y, z = grid.axes()
    paint(volume, ramp_fraction(_box_distance(x, y, z, outer), spacing_mm), HU["acrylic"])
    paint(volume, ramp_fraction(_box_distance(x, y, z, INNER_HALF_MM), spacing_mm), HU["gel"])
    vessel = _vessel(rng)
    paint_tube(volume, grid, vessel.centreline_mm, vessel.radius_mm, HU["vessel"])
    targets = _targets(rng, vessel)
    for target in targets:
        paint_sphere(volume, grid, target, TARGET_RADIUS_MM, HU["target"])
    beads = [marker_centre(point, normal) for point, normal in _marker_sites()]
    for bead in beads:
        paint_marker(volume, grid, bead)
    return Scene(
        name="needle-box",
        ct=finish(volume, grid, rng),
        fiducials_mm=np.array(beads),
        fiducial_labels=tuple(f"F{index + 1}" for index in range(len(beads))),
        targets_mm=targets,
        target_labels=tuple(f"T{index + 1}" for index in range(len(targets))),
        structures=(vessel,),
        trajectories=tuple(
            _needle_path(f"T{index + 1}", target, vessel) for index, target in enumerate(targets)
        ),
        bone_threshold_hu=150.0,  # the vessel and the markers; there is no bone
        skin_threshold_hu=-300.0,  # the outside of the box
        description=(
            f"needle-insertion box (seed {seed}): gel in 3 mm acrylic walls, {len(targets)} "
            f"{2 * TARGET_RADIUS_MM:.0f} mm targets, a {2 * VESSEL_RADIUS_MM:.0f} mm vessel, "
            f"{len(beads)} markers"
        ),
    )
