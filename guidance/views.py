"""The navigation picture, rendered off-screen with PyVista: the phantom in 3D with fiducials,
targets and the stylus, beside axial, coronal and sagittal CT slices through the stylus tip.

The view only draws what a ``NavigationState`` says; it keeps no state a score depends on. Meshes
and the CT are loaded once; ``show`` moves the stylus actor and the three reslice planes in place
(``vtkImageResliceMapper`` + ``vtkPlane``), it never rebuilds a mesh, so it can run per frame.
Slices use radiological display: patient left on screen right, anterior up on the axial view,
and each slice view names the patient direction at its edges (R/L, A/P, S/I).
"""

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pyvista as pv
import SimpleITK as sitk
from vtkmodules.vtkCommonCore import (
    VTK_TEXT_BOTTOM,
    VTK_TEXT_CENTERED,
    VTK_TEXT_LEFT,
    VTK_TEXT_RIGHT,
    VTK_TEXT_TOP,
)
from vtkmodules.vtkCommonDataModel import vtkPlane
from vtkmodules.vtkRenderingCore import vtkImageSlice, vtkTextActor
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from guidance.exceptions import GuidanceError, RenderingUnavailable
from guidance.navigator import NavigationState
from guidance.orientation import SLICE_VIEWS, screen_edge_letters

logger = logging.getLogger(__name__)

MISSING_LIBRARIES_HINT = (
    "off-screen rendering needs the EGL and Mesa libraries: "
    "apt-get install libegl1 libgl1-mesa-dri (Debian/Ubuntu)"
)
DRI_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu/dri",
    "/usr/lib/aarch64-linux-gnu/dri",
    "/usr/lib64/dri",
    "/usr/lib/dri",
)
SOFTWARE_DRIVER = "swrast_dri.so"


def check_rendering(
    egl_library: str = "EGL", dri_folders: Sequence[str | Path] = DRI_FOLDERS
) -> None:
    """Raise RenderingUnavailable unless the EGL library and Mesa's software driver are present.

    Without them VTK's off-screen window crashes the process (a segfault, no Python error), so
    this runs before the first Plotter exists. ``LIBGL_DRIVERS_PATH`` adds driver folders.
    """
    name = ctypes.util.find_library(egl_library)
    try:
        ctypes.CDLL(name or f"lib{egl_library}.so.1")
    except OSError as error:
        raise RenderingUnavailable(
            f"cannot load lib{egl_library}: {MISSING_LIBRARIES_HINT}"
        ) from error
    extra = os.environ.get("LIBGL_DRIVERS_PATH", "")
    folders = [*filter(None, extra.split(":")), *dri_folders]
    if not any((Path(folder) / SOFTWARE_DRIVER).exists() for folder in folders):
        raise RenderingUnavailable(
            f"no Mesa software driver ({SOFTWARE_DRIVER}) in {', '.join(map(str, folders))}: "
            f"{MISSING_LIBRARIES_HINT}"
        )


@dataclass(frozen=True)
class ViewSettings:
    """Size and look of the navigation picture: pixels, mm, HU."""

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
        for name in ("slice_half_height_mm", "window_hu", "marker_radius_mm"):
            if not getattr(self, name) > 0.0:
                raise GuidanceError(f"ViewSettings.{name} must be > 0; got {getattr(self, name)!r}")
        if not 0.0 <= self.surface_opacity <= 1.0:
            raise GuidanceError(
                f"ViewSettings.surface_opacity must be in [0, 1]; got {self.surface_opacity!r}"
            )


# Panels (row, column) of the 3D view, then of the slices in the order of SLICE_VIEWS.
_PANELS = ((0, 0), (0, 1), (1, 0), (1, 1))
CAMERA_DISTANCE_MM = 1000.0
# Text anchors in viewport fractions: titles hang from the top left corner of their panel, the
# caption stands on the bottom left corner of the 3D panel (the stylus often fills the top).
TOP_LEFT = (0.01, 0.98)
BOTTOM_LEFT = (0.01, 0.02)


def image_data(ct: sitk.Image) -> pv.ImageData:
    """The CT as a ``pyvista.ImageData`` with the same origin, spacing and direction (LPS mm)."""
    grid = pv.ImageData(dimensions=ct.GetSize(), spacing=ct.GetSpacing(), origin=ct.GetOrigin())
    grid.direction_matrix = np.reshape(ct.GetDirection(), (3, 3))
    grid.point_data["HU"] = sitk.GetArrayViewFromImage(ct).astype(np.float32).ravel()
    return grid


def stylus_mesh(
    markers_mm: np.ndarray, tip_mm: np.ndarray, shaft_radius_mm: float = 1.5
) -> pv.PolyData:
    """A stylus in its own frame: a shaft from the tip to the marker centroid, and the markers."""
    markers = np.asarray(markers_mm, dtype=np.float64)
    tip = np.asarray(tip_mm, dtype=np.float64)
    centroid = markers.mean(axis=0)
    length = float(np.linalg.norm(centroid - tip))
    shaft = pv.Cylinder(
        center=(tip + centroid) / 2,
        direction=centroid - tip,
        radius=shaft_radius_mm,
        height=length,
        resolution=16,
    )
    parts = [shaft.triangulate()]
    parts += [
        pv.Sphere(radius=5.5, center=m, theta_resolution=12, phi_resolution=12) for m in markers
    ]
    parts += [pv.Line(m, centroid).tube(radius=1.0, n_sides=8) for m in markers]
    return pv.merge(parts)


