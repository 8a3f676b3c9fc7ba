"""A tracker without hardware: poses from a scripted motion plus a realistic error model.

Optical mode jitters every marker of the tool's geometry and re-fits the pose to the jittered
markers by paired-point registration, as the camera does: the reported ``error_rms`` is the fit's
RMS residual, and the tip error grows with the tip's distance from the marker centroid
(Fitzpatrick, West & Maurer 1998, IEEE TMI 17(5), eq. 46). EM mode perturbs the pose directly
(isotropic position and orientation noise) and can add the bias of a nearby metal object.

The simulation is computed in blocks of ``BLOCK_SAMPLES`` consecutive samples, as arrays: the
motion sampled at all their times at once, the markers moved by their errors and every pose
re-fitted in one compiled loop. Reading the tracker frame by frame serves frames out of these
blocks; ``SimulatedTracker.sequence`` joins the same blocks into a recording without building a
frame (what a study of thousands of runs needs). Both compute the same blocks in the same order
from the same random streams, so they give the same numbers, bit for bit.
"""

import logging
import math
import numbers
from collections.abc import Mapping
from typing import NamedTuple, Protocol

import numpy as np

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import Clock
from devices.events import EventSchedule
from devices.exceptions import ConfigurationError, StreamEnded
from devices.frame import PoseStatus, carries_pose
from devices.noise import (
    CameraView,
    DistortionField,
    EMNoise,
    GaussMarkovNoise,
    MarkerErrors,
    OpticalNoise,
)
from devices.sequence_file import TrackingSequence
from devices.tools import ToolDefinition
from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points_stack
from registration.transforms import as_rigid, rigid_mask, rotations_from_vectors

logger = logging.getLogger(__name__)

# A rigid pose needs three markers; NDI reports a tool with fewer in view as missing.
MIN_MARKERS_SEEN = 3
# Samples simulated together (about 8 s at 60 Hz): large enough for the array work to pay, small
# enough for a live reader's first frame to come at once.
BLOCK_SAMPLES = 512


class Motion(Protocol):
    """A scripted motion: ``motion(t_s)`` gives ``tracker_from_tool`` (4x4, mm) per visible tool.

    A tool absent from the mapping at time ``t_s`` is not visible (reported MISSING).
    The motion lasts ``duration_s`` seconds from t = 0. A motion may also offer
    ``sample(times_s) -> {tool: (K, 4, 4)}`` for many times at once (rows all NaN where the tool
    is not visible); ``sample_motion`` uses it when it is there.
    """

    duration_s: float

    def __call__(self, t_s: float) -> Mapping[str, np.ndarray]: ...


def sample_motion(motion: Motion, times_s: np.ndarray) -> dict[str, np.ndarray]:
    """``tracker_from_tool`` (K, 4, 4) of every tool the motion shows at ``times_s`` (K,), rows
    of NaN where a tool is not visible: the motion's own ``sample`` if it has one, else one call
    per time."""
    sample = getattr(motion, "sample", None)
    if sample is not None:
        return dict(sample(times_s))
    poses: dict[str, np.ndarray] = {}
    for k, t_s in enumerate(times_s):
        for name, pose in motion(float(t_s)).items():
            if name not in poses:
                poses[name] = np.full((len(times_s), 4, 4), np.nan)
            poses[name][k] = pose
    return poses


class SampleBlock(NamedTuple):
    """Samples ``first`` to ``first + K - 1`` of a simulation, for its T tools: their times (K,)
    s, ``tracker_from_tool`` (K, T, 4, 4) mm (NaN where the status carries no pose), statuses
    (K, T) PoseStatus and ``error_rms`` (K, T) mm (NaN where unknown). Read-only arrays."""

    first: int
    times_s: np.ndarray
    tracker_from_tool: np.ndarray
    statuses: np.ndarray
    error_rms: np.ndarray

    def raw_frame(self, index: int, tools: tuple[str, ...]) -> RawFrame:
        """Sample ``index`` (of the simulation) as the tracker's driver hands it over."""
        k = index - self.first
        t_s = float(self.times_s[k])
        poses = {}
        for j, name in enumerate(tools):
            status = self.statuses[k, j]
            matrix = self.tracker_from_tool[k, j] if carries_pose(status) else None
            poses[name] = RawPose(matrix, status, float(self.error_rms[k, j]))
        return RawFrame(index, t_s, poses, filtered_time_s=t_s)


