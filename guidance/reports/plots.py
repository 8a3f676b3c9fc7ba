"""The plots of reports, studies and grading, drawn with matplotlib and returned as PNG bytes.

Each function takes plain arrays and returns one picture; none keeps state (figures are made
with ``matplotlib.figure.Figure``, not pyplot), so they are safe in threads and worker processes.
Distances in mm.
"""

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from guidance.exceptions import ReportError

WIDTH_IN = 7.0
HEIGHT_IN = 3.6
DPI = 110
BAR_COLOUR = "#3572b0"
ALERT_COLOUR = "#c62828"


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp in the file, so the same figure gives the same
    bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _figure(width_in: float = WIDTH_IN, height_in: float = HEIGHT_IN):
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    return figure, figure.add_subplot()


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ReportError(f"{what}: nothing to plot")
    return array


def residual_bars(
    labels: Sequence[str],
    residuals_mm: Sequence[float],
    line_mm: float | None = None,
    line_label: str = "",
    title: str = "Residual of each fiducial after registration",
) -> bytes:
    """One bar per fiducial (its residual distance after registration, mm), with a dashed line
    at ``line_mm`` (such as the FRE) when given; bars above twice that line are red."""
    residuals = _finite(residuals_mm, title)
    if len(labels) != len(residuals):
        raise ReportError(f"{title}: {len(labels)} labels for {len(residuals)} residuals")
    figure, axes = _figure(max(WIDTH_IN, 0.45 * len(labels) + 2.0))
    colours = [BAR_COLOUR] * len(residuals)
    if line_mm is not None:
        colours = [ALERT_COLOUR if r > 2.0 * line_mm else BAR_COLOUR for r in residuals]
        axes.axhline(line_mm, color="black", linestyle="--", linewidth=1.0, label=line_label)
        if line_label:
            axes.legend(loc="upper right", fontsize=8)
    positions = np.arange(len(residuals))
    axes.bar(positions, np.nan_to_num(residuals), color=colours)
    slanted = len(labels) > 8
    axes.set_xticks(
        positions, labels, rotation=45 if slanted else 0, ha="right" if slanted else "center"
    )
    axes.set_ylabel("residual (mm)")
    axes.set_title(title, fontsize=10)
    return png_bytes(figure)


def distribution(values: Sequence[float], name: str, unit: str = "") -> bytes:
    """A histogram of one score over many runs, with its median marked; NaN (failed runs) are
    counted in the title, not drawn."""
    array = _finite(values, name)
    finite = array[np.isfinite(array)]
    figure, axes = _figure(WIDTH_IN * 0.7, HEIGHT_IN * 0.8)
    if finite.size:
        axes.hist(finite, bins=min(30, max(5, int(np.sqrt(finite.size)))), color=BAR_COLOUR)
        median = float(np.median(finite))
        axes.axvline(median, color="black", linestyle="--", linewidth=1.0)
        axes.annotate(
            f"median {median:.3g}",
            (median, 0.95),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            va="top",
        )
    missing = array.size - finite.size
    without = f", {missing} without a value" if missing else ""
    axes.set_title(f"{name} ({finite.size} runs{without})", fontsize=10)
    axes.set_xlabel(f"{name} ({unit})" if unit else name)
    axes.set_ylabel("runs")
    return png_bytes(figure)


def measured_vs_predicted(
    predicted_mm: Sequence[float],
    measured_mm: Sequence[float],
    groups: Sequence[str] | None = None,
    title: str = "Measured against predicted TRE",
) -> bytes:
    """Measured RMS TRE against the predicted one (mm), one point per configuration (coloured by
    ``groups`` when given), with the line of perfect prediction."""
    predicted = _finite(predicted_mm, title)
    measured = _finite(measured_mm, title)
    if predicted.shape != measured.shape:
        raise ReportError(f"{title}: {predicted.size} predictions for {measured.size} measures")
    figure, axes = _figure(WIDTH_IN * 0.75, WIDTH_IN * 0.65)
    labels = np.asarray(groups if groups is not None else [""] * predicted.size, dtype=object)
    for group in dict.fromkeys(labels):
        chosen = labels == group
        axes.scatter(predicted[chosen], measured[chosen], s=18, label=group or None)
    top = float(np.nanmax(np.concatenate([predicted, measured]))) * 1.05
    axes.plot([0.0, top], [0.0, top], color="black", linewidth=1.0, label="measured = predicted")
    axes.set_xlim(0.0, top)
    axes.set_ylim(0.0, top)
    axes.set_aspect("equal")
    axes.set_xlabel("predicted TRE, RMS (mm)")
    axes.set_ylabel("measured TRE, RMS (mm)")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    return png_bytes(figure)


def tre_against_fiducials(
    n_fiducials: Sequence[int],
    fle_mm: Sequence[float],
    measured_mm: Sequence[float],
    predicted_mm: Sequence[float] | None = None,
    title: str = "TRE against the number of fiducials",
) -> bytes:
    """One line per FLE: the measured RMS TRE (mm, solid, dots) against the number of fiducials,
    and the predicted one (dashed) when given. Rows with the same (N, FLE) are averaged as mean
    squares (RMS over targets and layouts)."""
    counts = np.asarray(n_fiducials, dtype=np.int64).ravel()
    fles = _finite(fle_mm, title)
    measured = _finite(measured_mm, title)
    if not counts.size == fles.size == measured.size:
        raise ReportError(f"{title}: the columns have different lengths")
    figure, axes = _figure()
    for index, fle in enumerate(np.unique(fles)):
        colour = f"C{index}"
        for values, style, label in (
            (measured, "-o", f"FLE {fle:g} mm, measured"),
            (predicted_mm, "--", f"FLE {fle:g} mm, predicted"),
        ):
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64).ravel()
            chosen = fles == fle
            xs = np.unique(counts[chosen])
            rms = [np.sqrt(np.nanmean(values[chosen & (counts == x)] ** 2)) for x in xs]
            axes.plot(xs, rms, style, color=colour, label=label)
    axes.set_xticks(np.unique(counts))
    axes.set_xlabel("number of fiducials")
    axes.set_ylabel("TRE, RMS (mm)")
    axes.set_ylim(bottom=0.0)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, ncols=2)
    return png_bytes(figure)
