"""The predicted-TRE map: where, in the CT, navigation with these fiducials can be trusted.

For a set of fiducials and their localisation error (FLE), the registration's expected error at a
point y (the target registration error, TRE) is a smooth function of y: smallest near the
fiducials' centroid, growing with the distance from it, fastest across the direction in which
the fiducials spread least (Fitzpatrick, West & Maurer 1998, eq. 46; with one FLE covariance per
fiducial, the first-order propagation of Danilchenko & Fitzpatrick 2011). The map paints it in
colour over the CT on the axial, coronal and sagittal planes through a target, with iso-lines,
the fiducials (projected onto each plane) and the target, so that a student sees why the
fiducials should surround the target.

Computation and drawing are separate: ``compute_tre_map`` samples the CT and the prediction on
a grid of LPS points (one vectorised prediction per plane), ``render_tre_map`` draws them with
matplotlib (no pyplot state, so it is safe in worker processes) and returns PNG bytes.
Planes follow ``guidance.orientation`` (radiological: patient left on screen right).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from matplotlib import cm, colors, patheffects, ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from guidance.exceptions import ReportError
from guidance.orientation import SLICE_VIEWS, SliceView
from guidance.reports.plots import png_bytes
from registration.tre import predict_tre_rms, predict_tre_rms_anisotropic
from scenes.physical import sample_linear, voxel_centre_bounds

# Fiducials closer than this to a plane are drawn filled (in the plane), farther ones hollow.
IN_PLANE_MM = 5.0
COLOUR_MAP = "turbo"  # blue where the prediction is small, red where it is large
# A dark outline keeps white iso-lines and their labels readable over light colours.
OUTLINE = [patheffects.withStroke(linewidth=2.2, foreground="black")]
THIN_OUTLINE = [patheffects.withStroke(linewidth=1.2, foreground="black")]


@dataclass(frozen=True)
class TreMapSettings:
    """Sampling and look of the map: pixel size (mm), CT grey window (HU), overlay opacity, the
    number of iso-lines, and the top of the colour scale (mm; None: the largest TRE shown)."""

    pixel_mm: float = 1.0
    window_hu: float = 1800.0
    level_hu: float = 300.0
    opacity: float = 0.55
    iso_lines: int = 6
    max_tre_mm: float | None = None
    dpi: int = 100

    def __post_init__(self) -> None:
        if not 0.1 <= self.pixel_mm <= 20.0:
            raise ReportError(
                f"TreMapSettings.pixel_mm must be in [0.1, 20] mm; got {self.pixel_mm}"
            )
        if not self.window_hu > 0.0:
            raise ReportError(f"TreMapSettings.window_hu must be > 0; got {self.window_hu}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ReportError(f"TreMapSettings.opacity must be in [0, 1]; got {self.opacity}")
        if not 1 <= self.iso_lines <= 20:
            raise ReportError(f"TreMapSettings.iso_lines must be in [1, 20]; got {self.iso_lines}")
        if self.max_tre_mm is not None and not self.max_tre_mm > 0.0:
            raise ReportError(f"TreMapSettings.max_tre_mm must be > 0; got {self.max_tre_mm}")
        if not 30 <= self.dpi <= 600:
            raise ReportError(f"TreMapSettings.dpi must be in [30, 600]; got {self.dpi}")


@dataclass(frozen=True)
class FleModel:
    """The fiducial localisation error the prediction uses: an isotropic RMS (mm; eq. 46) or one
    3x3 covariance per fiducial (mm^2, LPS; first-order propagation)."""

    rms_mm: float | None = None
    covariances_mm2: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.rms_mm is None) == (self.covariances_mm2 is None):
            raise ReportError(
                "the TRE map needs the FLE as either an RMS (mm) or one covariance per fiducial, "
                "not both and not neither"
            )

    @property
    def description(self) -> str:
        """How the prediction was made, in a phrase for a caption."""
        if self.rms_mm is not None:
            return f"Fitzpatrick 1998 eq. 46, isotropic FLE {self.rms_mm:.2f} mm RMS"
        rms = float(np.sqrt(np.trace(self.covariances_mm2, axis1=1, axis2=2).mean()))
        return f"each fiducial's FLE covariance propagated (RMS FLE {rms:.2f} mm)"

    def predict(self, fiducials_mm: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
        """Predicted RMS TRE (mm) at ``(M, 3)`` points, LPS."""
        if self.rms_mm is not None:
            return predict_tre_rms(fiducials_mm, self.rms_mm, points_mm)
        return predict_tre_rms_anisotropic(fiducials_mm, self.covariances_mm2, points_mm)


@dataclass(frozen=True)
class PlaneMap:
    """One plane of the map. Screen coordinates ``(s, t)`` are mm from the target along the
    view's right and up directions; pixel ``[row, col]`` is at ``s = extent[0] + (col + 0.5) *
    pixel``, ``t = extent[3] - (row + 0.5) * pixel`` (row 0 at the top, as on screen)."""

    view: SliceView
    ct_hu: np.ndarray  # (rows, cols), NaN outside the CT
    tre_mm: np.ndarray  # (rows, cols), NaN outside the CT
    extent: tuple[float, float, float, float]  # (left, right, bottom, top), mm from the target
    fiducials_st: np.ndarray  # (N, 2) fiducials projected onto the plane, mm from the target
    fiducial_offsets_mm: np.ndarray  # (N,) signed distance of each fiducial from the plane
    centroid_st: np.ndarray  # (2,) the fiducials' centroid projected


def plane_points(
    target_mm: np.ndarray, view: SliceView, extent: Sequence[float], pixel_mm: float
) -> np.ndarray:
    """The LPS points (rows, cols, 3) of the pixel centres of ``view``'s plane through the
    target, over ``extent`` = (left, right, bottom, top) mm from the target."""
    left, right, bottom, top = extent
    s = left + (np.arange(round((right - left) / pixel_mm)) + 0.5) * pixel_mm
    t = top - (np.arange(round((top - bottom) / pixel_mm)) + 0.5) * pixel_mm
    return (
        np.asarray(target_mm, dtype=np.float64)
        + s[None, :, None] * view.right
        + t[:, None, None] * np.asarray(view.up)
    )


def _plane_extent(
    ct: sitk.Image, target: np.ndarray, view: SliceView, pixel_mm: float
) -> tuple[float, float, float, float]:
    """The CT's box seen in ``view``, mm from the target, rounded out to whole pixels."""
    low, high = voxel_centre_bounds(ct)
    corners = (
        np.array(
            [
                [x, y, z]
                for x in (low[0], high[0])
                for y in (low[1], high[1])
                for z in (low[2], high[2])
            ]
        )
        - target
    )
    s = corners @ view.right
    t = corners @ np.asarray(view.up)
    return (
        float(np.floor(s.min() / pixel_mm) * pixel_mm),
        float(np.ceil(s.max() / pixel_mm) * pixel_mm),
        float(np.floor(t.min() / pixel_mm) * pixel_mm),
        float(np.ceil(t.max() / pixel_mm) * pixel_mm),
    )


