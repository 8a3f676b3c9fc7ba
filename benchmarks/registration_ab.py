"""A/B of surface registration on the real CTs between two checkouts, in alternating processes.

``python -m benchmarks.registration_ab BEFORE AFTER [--rounds N] [--sizes ...] [--cases ...]``
runs ``benchmarks.registration_ct --no-peers`` (gestes with the stylus axes; the same trials on
both sides, from the same seeds) in a fresh process in each checkout (a folder holding the
repository: ``git worktree add --detach /tmp/before REV``), BEFORE then AFTER, ``rounds`` times.
Prints, per patch and misalignment, the median over the rounds of each process's median
registration time on each side and their ratio, with the successes and mean passes of both (the
same code gives the same ones), and writes ``benchmarks/results/registration_ab.json``.
Alternating processes keeps the VM's drift (up to 2x within minutes here) out of the ratio.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS_FOLDER, write_results

RESULTS = RESULTS_FOLDER / "registration_ab.json"
METHOD = "gestes point-to-plane"  # the stylus-axis rows of registration_ct


def run_side(checkout: Path, sizes: str, cases: str) -> list[dict]:
    """One ``registration_ct`` process in ``checkout``: its rows of gestes with stylus axes."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "registration_ct.json"
        command = [sys.executable, "-m", "benchmarks.registration_ct", "--no-peers"]
        command += ["--sizes", sizes, "--cases", cases, "--json", str(output)]
        subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)
        rows = json.loads(output.read_text())["icp"]
    return [row for row in rows if row["method"] == METHOD]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="checkout of the code before the change")
    parser.add_argument("after", type=Path, help="checkout of the code after the change")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, alternated")
    parser.add_argument("--sizes", default="1000", help="digitised points per sweep")
    parser.add_argument("--cases", default="small,medium", help="misalignments (registration_ct)")
    args = parser.parse_args()
    sides = {"before": args.before, "after": args.after}
    cells: dict[tuple, dict[str, list[dict]]] = {}
    for round_number in range(args.rounds):
        for side, checkout in sides.items():
            for row in run_side(checkout, args.sizes, args.cases):
                key = (row["patch"], row["points"], row["case"])
                cells.setdefault(key, {"before": [], "after": []})[side].append(row)
            print(f"round {round_number + 1} {side} done", flush=True)
    report = []
    for (patch, points, case), runs in cells.items():
        entry = {"patch": patch, "points": points, "case": case}
        for side in sides:
            rows = runs[side]
            entry[f"{side}_ms"] = statistics.median(r["register_ms"] for r in rows)
            entry[f"{side}_successes"] = min(r["successes"] for r in rows)
            entry[f"{side}_mean_iterations"] = rows[0]["mean_iterations"]
            entry["trials"] = rows[0]["trials"]
        entry["ratio"] = entry["before_ms"] / entry["after_ms"]
        report.append(entry)
        print(
            f"{patch[:32]:32s} {points:6d} {case:6s} {entry['before_ms']:7.3f} -> "
            f"{entry['after_ms']:7.3f} ms ({entry['ratio']:.2f}x)  successes "
            f"{entry['before_successes']}/{entry['after_successes']} of {entry['trials']}  "
            f"passes {entry['before_mean_iterations']:.2f}/{entry['after_mean_iterations']:.2f}"
        )
    write_results(
        {
            "before": str(args.before),
            "after": str(args.after),
            "rounds": args.rounds,
            "cells": report,
        },
        RESULTS,
    )


if __name__ == "__main__":
    main()
