"""Rigid 4x4 transforms and the input checks every public registration function uses.

Transforms are float64 homogeneous matrices named ``a_from_b``: ``p_a = a_from_b @ p_b``.
Points are ``(N, 3)`` float64 arrays in millimetres.
"""

import math
from dataclasses import dataclass

import numba
import numpy as np

from registration.exceptions import RegistrationError

ORTHONORMAL_TOL = 1e-6
# Tracker recordings print matrices with 6 significant digits (PLUS sequence files): their
# rotation blocks are orthonormal to ~3e-4 only.
RECORDED_ORTHONORMAL_TOL = 1e-3
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])
_IDENTITY_3 = np.eye(3)


def as_points(
    points: np.ndarray, name: str = "points", min_count: int = 1, check_finite: bool = True
) -> np.ndarray:
    """Return ``points`` as a C-contiguous ``(N, 3)`` float64 array, or raise RegistrationError.

    Rejects other shapes, fewer than ``min_count`` rows and (unless ``check_finite`` is False,
    for callers whose Numba kernel checks values itself) non-finite values.
    """
    array = np.asarray(points, dtype=np.float64, order="C")
    shape = array.shape
    if len(shape) != 2 or shape[1] != 3:
        raise RegistrationError(f"{name} must have shape (N, 3); got {shape}")
    if shape[0] < min_count:
        raise RegistrationError(f"{name} needs at least {min_count} points; got {shape[0]}")
    if check_finite and not np.isfinite(array).all():
        raise RegistrationError(f"{name} contains NaN or infinite coordinates")
    return array


def as_rigid(
    matrix: np.ndarray, name: str = "transform", tol: float = ORTHONORMAL_TOL
) -> np.ndarray:
    """Return ``matrix`` as a 4x4 float64 rigid transform, or raise RegistrationError.

    A rigid transform has an orthonormal rotation block with determinant +1 (no reflection)
    and a last row of (0, 0, 0, 1); ``tol`` bounds the deviation of ``R^T R`` from the identity
    and of the last row (use ``RECORDED_ORTHONORMAL_TOL`` for matrices read from files).
    """
    array = np.asarray(matrix, dtype=np.float64)
    if array.shape != (4, 4):
        raise RegistrationError(f"{name} must have shape (4, 4); got {array.shape}")
    if not np.isfinite(array).all():
        raise RegistrationError(f"{name} contains NaN or infinite values")
    if np.abs(array[3] - _LAST_ROW).max() > tol:
        raise RegistrationError(f"{name} last row must be (0, 0, 0, 1); got {array[3]}")
    rotation = array[:3, :3]
    if np.abs(rotation.T @ rotation - _IDENTITY_3).max() > tol:
        raise RegistrationError(f"{name} rotation block is not orthonormal (tolerance {tol:g})")
    # The determinant by its cofactors: an orthonormal block's is +-1, so only its sign
    # matters (np.linalg.det costs more than the rest of this check; trackers call it per frame).
    (a, b, c), (d, e, f), (g, h, i) = rotation.tolist()
    if a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g) <= 0.0:
        raise RegistrationError(f"{name} rotation block is a reflection (determinant <= 0)")
    return np.ascontiguousarray(array)


def rigid_mask(poses: np.ndarray, tol: float = ORTHONORMAL_TOL) -> np.ndarray:
    """``(M,)`` booleans: which of the ``(M, 4, 4)`` float64 ``poses`` are rigid transforms
    (finite, ``R^T R`` within ``tol`` of the identity, no reflection, last row (0, 0, 0, 1)
    within ``tol``): the one test behind ``as_rigid``'s rule, for whole stacks."""
    if len(poses) == 0:
        return np.ones(0, dtype=bool)
    rotations = poses[:, :3, :3]
    with np.errstate(invalid="ignore", over="ignore"):
        gram_error = np.abs(rotations.transpose(0, 2, 1) @ rotations - np.eye(3)).max(axis=(1, 2))
        return (
            np.all(np.isfinite(poses), axis=(1, 2))
            & (np.abs(poses[:, 3] - [0.0, 0.0, 0.0, 1.0]).max(axis=1) <= tol)
            & (gram_error <= tol)
            & (np.linalg.det(rotations) > 0.0)
        )


