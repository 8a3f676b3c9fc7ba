"""Benchmark of the command line's start-up: how long ``gestes --help`` and each subcommand's
``--help`` take in a fresh interpreter, against a bare Python and ``import numpy`` (peers in the
same run, so the ratio survives a busy machine better than the seconds do).

Run from the repository root: ``.venv/bin/python -m benchmarks.startup [--repeats N]``. Prints a
table of medians and saves them as JSON in ``benchmarks/results/startup.json``.
"""

import argparse
import statistics
import subprocess
import sys
import time

from benchmarks.common import RESULTS_FOLDER, write_results
from guidance.cli import COMMANDS

RESULTS = RESULTS_FOLDER / "startup.json"
GOAL_S = 0.5  # `gestes --help` must answer within half a second (issue 14, item 8)


def median_seconds(argv: list[str], repeats: int) -> float:
    """Median wall time of running ``argv`` to completion (output discarded)."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per measurement (median)")
    args = parser.parse_args()
    python = [sys.executable]
    gestes = [*python, "-m", "guidance.cli"]
    cases = {
        "python -c pass": [*python, "-c", "pass"],
        "python -c 'import numpy'": [*python, "-c", "import numpy"],
        "gestes --version": [*gestes, "--version"],
        "gestes --help": [*gestes, "--help"],
    }
    cases |= {f"gestes {c.name} --help": [*gestes, c.name, "--help"] for c in COMMANDS}
    seconds = {name: median_seconds(argv, args.repeats) for name, argv in cases.items()}
    bare = seconds["python -c pass"]
    print(f"{'command':<32} {'median s':>9} {'x bare python':>14}")
    for name, value in seconds.items():
        print(f"{name:<32} {value:9.3f} {value / bare:14.1f}")
    verdict = "within" if seconds["gestes --help"] < GOAL_S else "OVER"
    print(f"gestes --help: {seconds['gestes --help']:.3f} s, {verdict} the {GOAL_S} s goal")
    write_results({"repeats": args.repeats, "median_s": seconds, "goal_s": GOAL_S}, RESULTS)


if __name__ == "__main__":
    main()
