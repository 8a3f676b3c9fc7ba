"""``gestes study tre``: how the target registration error depends on the number of fiducials,
where they are, and how well each is localised, measured over many simulated exercises and
compared with what theory predicts.

A study is a grid of configurations (a layout, a number of fiducials, an FLE), each run for
``trials`` simulated fiducials exercises (``tre_trial.run_trial``). The work is cut into pieces:
one configuration and a range of ``trials_per_piece`` trials. A piece needs only its arguments
(plain numbers and names), so any worker can run it; it rebuilds the scene from its name once
per worker process (``worker_cache``). Each trial draws from its own seed (``seeds``), so the
results do not depend on how the trials are cut into pieces, on the number of workers, or on the
order pieces finish in.

Per configuration and target, the study's table compares:
- the measured TRE (RMS over the trials, its 95th percentile, the share of trials under 1 mm);
- Fitzpatrick, West & Maurer 1998 (eq. 46) at the configuration's FLE, and at the FLE the
  trials actually had (``fle_measured_mm``: every source counted, the tracker's included);
- the anisotropic first-order propagation (Danilchenko & Fitzpatrick 2011) of each fiducial's
  measured error covariance (the mean of ``e e^T`` over the trials: its bias counts);
- what the exercise itself predicts from its FRE, as a navigation system would (RMS over the
  trials), and the FRE.
Errors common to all fiducials (a miscalibrated stylus tip, the tracker's smooth distortion)
move the target without showing in the FRE: none of the predictions sees them, the measured TRE
does.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guidance.exceptions import GuidanceError
from guidance.study import worker_cache
from guidance.study.engine import (
    ClusterSettings,
    Piece,
    PieceRunner,
    Progress,
    captured_warnings,
    run_pieces,
)
from guidance.study.layouts import place_fiducials, reachable_skin
from guidance.study.seeds import trial_seed
from guidance.study.settings import TreStudySettings
from guidance.study.store import PieceStore, write_csv

TRE_LIMIT_MM = 1.0
# Per configuration and target; the units are in the names (report meanings).
SUMMARY_FIELDS = (
    "layout",
    "n_fiducials",
    "fle_mm",
    "target",
    "trials",
    "failed_trials",
    "target_offset_mm",
    "tre_rms_mm",
    "tre_p95_mm",
    "tre_below_1mm_percent",
    "predicted_tre_mm",
    "fle_measured_mm",
    "predicted_tre_measured_fle_mm",
    "predicted_tre_anisotropic_mm",
    "system_predicted_tre_mm",
    "fre_rms_mm",
)
TRIAL_FIELDS = (
    "layout",
    "n_fiducials",
    "fle_mm",
    "trial",
    "seed",
    "target",
    "tre_mm",
    "system_predicted_tre_mm",
    "fre_mm",
    "fle_rms_mm",
    "failure",
)


@dataclass(frozen=True, eq=False)
class Configuration:
    """One cell of the study's grid: the fiducials of ``layout`` (N, 3, CT mm) and the FLE."""

    layout: str
    fle_mm: float
    fiducials_mm: np.ndarray

    @property
    def n_fiducials(self) -> int:
        return len(self.fiducials_mm)

    @property
    def key(self) -> str:
        """The configuration's name in seeds and piece keys (stable: the FLE as Python writes
        it)."""
        return f"{self.layout}/n={self.n_fiducials}/fle={self.fle_mm!r}"


@dataclass(frozen=True, eq=False)
class StudyPlan:
    """A study ready to run: its settings, the targets (labels and CT mm), the configurations
    in table order, and for each the pieces' trial ranges."""

    settings: TreStudySettings
    target_labels: tuple[str, ...]
    targets_mm: np.ndarray
    configurations: tuple[Configuration, ...]

    def trial_ranges(self) -> list[range]:
        """The trial numbers of each piece of one configuration."""
        step = self.settings.trials_per_piece
        return [
            range(first, min(first + step, self.settings.trials))
            for first in range(0, self.settings.trials, step)
        ]

    def piece_key(self, configuration: Configuration, trials: range) -> str:
        return f"{configuration.key}/trials={trials.start}-{trials.stop - 1}"


def plan_study(settings: TreStudySettings) -> StudyPlan:
    """Resolve the scene, check the targets and place every configuration's fiducials;
    GuidanceError (or the scene's error) for what cannot be studied, before anything runs."""
    scene = worker_cache.scene(settings.scene, settings.seed)
    skin = worker_cache.skin(settings.scene, settings.seed)
    chosen = _chosen_targets(scene.target_labels, settings.targets, settings.scene)
    rows = [list(scene.target_labels).index(label) for label in chosen]
    candidates = reachable_skin(scene, skin)
    configurations = []
    for layout in settings.layouts:
        for count in settings.fiducials:
            points = place_fiducials(candidates, layout, count)
            configurations += [Configuration(layout, fle, points) for fle in settings.fle_mm]
    return StudyPlan(settings, chosen, scene.targets_mm[rows].reshape(-1, 3), tuple(configurations))


