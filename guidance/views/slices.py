"""The axial, coronal and sagittal panels: CT reslices through the stylus tip.

Each panel shows the CT's section through the tip (a ``SliceImage``: resampled only when the tip
crosses into another voxel slice), and draws on it: a cross-hair at the tip, the cut of each
structure to avoid by the plane through the tip (a ``StructureOutline``: VTK cuts the structures'
tubes again when the plane moves, no mesh is rebuilt here), the planned trajectories projected
onto the slice, every target and fiducial (in full with its name when it lies within the slab
``settings.slab_half_mm`` of the plane, faded with its distance and side otherwise), a scale bar
and the patient directions at the edges. Slices are shown radiologically: patient left on screen
right, anterior up on the axial view.

Text is pinned once, never moved: the camera looks along the plane's normal with a parallel
projection, so a label's place on screen does not depend on where along the normal it is. All
of a panel's text is one ``TextSheet`` (one actor; a label's string rasterised once, however
often its distance goes back to it).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkRenderer

from guidance.navigator import NavigationState
from guidance.orientation import SliceView, direction_letter
from guidance.views.actors import mesh_actor
from guidance.views.geometry import VoxelSlices, nice_length_mm, plane_offsets_mm
from guidance.views.models import crosshair, scale_bar
from guidance.views.outline import StructureOutline
from guidance.views.point_rings import PointRings
from guidance.views.settings import ViewSettings
from guidance.views.slice_image import SliceImage
from guidance.views.text_sheet import PacedTexts, TextSheet

CROSSHAIR = "yellow"
OUTLINE = "darkorange"
TRAJECTORY = "lime"
LETTERS = (1.0, 0.85, 0.3)
FADED_OPACITY = 0.45
# Overlays float this far in front of the slice (toward the camera) so that it does not hide them.
LIFT_MM = 1.0
# The cross-hair a little above the other overlays: the point rings, translucent where faded, are
# drawn after the opaque lines, and the cross-hair stays on top of them.
CROSSHAIR_LIFT_MM = 1.1
CAMERA_DISTANCE_MM = 1000.0
CLIP_MM = 50.0
# Where the patient-direction letters stand in the panel (fractions) and how they are anchored.
EDGES = {"right": (0.98, 0.5), "left": (0.02, 0.5), "top": (0.5, 0.98), "bottom": (0.5, 0.02)}


@dataclass(frozen=True)
class LabelledPoint:
    """A named point drawn on the slices (a target or a fiducial), LPS mm."""

    label: str
    point_mm: np.ndarray
    colour: str


class SlicePanel:
    """One reslice panel in ``renderer``; ``show(state)`` moves its plane to the tip."""

    def __init__(
        self,
        renderer: vtkRenderer,
        view: SliceView,
        grey: pv.ImageData,
        points: Sequence[LabelledPoint],
        structures: pv.PolyData | None,
        trajectories_mm: Sequence[tuple[np.ndarray, np.ndarray]],
        settings: ViewSettings,
        aspect: float,
    ) -> None:
        self.renderer = renderer
        self.view = view
        self._settings = settings
        self._normal = np.asarray(view.normal)
        self._direction, self._up, self._right = (
            np.asarray(view.direction),
            np.asarray(view.up),
            view.right,
        )
        direction, up, right = self._direction, self._up, self._right
        self._lift = -LIFT_MM * direction
        self._centre = np.asarray(grey.center, dtype=np.float64)

        # The structures' outlines are cut exactly through the tip; the image shows the CT's
        # voxel slice nearest to it, when the slice is parallel to the CT's voxel planes (see
        # ``VoxelSlices``), so that it is resampled only when the tip crosses into another
        # voxel slice.
        self.voxel_slices = VoxelSlices.across(
            grey.origin, grey.spacing, grey.direction_matrix, self._normal
        )
        self.image = SliceImage(renderer, grey, self._normal, right, up)
        self.image.move_to(self.voxel_slices.nearest(self._centre))

        self.outline = None
        if structures is not None:
            self.outline = StructureOutline(
                renderer, structures, self._normal, self._lift, OUTLINE, 2.5
            )
            self.outline.move_to(self._centre)
        # The trajectories flattened onto planes through the origin; each frame shifts them to
        # the slice (their actors' position), so a trajectory is drawn where the slice shows it.
        self._trajectories = []
        for entry, target in trajectories_mm:
            flat = [p - (p @ self._normal) * self._normal for p in (entry, target)]
            self._trajectories.append(mesh_actor(pv.Line(*flat), renderer, TRAJECTORY, 1.0, 2.0))
        self._points = list(points)
        self.rings = PointRings(
            renderer,
            np.array([p.point_mm for p in points]),
            [p.colour for p in points],
            settings.marker_radius_mm,
            self._normal,
            right,
            up,
            FADED_OPACITY,
            line_width=2.5,
        )
        self.text = TextSheet(renderer)
        label_offset = 1.5 * settings.marker_radius_mm * up
        self.labels = [
            self.text.point_text(
                p.label, self._on_centre_plane(p.point_mm) + label_offset, "above", 11, p.colour
            )
            for p in points
        ]
        # A label's distance is rewritten at most ``numbers_hz``; coming into the slab or
        # leaving it (a change of opacity) shows at once.
        self.paced_labels = PacedTexts(self.labels, 1.0 / settings.numbers_hz)

        self.crosshair = mesh_actor(crosshair(direction, up), renderer, CROSSHAIR, line_width=2.0)
        self.crosshair.SetVisibility(False)  # until a state shows where the tip is
        self._fit_camera(grey, aspect)
        self._add_scale_bar()
        self.title = self.text.panel_text(view.name, (0.02, 0.98), "top left")
        for edge, letter in view.edge_letters().items():
            self.text.panel_text(letter, EDGES[edge], edge, settings.font_size + 4, LETTERS)

    def _fit_camera(self, grid: pv.ImageData, aspect: float) -> None:
        """A parallel camera framing the whole CT section (its bounding box seen along
        the view's direction), ``aspect`` = panel width / height."""
        corners = np.array(np.meshgrid(*np.reshape(grid.bounds, (3, 2)))).reshape(3, -1).T
        half_width = np.ptp(corners @ self._right) / 2.0
        half_height = np.ptp(corners @ self._up) / 2.0
        self._half_height = 1.05 * max(half_height, half_width / aspect)
        self._half_width = self._half_height * aspect
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        camera.SetParallelScale(self._half_height)
        camera.SetViewUp(*self._up)
        # The slice and its overlays lie within a few mm of the focal plane, always at the same
        # distance from the camera: a fixed clipping range, not VTK's per-frame search of bounds.
        camera.SetClippingRange(CAMERA_DISTANCE_MM - CLIP_MM, CAMERA_DISTANCE_MM + CLIP_MM)
        self._aim_camera(self._centre)

    def _on_centre_plane(self, point_mm: np.ndarray) -> np.ndarray:
        """``point_mm`` moved along the normal onto the plane through the CT's centre: where a
        label goes (see the module docstring)."""
        return point_mm - ((point_mm - self._centre) @ self._normal) * self._normal

    def _aim_camera(self, tip_mm: np.ndarray) -> None:
        """Look at the CT's centre moved onto the slice through ``tip_mm``."""
        focus = self._centre + ((tip_mm - self._centre) @ self._normal) * self._normal
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*focus)
        camera.SetPosition(*(focus - CAMERA_DISTANCE_MM * self._direction))
        self._focus = focus

    def _add_scale_bar(self) -> None:
        """A bar of a round length, about a quarter of the panel wide, in its bottom right."""
        right, up = self._right, self._up
        length = nice_length_mm(0.5 * self._half_width)
        self._bar_offset = (0.8 * self._half_width - length) * right - 0.85 * self._half_height * up
        self._bar = mesh_actor(scale_bar(length, right, up), self.renderer, "white", 1.0, 2.0)
        self._place_scale_bar()
        centre = self._on_centre_plane(self._focus)
        self.text.point_text(
            f"{length:g} mm", centre + self._bar_offset + 0.5 * length * right + 0.03 * length * up
        )

    def _place_scale_bar(self) -> None:
        """The bar (a mesh, clipped like the slice) follows the slice; its label stays pinned."""
        self._bar.position = self._focus + self._bar_offset + self._lift

    def show(self, state: NavigationState, now_s: float) -> None:
        """Move the slice, its overlays and the cross-hair to the tip (the labels' distances
        rewritten at most ``numbers_hz`` of the window's clock ``now_s``, s: see
        ``paced_labels``); with no tip, hide the cross-hair and say so, leaving the slice where
        it was."""
        self.crosshair.SetVisibility(bool(state.tracked))
        if not state.tracked:
            self.title.text = f"{self.view.name}: stylus not tracked"
            self.title.set_colour("red")
            return
        self.title.text = self.view.name
        self.title.set_colour("white")
        tip = np.asarray(state.tip_mm, dtype=np.float64)
        if self.outline is not None:
            self.outline.move_to(tip)
        self.image.move_to(self.voxel_slices.nearest(tip))
        self.crosshair.position = tip - CROSSHAIR_LIFT_MM * self._direction
        self._aim_camera(tip)
        self._place_scale_bar()
        shift = (tip @ self._normal) * self._normal + self._lift
        for actor in self._trajectories:
            actor.position = shift
        if not self._points:
            return
        points = np.array([p.point_mm for p in self._points])
        offsets = plane_offsets_mm(points, tip, self._normal)
        nears = np.abs(offsets) <= self._settings.slab_half_mm
        self.rings.show(shift, nears)
        labels = []
        for point, offset, near in zip(self._points, offsets, nears, strict=True):
            if near:
                labels.append((point.label, point.colour, 1.0))
            else:
                side = direction_letter(np.sign(offset) * self._normal)
                text = f"{point.label} {abs(offset):.0f} mm {side}"
                labels.append((text, point.colour, FADED_OPACITY + 0.2))
        self.paced_labels.show(labels, now_s)
