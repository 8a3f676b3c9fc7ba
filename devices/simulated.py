"""A tracker without hardware: poses from a scripted motion plus a realistic error model.

Optical mode jitters every marker of the tool's geometry and re-fits the pose to the jittered
markers by paired-point registration, as the camera does: the reported ``error_rms`` is the fit's
RMS residual, and the tip error grows with the tip's distance from the marker centroid
(Fitzpatrick, West & Maurer 1998, IEEE TMI 17(5), eq. 46). EM mode perturbs the pose directly
(isotropic position and orientation noise) and can add the bias of a nearby metal object.
"""

import logging
import math
import numbers
import time
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from devices.events import EventSchedule, worst_status
from devices.exceptions import ConfigurationError, StreamEnded, TrackerError, TrackerTimeout
from devices.frame import Frame, PoseStatus, ToolPose
from devices.noise import (
    CameraView,
    EMNoise,
    GaussMarkovNoise,
    OpticalNoise,
)
from devices.source_base import TrackerSource
from devices.tools import ToolDefinition
from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points
from registration.transforms import apply_transform, as_rigid, rotation_from_vector

logger = logging.getLogger(__name__)

# A rigid pose needs three markers; NDI reports a tool with fewer in view as missing.
MIN_MARKERS_SEEN = 3


class Motion(Protocol):
    """A scripted motion: ``motion(t_s)`` gives ``tracker_from_tool`` (4x4, mm) per visible tool.

    A tool absent from the mapping at time ``t_s`` is not visible (reported MISSING).
    The motion lasts ``duration_s`` seconds from t = 0.
    """

    duration_s: float

    def __call__(self, t_s: float) -> Mapping[str, np.ndarray]: ...


class SimulatedTracker(TrackerSource):
    """Frames at ``rate_hz`` from ``motion`` with ``noise``, reproducible for a given ``seed``.

    With ``realtime=False`` nothing sleeps: frame k is sampled at t = k / rate_hz and stamped
    with that time. With ``realtime=True`` frames are paced with ``time.monotonic()`` and stamped
    with it; a reader that falls behind gets the latest frame (frame numbers then jump), as when
    polling a real tracker. Reading past ``motion.duration_s`` raises ``StreamEnded``.
    """

    def __init__(
        self,
        motion: Motion,
        tools: Mapping[str, ToolDefinition],
        noise: OpticalNoise | EMNoise = OpticalNoise(),  # noqa: B008 (frozen settings)
        rate_hz: float = 60.0,
        seed: int = 0,
        realtime: bool = False,
    ) -> None:
        if not tools:
            raise ConfigurationError("SimulatedTracker needs at least one tool definition")
        if not math.isfinite(rate_hz) or rate_hz <= 0.0:
            raise ConfigurationError(f"rate_hz must be a finite number > 0; got {rate_hz!r}")
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
        self.tools = tuple(tools)
        self._definitions = dict(tools)
        self._motion = motion
        self._noise = noise
        self._rate_hz = float(rate_hz)
        self._seed = seed
        self._realtime = realtime
        self._running = False

    @property
    def rate_hz(self) -> float:
        """Frames per second."""
        return self._rate_hz

    def start(self) -> None:
        """Rewind to t = 0 and reseed: a started tracker replays the same frames for a seed."""
        # Independent streams per tool, so that adding a tool leaves the others' noise unchanged.
        streams = np.random.SeedSequence(self._seed).spawn(2 * len(self.tools))
        self._noise_process = {
            name: self._noise_process_for(name, np.random.default_rng(streams[2 * i]))
            for i, name in enumerate(self.tools)
        }
        self._schedules = {
            name: EventSchedule(self._noise.events, np.random.default_rng(streams[2 * i + 1]))
            for i, name in enumerate(self.tools)
        }
        self._next_index = 0
        self._start_s = time.monotonic()
        self._running = True
        logger.info(
            "simulated tracker started: %d tools at %.1f Hz for %.1f s",
            len(self.tools),
            self._rate_hz,
            self._motion.duration_s,
        )

    def _noise_process_for(self, name: str, rng: np.random.Generator) -> GaussMarkovNoise:
        """Optical: a displacement per marker (N, 3); EM: a position offset and a rotation
        vector (2, 3). Each axis has a third of the 3D variance."""
        noise = self._noise
        if isinstance(noise, OpticalNoise):
            count = len(self._definitions[name].markers_mm)
            sigma = noise.marker_jitter_rms_mm / math.sqrt(3.0)
            return GaussMarkovNoise((count, 3), sigma, noise.correlation_time_s, rng)
        sigma = np.array([[noise.position_rms_mm], [noise.orientation_rms_rad]]) / math.sqrt(3.0)
        return GaussMarkovNoise((2, 3), sigma, noise.correlation_time_s, rng)

    def stop(self) -> None:
        """Stop producing frames; ``start`` rewinds to t = 0."""
        self._running = False

    def read(self, timeout: float | None = None) -> Frame:
        """The next frame (see the class docstring for timing); ``timeout`` in seconds."""
        if not self._running:
            raise TrackerError("the simulated tracker is not started: call start() first")
        index = self._wait_for_frame(timeout) if self._realtime else self._next_index
        t_s = index / self._rate_hz
        if t_s > self._motion.duration_s:
            raise StreamEnded(f"the simulated motion ended at {self._motion.duration_s:.3f} s")
        self._next_index = index + 1
        tracker_from_tools = self._motion(t_s)
        poses = {name: self._pose(name, tracker_from_tools.get(name), t_s) for name in self.tools}
        timestamp = time.monotonic() if self._realtime else t_s
        return Frame(timestamp=timestamp, frame_number=index, poses=poses)

    def _wait_for_frame(self, timeout: float | None) -> int:
        """Sleep until the next frame is due and return its index (the latest one if late)."""
        elapsed = time.monotonic() - self._start_s
        latest = math.floor(elapsed * self._rate_hz)
        if latest >= self._next_index:
            return latest
        if self._next_index / self._rate_hz > self._motion.duration_s:
            return self._next_index
        wait_s = self._next_index / self._rate_hz - elapsed
        if timeout is not None and wait_s > timeout:
            time.sleep(max(timeout, 0.0))
            raise TrackerTimeout(f"no simulated frame within {timeout:.3f} s")
        time.sleep(wait_s)
        return self._next_index

    def _pose(self, name: str, tracker_from_tool: np.ndarray | None, t_s: float) -> ToolPose:
        """One tool's reported pose: the events decide its status, the noise model its matrix."""
        status = self._schedules[name].status(t_s)
        if tracker_from_tool is None:
            return ToolPose.missing(name)
        if status in (PoseStatus.MISSING, PoseStatus.OUT_OF_VOLUME):
            return ToolPose.missing(name, status)
        try:
            true_pose = as_rigid(tracker_from_tool, name=f"motion pose of {name!r} at {t_s:.3f} s")
        except RegistrationError as error:
            raise ConfigurationError(f"the scripted motion gave a bad pose: {error}") from error
        if isinstance(self._noise, OpticalNoise):
            tool = self._definitions[name]
            return _optical_pose(
                name, tool, true_pose, status, self._noise.camera, self._noise_process[name], t_s
            )
        return _em_pose(name, true_pose, status, self._noise, self._noise_process[name], t_s)


