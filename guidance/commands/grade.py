"""``gestes grade RUNS_DIR --exercise NAME``: every recorded run of an exercise in a folder
tree scored again from its recording, in parallel, into a class table and a summary page."""

import argparse
import sys
from pathlib import Path

from guidance.commands.study import add_cluster_options, cluster_settings
from guidance.exercises import EXERCISES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``gestes grade``."""
    parser = subparsers.add_parser(
        "grade",
        help="score every recorded exercise run in a folder tree again (a class table)",
        description="Find every run gestes exercise wrote under RUNS_DIR (folders with run.json "
        "and recording.igs.mha), score each again from its recording on Dask (a local cluster "
        "or --scheduler), and write grades.csv (one row per run: folder, score fields, "
        "warnings, error) and grades.html (the distribution of each score) to --out. A run "
        "that cannot be scored is a row with its error.",
    )
    parser.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="the class's runs")
    parser.add_argument("--exercise", required=True, choices=EXERCISES, help="which exercise")
    parser.add_argument(
        "--out", type=Path, default=Path("gestes-grades"), help="output folder (gestes-grades)"
    )
    add_cluster_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Grade with a progress bar on stderr; print the class's counts and the files."""
    from guidance.commands.progress_bar import ProgressBar
    from guidance.study.grading import grade

    cluster = cluster_settings(args)
    print(f"... grading on {cluster.describe()}", file=sys.stderr, flush=True)
    bar = ProgressBar("runs")
    try:
        outcome = grade(args.runs_dir, args.exercise, args.out, cluster, args.resume, bar)
    finally:
        bar.close()
    failed = sum(1 for row in outcome.rows if row["error"])
    print(f"{len(outcome.rows)} runs: {len(outcome.rows) - failed} scored, {failed} not")
    print(outcome.table_path)
    print(outcome.page_path)
    return 0
