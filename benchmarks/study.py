"""Study and grading benchmarks: trials per second of ``gestes study tre`` on 1 and 2 local Dask
workers, Dask's overhead per piece of work against a plain loop, and ``gestes grade``
throughput on 50 recorded runs.

Run ``python -m benchmarks.study`` from the repository root (a few minutes on 2 idle cores;
``--quick`` halves the work for a first look). Prints a table and writes
``benchmarks/results/study.json``.

1. One trial's time, in this process, on the two paths of the simulated tracker: the recording
   as arrays, block by block (``SimulatedTracker.sequence``: what a study runs), and frame by
   frame (every frame built and read through ``TrackerDevice.read``, as a live session reads
   it). The same simulation either way: the benchmark checks that both give the same trials.
   With ``--baseline REV`` (a git revision, e.g. the commit before the tracker was simulated
   in blocks), the same trials are also timed on that revision's code, extracted to a temporary
   folder, and on this tree's, each in a process of its own: a before/after in one run.
2. Trials per second: one configuration of the default study (skull, 4 spread fiducials, FLE
   0.5 mm, every error source) cut into the default pieces (``trials_per_piece`` trials), run
   in this process without Dask (the plain loop), then on a local cluster of 1 and of 2 worker
   processes. Rates are counted in the steady state, between the first and the last piece to
   arrive (a cluster's start and its workers' building of the scene are reported apart, as the
   time to the first piece). Target: 2 workers >= 1.7 x 1 worker on this 2-core machine.
3. Dask's overhead per piece: pieces that do nothing, through ``engine.run_pieces`` (the study's
   own bookkeeping: saving each result as it arrives) on a 1-worker cluster and in the plain
   loop; the difference is what Dask adds to each piece. Against the measured time of one trial
   it gives the overhead of the default pieces (``trials_per_piece`` trials) and the smallest
   piece that keeps it under 5 %.
4. Grading: ``--distinct`` fiducials runs of the skull (seeds 0, 1, ...; written by
   ``gestes exercise`` without pictures), copied into 50 student folders, graded on 1 and 2
   local workers (runs per second, wall time including the cluster's start).
"""

import argparse
import contextlib
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS_FOLDER, write_results
from devices.sequence_file import TrackingSequence
from devices.simulated import SimulatedTracker
from guidance.study.engine import ClusterSettings, Piece, PieceRunner, run_pieces
from guidance.study.settings import TreStudySettings
from guidance.study.store import PieceStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = RESULTS_FOLDER / "study.json"
SCENE = "builtin:skull"
CLASS_SIZE = 50
OVERHEAD_TARGET = 0.05


def nothing(index: int) -> dict[str, int]:
    """A piece that does no work (for Dask's overhead)."""
    return {"index": index}


class Arrivals:
    """A progress callback that notes when each piece arrives."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.times: list[float] = []
        self._seen = None

    def __call__(self, done: int, total: int) -> None:
        if self._seen is not None and done > self._seen:
            self.times.append(time.perf_counter() - self.start)
        self._seen = done

    def steady_rate(self, items_per_piece: int) -> float:
        """Items per second between the first and the last arrival."""
        if len(self.times) < 2:
            return math.nan
        return (len(self.times) - 1) * items_per_piece / (self.times[-1] - self.times[0])


def one_configuration(trials: int) -> TreStudySettings:
    """The benchmark's study: one configuration of the default study, ``trials`` trials."""
    return TreStudySettings(scene=SCENE, fiducials=(4,), fle_mm=(0.5,), trials=trials)


@contextlib.contextmanager
def frames_one_by_one():
    """Within it, a simulated tracker's recording is read frame by frame (each a ``Frame``,
    through ``TrackerDevice.read``) instead of computed as arrays."""

    def read(tracker: SimulatedTracker) -> TrackingSequence:
        with tracker:
            return TrackingSequence.from_frames(list(tracker), tracker.tools)

    original = SimulatedTracker.sequence
    SimulatedTracker.sequence = read
    try:
        yield
    finally:
        SimulatedTracker.sequence = original