@dataclass(frozen=True)
class TreMap:
    """The three planes through the target, the prediction at the target itself (mm) and the
    FLE model used."""

    planes: tuple[PlaneMap, ...]
    target_tre_mm: float
    fle: FleModel


def compute_tre_map(
    ct: sitk.Image,
    fiducials_mm: np.ndarray,
    target_mm: np.ndarray,
    fle: FleModel,
    pixel_mm: float = TreMapSettings.pixel_mm,
) -> TreMap:
    """The CT and the predicted TRE on the axial, coronal and sagittal planes through the target
    (LPS mm), for the ``(N, 3)`` fiducials (LPS mm, the CT points registered to) and their FLE.

    ReportError if the target is outside the CT; RegistrationError (from ``registration.tre``)
    for fewer than 3 or collinear fiducials or a bad FLE.
    """
    target = np.asarray(target_mm, dtype=np.float64).reshape(3)
    fiducials = np.asarray(fiducials_mm, dtype=np.float64)
    if np.isnan(sample_linear(ct, target)):
        low, high = voxel_centre_bounds(ct)
        raise ReportError(
            f"the TRE map's target {np.round(target, 1).tolist()} mm (LPS) is outside the CT, "
            f"whose voxel centres span {np.round(low, 1).tolist()} to "
            f"{np.round(high, 1).tolist()} mm"
        )
    centroid = fiducials.mean(axis=0)
    planes = []
    for view in SLICE_VIEWS:
        extent = _plane_extent(ct, target, view, pixel_mm)
        points = plane_points(target, view, extent, pixel_mm)
        ct_hu = sample_linear(ct, points)
        tre = fle.predict(fiducials, points.reshape(-1, 3)).reshape(ct_hu.shape)
        tre[np.isnan(ct_hu)] = np.nan
        axes = np.stack([view.right, np.asarray(view.up)], axis=1)  # (3, 2)
        planes.append(
            PlaneMap(
                view=view,
                ct_hu=ct_hu,
                tre_mm=tre,
                extent=extent,
                fiducials_st=(fiducials - target) @ axes,
                fiducial_offsets_mm=(fiducials - target) @ np.asarray(view.normal),
                centroid_st=(centroid - target) @ axes,
            )
        )
    target_tre = float(fle.predict(fiducials, target[None])[0])
    return TreMap(planes=tuple(planes), target_tre_mm=target_tre, fle=fle)


