"""Tracking benchmarks: BX parsing, the acquisition path (stamping, timestamp filter, frames,
the acquisition thread), the emulator -> driver path on a pty, latency, replay rate.

Run ``python -m benchmarks.tracking`` (about a minute). Prints a table and writes
``benchmarks/results/tracking.json``. Medians over repeats; targets from issue 5:
BX parse >= 50,000 frames/s (4 tools), added latency p99 <= 2 ms, replay >= 100,000 frames/s
(3 tools). Every figure is a number, or the reason it could not be measured.
"""

import argparse
import math
import multiprocessing
import time

import numpy as np

from benchmarks.common import (
    REAL_RECORDING,
    RESULTS_FOLDER,
    machine_info,
    measured,
    median_rate,
    print_rows,
    repeated,
    write_results,
)
from devices.acquisition import Acquisition, RawFrame, RawPose, TimestampFilter, TrackerDevice
from devices.frame import Frame, PoseStatus, ToolPose
from devices.ndi.bx import encode_bx, parse_bx
from devices.ndi.emulator.process import EmulatorProcess
from devices.ndi.emulator.settings import EmulatorSettings
from devices.ndi.quaternion import quaternion_from_rigid
from devices.ndi.readings import HandleReading, TrackingReply
from devices.ndi.status import HandleState
from devices.ndi.tracker import NDITracker, raw_frame_from_reply
from devices.replay import ReplayTracker
from devices.tools import BUILTIN_TOOLS

RESULTS = RESULTS_FOLDER / "tracking.json"
TOOLS = ("stylus", "reference", "needle", "probe")
BAUD = 921600
STAMP_SLOTS = 1 << 16