class SimulatedTracker(TrackerDevice):
    """Frames at ``rate_hz`` from ``motion`` with ``noise``, reproducible for a given ``seed``.

    Sample k is the motion at t = k / rate_hz, stamped with that time (filtered and unfiltered
    alike: a simulation's clock has no jitter). With ``realtime=False`` nothing waits; with
    ``realtime=True`` samples are paced on ``clock`` and a reader that falls behind gets the
    newest one (frame numbers then jump), as when polling a real tracker (see
    ``TrackerDevice``); the samples it skips are simulated all the same, so every frame it
    reads is the one ``sequence`` has at that number. Reading past ``motion.duration_s`` raises
    ``StreamEnded``.
    """

    def __init__(
        self,
        motion: Motion,
        tools: Mapping[str, ToolDefinition],
        noise: OpticalNoise | EMNoise = OpticalNoise(),  # noqa: B008 (frozen settings)
        rate_hz: float = 60.0,
        seed: int = 0,
        realtime: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if not tools:
            raise ConfigurationError("SimulatedTracker needs at least one tool definition")
        if not math.isfinite(motion.duration_s) or motion.duration_s < 0.0:
            raise ConfigurationError(
                f"the motion's duration_s must be a finite number >= 0; got {motion.duration_s!r}"
            )
        if not isinstance(noise, OpticalNoise | EMNoise):
            raise ConfigurationError(
                f"noise must be OpticalNoise or EMNoise settings; got {type(noise).__name__}"
            )
        if not isinstance(seed, numbers.Integral) or seed < 0:
            raise ConfigurationError(f"seed must be an integer >= 0; got {seed!r}")
        super().__init__(tools, rate_hz=rate_hz, speed=1.0 if realtime else None, clock=clock)
        self._definitions = dict(tools)
        self._motion = motion
        self._noise = noise
        self._seed = seed
        self._sample_count = _sample_count(motion.duration_s, self.rate_hz)

    def __str__(self) -> str:
        return "the simulated tracker"

    def sequence(self) -> TrackingSequence:
        """The whole motion as a recording, without a frame: the same numbers as reading every
        frame of the started tracker (``TrackingSequence.from_frames(list(tracker), tools)``)."""
        run = self._simulation()
        blocks = [run.next_block() for _ in range(0, self._sample_count, BLOCK_SAMPLES)]
        times = np.concatenate([block.times_s for block in blocks])
        matrices = np.concatenate([block.tracker_from_tool for block in blocks])
        matrices.setflags(write=False)
        return TrackingSequence(
            tools=self.tools,
            timestamps_s=times,
            unfiltered_timestamps_s=times.copy(),
            frame_numbers=np.arange(len(times), dtype=np.int64),
            reference_from_tool=matrices,
            statuses=np.concatenate([block.statuses for block in blocks]),
            error_rms=np.concatenate([block.error_rms for block in blocks]),
        )

    def _open(self) -> None:
        """Rewind to t = 0 and reseed: a started tracker replays the same frames for a seed."""
        self._run = self._simulation()
        self._block: SampleBlock | None = None
        logger.info(
            "simulated tracker started: %d tools at %.1f Hz for %.1f s",
            len(self.tools),
            self.rate_hz,
            self._motion.duration_s,
        )

    def _simulation(self) -> "_Simulation":
        return _Simulation(
            self._motion,
            {name: self._definitions[name] for name in self.tools},
            self._noise,
            self.rate_hz,
            self._seed,
            self._sample_count,
        )

    def _close(self) -> None:
        """Nothing to release; ``start`` rewinds to t = 0."""

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """Sample ``sample_index`` of the motion, with its noise and loss events."""
        index = self.sample_index
        if index >= self._sample_count:
            raise StreamEnded(f"the simulated motion ended at {self._motion.duration_s:.3f} s")
        while self._block is None or index >= self._block.first + len(self._block.times_s):
            self._block = self._run.next_block()
        return self._block.raw_frame(index, self.tools)


def _sample_count(duration_s: float, rate_hz: float) -> int:
    """How many samples k have k / rate_hz <= duration_s (the motion's last time)."""
    count = math.floor(duration_s * rate_hz) + 1
    while count > 1 and (count - 1) / rate_hz > duration_s:
        count -= 1
    while count / rate_hz <= duration_s:
        count += 1
    return count


class _Simulation:
    """One run of a simulated tracker from t = 0: its random streams and noise processes, and
    the blocks of samples computed from them, in order (``next_block``)."""

    def __init__(
        self,
        motion: Motion,
        tools: Mapping[str, ToolDefinition],
        noise: OpticalNoise | EMNoise,
        rate_hz: float,
        seed: int,
        sample_count: int,
    ) -> None:
        self._motion = motion
        self._tools = tools
        self._noise = noise
        self._rate_hz = rate_hz
        self._sample_count = sample_count
        self._next = 0
        # Independent streams per tool, so that adding a tool leaves the others' noise unchanged;
        # the slow drift of each tool and the camera's distortion field have streams of their
        # own after those (spawned children do not depend on how many are spawned).
        count = len(tools)
        streams = np.random.SeedSequence(seed).spawn(3 * count + 1)
        field = None
        if isinstance(noise, OpticalNoise) and noise.distortion is not None:
            field = noise.distortion.field(np.random.default_rng(streams[3 * count]))
        self._errors = {
            name: self._errors_for(
                tools[name],
                np.random.default_rng(streams[2 * i]),
                np.random.default_rng(streams[2 * count + i]),
                field,
            )
            for i, name in enumerate(tools)
        }
        self._schedules = {
            name: EventSchedule(noise.events, np.random.default_rng(streams[2 * i + 1]))
            for i, name in enumerate(tools)
        }

    def _errors_for(
        self,
        tool: ToolDefinition,
        rng: np.random.Generator,
        drift_rng: np.random.Generator,
        field: DistortionField | None,
    ) -> MarkerErrors | GaussMarkovNoise:
        """Optical: a displacement per marker (N, 3), jitter plus drift plus the camera's
        distortion; EM: a position offset and a rotation vector (2, 3). Each axis has a third of
        the 3D variance."""
        noise = self._noise
        if isinstance(noise, OpticalNoise):
            count = len(tool.markers_mm)
            sigma = noise.marker_jitter_rms_mm / math.sqrt(3.0)
            jitter = GaussMarkovNoise((count, 3), sigma, noise.correlation_time_s, rng)
            drift = None
            if noise.drift_rms_mm > 0.0:
                drift_sigma = noise.drift_rms_mm / math.sqrt(3.0)
                drift = GaussMarkovNoise(
                    (count, 3), drift_sigma, noise.drift_correlation_s, drift_rng
                )
            return MarkerErrors(jitter, drift, field)
        sigma = np.array([[noise.position_rms_mm], [noise.orientation_rms_rad]]) / math.sqrt(3.0)
        return GaussMarkovNoise((2, 3), sigma, noise.correlation_time_s, rng)

    def next_block(self) -> SampleBlock:
        """The next ``BLOCK_SAMPLES`` samples (fewer at the end of the motion)."""
        first = self._next
        stop = min(first + BLOCK_SAMPLES, self._sample_count)
        self._next = stop
        times = np.arange(first, stop) / self._rate_hz
        true_poses = sample_motion(self._motion, times)
        shape = (len(times), len(self._tools))
        matrices = np.full((*shape, 4, 4), np.nan)
        statuses = np.empty(shape, dtype=object)
        errors = np.full(shape, np.nan)
        for j, name in enumerate(self._tools):
            statuses[:, j] = self._schedules[name].statuses(times)
            poses = true_poses.get(name)
            if poses is None:
                statuses[:, j] = PoseStatus.MISSING
                continue
            self._measure(name, times, poses, statuses[:, j], matrices[:, j], errors[:, j])
        for array in (matrices, statuses, errors):
            array.setflags(write=False)
        return SampleBlock(first, times, matrices, statuses, errors)

    def _measure(
        self,
        name: str,
        times: np.ndarray,
        poses: np.ndarray,
        statuses: np.ndarray,
        matrices: np.ndarray,
        errors: np.ndarray,
    ) -> None:
        """One tool over the block: fills its ``statuses`` (given by the events), and where they
        carry a pose its measured ``matrices`` and ``errors`` (views into the block's arrays)."""
        visible = ~np.all(np.isnan(poses), axis=(1, 2))
        statuses[~visible] = PoseStatus.MISSING
        carrying = np.zeros(len(statuses), dtype=bool)
        for status in set(statuses.tolist()):
            if carries_pose(status):
                carrying |= statuses == status
        rows = np.flatnonzero(visible & carrying)
        _check_rigid(name, times[rows], poses[rows])
        if isinstance(self._noise, OpticalNoise):
            tool, camera = self._tools[name], self._noise.camera
            rows, measured, error_rms = _optical_poses(
                tool, rows, times, poses, statuses, camera, self._errors[name]
            )
        else:
            process = self._errors[name]
            measured, error_rms = _em_poses(poses[rows], self._noise, process, times[rows])
        matrices[rows] = measured
        errors[rows] = error_rms


def _check_rigid(name: str, times: np.ndarray, poses: np.ndarray) -> None:
    """ConfigurationError for the first of the motion's ``poses`` that is not rigid."""
    bad = ~rigid_mask(poses)
    if not np.any(bad):
        return
    k = int(np.argmax(bad))
    try:
        as_rigid(poses[k], name=f"motion pose of {name!r} at {times[k]:.3f} s")
    except RegistrationError as error:
        raise ConfigurationError(f"the scripted motion gave a bad pose: {error}") from error
    raise ConfigurationError(f"the scripted motion gave a bad pose of {name!r} at {times[k]:.3f} s")


def _optical_poses(
    tool: ToolDefinition,
    rows: np.ndarray,
    times: np.ndarray,
    poses: np.ndarray,
    statuses: np.ndarray,
    camera: CameraView | None,
    errors: MarkerErrors,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's view of the tool at samples ``rows`` of the block: updates their
    ``statuses`` (too few markers seen: MISSING; none inside the volume: OUT_OF_VOLUME; some
    outside: PARTIALLY_OUT_OF_VOLUME), moves the markers it sees by their errors and re-fits
    the pose to them. Returns the rows still tracked, their poses and fit RMS (mm)."""
    rotations, translations = poses[rows, :3, :3], poses[rows, :3, 3]
    markers = tool.markers_mm @ rotations.transpose(0, 2, 1) + translations[:, None, :]
    seen = np.ones(markers.shape[:2], dtype=bool)
    if camera is not None:
        if tool.normals is not None:
            normals = tool.normals @ rotations.transpose(0, 2, 1)
            to_camera = -markers / np.linalg.norm(markers, axis=2, keepdims=True)
            seen = np.sum(normals * to_camera, axis=2) >= math.cos(tool.max_marker_angle_rad)
        inside = camera.contains(markers.reshape(-1, 3)).reshape(seen.shape)
        missing = seen.sum(axis=1) < MIN_MARKERS_SEEN
        out = ~missing & ~np.any(inside & seen, axis=1)
        partial = ~missing & ~out & ~np.all(inside | ~seen, axis=1)
        statuses[rows[missing]] = PoseStatus.MISSING
        statuses[rows[out]] = PoseStatus.OUT_OF_VOLUME
        statuses[rows[partial]] = PoseStatus.PARTIALLY_OUT_OF_VOLUME
        tracked = ~(missing | out)
        rows, markers, seen = rows[tracked], markers[tracked], seen[tracked]
    measured = markers + errors.samples(times[rows], markers)
    matrices, fre = register_paired_points_stack(measured, tool.markers_mm, seen)
    return rows, matrices, fre


def _em_poses(
    tracker_from_tool: np.ndarray, noise: EMNoise, process: GaussMarkovNoise, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Perturb the sensor poses (K, 4, 4); each ``error_rms`` is the expected position error RMS
    there (mm): that value stands in for the Aurora's indicator, which rises near the metal."""
    noise_values = process.samples(times)
    measured = tracker_from_tool.copy()
    measured[:, :3, :3] = rotations_from_vectors(noise_values[:, 1]) @ tracker_from_tool[:, :3, :3]
    measured[:, :3, 3] += noise_values[:, 0]
    error_rms = np.full(len(measured), noise.position_rms_mm)
    if noise.metal is not None:
        for k, true_pose in enumerate(tracker_from_tool):
            measured[k] = noise.metal.bias(true_pose) @ measured[k]
            bias_mm = noise.metal.falloff(true_pose[:3, 3]) * noise.metal.bias_at_radius_mm
            error_rms[k] = math.hypot(noise.position_rms_mm, bias_mm)
    return measured, error_rms
