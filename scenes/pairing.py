"""Pairing the points of two markups files for a paired-point registration.

Row i of each side must be the same physical point. The safe way to know is the label: the CT's
bead ``F3`` is the point the student touched and named ``F3``. Pairing by the order of the files
is only right when both list the points in the same order, which nothing in the files can
confirm, so it happens only when asked for (``PairBy.ORDER``); labels that do not match are
refused with the labels shown, never paired silently by order.
"""

import enum
from collections import Counter
from dataclasses import dataclass

import numpy as np

from scenes.exceptions import MarkupsError
from scenes.markups import Markups

MIN_PAIRS = 3  # a rigid registration needs 3 points that are not on one line


class PairBy(enum.Enum):
    """How the points of two markups files are paired."""

    LABEL = "label"
    ORDER = "order"


@dataclass(frozen=True, eq=False)
class PairedPoints:
    """Paired rows: ``fixed_mm[i]`` and ``moving_mm[i]`` (mm) are the point ``labels[i]``.

    ``unpaired_fixed`` and ``unpaired_moving`` are the labels of either file that found no
    partner (pairing by label only; they are left out of the registration).
    """

    labels: tuple[str, ...]
    fixed_mm: np.ndarray
    moving_mm: np.ndarray
    by: PairBy
    unpaired_fixed: tuple[str, ...] = ()
    unpaired_moving: tuple[str, ...] = ()


def _labels_shown(labels: tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f", ... ({len(labels)} in all)" if len(labels) > limit else "")


def _check_unique(markups: Markups, described: str) -> None:
    repeated = sorted(label for label, count in Counter(markups.labels).items() if count > 1)
    if repeated:
        raise MarkupsError(
            f"{described} repeats the labels {', '.join(repeated)}: each point "
            "needs its own label to be paired (rename them, or pair by order if both files list "
            "the points in the same order)"
        )


def _check_count(markups: Markups, described: str) -> None:
    if len(markups.labels) < MIN_PAIRS:
        left_out = f" ({len(markups.left_out)} left out: no position)" if markups.left_out else ""
        raise MarkupsError(
            f"{described} has {len(markups.labels)} points{left_out}; a "
            f"registration needs at least {MIN_PAIRS}"
        )


def pair_markups(
    fixed: Markups,
    moving: Markups,
    by: PairBy = PairBy.LABEL,
    described_as: tuple[str, str] = ("the fixed markups", "the moving markups"),
) -> PairedPoints:
    """Pair ``fixed`` and ``moving`` points by label (every shared label, in the fixed file's
    order) or, when asked, by order (row i with row i; the counts must agree).

    Raises MarkupsError when fewer than 3 pairs can be formed, naming both sides as
    ``described_as`` says (e.g. "the markups file ct-beads.mrk.json") and showing their labels.
    """
    fixed_name, moving_name = described_as
    _check_count(fixed, fixed_name)
    _check_count(moving, moving_name)
    if by is PairBy.ORDER:
        if len(fixed.labels) != len(moving.labels):
            raise MarkupsError(
                f"cannot pair by order: {fixed_name} has {len(fixed.labels)} points and "
                f"{moving_name} has {len(moving.labels)}"
            )
        return PairedPoints(fixed.labels, fixed.points_mm, moving.points_mm, by)
    _check_unique(fixed, fixed_name)
    _check_unique(moving, moving_name)
    moving_rows = {label: row for row, label in enumerate(moving.labels)}
    shared = [label for label in fixed.labels if label in moving_rows]
    if len(shared) < MIN_PAIRS:
        raise MarkupsError(
            f"cannot pair by label: {fixed_name} ({_labels_shown(fixed.labels)}) and "
            f"{moving_name} ({_labels_shown(moving.labels)}) share "
            f"{len(shared)} labels; a registration needs at least {MIN_PAIRS}. Name the points "
            "alike (gestes fiducials detect --names-from names beads after a scene's "
            "fiducials), or pair by order if both files list the points in the same order"
        )
    fixed_rows = [fixed.labels.index(label) for label in shared]
    return PairedPoints(
        tuple(shared),
        fixed.points_mm[fixed_rows],
        moving.points_mm[[moving_rows[label] for label in shared]],
        by,
        unpaired_fixed=tuple(label for label in fixed.labels if label not in moving_rows),
        unpaired_moving=tuple(label for label in moving.labels if label not in set(shared)),
    )


@dataclass(frozen=True)
class NearestNaming:
    """Naming found points (e.g. beads detected in a CT) after known ones (a scene's fiducials in
    the same CT): a found point takes the label of the known point nearest to it when each is the
    other's nearest and they are at most ``tolerance_mm`` apart.

    3 mm: bead centres are found to a fraction of a voxel, and markers stand tens of mm apart.
    """

    tolerance_mm: float = 3.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tolerance_mm) and self.tolerance_mm > 0.0):
            raise MarkupsError(f"tolerance_mm must be positive; got {self.tolerance_mm}")


def name_after_nearest(
    points_mm: np.ndarray, known: Markups, settings: NearestNaming | None = None
) -> tuple[str | None, ...]:
    """For each of ``points_mm`` (N, 3) mm, the label of the ``known`` point it matches (mutual
    nearest neighbours within the tolerance), or None."""
    settings = settings or NearestNaming()
    points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    if len(points) == 0 or len(known.labels) == 0:
        return (None,) * len(points)
    distances = np.linalg.norm(points[:, None, :] - known.points_mm[None, :, :], axis=2)
    nearest_known = np.argmin(distances, axis=1)
    nearest_point = np.argmin(distances, axis=0)
    return tuple(
        known.labels[k]
        if nearest_point[k] == i and distances[i, k] <= settings.tolerance_mm
        else None
        for i, k in enumerate(nearest_known)
    )
