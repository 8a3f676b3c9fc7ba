"""Settings of the simulated tracker's error model: optical marker jitter, EM noise, events.

Defaults follow the vendors' published accuracy: an NDI Polaris localises one passive marker to
about 0.25 mm RMS; an NDI Aurora 6DOF sensor in the planar field generator's cube volume to
0.48 mm RMS and 0.30 degrees RMS. All lengths in mm, angles in radians, rates in events per second.
"""

import math
from dataclasses import dataclass

import numba
import numpy as np

from devices.exceptions import ConfigurationError
from registration.transforms import rotation_from_vector


def _check_non_negative(owner: str, **values: float) -> None:
    """Raise ConfigurationError unless every value is a finite number >= 0."""
    for name, value in values.items():
        if not math.isfinite(value) or value < 0.0:
            raise ConfigurationError(f"{owner}.{name} must be a finite number >= 0; got {value!r}")


@dataclass(frozen=True)
class TrackingEvents:
    """Random losses of a tool, each a Poisson process per tool (events per second).

    - dropout: the tool is MISSING for one frame (a marker briefly not segmented);
    - occlusion: line-of-sight loss, MISSING for ``occlusion_duration_s``;
    - out of volume: the tool leaves the measurement volume for ``out_of_volume_duration_s``:
      PARTIALLY_OUT_OF_VOLUME (pose kept) during the first and last quarter of the excursion,
      OUT_OF_VOLUME (no pose) in between.
    """

    dropout_rate_hz: float = 0.0
    occlusion_rate_hz: float = 0.0
    occlusion_duration_s: float = 0.5
    out_of_volume_rate_hz: float = 0.0
    out_of_volume_duration_s: float = 1.0

    def __post_init__(self) -> None:
        _check_non_negative(
            "TrackingEvents",
            dropout_rate_hz=self.dropout_rate_hz,
            occlusion_rate_hz=self.occlusion_rate_hz,
            occlusion_duration_s=self.occlusion_duration_s,
            out_of_volume_rate_hz=self.out_of_volume_rate_hz,
            out_of_volume_duration_s=self.out_of_volume_duration_s,
        )


@dataclass(frozen=True)
class CameraView:
    """Where an optical camera measures: a pyramid from the camera at the tracker origin,
    looking down -z (y up), between ``near_mm`` and ``far_mm`` from it, within the half-angles.

    The defaults have the depth range of an NDI Polaris Spectra pyramid volume (0.95 to 2.4 m)
    and round half-angles; they stand in for, and are not, NDI's characterised volume.
    """

    near_mm: float = 950.0
    far_mm: float = 2400.0
    half_width_rad: float = math.radians(20.0)
    half_height_rad: float = math.radians(17.0)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.far_mm) and 0.0 < self.near_mm < self.far_mm):
            raise ConfigurationError(
                f"CameraView needs 0 < near_mm < far_mm; got {self.near_mm!r}, {self.far_mm!r}"
            )
        for name in ("half_width_rad", "half_height_rad"):
            if not 0.0 < getattr(self, name) < math.pi / 2:
                raise ConfigurationError(
                    f"CameraView.{name} must be in (0, pi/2); got {getattr(self, name)!r}"
                )

    def contains(self, points_mm: np.ndarray) -> np.ndarray:
        """For ``(N, 3)`` tracker-frame points, whether each lies inside the pyramid."""
        x, y, z = np.asarray(points_mm, dtype=np.float64).T
        depth = -z
        return (
            (depth >= self.near_mm)
            & (depth <= self.far_mm)
            & (np.abs(x) <= depth * math.tan(self.half_width_rad))
            & (np.abs(y) <= depth * math.tan(self.half_height_rad))
        )


