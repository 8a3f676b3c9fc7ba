"""How a CT slice faces the viewer: the one home of gestes' display convention (numpy only, so
reports and plots use it without loading VTK).

Radiological convention, as on a scanner console: the axial slice is seen from the feet with
anterior up, the coronal slice from the front with superior up, so the patient's left is on the
screen's right on both; the sagittal slice is seen from the patient's left with superior up
(anterior on the screen's left). Every slice view names the patient direction at its edges
(R/L, A/P, S/I) so that nobody has to remember this.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Patient directions of the LPS axes: (axis, sign) -> letter.
_DIRECTION_LETTERS = {
    (0, 1.0): "L",
    (0, -1.0): "R",
    (1, 1.0): "P",
    (1, -1.0): "A",
    (2, 1.0): "S",
    (2, -1.0): "I",
}


def direction_letter(vector_lps: Sequence[float]) -> str:
    """The patient direction (R, L, A, P, S or I) of an LPS axis-aligned unit vector."""
    vector = np.asarray(vector_lps, dtype=np.float64)
    axis = int(np.argmax(np.abs(vector)))
    return _DIRECTION_LETTERS[(axis, float(np.sign(vector[axis])))]


def screen_edge_letters(direction: Sequence[float], up: Sequence[float]) -> dict[str, str]:
    """Patient directions at the right, left, top and bottom edges of a view looking along
    ``direction`` with ``up`` up (screen right is ``direction x up``)."""
    right = np.cross(np.asarray(direction, dtype=np.float64), np.asarray(up, dtype=np.float64))
    upward = np.asarray(up, dtype=np.float64)
    return {
        "right": direction_letter(right),
        "left": direction_letter(-right),
        "top": direction_letter(upward),
        "bottom": direction_letter(-upward),
    }


@dataclass(frozen=True)
class SliceView:
    """A CT plane normal to ``normal`` (an LPS axis), seen looking along ``direction`` (the
    camera's direction of view) with ``up`` (LPS) pointing to the top of the screen."""

    name: str
    normal: tuple[float, float, float]
    direction: tuple[float, float, float]
    up: tuple[float, float, float]

    @property
    def right(self) -> np.ndarray:
        """The LPS unit vector pointing to the right of the screen: ``direction x up``."""
        return np.cross(self.direction, self.up).astype(np.float64)

    def edge_letters(self) -> dict[str, str]:
        """Patient directions at the right, left, top and bottom edges of this view."""
        return screen_edge_letters(self.direction, self.up)


SLICE_VIEWS = (
    SliceView("axial", (0.0, 0.0, 1.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    SliceView("coronal", (0.0, 1.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    SliceView("sagittal", (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
)