def bench_trial_paths(trials: int) -> dict[str, float]:
    """Seconds per trial (the workers' own ``run_piece``, in this process) with the tracker's
    recording as arrays and frame by frame, and whether both gave the same trials."""
    from guidance.study.tre_study import piece_arguments, plan_study, run_piece

    plan = plan_study(one_configuration(trials))
    arguments = piece_arguments(plan, plan.configurations[0], range(trials))
    run_piece(*piece_arguments(plan, plan.configurations[0], range(1)))  # scene, Numba: warm
    seconds, records = {}, {}
    for path in ("arrays", "frames"):
        with frames_one_by_one() if path == "frames" else contextlib.nullcontext():
            began = time.perf_counter()
            records[path] = run_piece(*arguments)
            seconds[path] = (time.perf_counter() - began) / trials
    return {
        "arrays_s_per_trial": seconds["arrays"],
        "frames_s_per_trial": seconds["frames"],
        "frames_over_arrays": seconds["frames"] / seconds["arrays"],
        "same_trials": records["arrays"] == records["frames"],
    }


# Times the trials of one configuration with the study API every revision since the study has
# (plan_study, piece_arguments, run_piece), in the current directory's code; prints s per trial.
TRIAL_TIMER = """
import logging, sys, time
logging.disable(logging.WARNING)
from guidance.study.settings import TreStudySettings
from guidance.study.tre_study import piece_arguments, plan_study, run_piece
scene, trials = sys.argv[1], int(sys.argv[2])
settings = TreStudySettings(scene=scene, fiducials=(4,), fle_mm=(0.5,), trials=trials)
plan = plan_study(settings)
run_piece(*piece_arguments(plan, plan.configurations[0], range(1)))
began = time.perf_counter()
run_piece(*piece_arguments(plan, plan.configurations[0], range(trials)))
print((time.perf_counter() - began) / trials)
"""


def seconds_per_trial(code: Path, trials: int) -> float:
    """One trial's time (s) on the code in folder ``code``, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", TRIAL_TIMER, SCENE, str(trials)],
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def bench_baseline(revision: str, trials: int) -> dict[str, float | str]:
    """Seconds per trial on the code of git ``revision`` and on this tree's, same trials."""
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        baseline = seconds_per_trial(Path(folder), trials)
    current = seconds_per_trial(ROOT, trials)
    return {
        "revision": revision,
        "baseline_s_per_trial": baseline,
        "this_tree_s_per_trial": current,
        "speedup": baseline / current,
    }


def bench_study(trials: int, workers: int) -> dict[str, float]:
    """One configuration of ``trials`` trials on ``workers`` local workers (0: the plain loop),
    in pieces of the default size."""
    from guidance.study.tre_study import run_study

    settings = one_configuration(trials)
    arrivals = Arrivals()
    with tempfile.TemporaryDirectory() as folder:
        run_study(settings, Path(folder), ClusterSettings(workers=workers), progress=arrivals)
    wall = time.perf_counter() - arrivals.start
    return {
        "trials_per_s": arrivals.steady_rate(settings.trials_per_piece),
        "first_piece_s": arrivals.times[0],
        "wall_s": wall,
    }


def bench_overhead(pieces: int) -> dict[str, float]:
    """Seconds per empty piece through run_pieces, on a 1-worker cluster and in the loop."""
    seconds = {}
    for name, settings in (("loop", ClusterSettings(workers=0)), ("dask", ClusterSettings(1))):
        work = [Piece(f"nothing/{k}", nothing, (k,)) for k in range(pieces)]
        arrivals = Arrivals()
        with tempfile.TemporaryDirectory() as folder, PieceRunner(settings) as runner:
            store = PieceStore.open(Path(folder), {"benchmark": "overhead"}, resume=False)
            run_pieces(work, store, runner, arrivals)
        seconds[name] = 1.0 / arrivals.steady_rate(1)
    return {
        "loop_s_per_piece": seconds["loop"],
        "dask_s_per_piece": seconds["dask"],
        "overhead_s_per_piece": seconds["dask"] - seconds["loop"],
    }


def make_class(folder: Path, distinct: int) -> Path:
    """``CLASS_SIZE`` student folders holding copies of ``distinct`` real fiducials runs."""
    from guidance.exercises.runner import ExerciseOptions, run_exercise

    runs = [
        run_exercise(
            ExerciseOptions(
                "fiducials",
                scene=SCENE,
                out=folder / "made" / f"seed-{seed}",
                seed=seed,
                snapshots=False,
            )
        ).out_dir
        for seed in range(distinct)
    ]
    students = folder / "class"
    for k in range(CLASS_SIZE):
        shutil.copytree(runs[k % distinct], students / f"student-{k:02d}")
    return students


