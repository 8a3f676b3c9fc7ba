"""Tracked tool definitions: marker geometry in the tool frame and, for pointers, the tip.

``BUILTIN_TOOLS`` holds gestes' own passive 4-marker tools, shaped like NDI passive tools
(markers in the tool's y-z plane, facing +x, distinct segment lengths) so that the simulator and
the demo run without any vendor file. They are not copies of NDI geometries.
"""

import itertools
import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from devices.exceptions import ConfigurationError

# NDI's tool design rule: every pair of segment lengths differs by at least this much, so the
# camera can tell the markers apart (NDI Polaris Tool Design Guide).
MIN_SEGMENT_DIFFERENCE_MM = 3.5


@dataclass(frozen=True, eq=False)
class ToolDefinition:
    """A rigid tracked tool: ``markers_mm`` (N, 3) and ``tip_mm`` (3,) or None, tool frame, mm.

    ``part_number`` names the tool's origin (an NDI part number from a .rom, or ``gestes-...``).
    ``normals`` (N, 3), if known, are the directions the markers face (scaled to unit length): a
    marker is seen only within ``max_marker_angle_rad`` of its normal (NDI's default: 90 deg).
    Arrays are copied and made read-only, so a definition can be shared safely.
    """

    name: str
    markers_mm: np.ndarray
    tip_mm: np.ndarray | None = None
    part_number: str = ""
    normals: np.ndarray | None = None
    max_marker_angle_rad: float = math.pi / 2

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a tool needs a non-empty name")
        markers = np.array(self.markers_mm, dtype=np.float64)
        if markers.ndim != 2 or markers.shape[1] != 3:
            raise ConfigurationError(
                f"tool {self.name!r}: markers must have shape (N, 3); got {markers.shape}"
            )
        if markers.shape[0] < 3:
            raise ConfigurationError(
                f"tool {self.name!r}: a rigid pose needs at least 3 markers; got {markers.shape[0]}"
            )
        if not np.all(np.isfinite(markers)):
            raise ConfigurationError(f"tool {self.name!r}: marker coordinates must be finite")
        centred = markers - markers.mean(axis=0)
        singular_values = np.linalg.svd(centred, compute_uv=False)
        if singular_values[1] < 1e-6 * max(singular_values[0], 1.0):
            raise ConfigurationError(
                f"tool {self.name!r}: markers are collinear, so the roll about their line "
                "is undefined; a 6DOF tool needs markers spanning a plane"
            )
        markers.setflags(write=False)
        object.__setattr__(self, "markers_mm", markers)
        if self.tip_mm is not None:
            tip = np.array(self.tip_mm, dtype=np.float64)
            if tip.shape != (3,) or not np.all(np.isfinite(tip)):
                raise ConfigurationError(
                    f"tool {self.name!r}: tip must be 3 finite coordinates; got {tip!r}"
                )
            tip.setflags(write=False)
            object.__setattr__(self, "tip_mm", tip)
        if self.normals is not None:
            normals = np.array(self.normals, dtype=np.float64)
            lengths = np.linalg.norm(normals, axis=-1) if normals.ndim == 2 else np.zeros(1)
            if normals.shape != markers.shape or not np.all(np.isfinite(lengths) & (lengths > 0)):
                raise ConfigurationError(
                    f"tool {self.name!r}: normals must be {markers.shape[0]} non-zero finite "
                    f"vectors, one per marker; got shape {normals.shape}"
                )
            normals /= lengths[:, None]
            normals.setflags(write=False)
            object.__setattr__(self, "normals", normals)
        if not 0.0 < self.max_marker_angle_rad <= math.pi:
            raise ConfigurationError(
                f"tool {self.name!r}: max_marker_angle_rad must be in (0, pi]; "
                f"got {self.max_marker_angle_rad!r}"
            )

    @property
    def centroid_mm(self) -> np.ndarray:
        """Mean of the markers in the tool frame (mm)."""
        return self.markers_mm.mean(axis=0)

    def min_segment_difference_mm(self) -> float:
        """Smallest difference between two marker-to-marker distances (mm); NDI asks for >= 3.5."""
        lengths = sorted(
            float(np.linalg.norm(a - b)) for a, b in itertools.combinations(self.markers_mm, 2)
        )
        return min(b - a for a, b in itertools.pairwise(lengths))


# Pointer: four markers on a planar head, shaft along -z; the tip is 161 mm from the centroid.
STYLUS = ToolDefinition(
    name="stylus",
    markers_mm=np.array(
        [[0.0, 0.0, 0.0], [0.0, 0.0, 45.0], [0.0, 30.0, 95.0], [0.0, -30.0, 125.0]]
    ),
    tip_mm=np.array([0.0, 0.0, -95.0]),
    part_number="gestes-stylus-1",
    normals=np.tile([1.0, 0.0, 0.0], (4, 1)),
)

# Patient reference: four markers on a cross-shaped plate about 80 mm tall, no tip.
REFERENCE = ToolDefinition(
    name="reference",
    markers_mm=np.array([[0.0, 0.0, 0.0], [0.0, 35.0, 30.0], [0.0, 0.0, 80.0], [0.0, -45.0, 55.0]]),
    part_number="gestes-reference-1",
    normals=np.tile([1.0, 0.0, 0.0], (4, 1)),
)

BUILTIN_TOOLS = MappingProxyType({tool.name: tool for tool in (STYLUS, REFERENCE)})