@dataclass(frozen=True)
class VolumeDistortion:
    """A camera's trueness: every marker is seen displaced by a smooth field of its position,
    the same whenever a marker comes back to the same place (a systematic error, unlike jitter).

    ``rms_mm`` is the field's 3D RMS over the volume (NDI specifies 0.25 mm RMS volumetric
    accuracy for the Polaris Spectra); ``length_scale_mm`` how far apart two points see nearly
    independent errors. The field is a sum of ``modes`` random plane waves (random Fourier
    features of a Gaussian covariance ``exp(-d^2 / (2 L^2))``: Rahimi & Recht 2007, NIPS).
    """

    rms_mm: float = 0.25
    length_scale_mm: float = 200.0
    modes: int = 32

    def __post_init__(self) -> None:
        _check_non_negative("VolumeDistortion", rms_mm=self.rms_mm)
        if not (math.isfinite(self.length_scale_mm) and self.length_scale_mm > 0.0):
            raise ConfigurationError(
                f"VolumeDistortion.length_scale_mm must be > 0; got {self.length_scale_mm!r}"
            )
        if not (isinstance(self.modes, int) and self.modes >= 1):
            raise ConfigurationError(f"VolumeDistortion.modes must be >= 1; got {self.modes!r}")

    def field(self, rng: np.random.Generator) -> "DistortionField":
        """One camera's field, drawn from ``rng``."""
        return DistortionField(self, rng)


class DistortionField:
    """A drawn ``VolumeDistortion``: ``displacement_mm(points)`` (..., 3) for (..., 3) tracker
    points.

    ``d(x) = sum_k a_k cos(w_k . x + phi_k)`` with ``w_k ~ N(0, I / L^2)``, ``phi_k`` uniform and
    ``a_k ~ N(0, s^2 I)``; each term has a mean square ``3 s^2 / 2``, so ``s`` is set for the
    field's RMS to be ``rms_mm``.
    """

    def __init__(self, settings: VolumeDistortion, rng: np.random.Generator) -> None:
        k = settings.modes
        self._frequencies = rng.normal(0.0, 1.0 / settings.length_scale_mm, (k, 3))
        self._phases = rng.uniform(0.0, 2.0 * math.pi, k)
        sd = settings.rms_mm * math.sqrt(2.0 / (3.0 * k))
        self._amplitudes = rng.normal(0.0, sd, (k, 3))

    def displacement_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """The field at each point (..., 3) mm."""
        waves = np.cos(np.asarray(points_mm) @ self._frequencies.T + self._phases)
        return waves @ self._amplitudes


@dataclass(frozen=True)
class OpticalNoise:
    """Optical tracking error: each marker moves by an isotropic Gaussian jitter per frame.

    ``marker_jitter_rms_mm`` is the RMS length of the 3D displacement of one marker (so each axis
    has a standard deviation of ``marker_jitter_rms_mm / sqrt(3)``). The pose is then re-fitted
    to the jittered markers, so tip error grows with the tip's distance from the marker centroid.
    With ``correlation_time_s`` > 0 the displacement drifts instead of being drawn afresh each
    frame (see ``GaussMarkovNoise``): averaging a dwell removes less of it, as on real cameras.
    ``drift_rms_mm`` adds a second, slow displacement per marker of correlation time
    ``drift_correlation_s`` (real cameras have both: a fast jitter and a slow wander); a
    ``distortion`` adds the camera's trueness, a field of the marker's position.

    With a ``camera``, geometry decides too: a marker turned more than the tool's maximum marker
    angle away from the camera is not seen (the pose is fitted to the others; fewer than 3 seen:
    MISSING); a tool with some seen markers outside the camera's volume is
    PARTIALLY_OUT_OF_VOLUME (pose kept), with all of them outside OUT_OF_VOLUME.
    """

    marker_jitter_rms_mm: float = 0.25
    events: TrackingEvents = TrackingEvents()
    camera: CameraView | None = None
    correlation_time_s: float = 0.0
    drift_rms_mm: float = 0.0
    drift_correlation_s: float = 3.0
    distortion: VolumeDistortion | None = None

    def __post_init__(self) -> None:
        _check_non_negative(
            "OpticalNoise",
            marker_jitter_rms_mm=self.marker_jitter_rms_mm,
            correlation_time_s=self.correlation_time_s,
            drift_rms_mm=self.drift_rms_mm,
        )
        if not (math.isfinite(self.drift_correlation_s) and self.drift_correlation_s > 0.0):
            raise ConfigurationError(
                f"OpticalNoise.drift_correlation_s must be > 0; got {self.drift_correlation_s!r}"
            )