def _add_label(plotter: pv.Plotter, text: str, font_size: int, at_top: bool = True) -> vtkTextActor:
    """White text in the top (or bottom) left corner of the active panel. A plain text actor,
    not pyvista's corner annotation, which re-fits its font on every render (tens of ms)."""
    actor = _add_text(plotter, text, font_size, TOP_LEFT if at_top else BOTTOM_LEFT)
    if at_top:
        actor.GetTextProperty().SetVerticalJustificationToTop()
    return actor


def _add_text(
    plotter: pv.Plotter, text: str, font_size: int, position: tuple[float, float]
) -> vtkTextActor:
    """White text anchored at ``position`` (viewport fractions) of the active panel."""
    actor = vtkTextActor()
    actor.SetInput(text)
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(*position)
    prop = actor.GetTextProperty()
    prop.SetFontSize(font_size)
    prop.SetColor(1.0, 1.0, 1.0)
    plotter.renderer.AddViewProp(actor)
    return actor


# Where each edge letter stands in its panel (viewport fractions) and how it is justified.
_EDGE_ANCHORS = {
    "right": ((0.98, 0.5), VTK_TEXT_RIGHT, VTK_TEXT_CENTERED),
    "left": ((0.02, 0.5), VTK_TEXT_LEFT, VTK_TEXT_CENTERED),
    "top": ((0.5, 0.98), VTK_TEXT_CENTERED, VTK_TEXT_TOP),
    "bottom": ((0.5, 0.02), VTK_TEXT_CENTERED, VTK_TEXT_BOTTOM),
}


def _add_edge_letters(plotter: pv.Plotter, direction: Sequence[float], up: Sequence[float]) -> None:
    """Patient-direction letters (R/L, A/P, S/I) on the four edges of the active slice panel."""
    for edge, letter in screen_edge_letters(direction, up).items():
        position, horizontal, vertical = _EDGE_ANCHORS[edge]
        prop = _add_text(plotter, letter, 20, position).GetTextProperty()
        prop.SetColor(1.0, 0.85, 0.3)
        prop.SetJustification(horizontal)
        prop.SetVerticalJustification(vertical)


def crosshair(
    direction: Sequence[float], up: Sequence[float], inner_mm: float = 4.0, outer_mm: float = 16.0
) -> pv.PolyData:
    """A cross of four segments around the origin in the plane seen along ``direction``, lifted
    1 mm toward the camera so that the slice does not hide it; move it with its actor."""
    view = np.asarray(direction, dtype=np.float64)
    vertical = np.asarray(up, dtype=np.float64)
    horizontal = np.cross(view, vertical)
    lift = -1.0 * view
    segments = [
        pv.Line(lift + sign * inner_mm * axis, lift + sign * outer_mm * axis)
        for axis in (horizontal, vertical)
        for sign in (-1.0, 1.0)
    ]
    return pv.merge(segments)


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
        settings: ViewSettings = ViewSettings(),
    ) -> None:
        check_rendering()
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        pv.global_theme.multi_samples = 0
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
        self._stylus = plotter.add_mesh(
            stylus_mesh(stylus_markers_mm, stylus_tip_mm), color="silver"
        )
        self._caption = _add_label(plotter, "", font_size=20, at_top=False)
        plotter.view_vector((-0.6, -1.0, 0.5), viewup=(0.0, 0.0, 1.0))
        plotter.reset_camera(bounds=surface.bounds)
        plotter.camera.zoom(1.1)

        # Slice views (other panels): one reslice mapper per plane, the tip as a ball and a cross.
        grid = image_data(ct)
        self._centre = np.asarray(grid.center, dtype=np.float64)
        self._planes, self._tips = [], []
        for panel, view in zip(_PANELS[1:], SLICE_VIEWS, strict=True):
            plotter.subplot(*panel)
            plane = vtkPlane()
            plane.SetNormal(view.normal)
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
            self._tips.append(plotter.add_mesh(crosshair(view.direction, view.up), color="yellow"))
            _add_label(plotter, view.name, font_size=22)
            _add_edge_letters(plotter, view.direction, view.up)
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
        for panel, plane, view in zip(_PANELS[1:], self._planes, SLICE_VIEWS, strict=True):
            plane.SetOrigin(tip)
            # Frame the whole CT section through the tip: its centre, moved onto the plane.
            normal = np.asarray(view.normal)
            focus = self._centre + np.dot(tip - self._centre, normal) * normal
            self._plotter.subplot(*panel)
            camera = self._plotter.camera
            camera.focal_point = focus
            camera.position = focus - CAMERA_DISTANCE_MM * np.asarray(view.direction)
            camera.up = view.up
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
