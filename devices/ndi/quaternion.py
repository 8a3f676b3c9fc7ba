"""Unit quaternions in NDI order (q0, qx, qy, qz) to and from 4x4 rigid transforms."""

import math

import numpy as np


def rigid_from_quaternion(
    quaternion: tuple[float, float, float, float], translation_mm: tuple[float, float, float]
) -> np.ndarray:
    """The 4x4 ``tracker_from_tool`` for a unit quaternion (normalised here) and a translation."""
    q0, qx, qy, qz = quaternion
    norm = math.sqrt(q0 * q0 + qx * qx + qy * qy + qz * qz)
    q0, qx, qy, qz = q0 / norm, qx / norm, qy / norm, qz / norm
    x, y, z = translation_mm
    return np.array(
        (
            1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - q0 * qz), 2 * (qx * qz + q0 * qy), x,
            2 * (qx * qy + q0 * qz), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - q0 * qx), y,
            2 * (qx * qz - q0 * qy), 2 * (qy * qz + q0 * qx), 1 - 2 * (qx * qx + qy * qy), z,
            0.0, 0.0, 0.0, 1.0,
        ),
        dtype=np.float64,
    ).reshape(4, 4)  # fmt: skip


def quaternion_from_rigid(a_from_b: np.ndarray) -> tuple[float, float, float, float]:
    """The unit quaternion (q0 >= 0) of the rotation of a 4x4 (or 3x3) transform.

    Shepperd's method (J. Guidance and Control 1(3), 1978): pivot on the largest of the four
    squared components, so the result stays accurate near 180 degree rotations.
    """
    r = np.asarray(a_from_b, dtype=np.float64)[:3, :3]
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    candidates = (trace, r[0, 0], r[1, 1], r[2, 2])
    pivot = int(np.argmax(candidates))
    if pivot == 0:
        s = 2.0 * math.sqrt(max(1.0 + trace, 0.0))
        q = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
    elif pivot == 1:
        s = 2.0 * math.sqrt(max(1.0 + 2 * r[0, 0] - trace, 0.0))
        q = ((r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s)
    elif pivot == 2:
        s = 2.0 * math.sqrt(max(1.0 + 2 * r[1, 1] - trace, 0.0))
        q = ((r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 + 2 * r[2, 2] - trace, 0.0))
        q = ((r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s)
    sign = -1.0 if q[0] < 0 else 1.0
    return tuple(float(sign * value) for value in q)
