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
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import Clock
from devices.events import EventSchedule, worst_status
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


class SimulatedTracker(TrackerDevice):
    """Frames at ``rate_hz`` from ``motion`` with ``noise``, reproducible for a given ``seed``.

    Sample k is the motion at t = k / rate_hz, stamped with that time (filtered and unfiltered
    alike: a simulation's clock has no jitter). With ``realtime=False`` nothing waits; with
    ``realtime=True`` samples are paced on ``clock`` and a reader that falls behind gets the
    newest one (frame numbers then jump), as when polling a real tracker (see
    ``TrackerDevice``). Reading past ``motion.duration_s`` raises ``StreamEnded``.
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

    def __str__(self) -> str:
        return "the simulated tracker"

    def _open(self) -> None:
        """Rewind to t = 0 and reseed: a started tracker replays the same frames for a seed."""
        # Independent streams per tool, so that adding a tool leaves the others' noise unchanged;
        # the slow drift of each tool and the camera's distortion field have streams of their
        # own after those (spawned children do not depend on how many are spawned).
        count = len(self.tools)
        streams = np.random.SeedSequence(self._seed).spawn(3 * count + 1)
        field = None
        if isinstance(self._noise, OpticalNoise) and self._noise.distortion is not None:
            field = self._noise.distortion.field(np.random.default_rng(streams[3 * count]))
        self._noise_process = {
            name: self._noise_process_for(
                name,
                np.random.default_rng(streams[2 * i]),
                np.random.default_rng(streams[2 * count + i]),
                field,
            )
            for i, name in enumerate(self.tools)
        }
        self._schedules = {
            name: EventSchedule(self._noise.events, np.random.default_rng(streams[2 * i + 1]))
            for i, name in enumerate(self.tools)
        }
        logger.info(
            "simulated tracker started: %d tools at %.1f Hz for %.1f s",
            len(self.tools),
            self.rate_hz,
            self._motion.duration_s,
        )

    def _noise_process_for(
        self,
        name: str,
        rng: np.random.Generator,
        drift_rng: np.random.Generator,
        field: DistortionField | None,
    ) -> MarkerErrors | GaussMarkovNoise:
        """Optical: a displacement per marker (N, 3), jitter plus drift plus the camera's
        distortion; EM: a position offset and a rotation vector (2, 3). Each axis has a third of
        the 3D variance."""
        noise = self._noise
        if isinstance(noise, OpticalNoise):
            count = len(self._definitions[name].markers_mm)
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

    def _close(self) -> None:
        """Nothing to release; ``start`` rewinds to t = 0."""

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        """Sample ``sample_index`` of the motion, with its noise and loss events."""
        index = self.sample_index
        t_s = index / self.rate_hz
        if t_s > self._motion.duration_s:
            raise StreamEnded(f"the simulated motion ended at {self._motion.duration_s:.3f} s")
        tracker_from_tools = self._motion(t_s)
        poses = {name: self._pose(name, tracker_from_tools.get(name), t_s) for name in self.tools}
        return RawFrame(index, t_s, poses, filtered_time_s=t_s)

    def _pose(self, name: str, tracker_from_tool: np.ndarray | None, t_s: float) -> RawPose:
        """One tool's reported pose: the events decide its status, the noise model its matrix."""
        status = self._schedules[name].status(t_s)
        if tracker_from_tool is None:
            return RawPose(None, PoseStatus.MISSING)
        if not carries_pose(status):
            return RawPose(None, status)
        try:
            true_pose = as_rigid(tracker_from_tool, name=f"motion pose of {name!r} at {t_s:.3f} s")
        except RegistrationError as error:
            raise ConfigurationError(f"the scripted motion gave a bad pose: {error}") from error
        if isinstance(self._noise, OpticalNoise):
            tool = self._definitions[name]
            return _optical_pose(
                tool, true_pose, status, self._noise.camera, self._noise_process[name], t_s
            )
        return _em_pose(true_pose, status, self._noise, self._noise_process[name], t_s)


def _optical_pose(
    tool: ToolDefinition,
    tracker_from_tool: np.ndarray,
    status: PoseStatus,
    camera: CameraView | None,
    errors: MarkerErrors,
    t_s: float,
) -> RawPose:
    """Move the markers the camera sees by their errors and re-fit to them; ``error_rms`` is the
    fit RMS (mm)."""
    markers_tracker = apply_transform(tracker_from_tool, tool.markers_mm)
    seen = np.ones(len(markers_tracker), dtype=bool)
    if camera is not None:
        seen = _facing_camera(tool, tracker_from_tool, markers_tracker)
        inside = camera.contains(markers_tracker[seen])
        if seen.sum() < MIN_MARKERS_SEEN:
            return RawPose(None, PoseStatus.MISSING)
        if not inside.any():
            return RawPose(None, PoseStatus.OUT_OF_VOLUME)
        if not inside.all():
            status = worst_status(status, PoseStatus.PARTIALLY_OUT_OF_VOLUME)
    measured = markers_tracker + errors.sample(t_s, markers_tracker)
    fit = register_paired_points(measured[seen], tool.markers_mm[seen])
    return RawPose(fit.fixed_from_moving, status, fit.fre_rms_mm)


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
    tracker_from_tool: np.ndarray,
    status: PoseStatus,
    noise: EMNoise,
    process: GaussMarkovNoise,
    t_s: float,
) -> RawPose:
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
    return RawPose(measured, status, math.hypot(noise.position_rms_mm, bias_mm))
