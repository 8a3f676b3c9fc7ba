"""OpenIGTLink out: messages per second to one and four local clients, and the latency a
tracker frame adds before its messages reach a client, with pyigtl's server in the same run.

Run ``python -m benchmarks.igtlink`` (about 30 s with the defaults). Prints a table and writes
``benchmarks/results/igtlink.json``. Target (issue 12): p99 added latency <= 1 ms at 250 Hz with
four clients.

Each frame has 3 tools (stylus, reference, needle): 5 TRANSFORM messages (3 ``ToTracker``, 2
``ToReference``). gestes' path is the session sink (``guidance.igtlink.IgtlSender``): packing
and CRC in the tracking thread, one sender thread per client. pyigtl's is
``OpenIGTLinkServer.send_message(..., wait=False)`` for the same 5 matrices; its server serves
one client at a time and polls its socket every 10 ms. The clients run in their own processes
(one per client), on bare sockets with gestes' parser, so that both servers are timed by the
same client; a frame's latency is from just before the sink (or ``send_message``) is called to
the arrival of the last of its 5 messages, both read on the host's monotonic clock.
Throughput publishes frames as fast as one thread can for a few seconds; a client that falls
behind gestes' server gets the newest messages (newest wins), pyigtl drops beyond 100 queued.
"""

import argparse
import math
import multiprocessing
import socket
import statistics
import time

import numpy as np

from benchmarks.common import RESULTS_FOLDER, machine_info, write_results
from devices.frame import Frame, PoseStatus, ToolPose
from devices.igtl.settings import ServerSettings
from devices.igtl.stream import MessageReader
from guidance.igtlink import IgtlSender
from registration.transforms import invert_rigid, make_rigid, rotation_from_vector

RESULTS = RESULTS_FOLDER / "igtlink.json"
TOOLS = ("stylus", "reference", "needle")
MESSAGES_PER_FRAME = 5
END = "End"


def _poses() -> dict[str, ToolPose]:
    rng = np.random.default_rng(0)
    return {
        tool: ToolPose(
            tool,
            make_rigid(rotation_from_vector(rng.normal(size=3)), rng.normal(scale=200, size=3)),
            PoseStatus.OK,
            0.1,
        )
        for tool in TOOLS
    }


def _client(port: int, results, ready) -> None:
    """A client process: record (header timestamp, arrival time) of every TRANSFORM until
    the END message; send them back."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30.0)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = MessageReader(1 << 20, wanted_types={"TRANSFORM"})
    arrivals = []
    ready.set()
    while True:
        data = connection.recv(1 << 16)
        now = time.monotonic()
        if not data:
            break
        messages = reader.feed(data)
        arrivals += [(message.header.timestamp_s, now) for message in messages]
        if any(message.device_name == END for message in messages):
            break
    connection.close()
    results.put(arrivals)


class _Clients:
    """``count`` client processes connected to ``port``; ``collect()`` returns their arrivals."""

    def __init__(self, port: int, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        self._processes = []
        for _ in range(count):
            ready = context.Event()
            process = context.Process(target=_client, args=(port, self._results, ready))
            process.start()
            if not ready.wait(60.0):
                raise RuntimeError("a benchmark client did not start")
            self._processes.append(process)

    def collect(self) -> list[list[tuple[float, float]]]:
        arrivals = [self._results.get(timeout=60.0) for _ in self._processes]
        for process in self._processes:
            process.join(10.0)
        return arrivals


class _Gestes:
    """gestes' sender: one call per frame."""

    name = "gestes IgtlSender"

    def __init__(self) -> None:
        self._sender = IgtlSender(ServerSettings(port=0), TOOLS, epoch_offset_s=0.0)
        self._poses = _poses()

    def start(self) -> int:
        return self._sender.start()[1]

    def wait_for(self, count: int) -> None:
        while self._sender.server.client_count < count:
            time.sleep(0.01)

    def send(self, index: int) -> None:
        self._sender(Frame(float(index + 1), index, self._poses))

    def end(self) -> None:
        self._sender.server.publish({END: _end_message()})

    def stop(self) -> None:
        self._sender.stop()


class _Pyigtl:
    """pyigtl's server with the same five matrices per frame."""

    name = "pyigtl OpenIGTLinkServer"

    def __init__(self) -> None:
        import pyigtl

        self._pyigtl = pyigtl
        poses = _poses()
        reference_from_tracker = invert_rigid(poses["reference"].tracker_from_tool)
        self._matrices = {
            f"{tool.capitalize()}ToTracker": p.tracker_from_tool for tool, p in poses.items()
        }
        for tool in ("stylus", "needle"):
            self._matrices[f"{tool.capitalize()}ToReference"] = (
                reference_from_tracker @ poses[tool].tracker_from_tool
            )

    def start(self) -> int:
        self._server = self._pyigtl.OpenIGTLinkServer(port=0)
        return self._server.server_address[1]

    def wait_for(self, count: int) -> None:
        while not self._server.is_connected():
            time.sleep(0.01)

    def send(self, index: int) -> None:
        for name, matrix in self._matrices.items():
            message = self._pyigtl.TransformMessage(matrix, float(index + 1), name)
            self._server.send_message(message, wait=False)

    def end(self) -> None:
        # Sent once its queue has drained (_run waits): a full queue would drop it.
        self._server.send_message(self._pyigtl.TransformMessage(np.eye(4), 0.0, END), False)

    def stop(self) -> None:
        self._server.stop()


