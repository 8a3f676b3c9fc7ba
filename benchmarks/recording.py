"""Simulation and recording benchmarks: simulated frames, sequence-file write and read, replay.

Run ``python -m benchmarks.recording`` from the repository root (under a minute; run as a
script, ``benchmarks/registration.py`` would shadow the ``registration`` package). Prints a
table and writes ``benchmarks/results/recording.json``. Medians over repeats. Issue 5's target
here: replay of a 3-tool recording as fast as possible >= 100,000 frames/s (also measured by
``tracking.py``).
"""

import argparse
import json
import multiprocessing
import platform
import tempfile
from pathlib import Path

from benchmarks.common import REAL_RECORDING, median_rate, repeated
from devices.demo_motion import demo_tracker
from devices.noise import CameraView, OpticalNoise
from devices.replay import ReplayTracker
from devices.sequence_file import SequenceWriter, read_sequence

RESULTS = Path(__file__).resolve().parent / "results" / "recording.json"


def bench_simulation(repeats: int) -> dict:
    """Frames/s of the sim:demo tracker (2 optical tools, paired-point re-fit per tool)."""
    results = {}
    for name, noise in (("plain", OpticalNoise()), ("camera", OpticalNoise(camera=CameraView()))):
        tracker = demo_tracker(noise=noise, realtime=False)
        count = len(_frames(tracker))
        results[f"sim_demo_{name}_frames_per_s"] = median_rate(
            lambda tracker=tracker: _frames(tracker), count, repeats
        )
    return results


def _frames(tracker) -> list:
    with tracker:
        return list(tracker)


def bench_file(frames: int, repeats: int) -> dict:
    """Write (append + flush per frame) and read rates of a gestes recording of sim:demo."""
    source = _frames(demo_tracker(realtime=False))
    source = (source * (frames // len(source) + 1))[:frames]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.igs.mha"

        def write() -> None:
            with SequenceWriter(path, ("stylus", "reference"), overwrite=True) as writer:
                for frame in source:
                    writer.append(frame)

        write_rate = median_rate(write, frames, repeats)
        read_rate = median_rate(lambda: read_sequence(path), frames, repeats)
        size_mb = path.stat().st_size / 1e6
    return {
        "frames": frames,
        "file_mb": size_mb,
        "write_frames_per_s": write_rate,
        "read_frames_per_s": read_rate,
    }


def bench_real_file(frames: int, repeats: int) -> dict:
    """Read rate of PLUS's 3-tool recording, and replay rate as fast as possible, looping."""
    sequence = read_sequence(REAL_RECORDING)
    read_rate = median_rate(lambda: read_sequence(REAL_RECORDING), len(sequence), repeats)
    tracker = ReplayTracker(sequence, speed=None, loop=True)
    with tracker:
        replay_rate = median_rate(repeated(tracker.read, frames), frames, repeats)
    return {
        "tools": len(sequence.tools),
        "read_frames_per_s": read_rate,
        "replay_frames_per_s": replay_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="frames written and read")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement")
    args = parser.parse_args()
    results = {
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "simulation": bench_simulation(args.repeats),
        "gestes_file": bench_file(args.frames, args.repeats),
        "plus_file": bench_real_file(100_000, args.repeats),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    plus = results["plus_file"]
    rows = [
        ("sim:demo, 2 tools (frames/s)", results["simulation"]["sim_demo_plain_frames_per_s"], ""),
        (
            "  with camera view (frames/s)",
            results["simulation"]["sim_demo_camera_frames_per_s"],
            "",
        ),
        ("write .igs.mha, 2 tools (frames/s)", results["gestes_file"]["write_frames_per_s"], ""),
        ("read .igs.mha, 2 tools (frames/s)", results["gestes_file"]["read_frames_per_s"], ""),
        ("read PLUS file, 3 tools (frames/s)", plus["read_frames_per_s"], ""),
        (
            "replay, 3 tools (frames/s)",
            plus["replay_frames_per_s"],
            ">= 100000",
        ),
    ]
    for name, value, target in rows:
        print(f"{name:<40} {value:>12.0f} {target}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
