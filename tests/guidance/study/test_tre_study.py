"""``gestes study tre`` in this process: the trial against the truth, the tables, a study stopped
and resumed, pieces cut differently, the page in a browser, and bad settings."""

import numpy as np
import pytest

from guidance.exceptions import GuidanceError
from guidance.exercises import simulate
from guidance.exercises.errors import ErrorSources
from guidance.study import worker_cache
from guidance.study.engine import ClusterSettings
from guidance.study.layouts import place_fiducials, reachable_skin
from guidance.study.tre_study import (
    SUMMARY_FIELDS,
    Configuration,
    StudyPlan,
    run_study,
    summarise,
)
from guidance.study.tre_trial import configuration_scene, nominal_fle_mm, run_trial, scaled_model
from registration.tre import predict_tre_rms
from scenes.student import SKILLS, Skill
from tests.browser import check_page
from tests.guidance.study.studies import BOX, SMALL, small

IN_PROCESS = ClusterSettings(workers=0)


def test_scaling_the_error_model_sets_its_nominal_fle():
    errors, hand = ErrorSources(), SKILLS[Skill.NOVICE]
    scaled, scaled_hand = scaled_model(0.8, errors, hand)
    assert nominal_fle_mm(scaled, scaled_hand) == pytest.approx(0.8)
    factor = 0.8 / nominal_fle_mm(errors, hand)
    assert scaled.marker_jitter_rms_mm == pytest.approx(errors.marker_jitter_rms_mm * factor)
    assert scaled.trueness_length_mm == errors.trueness_length_mm  # a length scale, not an error
    with pytest.raises(GuidanceError, match="tip_placement"):
        scaled_model(0.5, errors.without(["tip_placement", "ct_localisation"]), hand)


@pytest.fixture(scope="module")
def box_configuration():
    scene, skin = worker_cache.scene(BOX, 0), worker_cache.skin(BOX, 0)
    points = place_fiducials(reachable_skin(scene, skin), "spread", 4)
    return configuration_scene(scene, points), skin


@pytest.mark.parametrize(("fle_mm", "low", "high"), [(0.02, 0.0, 0.1), (1.0, 0.6, 1.8)])
def test_a_trial_measures_errors_the_size_of_the_fle_asked(box_configuration, fle_mm, low, high):
    """With a tiny FLE the whole chain (placement, tracker, digitising, registration, truth)
    must give a tiny error; a wrong frame or pairing anywhere would not."""
    scene, skin = box_configuration
    vectors, tre = [], []
    for seed in (11, 12):
        result = run_trial(simulate.stage(scene, seed, skin), fle_mm, seed)
        assert result.failure is None
        vectors.append(result.fle_vectors_mm)
        tre.append(result.true_tre_mm)
    fle = np.sqrt(np.mean(np.sum(np.concatenate(vectors) ** 2, axis=1)))
    assert low <= fle <= high
    assert (
        np.max(tre)
        < 4.0 * predict_tre_rms(scene.fiducials_mm, max(fle, 0.05), scene.targets_mm).max()
    )