def _chosen_targets(
    labels: Sequence[str], wanted: Sequence[str], scene_name: str
) -> tuple[str, ...]:
    """The scene's targets named in ``wanted`` (any case; empty: all)."""
    if not labels:
        raise GuidanceError(f"scene {scene_name} has no targets: a TRE study measures at targets")
    if not wanted:
        return tuple(labels)
    lowered = {label.lower(): label for label in labels}
    unknown = [name for name in wanted if name.lower() not in lowered]
    if unknown:
        raise GuidanceError(
            f"scene {scene_name} has no target {', '.join(unknown)}; its targets are "
            f"{', '.join(labels)}"
        )
    return tuple(lowered[name.lower()] for name in wanted)


def run_piece(
    scene_spec: str,
    scene_seed: int,
    targets: tuple[str, ...],
    configuration_key: str,
    fiducials_mm: list[list[float]],
    fle_mm: float,
    without: tuple[str, ...],
    study_seed: int,
    first: int,
    stop: int,
) -> dict[str, Any]:
    """Trials ``first`` to ``stop - 1`` of one configuration: a JSON-able record per trial
    (``tre_trial.TrialResult`` and the trial's number and seed). Runs on a worker."""
    from guidance.exercises import simulate
    from guidance.exercises.errors import ErrorSources
    from guidance.study.tre_trial import configuration_scene, run_trial

    skin = worker_cache.skin(scene_spec, scene_seed)
    scene = worker_cache.scene(scene_spec, scene_seed)
    scene = configuration_scene(scene, np.array(fiducials_mm), targets)
    errors = ErrorSources().without(without)
    trials = []
    for trial in range(first, stop):
        seed = trial_seed(study_seed, configuration_key, trial)
        with captured_warnings():
            result = run_trial(simulate.stage(scene, seed, skin), fle_mm, seed, errors)
        trials.append(
            {
                "trial": trial,
                "seed": seed,
                "failure": result.failure,
                "true_tre_mm": _listed(result.true_tre_mm),
                "predicted_from_fre_mm": _listed(result.predicted_from_fre_mm),
                "predicted_from_scatter_mm": _listed(result.predicted_from_scatter_mm),
                "fre_mm": None if result.failure else result.fre_mm,
                "fle_vectors_mm": _listed(result.fle_vectors_mm),
            }
        )
    return {"configuration": configuration_key, "trials": trials}


def _listed(array: np.ndarray | None) -> list | None:
    return None if array is None else np.asarray(array, dtype=np.float64).tolist()


def piece_arguments(plan: StudyPlan, configuration: Configuration, trials: range) -> tuple:
    """The arguments of ``run_piece`` for one piece (plain values: cheap to send anywhere)."""
    settings = plan.settings
    return (
        settings.scene,
        settings.seed,
        plan.target_labels,
        configuration.key,
        configuration.fiducials_mm.tolist(),
        configuration.fle_mm,
        tuple(sorted(settings.without)),
        settings.seed,
        trials.start,
        trials.stop,
    )


