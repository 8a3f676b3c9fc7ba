"""Plots for reports and studies: real PNGs whose content follows the data, refusals of
mismatched columns, and repeatable bytes."""

import io

import numpy as np
import pytest
from matplotlib import image as mpimg

from guidance.exceptions import ReportError
from guidance.reports.plots import (
    ALERT_COLOUR,
    distribution,
    measured_vs_predicted,
    residual_bars,
    tre_against_fiducials,
)


def _pixels(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(png), format="png")[..., :3]


def _count_colour(pixels: np.ndarray, hex_colour: str) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return int(np.sum(np.all(np.abs(pixels - rgb) < 0.02, axis=-1)))


def test_residual_bars_turn_red_above_twice_the_line():
    calm = _pixels(residual_bars(["F1", "F2", "F3"], [0.5, 0.6, 0.55], 0.55, "FRE 0.55 mm"))
    alarmed = _pixels(residual_bars(["F1", "F2", "F3"], [0.5, 2.0, 0.55], 0.55, "FRE 0.55 mm"))
    assert _count_colour(calm, ALERT_COLOUR) == 0
    assert _count_colour(alarmed, ALERT_COLOUR) > 500


def test_residual_bars_need_one_label_per_bar():
    with pytest.raises(ReportError, match="2 labels for 3 residuals"):
        residual_bars(["F1", "F2"], [0.1, 0.2, 0.3])


def test_plots_are_repeatable_bytes():
    values = np.random.default_rng(0).gamma(2.0, 0.3, 200)
    assert distribution(values, "FRE", "mm") == distribution(values, "FRE", "mm")


def test_distribution_counts_runs_without_a_value_and_refuses_nothing_to_plot():
    values = np.array([0.4, 0.5, np.nan, 0.6])
    assert _pixels(distribution(values, "FRE", "mm")).shape[0] > 100
    with pytest.raises(ReportError, match="nothing to plot"):
        distribution([], "FRE", "mm")


def test_measured_vs_predicted_checks_its_columns():
    png = measured_vs_predicted([0.3, 0.5, 0.7], [0.35, 0.45, 0.8], ["FLE 0.5"] * 3)
    height, width = _pixels(png).shape[:2]
    assert 0.7 < height / width < 1.4  # square axes: the identity line is the diagonal
    with pytest.raises(ReportError, match="3 predictions for 2 measures"):
        measured_vs_predicted([0.3, 0.5, 0.7], [0.35, 0.45])


def test_tre_against_fiducials_draws_one_line_per_fle_and_refuses_ragged_columns():
    counts = [4, 6, 8, 4, 6, 8]
    fles = [0.25, 0.25, 0.25, 1.0, 1.0, 1.0]
    measured = [0.2, 0.16, 0.14, 0.8, 0.65, 0.55]
    one = tre_against_fiducials(counts[:3], fles[:3], measured[:3])
    two = tre_against_fiducials(counts, fles, measured, predicted_mm=measured)
    assert _count_colour(_pixels(two), "#ff7f0e") > _count_colour(_pixels(one), "#ff7f0e")
    with pytest.raises(ReportError, match="different lengths"):
        tre_against_fiducials(counts, fles[:2], measured)