def test_the_summary_is_computed_from_the_trials():
    fiducials = np.array([[0.0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50]])
    targets = np.array([[10.0, 10, 10]])
    plan = StudyPlan(SMALL, ("T",), targets, (Configuration("spread", 0.5, fiducials),))
    rng = np.random.default_rng(0)
    trials = [
        {
            "trial": k,
            "seed": k,
            "failure": None,
            "true_tre_mm": [tre],
            "predicted_from_fre_mm": [0.3],
            "predicted_from_scatter_mm": [0.2],
            "fre_mm": 0.4,
            "fle_vectors_mm": (rng.normal(size=(4, 3)) * 0.3).tolist(),
        }
        for k, tre in enumerate([0.5, 1.5, 0.9])
    ]
    trials.append({**trials[0], "trial": 3, "failure": "no dwell", "true_tre_mm": None})
    summary, per_trial = summarise(plan, {plan.configurations[0].key: trials[::-1]})
    (row,) = summary
    assert set(row) == set(SUMMARY_FIELDS)
    assert (row["trials"], row["failed_trials"]) == (4, 1)
    assert row["tre_rms_mm"] == pytest.approx(np.sqrt(np.mean(np.square([0.5, 1.5, 0.9]))))
    assert row["tre_below_1mm_percent"] == pytest.approx(200 / 3)
    assert row["predicted_tre_mm"] == pytest.approx(predict_tre_rms(fiducials, 0.5, targets)[0])
    vectors = np.array([t["fle_vectors_mm"] for t in trials[:3]])
    fle = np.sqrt(np.mean(np.sum(vectors**2, axis=2)))
    assert row["fle_measured_mm"] == pytest.approx(fle)
    assert row["predicted_tre_measured_fle_mm"] == pytest.approx(
        predict_tre_rms(fiducials, fle, targets)[0]
    )
    assert [r["trial"] for r in per_trial] == [0, 1, 2, 3]  # in trial order, whatever came first
    assert per_trial[3]["failure"] == "no dwell" and per_trial[3]["tre_mm"] is None


@pytest.fixture(scope="module")
def whole_study(tmp_path_factory):
    """SMALL in pieces of 3 trials, run without a stop."""
    settings = small(trials_per_piece=3)
    return run_study(settings, tmp_path_factory.mktemp("whole"), IN_PROCESS)


def test_a_stopped_study_resumes_to_the_same_tables_whatever_the_pieces(whole_study, tmp_path):
    def stop_after_one_piece(done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(SMALL, tmp_path, IN_PROCESS, progress=stop_after_one_piece)
    assert len(list((tmp_path / "pieces").glob("*.json"))) == 1
    resumed = run_study(SMALL, tmp_path, IN_PROCESS, resume=True)
    assert resumed.pieces_run == 2
    whole = whole_study.table_path.parent
    for name in ("tre.csv", "trials.csv"):
        assert (tmp_path / name).read_bytes() == (whole / name).read_bytes()


def test_the_tables_and_the_page(whole_study):
    summary = whole_study.summary
    assert len(summary) == 5  # one configuration, the box's 5 targets
    assert all(row["trials"] == 3 and row["tre_rms_mm"] > 0 for row in summary)
    lines = whole_study.trials_path.read_text().splitlines()
    assert len(lines) == 1 + 3 * 5
    check = check_page(whole_study.page_path)
    assert (check.console_errors, check.script_errors, check.outside_requests) == ((), (), ())
    assert len(check.images) == 5  # TRE against N, four measured-against-predicted plots
    assert all(width > 0 and height > 0 for _, width, height in check.images)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fiducials": (2, 4)}, "at least 3 fiducials"),
        ({"fle_mm": (0.0,)}, "FLE"),
        ({"layouts": ("ring",)}, "unknown layout"),
        ({"trials": 0}, "trials"),
        ({"without": ("gravity",)}, "unknown error source"),
        ({"fiducials": (4, 4)}, "twice"),
    ],
)
def test_bad_settings_are_refused_in_one_line(changes, message):
    with pytest.raises(GuidanceError, match=message) as caught:
        small(**changes)
    assert "\n" not in str(caught.value)


def test_an_unknown_target_or_scene_is_refused_before_anything_runs(tmp_path):
    from scenes.exceptions import SceneError

    with pytest.raises(GuidanceError, match="no target T9"):
        run_study(small(targets=("T9",)), tmp_path, IN_PROCESS)
    with pytest.raises(SceneError, match="unknown phantom"):
        run_study(small(scene="builtin:x"), tmp_path, IN_PROCESS)
    assert not (tmp_path / "pieces").exists()


def test_a_scene_folder_is_named_by_its_absolute_path_for_workers_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert small(scene="my-scene").scene == str(tmp_path / "my-scene")
    assert small(scene="builtin:skull").scene == "builtin:skull"