def _grey(ct_hu: np.ndarray, settings: TreMapSettings) -> np.ndarray:
    """The CT as RGBA grey levels through the window; transparent outside the CT."""
    low = settings.level_hu - settings.window_hu / 2.0
    grey = np.clip((np.nan_to_num(ct_hu, nan=low) - low) / settings.window_hu, 0.0, 1.0)
    rgba = np.repeat(grey[..., None], 4, axis=-1)
    rgba[..., 3] = np.where(np.isnan(ct_hu), 0.0, 1.0)
    return rgba


# Marker styles, shared by the panels and the legend.
FIDUCIAL_IN_PLANE = {"marker": "o", "ms": 8, "mec": "cyan", "mew": 1.6, "mfc": "cyan"}
FIDUCIAL_OFF_PLANE = {**FIDUCIAL_IN_PLANE, "mfc": "none"}
CENTROID = {"marker": "P", "ms": 10, "color": "white", "mec": "black"}
TARGET = {"marker": "*", "ms": 16, "color": "magenta", "mec": "white"}
# Where the patient-direction letter of each screen edge stands (axes fractions, alignment).
EDGE_ANCHORS = {
    "right": (0.985, 0.5, "right", "center"),
    "left": (0.015, 0.5, "left", "center"),
    "top": (0.5, 0.985, "center", "top"),
    "bottom": (0.5, 0.015, "center", "bottom"),
}


def _legend_handles() -> list[Line2D]:
    def entry(style: dict, label: str) -> Line2D:
        return Line2D([], [], ls="", label=label, **style)

    return [
        entry(FIDUCIAL_IN_PLANE, f"fiducial within {IN_PLANE_MM:.0f} mm of the plane"),
        entry(FIDUCIAL_OFF_PLANE, "fiducial off the plane (its distance, mm)"),
        entry(CENTROID, "centroid of the fiducials"),
        entry(TARGET, "target"),
        Line2D([], [], color="black", lw=1.0, label="iso-lines of the predicted TRE"),
    ]


def _draw_plane(
    axes, plane: PlaneMap, norm, levels, labels: Sequence[str], target_label: str, settings
) -> None:
    """One panel: CT, TRE colours and iso-lines, fiducials, centroid, target, edge letters."""
    axes.set_facecolor("black")
    axes.imshow(_grey(plane.ct_hu, settings), extent=plane.extent, interpolation="bilinear")
    tre = np.ma.masked_invalid(plane.tre_mm)
    overlay = {"cmap": COLOUR_MAP, "norm": norm, "alpha": settings.opacity}
    axes.imshow(tre, extent=plane.extent, interpolation="bilinear", **overlay)
    left, right, bottom, top = plane.extent
    rows, cols = tre.shape
    s = left + (np.arange(cols) + 0.5) * (right - left) / cols
    t = top - (np.arange(rows) + 0.5) * (top - bottom) / rows
    contours = axes.contour(s, t, tre, levels=levels, colors="white", linewidths=1.0)
    contours.set(path_effects=OUTLINE)
    for text in axes.clabel(contours, fmt="%.2g mm", fontsize=8, inline=True):
        text.set_path_effects(THIN_OUTLINE)
    text_style = {"textcoords": "offset points", "path_effects": THIN_OUTLINE}
    for (fs, ft), offset, label in zip(
        plane.fiducials_st, plane.fiducial_offsets_mm, labels, strict=True
    ):
        style = FIDUCIAL_IN_PLANE if abs(offset) <= IN_PLANE_MM else FIDUCIAL_OFF_PLANE
        axes.plot(fs, ft, ls="", **style)
        axes.annotate(
            f"{label} ({offset:+.0f})",
            (fs, ft),
            xytext=(5, 4),
            color="cyan",
            fontsize=8,
            **text_style,
        )
    axes.plot(*plane.centroid_st, ls="", **CENTROID)
    axes.plot(0.0, 0.0, ls="", **TARGET)
    axes.annotate(
        target_label,
        (0.0, 0.0),
        xytext=(8, -13),
        color="magenta",
        fontsize=9,
        fontweight="bold",
        **text_style,
    )
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)
    axes.set_title(plane.view.name)
    axes.set_xlabel("mm from the target")
    axes.tick_params(labelsize=8)
    for edge, letter in plane.view.edge_letters().items():
        x, y, horizontal, vertical = EDGE_ANCHORS[edge]
        axes.text(
            x,
            y,
            letter,
            ha=horizontal,
            va=vertical,
            color="gold",
            fontsize=13,
            fontweight="bold",
            transform=axes.transAxes,
        )