class MarkerErrors:
    """Where one optical tool's markers are seen, off their true place: the fast ``jitter`` (a
    ``GaussMarkovNoise`` of shape (N, 3)), the slow ``drift`` (same shape, or None) and the
    camera's ``distortion`` field at the markers' positions (or None)."""

    def __init__(
        self,
        jitter: "GaussMarkovNoise",
        drift: "GaussMarkovNoise | None" = None,
        distortion: DistortionField | None = None,
    ) -> None:
        self._jitter = jitter
        self._drift = drift
        self._distortion = distortion

    def samples(self, times_s: np.ndarray, markers_mm: np.ndarray) -> np.ndarray:
        """The displacements (K, N, 3) mm at ``times_s`` (K,) s of markers truly at
        ``markers_mm`` (K, N, 3, tracker frame); times in order, continuing the previous call's.
        """
        displacement = self._jitter.samples(times_s)
        if self._drift is not None:
            displacement = displacement + self._drift.samples(times_s)
        if self._distortion is not None:
            displacement = displacement + self._distortion.displacement_mm(markers_mm)
        return displacement


class GaussMarkovNoise:
    """A noise array over time: each element a stationary Gaussian process of standard deviation
    ``sigma`` (a number, or an array broadcastable to ``shape``).

    White (independent per sample) when ``correlation_time_s`` is 0, else an Ornstein-Uhlenbeck
    process whose samples ``dt`` apart correlate by ``exp(-dt / tau)`` (exact discretisation:
    ``x' = a x + sqrt(1 - a^2) sigma n``, ``a = exp(-dt / tau)``).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        sigma: float | np.ndarray,
        correlation_time_s: float,
        rng: np.random.Generator,
    ) -> None:
        self._sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), shape)
        self._tau_s = correlation_time_s
        self._rng = rng
        self._values: np.ndarray | None = None
        self._last_s = 0.0

    def samples(self, times_s: np.ndarray) -> np.ndarray:
        """The noise (K, *shape) at ``times_s`` (K,) seconds, in order and continuing the
        previous call's (never decreasing). The generator's draws are taken sample after sample,
        whatever K: a run of calls gives the values of the same process."""
        times = np.asarray(times_s, dtype=np.float64).reshape(-1)
        shape = self._sigma.shape
        fresh = self._sigma * self._rng.standard_normal((len(times), *shape))
        if self._tau_s == 0.0 or len(times) == 0:
            values = fresh
        else:
            steps_s = np.diff(times, prepend=self._last_s)
            previous = np.zeros(shape) if self._values is None else self._values
            values = _gauss_markov(
                fresh.reshape(len(times), -1),
                np.exp(-steps_s / self._tau_s),
                previous.reshape(-1),
                self._values is None,
            ).reshape(fresh.shape)
        if len(times):
            self._values, self._last_s = values[-1], float(times[-1])
        return values


@numba.njit(cache=True)
def _gauss_markov(fresh, decay, previous, start_fresh):
    """``x_k = a_k x_{k-1} + sqrt(1 - a_k^2) n_k`` over the rows of ``fresh`` (``n_k``, scaled),
    from ``previous`` (``x_{-1}``), or from ``x_0 = n_0`` when ``start_fresh``."""
    values = np.empty_like(fresh)
    last = previous.copy()
    for k in range(fresh.shape[0]):
        a = decay[k]
        b = math.sqrt(1.0 - a * a)
        for m in range(fresh.shape[1]):
            if k == 0 and start_fresh:
                values[k, m] = fresh[k, m]
            else:
                values[k, m] = a * last[m] + b * fresh[k, m]
            last[m] = values[k, m]
    return values


@dataclass(frozen=True, eq=False)
class MetalObject:
    """A conductive object distorting an EM field near ``center_mm`` (tracker frame, mm).

    A simplified teaching model, not a field computation: the sensor's position is pushed away
    from the object by ``bias_at_radius_mm * min(1, (radius_mm / d)**3)`` (the 1/d^3 decay of
    the field of an induced dipole), and its orientation is tilted by
    ``tilt_at_radius_rad`` scaled the same way.
    """

    center_mm: np.ndarray
    radius_mm: float = 50.0
    bias_at_radius_mm: float = 2.0
    tilt_at_radius_rad: float = math.radians(1.0)

    def __post_init__(self) -> None:
        center = np.array(self.center_mm, dtype=np.float64)
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise ConfigurationError(
                f"MetalObject.center_mm must be 3 finite coordinates; got {self.center_mm!r}"
            )
        center.setflags(write=False)
        object.__setattr__(self, "center_mm", center)
        _check_non_negative(
            "MetalObject",
            bias_at_radius_mm=self.bias_at_radius_mm,
            tilt_at_radius_rad=self.tilt_at_radius_rad,
        )
        if not math.isfinite(self.radius_mm) or self.radius_mm <= 0.0:
            raise ConfigurationError(f"MetalObject.radius_mm must be > 0; got {self.radius_mm!r}")

    def falloff(self, position_mm: np.ndarray) -> float:
        """Strength of the distortion at ``position_mm``: 1 within the radius, (r/d)^3 beyond."""
        distance = float(np.linalg.norm(np.asarray(position_mm) - self.center_mm))
        return 1.0 if distance <= self.radius_mm else (self.radius_mm / distance) ** 3

    def bias(self, tracker_from_tool: np.ndarray) -> np.ndarray:
        """The distorted pose's offset as a 4x4 ``distorted_from_true`` (tracker frame, mm)."""
        position = tracker_from_tool[:3, 3]
        away = position - self.center_mm
        norm = float(np.linalg.norm(away))
        direction = away / norm if norm > 0.0 else np.array([0.0, 0.0, 1.0])
        strength = self.falloff(position)
        axis = np.cross(direction, [0.0, 0.0, 1.0])
        if np.linalg.norm(axis) < 1e-9:
            axis = np.array([1.0, 0.0, 0.0])
        axis /= np.linalg.norm(axis)
        rotation = rotation_from_vector(strength * self.tilt_at_radius_rad * axis)
        bias = np.eye(4)
        bias[:3, :3] = rotation
        # Rotate about the sensor's own position, then push it away from the metal.
        bias[:3, 3] = position - rotation @ position + strength * self.bias_at_radius_mm * direction
        return bias


@dataclass(frozen=True)
class EMNoise:
    """Electromagnetic tracking error: isotropic position and orientation noise per frame.

    ``position_rms_mm`` is the RMS length of the 3D position error, ``orientation_rms_rad`` the
    RMS rotation angle; an optional ``metal`` object adds a systematic, position-dependent bias.
    ``correlation_time_s`` > 0 makes the noise drift (see ``GaussMarkovNoise``).
    """

    position_rms_mm: float = 0.48
    orientation_rms_rad: float = math.radians(0.30)
    metal: MetalObject | None = None
    events: TrackingEvents = TrackingEvents()
    correlation_time_s: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative(
            "EMNoise",
            position_rms_mm=self.position_rms_mm,
            orientation_rms_rad=self.orientation_rms_rad,
            correlation_time_s=self.correlation_time_s,
        )