def summarise(
    plan: StudyPlan, records: Mapping[str, Sequence[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The study's two tables from the finished trials (``records``: configuration key -> the
    trial records, any order): one row per configuration and target (configurations without a
    finished trial are left out), and one row per trial and target. Trials are taken in their
    numbers' order, so the sums are the same whatever order pieces finished in."""
    from registration.tre import predict_tre_rms, predict_tre_rms_anisotropic

    summary, per_trial = [], []
    for configuration in plan.configurations:
        trials = sorted(records.get(configuration.key, ()), key=lambda t: t["trial"])
        if not trials:
            continue
        names = {
            "layout": configuration.layout,
            "n_fiducials": configuration.n_fiducials,
            "fle_mm": configuration.fle_mm,
        }
        ok = [t for t in trials if t["failure"] is None]
        for t in trials:
            fle = None if t["failure"] else _rms(np.linalg.norm(t["fle_vectors_mm"], axis=1))
            for k, label in enumerate(plan.target_labels):
                per_trial.append(
                    {
                        **names,
                        "trial": t["trial"],
                        "seed": t["seed"],
                        "target": label,
                        "tre_mm": None if t["failure"] else t["true_tre_mm"][k],
                        "system_predicted_tre_mm": None
                        if t["failure"]
                        else t["predicted_from_fre_mm"][k],
                        "fre_mm": t["fre_mm"],
                        "fle_rms_mm": fle,
                        "failure": t["failure"],
                    }
                )
        fiducials = configuration.fiducials_mm
        offsets = np.linalg.norm(plan.targets_mm - fiducials.mean(axis=0), axis=1)
        predicted = predict_tre_rms(fiducials, configuration.fle_mm, plan.targets_mm)
        measured = _measured(ok, fiducials, plan.targets_mm, predict_tre_rms)
        anisotropic = _anisotropic(ok, fiducials, plan.targets_mm, predict_tre_rms_anisotropic)
        for k, label in enumerate(plan.target_labels):
            tre = np.array([t["true_tre_mm"][k] for t in ok])
            system = np.array([t["predicted_from_fre_mm"][k] for t in ok])
            summary.append(
                {
                    **names,
                    "target": label,
                    "trials": len(trials),
                    "failed_trials": len(trials) - len(ok),
                    "target_offset_mm": float(offsets[k]),
                    "tre_rms_mm": _rms(tre),
                    "tre_p95_mm": float(np.percentile(tre, 95.0)) if len(tre) else None,
                    "tre_below_1mm_percent": float(100.0 * np.mean(tre < TRE_LIMIT_MM))
                    if len(tre)
                    else None,
                    "predicted_tre_mm": float(predicted[k]),
                    "fle_measured_mm": measured[0],
                    "predicted_tre_measured_fle_mm": None
                    if measured[1] is None
                    else float(measured[1][k]),
                    "predicted_tre_anisotropic_mm": None
                    if anisotropic is None
                    else float(anisotropic[k]),
                    "system_predicted_tre_mm": _rms(system),
                    "fre_rms_mm": _rms(np.array([t["fre_mm"] for t in ok])),
                }
            )
    return summary, per_trial


def _rms(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    return float(np.sqrt(np.mean(values * values))) if values.size else None


def _fle_vectors(ok: Sequence[dict[str, Any]]) -> np.ndarray:
    """The fiducials' measured localisation errors (trials, N, 3)."""
    return np.array([t["fle_vectors_mm"] for t in ok], dtype=np.float64)


def _measured(ok, fiducials, targets, predict_tre_rms) -> tuple[float | None, np.ndarray | None]:
    """The FLE the trials had (RMS over trials and fiducials) and eq. 46 at that FLE."""
    if not ok:
        return None, None
    fle = _rms(np.linalg.norm(_fle_vectors(ok), axis=2))
    return fle, predict_tre_rms(fiducials, fle, targets)


def _anisotropic(ok, fiducials, targets, predict) -> np.ndarray | None:
    """The first-order TRE from each fiducial's measured ``<e e^T>`` (mm^2)."""
    if not ok:
        return None
    vectors = _fle_vectors(ok)
    moments = np.einsum("tna,tnb->nab", vectors, vectors) / len(vectors)
    return predict(fiducials, moments, targets)


TABLE_FILE = "tre.csv"
TRIALS_FILE = "trials.csv"
PAGE_FILE = "study.html"


@dataclass(frozen=True, eq=False)
class StudyOutcome:
    """What a study wrote: its folder, tables and page, and how many pieces ran now (the
    others were there already)."""

    plan: StudyPlan
    table_path: Path
    trials_path: Path
    page_path: Path
    pieces_run: int
    summary: list[dict[str, Any]]


def study_pieces(plan: StudyPlan) -> list[Piece]:
    """The study's pieces, configuration by configuration."""
    return [
        Piece(plan.piece_key(c, trials), run_piece, piece_arguments(plan, c, trials))
        for c in plan.configurations
        for trials in plan.trial_ranges()
    ]


def run_study(
    settings: TreStudySettings,
    out: Path,
    cluster: ClusterSettings,
    resume: bool = False,
    progress: Progress | None = None,
) -> StudyOutcome:
    """Plan the study, run its pieces on ``cluster`` (skipping those already in ``out`` when
    ``resume``), rewrite the tables as pieces arrive, then write the page. An existing cluster
    is reached first, so that a wrong address is reported before the scene is built."""
    from guidance.study.pages import write_study_page

    with PieceRunner(cluster) as runner:
        plan = plan_study(settings)
        store = PieceStore.open(out, settings.to_dict(), resume)
        pieces = study_pieces(plan)
        table, trials = store.folder / TABLE_FILE, store.folder / TRIALS_FILE

        def write_tables() -> list[dict[str, Any]]:
            return write_study_tables(plan, store, pieces, table, trials)

        ran = run_pieces(pieces, store, runner, progress, write_tables)
    summary = write_tables()
    page = write_study_page(plan, summary, store.folder / PAGE_FILE)
    return StudyOutcome(plan, table, trials, page, ran, summary)


def write_study_tables(
    plan: StudyPlan, store: PieceStore, pieces: Sequence[Piece], table: Path, trials: Path
) -> list[dict[str, Any]]:
    """Rebuild both tables from the pieces saved so far; returns the summary rows."""
    records: dict[str, list[dict[str, Any]]] = {}
    for record in store.records([piece.key for piece in pieces]):
        result = record["result"]
        records.setdefault(result["configuration"], []).extend(result["trials"])
    summary, per_trial = summarise(plan, records)
    write_csv(table, summary, SUMMARY_FIELDS)
    write_csv(trials, per_trial, TRIAL_FIELDS)
    return summary