def _optical_pose(
    name: str,
    tool: ToolDefinition,
    tracker_from_tool: np.ndarray,
    status: PoseStatus,
    camera: CameraView | None,
    jitter: GaussMarkovNoise,
    t_s: float,
) -> ToolPose:
    """Jitter the markers the camera sees and re-fit to them; ``error_rms`` is the fit RMS (mm)."""
    markers_tracker = apply_transform(tracker_from_tool, tool.markers_mm)
    seen = np.ones(len(markers_tracker), dtype=bool)
    if camera is not None:
        seen = _facing_camera(tool, tracker_from_tool, markers_tracker)
        inside = camera.contains(markers_tracker[seen])
        if seen.sum() < MIN_MARKERS_SEEN:
            return ToolPose.missing(name, PoseStatus.MISSING)
        if not inside.any():
            return ToolPose.missing(name, PoseStatus.OUT_OF_VOLUME)
        if not inside.all():
            status = worst_status(status, PoseStatus.PARTIALLY_OUT_OF_VOLUME)
    measured = markers_tracker + jitter.sample(t_s)
    fit = register_paired_points(measured[seen], tool.markers_mm[seen])
    return ToolPose(name, fit.fixed_from_moving, status, fit.fre_rms_mm)


def _facing_camera(
    tool: ToolDefinition, tracker_from_tool: np.ndarray, markers_tracker: np.ndarray
) -> np.ndarray:
    """Which markers face the camera (at the tracker origin) within the tool's maximum angle.

    All of them when the tool's marker normals are unknown.
    """
    if tool.normals is None:
        return np.ones(len(markers_tracker), dtype=bool)
    normals = tool.normals @ tracker_from_tool[:3, :3].T
    to_camera = -markers_tracker / np.linalg.norm(markers_tracker, axis=1, keepdims=True)
    return np.sum(normals * to_camera, axis=1) >= math.cos(tool.max_marker_angle_rad)


def _em_pose(
    name: str,
    tracker_from_tool: np.ndarray,
    status: PoseStatus,
    noise: EMNoise,
    process: GaussMarkovNoise,
    t_s: float,
) -> ToolPose:
    """Perturb the sensor pose; ``error_rms`` is the expected position error RMS there (mm).

    That error value stands in for the Aurora's indicator: it rises near the metal object.
    """
    position_offset_mm, rotation_vector = process.sample(t_s)
    measured = tracker_from_tool.copy()
    measured[:3, :3] = rotation_from_vector(rotation_vector) @ tracker_from_tool[:3, :3]
    measured[:3, 3] += position_offset_mm
    bias_mm = 0.0
    if noise.metal is not None:
        measured = noise.metal.bias(tracker_from_tool) @ measured
        bias_mm = noise.metal.falloff(tracker_from_tool[:3, 3]) * noise.metal.bias_at_radius_mm
    return ToolPose(name, measured, status, math.hypot(noise.position_rms_mm, bias_mm))