def bench_grade(students: Path, workers: int) -> dict[str, float]:
    from guidance.study.grading import grade

    arrivals = Arrivals()
    with tempfile.TemporaryDirectory() as out:
        outcome = grade(
            students, "fiducials", Path(out), ClusterSettings(workers), progress=arrivals
        )
    wall = time.perf_counter() - arrivals.start
    failed = sum(1 for row in outcome.rows if row["error"])
    return {
        "runs_per_s": CLASS_SIZE / wall,
        "steady_runs_per_s": arrivals.steady_rate(1),
        "wall_s": wall,
        "failed_runs": failed,
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per study run")
    parser.add_argument("--distinct", type=int, default=4, help="distinct runs in the class")
    parser.add_argument("--quick", action="store_true", help="half the trials, 2 distinct runs")
    parser.add_argument(
        "--baseline", metavar="REV", help="also time trials on this git revision's code"
    )
    args = parser.parse_args()
    trials = max(4, args.trials // 2) if args.quick else args.trials
    distinct = 2 if args.quick else args.distinct

    paths = bench_trial_paths(max(4, trials // 10))
    print(
        f"one trial: {1e3 * paths['arrays_s_per_trial']:.0f} ms with the recording as arrays, "
        f"{1e3 * paths['frames_s_per_trial']:.0f} ms frame by frame "
        f"({paths['frames_over_arrays']:.1f} x); same trials: {paths['same_trials']}"
    )
    baseline = None
    if args.baseline:
        baseline = bench_baseline(args.baseline, max(4, trials // 20))
        print(
            f"one trial at {args.baseline}: {1e3 * baseline['baseline_s_per_trial']:.0f} ms; "
            f"this tree: {1e3 * baseline['this_tree_s_per_trial']:.0f} ms "
            f"({baseline['speedup']:.1f} x faster)"
        )
    per_piece = TreStudySettings().trials_per_piece
    print(f"study tre: {trials} trials of one configuration on {SCENE}, {per_piece} per piece")
    study = {f"workers_{n}": bench_study(trials, n) for n in (0, 1, 2)}
    for name, figures in study.items():
        label = "plain loop" if name == "workers_0" else name.replace("_", " ")
        print(
            f"  {label:<12} {figures['trials_per_s']:7.3f} trials/s  (first piece after "
            f"{figures['first_piece_s']:5.1f} s, wall {figures['wall_s']:5.1f} s)"
        )
    speedup = study["workers_2"]["trials_per_s"] / study["workers_1"]["trials_per_s"]
    print(f"  2 workers / 1 worker: {speedup:.2f} x (target >= 1.7)")

    overhead = bench_overhead(pieces=100)
    trial_s = 1.0 / study["workers_0"]["trials_per_s"]
    default_piece = TreStudySettings().trials_per_piece
    fraction = overhead["overhead_s_per_piece"] / (default_piece * trial_s)
    smallest = math.ceil(overhead["overhead_s_per_piece"] / (OVERHEAD_TARGET * trial_s))
    print(
        f"Dask overhead: {1e3 * overhead['overhead_s_per_piece']:.1f} ms per piece (plain loop "
        f"{1e3 * overhead['loop_s_per_piece']:.1f} ms, 1-worker cluster "
        f"{1e3 * overhead['dask_s_per_piece']:.1f} ms); a trial takes {1e3 * trial_s:.0f} ms, so "
        f"{100 * fraction:.2f} % for the default {default_piece} trials per piece; under 5 % "
        f"from {max(1, smallest)} trial(s) per piece"
    )

    with tempfile.TemporaryDirectory() as folder:
        print(f"grade: making {distinct} fiducials runs on {SCENE}, {CLASS_SIZE} students")
        students = make_class(Path(folder), distinct)
        grading = {f"workers_{n}": bench_grade(students, n) for n in (1, 2)}
    for name, figures in grading.items():
        print(
            f"  {name.replace('_', ' '):<12} {figures['runs_per_s']:7.2f} runs/s with the start "
            f"({figures['wall_s']:.1f} s), {figures['steady_runs_per_s']:.2f} runs/s steady, "
            f"{figures['failed_runs']} failed"
        )

    write_results(
        {
            "scene": SCENE,
            "trial_paths": paths,
            "baseline": baseline,
            "study": study,
            "speedup_2_over_1": speedup,
            "overhead": {
                **overhead,
                "trial_s": trial_s,
                "default_trials_per_piece": default_piece,
                "overhead_fraction_default": fraction,
                "smallest_piece_under_5_percent": max(1, smallest),
            },
            "grade": {"class_size": CLASS_SIZE, "distinct_runs": distinct, **grading},
        },
        RESULTS,
    )


if __name__ == "__main__":
    main()
