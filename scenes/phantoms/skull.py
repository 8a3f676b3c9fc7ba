"""A head phantom: scalp, skull with outer table, diploe and inner table, brain, beads on the skin.

The skull is an ellipsoid whose radius is modulated by a few smooth random waves (deterministic
from the seed) so that its surface has no symmetry for surface registration to slide along; a
soft-tissue nose marks the front. Fiducials are markers with a plastic housing holding a 4 mm
metal bead, painted with the exact voxel volume fractions so that sub-voxel localisation can be
tested against the true centres: all but the last ``BONE_ANCHORED`` are adhesive skin markers
(they can slide with the scalp between the scan and the session); the last ones sit on posts
screwed into the skull (bone-anchored: they move with the bone; the thin posts are not painted),
where a validation point measures what the skin markers' shift does to the bone. Frame: physical
LPS mm, head centre at the origin.
"""

import numpy as np

from scenes.phantoms.painting import (
    BEAD_RADIUS_MM,
    HOUSING_RADIUS_MM,
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

SKULL_SEMI_AXES_MM = np.array([70.0, 90.0, 80.0])  # outer table: left-right, anterior-posterior, up
SCALP_MM = 6.0
OUTER_TABLE_MM = 2.0
DIPLOE_MM = 3.0
INNER_TABLE_MM = 2.0
HU = {
    "soft_tissue": 40.0,
    "cortical_bone": 1400.0,
    "diploe": 600.0,
    "brain": 35.0,
    "csf": 8.0,
    "blood": 70.0,
    "tumour": 60.0,
}
N_BEADS = 8
BONE_ANCHORED = 2  # the last beads: on posts screwed into the bone


class _SkullShape:
    """Signed distance (mm, approximate, negative inside) to the outer table of the skull."""

    def __init__(self, rng: np.random.Generator) -> None:
        n_waves = 5
        directions = rng.normal(size=(n_waves, 3))
        self.directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
        self.frequencies = rng.uniform(1.0, 2.5, n_waves) * np.pi
        self.phases = rng.uniform(0.0, 2 * np.pi, n_waves)
        self.amplitudes = rng.uniform(0.01, 0.025, n_waves)

    def signed_distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a, b, c = SKULL_SEMI_AXES_MM
        qx, qy, qz = x / a, y / b, z / c
        rho = np.sqrt(qx * qx + qy * qy + qz * qz) + np.float32(1e-6)
        radius = np.float32(1.0)
        for d, f, p, amp in zip(
            self.directions, self.frequencies, self.phases, self.amplitudes, strict=True
        ):
            cosine = (qx * d[0] + qy * d[1] + qz * d[2]) / rho
            radius = radius + np.float32(amp) * np.sin(np.float32(f) * cosine + np.float32(p))
        # |grad rho| = |p / r^2| / rho turns the level-set value into millimetres.
        gradient = np.sqrt((qx / a) ** 2 + (qy / b) ** 2 + (qz / c) ** 2) / rho + np.float32(1e-6)
        return (rho - radius) / gradient

    def skin_point(
        self, direction: np.ndarray, start_mm: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where the ray from ``start_mm`` (inside the head; default the centre) along the unit
        ``direction`` leaves the skin, by bisection; and the outward normal there."""
        start_mm = np.zeros(3) if start_mm is None else start_mm
        low, high = 0.0, 300.0
        for _ in range(60):
            middle = (low + high) / 2
            point = start_mm + middle * direction
            if self.signed_distance(*point) < SCALP_MM:
                low = middle
            else:
                high = middle
        point = start_mm + low * direction
        step = 1e-3
        gradient = np.array(
            [
                self.signed_distance(*(point + step * e))
                - self.signed_distance(*(point - step * e))
                for e in np.eye(3)
            ]
        )
        return point, gradient / np.linalg.norm(gradient)


def _bead_directions(rng: np.random.Generator) -> np.ndarray:
    """Unit vectors spread around the upper head: azimuths evenly spaced and jittered."""
    azimuth = np.linspace(0.0, 2 * np.pi, N_BEADS, endpoint=False) + rng.uniform(-0.2, 0.2, N_BEADS)
    elevation = np.radians(np.where(np.arange(N_BEADS) % 2 == 0, 20.0, 50.0))
    elevation = elevation + np.radians(rng.uniform(-5.0, 5.0, N_BEADS))
    return np.column_stack(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
    )


TARGETS_MM = {
    "tumour-right-frontal": (-35.0, -45.0, 35.0),
    "tumour-left-parietal": (35.0, 30.0, 40.0),
    "biopsy-deep": (25.0, 10.0, -5.0),
}
TUMOUR_RADIUS_MM = 6.0
# The biopsy path: from the deep target out through the left temporo-parietal skin (37 degrees
# above the horizontal, lateral to the ventricles, far from the midline sinus), at the azimuth
# among these (rad, from the patient's left) that keeps the entry farthest from the skin markers.
BIOPSY_TARGET = "biopsy-deep"
BIOPSY_ELEVATION_RAD = np.arctan2(0.6, 0.8)
BIOPSY_AZIMUTHS_RAD = np.radians(np.arange(-30.0, 31.0, 10.0))


def _structures() -> tuple[Structure, ...]:
    depth = OUTER_TABLE_MM + DIPLOE_MM + INNER_TABLE_MM + 6.0  # sinus axis 6 mm under the bone
    t = np.linspace(0.25 * np.pi, 0.9 * np.pi, 12)
    _, b, c = SKULL_SEMI_AXES_MM - depth
    sinus = np.column_stack([np.zeros_like(t), -b * np.cos(t), c * np.sin(t)])
    return (
        Structure("superior-sagittal-sinus", sinus, 4.0),
        Structure(
            "right-lateral-ventricle", np.array([[-12.0, -25.0, 15.0], [-10.0, 20.0, 12.0]]), 6.0
        ),
        Structure(
            "left-lateral-ventricle", np.array([[12.0, -25.0, 15.0], [10.0, 20.0, 12.0]]), 6.0
        ),
    )


def _biopsy_path(shape: _SkullShape, beads: list[np.ndarray]) -> Trajectory:
    """Skin to the deep target, entering away from the markers (see ``BIOPSY_AZIMUTHS_RAD``)."""
    target = np.array(TARGETS_MM[BIOPSY_TARGET])
    entries = []
    for azimuth in BIOPSY_AZIMUTHS_RAD:
        outward = np.array(
            [
                np.cos(BIOPSY_ELEVATION_RAD) * np.cos(azimuth),
                np.cos(BIOPSY_ELEVATION_RAD) * np.sin(azimuth),
                np.sin(BIOPSY_ELEVATION_RAD),
            ]
        )
        entries.append(shape.skin_point(outward, target)[0])
    clearance = [np.linalg.norm(np.array(beads) - entry, axis=1).min() for entry in entries]
    return Trajectory("biopsy", entries[int(np.argmax(clearance))], target)


def build_skull(seed: int = 0, spacing_mm: float = 1.0) -> Scene:
    """The skull phantom scene, deterministic from ``seed``, on an isotropic ``spacing_mm`` grid."""
    rng = np.random.default_rng(seed)
    shape = _SkullShape(rng)
    margin = SCALP_MM + 2 * HOUSING_RADIUS_MM
    grid = Grid.covering(
        np.array([-SKULL_SEMI_AXES_MM[0] - margin, -SKULL_SEMI_AXES_MM[1] - 2 * margin, -45.0]),
        np.array(
            [
                SKULL_SEMI_AXES_MM[0] + margin,
                SKULL_SEMI_AXES_MM[1] + margin,
                SKULL_SEMI_AXES_MM[2] + margin,
            ]
        ),
        spacing_mm,
    )
    volume = grid.blank()
    distance = shape.signed_distance(*grid.axes())
    for offset_mm, tissue in (
        (SCALP_MM, "soft_tissue"),
        (0.0, "cortical_bone"),
        (-OUTER_TABLE_MM, "diploe"),
        (-OUTER_TABLE_MM - DIPLOE_MM, "cortical_bone"),
        (-OUTER_TABLE_MM - DIPLOE_MM - INNER_TABLE_MM, "brain"),
    ):
        paint(volume, ramp_fraction(distance - np.float32(offset_mm), spacing_mm), HU[tissue])
    del distance
    nose_top = shape.skin_point(np.array([0.0, -0.98, -0.05]) / np.hypot(0.98, 0.05))[0]
    paint_tube(
        volume,
        grid,
        np.array([nose_top, nose_top + np.array([0.0, -14.0, -32.0])]),
        8.0,
        HU["soft_tissue"],
    )

    structures = _structures()
    for structure in structures:
        tissue = "blood" if "sinus" in structure.name else "csf"
        paint_tube(volume, grid, structure.centreline_mm, structure.radius_mm, HU[tissue])
    targets = np.array(list(TARGETS_MM.values()))
    for target in targets:
        paint_sphere(volume, grid, target, TUMOUR_RADIUS_MM, HU["tumour"])

    beads = [marker_centre(*shape.skin_point(direction)) for direction in _bead_directions(rng)]
    for bead in beads:
        paint_marker(volume, grid, bead)
    labels = tuple(f"F{index + 1}" for index in range(len(beads)))
    return Scene(
        name="skull",
        ct=finish(volume, grid, rng),
        fiducials_mm=np.array(beads),
        fiducial_labels=labels,
        skin_fiducials=labels[: len(labels) - BONE_ANCHORED],
        targets_mm=targets,
        target_labels=tuple(TARGETS_MM),
        structures=structures,
        trajectories=(_biopsy_path(shape, beads),),
        bone_threshold_hu=300.0,
        skin_threshold_hu=-300.0,
        description=(
            f"head phantom (seed {seed}): scalp, skull with outer table, diploe and inner table, "
            f"brain; {len(beads) - BONE_ANCHORED} skin markers and {BONE_ANCHORED} bone-anchored "
            f"ones, with {2 * BEAD_RADIUS_MM:.0f} mm metal beads"
        ),
    )
