"""Simulation and recording benchmarks: simulated frames, sequence-file write and read, replay.

Run ``python -m benchmarks.recording`` from the repository root (under a minute; run as a
script, ``benchmarks/registration.py`` would shadow the ``registration`` package). Prints a
table and writes ``benchmarks/results/recording.json``. Medians over repeats; every figure is a
number, or the reason it could not be measured. Issue 5's target
here: replay of a 3-tool recording as fast as possible >= 100,000 frames/s (also measured by
``tracking.py``).
"""

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import (
    REAL_RECORDING,
    RESULTS_FOLDER,
    measured,
    median_rate,
    print_rows,
    repeated,
    write_results,
)
from devices.noise import CameraView, OpticalNoise
from devices.recorder import record
from devices.replay import ReplayTracker
from devices.sequence_file import SequenceWriter, read_sequence
from guidance.demo_source import demo_tracker

RESULTS = RESULTS_FOLDER / "recording.json"


def bench_simulation(repeats: int) -> dict:
    """Frames/s of the sim:demo tracker (2 optical tools, paired-point re-fit per tool), read
    frame by frame and computed as one recording of arrays (``SimulatedTracker.sequence``)."""
    results = {}
    for name, noise in (("plain", OpticalNoise()), ("camera", OpticalNoise(camera=CameraView()))):
        tracker = demo_tracker(noise=noise, realtime=False)
        count = len(_frames(tracker))
        results[f"sim_demo_{name}_frames_per_s"] = median_rate(
            lambda tracker=tracker: _frames(tracker), count, repeats
        )
        results[f"sim_demo_{name}_sequence_frames_per_s"] = median_rate(
            tracker.sequence, count, repeats
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
        recorded = path.with_name("recorded.igs.mha")
        count = record(demo_tracker(realtime=False), recorded).frame_count

        def through_acquisition() -> None:
            record(demo_tracker(realtime=False), recorded, overwrite=True)

        record_rate = median_rate(through_acquisition, count, repeats)
        read_rate = median_rate(lambda: read_sequence(path), frames, repeats)
        size_mb = path.stat().st_size / 1e6
    return {
        "frames": frames,
        "file_mb": size_mb,
        "write_frames_per_s": write_rate,
        "record_sim_demo_frames_per_s": record_rate,
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
        "simulation": measured(bench_simulation, args.repeats),
        "gestes_file": measured(bench_file, args.frames, args.repeats),
        "plus_file": measured(bench_real_file, 100_000, args.repeats),
    }
    rows = [
        ("sim:demo, 2 tools (frames/s)", "simulation", "sim_demo_plain_frames_per_s", ""),
        ("  with camera view (frames/s)", "simulation", "sim_demo_camera_frames_per_s", ""),
        (
            "sim:demo as arrays (frames/s)",
            "simulation",
            "sim_demo_plain_sequence_frames_per_s",
            "",
        ),
        (
            "  with camera view (frames/s)",
            "simulation",
            "sim_demo_camera_sequence_frames_per_s",
            "",
        ),
        ("write .igs.mha, 2 tools (frames/s)", "gestes_file", "write_frames_per_s", ""),
        (
            "record sim:demo via Acquisition (frames/s)",
            "gestes_file",
            "record_sim_demo_frames_per_s",
            "",
        ),
        ("read .igs.mha, 2 tools (frames/s)", "gestes_file", "read_frames_per_s", ""),
        ("read PLUS file, 3 tools (frames/s)", "plus_file", "read_frames_per_s", ""),
        ("replay, 3 tools (frames/s)", "plus_file", "replay_frames_per_s", ">= 100000"),
    ]
    print_rows(results, rows)
    write_results(results, RESULTS)


if __name__ == "__main__":
    main()