# Figure layout, inches: placed once by hand (a layout engine redraws the figure several times
# to fit it, which doubled the time of the whole map).
FIGURE_WIDTH_IN = 12.0
LEFT_IN, GAP_IN, BAR_AREA_IN, BAR_WIDTH_IN = 0.6, 0.6, 1.1, 0.18
TOP_IN, BOTTOM_IN = 0.75, 1.1  # title and panel titles; axis labels and the legend


def _layout(planes: Sequence[PlaneMap], dpi: int):
    """A figure with one axes per plane, side by side at the same mm-per-inch scale and centred
    on one line, and the colour bar's axes on the right: ``(figure, panels, bar)``."""
    widths = np.array([plane.extent[1] - plane.extent[0] for plane in planes])
    heights = np.array([plane.extent[3] - plane.extent[2] for plane in planes])
    panels_in = FIGURE_WIDTH_IN - LEFT_IN - GAP_IN * (len(planes) - 1) - BAR_AREA_IN
    scale = panels_in / widths.sum()  # inches per mm
    tallest_in = scale * heights.max()
    height_in = TOP_IN + tallest_in + BOTTOM_IN
    figure = Figure(figsize=(FIGURE_WIDTH_IN, height_in), dpi=dpi)
    centre_in = BOTTOM_IN + tallest_in / 2.0
    left_in, panels = LEFT_IN, []
    for width_mm, height_mm in zip(widths, heights, strict=True):
        box = (left_in, centre_in - scale * height_mm / 2.0, scale * width_mm, scale * height_mm)
        panels.append(figure.add_axes(_fractions(box, height_in)))
        left_in += scale * width_mm + GAP_IN
    bar_box = (left_in - GAP_IN + 0.3, centre_in - 0.4 * tallest_in, BAR_WIDTH_IN, 0.8 * tallest_in)
    return figure, panels, figure.add_axes(_fractions(bar_box, height_in))


def _fractions(box_in: tuple[float, float, float, float], height_in: float) -> list[float]:
    """An axes box (left, bottom, width, height) from inches to figure fractions."""
    left, bottom, width, height = box_in
    return [left / FIGURE_WIDTH_IN, bottom / height_in, width / FIGURE_WIDTH_IN, height / height_in]


def render_tre_map(
    tre_map: TreMap,
    fiducial_labels: Sequence[str],
    target_label: str,
    settings: TreMapSettings = TreMapSettings(),
) -> bytes:
    """The three planes side by side with one colour bar (mm) and a legend, as PNG bytes.

    Fiducials are cyan circles, filled when within ``IN_PLANE_MM`` of the plane, with their
    signed distance from it (mm) after the label; the white plus is their centroid, the magenta
    star the target.
    """
    planes = tre_map.planes
    finite = np.concatenate([plane.tre_mm[np.isfinite(plane.tre_mm)] for plane in planes])
    low = float(finite.min())
    high = settings.max_tre_mm if settings.max_tre_mm is not None else float(finite.max())
    high = max(high, low * 1.01)
    norm = colors.Normalize(vmin=low, vmax=high)
    levels = ticker.MaxNLocator(nbins=settings.iso_lines).tick_values(low, high)
    levels = levels[(levels > low) & (levels < high)]
    figure, panels, bar = _layout(planes, settings.dpi)
    for axes, plane in zip(panels, planes, strict=True):
        _draw_plane(axes, plane, norm, levels, fiducial_labels, target_label, settings)
    colour_bar = figure.colorbar(cm.ScalarMappable(norm=norm, cmap=COLOUR_MAP), cax=bar)
    colour_bar.set_label("predicted TRE, RMS (mm)")
    for level in levels:
        colour_bar.ax.axhline(level, color="white", linewidth=1.0, path_effects=OUTLINE)
    figure.suptitle(
        f"Predicted TRE with {len(fiducial_labels)} fiducials: {tre_map.target_tre_mm:.2f} mm "
        f"at {target_label} ({tre_map.fle.description})",
        fontsize=11,
    )
    figure.legend(handles=_legend_handles(), loc="lower center", ncols=3, fontsize=9, frameon=False)
    return png_bytes(figure)


def tre_map_png(
    ct: sitk.Image,
    fiducials_mm: np.ndarray,
    fiducial_labels: Sequence[str],
    target_mm: np.ndarray,
    target_label: str,
    fle: FleModel,
    settings: TreMapSettings = TreMapSettings(),
) -> bytes:
    """The predicted-TRE map of ``fiducials_mm`` around ``target_mm`` (LPS mm) as PNG bytes."""
    if len(fiducial_labels) != len(fiducials_mm):
        raise ReportError(
            f"{len(fiducial_labels)} fiducial labels for {len(fiducials_mm)} fiducials"
        )
    tre_map = compute_tre_map(ct, fiducials_mm, target_mm, fle, settings.pixel_mm)
    return render_tre_map(tre_map, fiducial_labels, target_label, settings)