def as_pose_stack(
    poses: np.ndarray, name: str = "poses", min_count: int = 1, tol: float = ORTHONORMAL_TOL
) -> np.ndarray:
    """Return ``poses`` as a C-contiguous ``(M, 4, 4)`` float64 stack of rigid transforms, or raise
    RegistrationError naming the first pose that is not rigid (vectorised ``as_rigid``; ``tol``
    bounds the deviation of ``R^T R`` from the identity and of the last row).
    """
    array = np.asarray(poses, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (4, 4):
        raise RegistrationError(f"{name} must have shape (M, 4, 4); got {array.shape}")
    if array.shape[0] < min_count:
        raise RegistrationError(f"{name} needs at least {min_count} poses; got {array.shape[0]}")
    bad = ~rigid_mask(array, tol)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise RegistrationError(
            f"{name}[{first}] is not a rigid transform (NaN, non-orthonormal rotation, "
            f"reflection or last row not (0, 0, 0, 1)); {int(bad.sum())} such poses in all"
        )
    return np.ascontiguousarray(array)


@numba.njit(cache=True)
def rotation_from_vector(rotation_vector: np.ndarray) -> np.ndarray:
    """The 3x3 rotation by ``|v|`` rad about ``v / |v|`` (Rodrigues' formula); the identity for a
    zero vector. ``v``: a float64 array of 3. Numba, so that ICP's kernels call it too."""
    v = rotation_vector
    angle = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    if angle < 1e-300:
        return np.eye(3)
    x, y, z = v[0] / angle, v[1] / angle, v[2] / angle
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)


@numba.njit(cache=True)
def rotations_from_vectors(rotation_vectors: np.ndarray) -> np.ndarray:
    """``rotation_from_vector`` of each row of a ``(K, 3)`` float64 array: ``(K, 3, 3)``."""
    rotations = np.empty((rotation_vectors.shape[0], 3, 3))
    for k in range(rotation_vectors.shape[0]):
        rotations[k] = rotation_from_vector(rotation_vectors[k])
    return rotations


def make_rigid(rotation: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    """Build the 4x4 transform ``p -> rotation @ p + translation_mm``."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation_mm
    return matrix


def invert_rigid(a_from_b: np.ndarray) -> np.ndarray:
    """Return ``b_from_a`` for a rigid ``a_from_b`` (transpose the rotation, no general inverse)."""
    rotation = a_from_b[:3, :3]
    return make_rigid(rotation.T, -rotation.T @ a_from_b[:3, 3])


def apply_transform(a_from_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map ``(N, 3)`` points (or one point of shape ``(3,)``) from frame b to frame a."""
    points = np.asarray(points_b, dtype=np.float64)
    return points @ a_from_b[:3, :3].T + a_from_b[:3, 3]


def rotation_angle_rad(rotation: np.ndarray) -> float:
    """Angle in radians of a 3x3 rotation (0 for the identity), robust near 0 and pi.

    ``atan2(sin, cos)`` with the sine from the skew part: ``arccos`` of the trace alone loses
    half the digits near 0 (an exact rotation would read as ~1e-8 rad).
    """
    cos_angle = (np.trace(rotation) - 1.0) / 2.0
    skew = np.array(
        [
            rotation[2, 1] - rotation[1, 2],
            rotation[0, 2] - rotation[2, 0],
            rotation[1, 0] - rotation[0, 1],
        ]
    )
    return float(np.arctan2(np.linalg.norm(skew) / 2.0, cos_angle))


@dataclass(frozen=True)
class TransformDifference:
    """How far an estimated transform is from the truth: rotation in radians, translation in mm."""

    rotation_rad: float
    translation_mm: float


def transform_difference(a_from_b: np.ndarray, a_from_b_true: np.ndarray) -> TransformDifference:
    """Rotation and translation of the residual motion ``estimate @ inverse(truth)`` in frame a."""
    residual = a_from_b @ invert_rigid(a_from_b_true)
    return TransformDifference(
        rotation_angle_rad(residual[:3, :3]), float(np.linalg.norm(residual[:3, 3]))
    )
