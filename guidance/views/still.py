"""The demo's still picture (until the demo draws with ``NavigationWindow``): the phantom in 3D
with fiducials, targets and the stylus, beside axial, coronal and sagittal CT slices through the
stylus tip, rendered off-screen.

``show`` moves the stylus actor and the three reslice planes in place. Slices use radiological
display: patient left on screen right, anterior up on the axial view, and each slice view names
the patient direction at its edges (R/L, A/P, S/I).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pyvista as pv
import SimpleITK as sitk
from vtkmodules.vtkCommonDataModel import vtkPlane
from vtkmodules.vtkRenderingCore import vtkImageSlice
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from devices.tools import ToolDefinition
from guidance.exceptions import GuidanceError
from guidance.navigator import NavigationState
from guidance.orientation import SLICE_VIEWS
from guidance.views.actors import panel_text
from guidance.views.models import crosshair, image_data, tool_mesh
from guidance.views.rendering import prepare_rendering
from guidance.views.slices import EDGES, LETTERS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StillSettings:
    """Size and look of the still picture: pixels, mm, HU."""

    window_size: tuple[int, int] = (1400, 1000)
    slice_half_height_mm: float = 110.0
    surface_opacity: float = 0.3
    window_hu: float = 1800.0
    level_hu: float = 300.0
    marker_radius_mm: float = 2.5

    def __post_init__(self) -> None:
        width, height = self.window_size
        if width < 200 or height < 150:
            raise GuidanceError(
                f"window_size must be at least 200 x 150 pixels; got {width} x {height}"
            )


# Panels (row, column) of the 3D view, then of the slices in the order of SLICE_VIEWS.
_PANELS = ((0, 0), (0, 1), (1, 0), (1, 1))
CAMERA_DISTANCE_MM = 1000.0
LIFT_MM = 1.0


class NavigationView:
    """Off-screen navigation picture of one scene; ``show(state)`` then ``save(path)``."""

    def __init__(
        self,
        ct: sitk.Image,
        surface: pv.PolyData,
        fiducials_mm: np.ndarray,
        targets_mm: np.ndarray,
        stylus_markers_mm: np.ndarray,
        stylus_tip_mm: np.ndarray,
        settings: StillSettings = StillSettings(),
    ) -> None:
        prepare_rendering(off_screen=True)
        self.settings = settings
        self._plotter = pv.Plotter(
            off_screen=True, shape=(2, 2), window_size=list(settings.window_size), border=False
        )
        plotter = self._plotter
        plotter.set_background("black")
        fiducials = pv.PolyData(np.asarray(fiducials_mm, dtype=np.float64))
        targets = pv.PolyData(np.asarray(targets_mm, dtype=np.float64))
        ball = pv.Sphere(radius=settings.marker_radius_mm, theta_resolution=12, phi_resolution=12)
        fiducial_balls = fiducials.glyph(geom=ball, scale=False, orient=False)
        target_balls = targets.glyph(geom=ball, scale=False, orient=False)

        # 3D view (top left): surface, fiducials, targets, the stylus moved by its user matrix.
        plotter.subplot(*_PANELS[0])
        plotter.add_mesh(
            surface, color="wheat", opacity=settings.surface_opacity, smooth_shading=True
        )
        plotter.add_mesh(fiducial_balls, color="deepskyblue")
        plotter.add_mesh(target_balls, color="red")
        stylus = ToolDefinition("stylus", stylus_markers_mm, stylus_tip_mm)
        self._stylus = plotter.add_mesh(tool_mesh(stylus), color="silver")
        self._caption = panel_text(plotter.renderer, "", (0.01, 0.02), "bottom left", 20)
        plotter.view_vector((-0.6, -1.0, 0.5), viewup=(0.0, 0.0, 1.0))
        plotter.reset_camera(bounds=surface.bounds)
        plotter.camera.zoom(1.1)

        # Slice views (other panels): one reslice mapper per plane, the tip as a ball and a cross.
        grid = image_data(ct)
        self._centre = np.asarray(grid.center, dtype=np.float64)
        self._planes, self._tips, self._crosses = [], [], []
        for panel, orientation in zip(_PANELS[1:], SLICE_VIEWS, strict=True):
            plotter.subplot(*panel)
            direction, up = orientation.direction, orientation.up
            plane = vtkPlane()
            plane.SetNormal(orientation.normal)
            plane.SetOrigin(grid.center)
            mapper = vtkImageResliceMapper()
            mapper.SetInputData(grid)
            mapper.SetSlicePlane(plane)
            mapper.ResampleToScreenPixelsOff()  # reslice at CT resolution, not per screen pixel
            image_slice = vtkImageSlice()
            image_slice.SetMapper(mapper)
            image_slice.GetProperty().SetColorWindow(settings.window_hu)
            image_slice.GetProperty().SetColorLevel(settings.level_hu)
            image_slice.GetProperty().SetInterpolationTypeToLinear()
            plotter.renderer.AddViewProp(image_slice)
            plotter.add_mesh(target_balls, color="red")
            self._tips.append(plotter.add_mesh(ball.copy(), color="yellow"))
            cross = plotter.add_mesh(crosshair(np.array(direction), np.array(up)), color="yellow")
            self._crosses.append((cross, -LIFT_MM * np.asarray(direction)))
            panel_text(plotter.renderer, orientation.name, (0.01, 0.98), "top left", 22)
            for edge, letter in orientation.edge_letters().items():
                panel_text(plotter.renderer, letter, EDGES[edge], edge, 20, LETTERS)
            plotter.enable_parallel_projection()
            self._planes.append(plane)

    def show(self, state: NavigationState, caption: str = "") -> None:
        """Move the stylus, the tip markers and the three slice planes to ``state``'s tip, in place;
        each slice view frames the whole CT section through the tip."""
        if not state.tracked:
            self._stylus.SetVisibility(False)
            self._caption.SetInput(caption or "stylus not tracked")
            return
        self._stylus.SetVisibility(True)
        self._stylus.user_matrix = state.image_from_stylus
        self._caption.SetInput(caption)
        tip = state.tip_mm
        for tip_actor in self._tips:
            tip_actor.position = tip
        for cross, lift in self._crosses:
            cross.position = tip + lift
        for panel, plane, orientation in zip(_PANELS[1:], self._planes, SLICE_VIEWS, strict=True):
            normal, direction, up = orientation.normal, orientation.direction, orientation.up
            plane.SetOrigin(tip)
            # Frame the whole CT section through the tip: its centre, moved onto the plane.
            focus = self._centre + np.dot(tip - self._centre, normal) * np.asarray(normal)
            self._plotter.subplot(*panel)
            camera = self._plotter.camera
            camera.focal_point = focus
            camera.position = focus - CAMERA_DISTANCE_MM * np.asarray(direction)
            camera.up = up
            camera.parallel_scale = self.settings.slice_half_height_mm
            self._plotter.renderer.ResetCameraClippingRange()

    def save(self, path: Path) -> Path:
        """Render and write the picture as PNG; returns the path."""
        path = Path(path)
        self._plotter.render()  # a no-op before the first screenshot, which renders itself
        self._plotter.screenshot(str(path))
        logger.info("navigation picture written to %s", path)
        return path

    def screenshot(self) -> np.ndarray:
        """The rendered picture as an (H, W, 3) uint8 array."""
        self._plotter.render()
        return np.asarray(self._plotter.screenshot(return_img=True))

    def close(self) -> None:
        """Release the off-screen window."""
        self._plotter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