def _pose(index: int) -> np.ndarray:
    angle = 0.3 * (index + 1)
    pose = np.eye(4)
    pose[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    pose[:3, 3] = (50.0 * index, -20.0, -1500.0)
    return pose


class StampedSource:
    """Four fixed poses; each frame's read time goes into a shared array (for latency)."""

    tools = TOOLS

    def __init__(self, stamps) -> None:
        self._stamps = stamps
        self._poses = {
            name: ToolPose(name, _pose(index), PoseStatus.OK, 0.1)
            for index, name in enumerate(TOOLS)
        }
        self._next = 0

    def start(self) -> None:
        self._next = 0

    def stop(self) -> None:
        pass

    def read(self, timeout: float | None = None) -> Frame:
        number = self._next
        self._next += 1
        self._stamps[number % STAMP_SLOTS] = time.monotonic()
        return Frame(float(number), number, self._poses)


def four_tool_reply() -> TrackingReply:
    readings = []
    for index in range(4):
        pose = _pose(index)
        readings.append(
            HandleReading(
                0x0A + index,
                HandleState.VALID,
                0x31,
                123456,
                quaternion_from_rigid(pose),
                tuple(pose[:3, 3]),
                0.1,
            )
        )
    return TrackingReply(tuple(readings), 0)


def bench_parse(repeats: int) -> dict:
    wire = encode_bx(four_tool_reply())
    names = {0x0A + index: name for index, name in enumerate(TOOLS)}
    parse_bx(wire)  # compile the CRC kernel before timing
    return {
        "bx_bytes": len(wire),
        "bx_parse_per_s": median_rate(repeated(lambda: parse_bx(wire), 20_000), 20_000, repeats),
        "bx_parse_to_raw_frame_per_s": median_rate(
            repeated(lambda: raw_frame_from_reply(parse_bx(wire), names), 20_000),
            20_000,
            repeats,
        ),
    }


class FixedDevice(TrackerDevice):
    """A live device whose every read is the same 4-tool raw frame, with the next frame number
    and no device time: what the base adds to a driver (stamping on the clock, the timestamp
    filter, a ``ToolPose`` per tool, the ``Frame``)."""

    def __init__(self) -> None:
        super().__init__(TOOLS)
        self._poses = {
            name: RawPose(_pose(index), PoseStatus.OK, 0.1) for index, name in enumerate(TOOLS)
        }

    def _open(self) -> None:
        self._number = 0

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        self._number += 1
        return RawFrame(self._number, None, self._poses)

    def _close(self) -> None:
        pass


def bench_acquisition(repeats: int) -> dict:
    """The acquisition path's own costs, per frame."""
    timestamps = TimestampFilter()
    counter = iter(range(10**9))

    def filtered() -> None:
        number = next(counter)
        timestamps(number, number / 60.0 + 1e-3 * (number % 3))

    device = FixedDevice()
    device.start()
    sequence_frames = 50_000
    replay = ReplayTracker(REAL_RECORDING, speed=None, loop=True)
    interval_s = float(np.median(np.diff(replay.sequence.timestamps_s)))

    def through_thread() -> None:
        # Recorded time spans sequence_frames frames: the acquisition ends by duration.
        with Acquisition(
            replay, [lambda frame: None], duration_s=sequence_frames * interval_s
        ) as run:
            run.wait()

    results = {
        "timestamp_filter_per_s": median_rate(repeated(filtered, 50_000), 50_000, repeats),
        "device_read_4_tools_per_s": median_rate(repeated(device.read, 50_000), 50_000, repeats),
        "acquisition_thread_replay_per_s": median_rate(through_thread, sequence_frames, repeats),
    }
    device.stop()
    return results


def bench_pty(frames: int, wire_timing: bool) -> dict:
    """Frames/s and added latency (source read in the emulator -> Frame in the caller)."""
    stamps = multiprocessing.get_context("fork").Array("d", STAMP_SLOTS, lock=False)
    tools = {
        name: BUILTIN_TOOLS["stylus" if index else "reference"] for index, name in enumerate(TOOLS)
    }
    settings = EmulatorSettings(wire_timing=wire_timing)
    with (
        EmulatorProcess(lambda: StampedSource(stamps), settings) as emulator,
        NDITracker(emulator.port, tools, baud_rate=BAUD) as tracker,
    ):
        for _ in range(50):
            tracker.read()
        latencies = []
        began = time.perf_counter()
        for _ in range(frames):
            frame = tracker.read()
            # Arrival (unfiltered) time: the filtered one is fitted to the frame rhythm.
            latencies.append(frame.unfiltered_timestamp - stamps[frame.frame_number % STAMP_SLOTS])
        elapsed = time.perf_counter() - began
    latencies_ms = np.array(latencies) * 1e3
    return {
        "frames": frames,
        "frames_per_s": frames / elapsed,
        "latency_median_ms": float(np.median(latencies_ms)),
        "latency_p99_ms": float(np.percentile(latencies_ms, 99)),
    }


def bench_replay(frames: int, repeats: int) -> dict:
    tracker = ReplayTracker(REAL_RECORDING, speed=None, loop=True)
    with tracker:
        replay_rate = median_rate(repeated(tracker.read, frames), frames, repeats)
    return {"tools": len(tracker.tools), "replay_per_s": replay_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames through the pty")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the in-process rates")
    args = parser.parse_args()
    results = {
        "machine": machine_info(),
        "parse": measured(bench_parse, args.repeats),
        "acquisition": measured(bench_acquisition, args.repeats),
        "pty_921600": measured(bench_pty, args.frames, wire_timing=False),
        "pty_921600_wire_timing": measured(bench_pty, args.frames // 3, wire_timing=True),
        "replay_3_tools": measured(bench_replay, 100_000, args.repeats),
    }
    rows = [
        ("BX parse, 4 tools (frames/s)", "parse", "bx_parse_per_s", ">= 50000"),
        ("BX parse -> RawFrame, 4 tools (frames/s)", "parse", "bx_parse_to_raw_frame_per_s", ""),
        ("timestamp filter (frames/s)", "acquisition", "timestamp_filter_per_s", ""),
        ("TrackerDevice.read, 4 tools (frames/s)", "acquisition", "device_read_4_tools_per_s", ""),
        (
            "Acquisition thread, replay -> sink (frames/s)",
            "acquisition",
            "acquisition_thread_replay_per_s",
            "",
        ),
        ("pty 921600, 4 tools (frames/s)", "pty_921600", "frames_per_s", ""),
        ("  added latency median (ms)", "pty_921600", "latency_median_ms", ""),
        ("  added latency p99 (ms)", "pty_921600", "latency_p99_ms", "<= 2"),
        ("pty paced at 921600 baud (frames/s)", "pty_921600_wire_timing", "frames_per_s", ""),
        (
            "  latency incl. wire time, median (ms)",
            "pty_921600_wire_timing",
            "latency_median_ms",
            "",
        ),
        ("  latency incl. wire time, p99 (ms)", "pty_921600_wire_timing", "latency_p99_ms", ""),
        ("replay, 3 tools (frames/s)", "replay_3_tools", "replay_per_s", ">= 100000"),
    ]
    machine = results["machine"]
    print(
        f"load average {machine['load_average_1min']:.2f} on {machine['cpus']} CPUs; "
        f"sum(range(1000)) takes {machine['sum_range_1000_us']:.1f} us"
    )
    print_rows(results, rows)
    write_results(results, RESULTS)


if __name__ == "__main__":
    main()
