"""Pairing two markups files by label (or, when asked, by order) and naming beads after a
scene's fiducials."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenes.exceptions import MarkupsError
from scenes.markups import Markups
from scenes.pairing import NearestNaming, PairBy, name_after_nearest, pair_markups

POINTS = np.array([[0.0, 0, 0], [80, 0, 0], [0, 70, 0], [0, 0, 60], [50, 40, 30]])
LABELS = ("F1", "F2", "F3", "F4", "F5")


def test_by_label_pairs_rows_of_the_same_label_whatever_the_order():
    order = [3, 0, 4, 1, 2]
    moving = Markups(tuple(LABELS[i] for i in order), POINTS[order] + 1.0)
    pairs = pair_markups(Markups(LABELS, POINTS), moving)
    assert pairs.labels == LABELS
    np.testing.assert_array_equal(pairs.moving_mm, POINTS + 1.0)
    assert pairs.by is PairBy.LABEL


def test_labels_that_differ_are_refused_not_paired_by_order():
    beads = Markups(tuple(f"B{i + 1}" for i in range(5)), POINTS)
    with pytest.raises(MarkupsError, match=r"F1, F2.*B1, B2.*share 0 labels"):
        pair_markups(
            Markups(LABELS, POINTS), beads, described_as=("the file ct.mrk.json", "touched")
        )


def test_by_order_when_asked_pairs_row_with_row():
    beads = Markups(tuple(f"B{i + 1}" for i in range(5)), POINTS[::-1])
    pairs = pair_markups(Markups(LABELS, POINTS), beads, PairBy.ORDER)
    np.testing.assert_array_equal(pairs.moving_mm, POINTS[::-1])
    assert pairs.by is PairBy.ORDER


def test_by_order_needs_as_many_points():
    with pytest.raises(MarkupsError, match=r"has 5 points and .* has 4"):
        pair_markups(Markups(LABELS, POINTS), Markups(LABELS[:4], POINTS[:4]), PairBy.ORDER)


def test_unpaired_labels_are_listed():
    moving = Markups(("F1", "F2", "F3", "X9"), POINTS[:4])
    pairs = pair_markups(Markups(LABELS, POINTS), moving)
    assert pairs.labels == ("F1", "F2", "F3")
    assert pairs.unpaired_fixed == ("F4", "F5")
    assert pairs.unpaired_moving == ("X9",)


def test_repeated_labels_are_refused():
    with pytest.raises(MarkupsError, match="repeats the labels F1"):
        pair_markups(Markups(("F1", "F1", "F3"), POINTS[:3]), Markups(LABELS, POINTS))


def test_too_few_points_names_the_file_and_the_count():
    with pytest.raises(
        MarkupsError, match=r"the markups file a\.fcsv has 2 points; a registration"
    ):
        pair_markups(
            Markups(LABELS[:2], POINTS[:2]),
            Markups(LABELS, POINTS),
            described_as=("the markups file a.fcsv", "b"),
        )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(3, 12))
def test_naming_after_nearest_recovers_a_shuffled_noisy_copy(seed, count):
    rng = np.random.default_rng(seed)
    known = Markups(tuple(f"F{i}" for i in range(count)), rng.uniform(-100, 100, (count, 3)))
    spacing = np.min(
        np.linalg.norm(known.points_mm[:, None] - known.points_mm[None], axis=2)
        + np.eye(count) * 1e9
    )
    order = rng.permutation(count)
    jitter = rng.normal(size=(count, 3))
    jitter *= min(1.0, spacing / 4) / np.linalg.norm(jitter, axis=1, keepdims=True)
    names = name_after_nearest(
        known.points_mm[order] + jitter, known, NearestNaming(tolerance_mm=spacing / 2)
    )
    assert names == tuple(known.labels[i] for i in order)


def test_naming_leaves_a_bead_far_from_every_fiducial_unnamed():
    known = Markups(LABELS, POINTS)
    beads = np.vstack([POINTS[[2, 0]] + 0.5, [[300.0, 0.0, 0.0]]])
    assert name_after_nearest(beads, known) == ("F3", "F1", None)


def test_naming_tolerance_must_be_positive():
    with pytest.raises(MarkupsError):
        NearestNaming(tolerance_mm=0.0)