def _end_message() -> bytes:
    from devices.igtl.messages import pack_message, pack_transform

    return pack_message("TRANSFORM", END, 0.0, pack_transform(np.eye(4)))


def _run(server, clients: int, rate_hz: float | None, seconds: float) -> dict:
    """Send frames for ``seconds`` (paced at ``rate_hz``, or as fast as possible) to
    ``clients`` client processes; latency and throughput from their arrival times."""
    port = server.start()
    try:
        processes = _Clients(port, clients)
        server.wait_for(clients)
        time.sleep(0.2)  # let greetings and connections settle
        sent_at = []
        began = time.monotonic()
        index = 0
        while (now := time.monotonic()) - began < seconds:
            if rate_hz is not None:
                due = began + index / rate_hz
                # Sleep, never spin: a live tracking thread waits on its device the same way.
                while (now := time.monotonic()) < due:
                    time.sleep(due - now)
            sent_at.append(now)
            server.send(index)
            index += 1
        elapsed = time.monotonic() - began
        time.sleep(0.3)
        server.end()
        arrivals = processes.collect()
    finally:
        server.stop()
    return _summary(sent_at, elapsed, arrivals)


def _summary(sent_at: list[float], elapsed_s: float, arrivals) -> dict:
    frames = len(sent_at)
    latencies, received = [], []
    for client in arrivals:
        last_arrival: dict[int, float] = {}
        count: dict[int, int] = {}
        for stamp, arrived in client:
            index = round(stamp) - 1
            if 0 <= index < frames:
                last_arrival[index] = max(last_arrival.get(index, 0.0), arrived)
                count[index] = count.get(index, 0) + 1
        received.append(sum(count.values()))
        latencies += [
            (last_arrival[i] - sent_at[i]) * 1e3
            for i, n in count.items()
            if n == MESSAGES_PER_FRAME
        ]
    sent = frames * MESSAGES_PER_FRAME
    return {
        "frames_sent": frames,
        "frames_per_s_sent": frames / elapsed_s,
        "messages_per_s_received_per_client": statistics.median(received) / elapsed_s,
        "fraction_received": statistics.median(received) / sent if sent else math.nan,
        "latency_median_ms": float(np.median(latencies)) if latencies else math.nan,
        "latency_p99_ms": float(np.percentile(latencies, 99)) if latencies else math.nan,
        "complete_frames_timed": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each latency run")
    parser.add_argument("--rate", type=float, default=250.0, help="tracker rate (Hz)")
    args = parser.parse_args()
    results = {"machine": machine_info(), "rate_hz": args.rate, "runs": {}}
    plan = [
        ("gestes, 1 client, paced", _Gestes, 1, args.rate),
        ("gestes, 4 clients, paced", _Gestes, 4, args.rate),
        ("pyigtl, 1 client, paced", _Pyigtl, 1, args.rate),
        ("gestes, 1 client, unpaced", _Gestes, 1, None),
        ("gestes, 4 clients, unpaced", _Gestes, 4, None),
        ("pyigtl, 1 client, unpaced", _Pyigtl, 1, None),
    ]
    for name, kind, clients, rate in plan:
        seconds = args.seconds if rate is not None else args.seconds / 2
        results["runs"][name] = _run(kind(), clients, rate, seconds)
    machine = results["machine"]
    print(
        f"load average {machine['load_average_1min']:.2f} on {machine['cpus']} CPUs; "
        f"{MESSAGES_PER_FRAME} TRANSFORM messages per frame; paced runs at {args.rate:g} Hz"
    )
    print(f"{'latency, paced':<28} {'frames/s':>9} {'received':>9} {'median ms':>10} {'p99 ms':>8}")
    for name, run in results["runs"].items():
        if "unpaced" not in name:
            print(
                f"{name:<28} {run['frames_per_s_sent']:>9.0f} {run['fraction_received']:>9.1%} "
                f"{run['latency_median_ms']:>10.3f} {run['latency_p99_ms']:>8.3f}"
            )
    print(f"{'throughput, unpaced':<28} {'frames/s':>9} {'received':>9} {'msgs/s/client':>14}")
    for name, run in results["runs"].items():
        if "unpaced" in name:
            print(
                f"{name:<28} {run['frames_per_s_sent']:>9.0f} {run['fraction_received']:>9.1%} "
                f"{run['messages_per_s_received_per_client']:>14.0f}"
            )
    print("target: gestes, 4 clients, paced at 250 Hz: p99 <= 1 ms")
    write_results(results, RESULTS)


if __name__ == "__main__":
    main()
