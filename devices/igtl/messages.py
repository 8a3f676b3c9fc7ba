"""OpenIGTLink message contents gestes sends and reads: TRANSFORM, IMAGE and POINT (version 1
bodies, big-endian), each packed into a whole message with ``pack_message``.

TRANSFORM (48 bytes): the upper 3x4 of the 4x4 matrix as 12 float32 in column order,
``R11 R21 R31 R12 R22 R32 R13 R23 R33 TX TY TZ`` (mm).

IMAGE: a 72-byte image header, then the voxels::

    V uint16 (1) | components uint8 | scalar type uint8 | endian uint8 (1 big, 2 little)
    | coordinate uint8 (1 RAS, 2 LPS) | size i, j, k uint16 x3
    | T (x,y,z) S (x,y,z) N (x,y,z): the i, j, k axes, each scaled by its voxel spacing, float32
    | P (x,y,z): the position of the volume's CENTRE, float32
    | subvolume start i, j, k, subvolume size i, j, k: uint16 x6

The centre is the mid-point of the voxel centres, ``world_from_ijk @ ((size - 1) / 2)``, as the
reference library and Slicer's converter compute it (not the corner of the first voxel, and not
that voxel's centre, which is ITK's origin). Voxels run i fastest, then j, then k.

POINT (136 bytes per point): name char[64], group char[32], RGBA uint8 x4, X Y Z float32 (mm),
diameter float32 (mm), owner image char[20].
"""

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devices.exceptions import ConfigurationError, ProtocolError
from devices.igtl.crc import crc64
from devices.igtl.header import pack_header

TRANSFORM = "TRANSFORM"
IMAGE = "IMAGE"
POINT = "POINT"

TRANSFORM_SIZE = 48
_FLOATS_BE = np.dtype(">f4")


def pack_message(message_type: str, device_name: str, timestamp_s: float, content: bytes) -> bytes:
    """A whole version 1 message: the header (with the content's size and CRC-64) + ``content``.

    ``timestamp_s`` is seconds since 1970 UTC; 0.0 leaves the header's timestamp unused.
    """
    header = pack_header(message_type, device_name, timestamp_s, len(content), crc64(content))
    return header + content


# --- TRANSFORM ---------------------------------------------------------------------------------


def pack_transform(matrix: np.ndarray) -> bytes:
    """The 48-byte TRANSFORM content of a 4x4 matrix (mm); its last row is implied."""
    return np.asarray(matrix[:3, :4].T, dtype=_FLOATS_BE).tobytes()


def unpack_transform(content: bytes | memoryview) -> np.ndarray:
    """The 4x4 float64 matrix of a TRANSFORM content; raises ``ProtocolError`` unless it has
    exactly 48 bytes of finite numbers."""
    if len(content) != TRANSFORM_SIZE:
        raise ProtocolError(f"TRANSFORM content has {TRANSFORM_SIZE} bytes; got {len(content)}")
    columns = np.frombuffer(content, dtype=_FLOATS_BE).reshape(4, 3)
    if not np.isfinite(columns).all():
        raise ProtocolError("TRANSFORM content holds NaN or infinite numbers")
    matrix = np.eye(4)
    matrix[:3, :4] = columns.T
    return matrix


# --- IMAGE -------------------------------------------------------------------------------------


class Coordinate(enum.IntEnum):
    """The world frame of an IMAGE message."""

    RAS = 1
    LPS = 2


_SCALAR_TYPES = {
    2: np.dtype(np.int8),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int16),
    5: np.dtype(np.uint16),
    6: np.dtype(np.int32),
    7: np.dtype(np.uint32),
    10: np.dtype(np.float32),
    11: np.dtype(np.float64),
}
_SCALAR_CODES = {dtype: code for code, dtype in _SCALAR_TYPES.items()}
_IMAGE_HEADER = struct.Struct(">HBBBB3H12f6H")
_BIG, _LITTLE = 1, 2
_MAX_SIZE = 0xFFFF


@dataclass(frozen=True, eq=False)
class ImageContent:
    """An IMAGE message's volume: ``voxels`` indexed ``[k, j, i]`` (slice, row, column; a 4th
    axis for vector components) and ``world_from_ijk`` (4x4, mm) in the ``coordinate`` frame,
    mapping voxel indices (voxel centres are integers) to world positions."""

    voxels: np.ndarray
    world_from_ijk: np.ndarray
    coordinate: Coordinate


def pack_image(image: ImageContent) -> bytes:
    """The IMAGE content: the 72-byte image header, then the voxels (little-endian)."""
    voxels = np.ascontiguousarray(image.voxels)
    if voxels.ndim not in (3, 4):
        raise ValueError(f"IMAGE voxels must be (k, j, i) or (k, j, i, c); got {voxels.shape}")
    code = _SCALAR_CODES.get(voxels.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"IMAGE voxels of type {voxels.dtype} cannot be sent: use one of "
            f"{sorted(str(dtype) for dtype in _SCALAR_CODES)}"
        )
    size_kji = voxels.shape[:3]
    if max(size_kji) > _MAX_SIZE:
        raise ValueError(f"IMAGE sizes are at most {_MAX_SIZE} voxels per axis; got {size_kji}")
    affine = np.asarray(image.world_from_ijk, dtype=np.float64)
    centre = affine[:3, :3] @ ((np.array(size_kji[::-1]) - 1.0) / 2.0) + affine[:3, 3]
    voxels = voxels.astype(voxels.dtype.newbyteorder("<"), copy=False)
    header = _IMAGE_HEADER.pack(
        1,
        voxels.shape[3] if voxels.ndim == 4 else 1,
        code,
        _LITTLE,
        int(image.coordinate),
        *size_kji[::-1],
        *affine[:3, :3].T.ravel(),
        *centre,
        0,
        0,
        0,
        *size_kji[::-1],
    )
    return header + voxels.tobytes()


def unpack_image(content: bytes | memoryview) -> ImageContent:
    """The volume of an IMAGE content; raises ``ProtocolError`` for anything inconsistent (an
    unknown scalar type or frame, sizes that do not match the data, a partial subvolume)."""
    if len(content) < _IMAGE_HEADER.size:
        raise ProtocolError(
            f"IMAGE content has at least {_IMAGE_HEADER.size} bytes; got {len(content)}"
        )
    fields = _IMAGE_HEADER.unpack_from(content)
    version, components, code, endian, coordinate = fields[:5]
    size_ijk, numbers, sub_start, sub_size = fields[5:8], fields[8:20], fields[20:23], fields[23:]
    if version != 1:
        raise ProtocolError(f"IMAGE header version {version}; only version 1 is supported")
    dtype = _SCALAR_TYPES.get(code)
    if dtype is None or endian not in (_BIG, _LITTLE) or coordinate not in (1, 2):
        raise ProtocolError(
            f"IMAGE scalar type {code}, endian {endian}, coordinate {coordinate}: expected a "
            f"type in {sorted(_SCALAR_TYPES)}, endian 1 or 2, coordinate 1 (RAS) or 2 (LPS)"
        )
    if components < 1 or min(size_ijk) < 1:
        raise ProtocolError(f"IMAGE of {components} components and size {size_ijk}")
    if sub_start != (0, 0, 0) or sub_size != size_ijk:
        raise ProtocolError(
            f"IMAGE subvolume at {sub_start} of size {sub_size} in {size_ijk}: "
            "only whole volumes are supported"
        )
    dtype = dtype.newbyteorder(">" if endian == _BIG else "<")
    count = components * int(np.prod(size_ijk))
    data = memoryview(content)[_IMAGE_HEADER.size :]
    if len(data) != count * dtype.itemsize:
        raise ProtocolError(
            f"IMAGE of {size_ijk} x {components} {dtype.name} needs {count * dtype.itemsize} "
            f"bytes of voxels; got {len(data)}"
        )
    values = np.asarray(numbers, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ProtocolError("IMAGE geometry holds NaN or infinite numbers")
    axes = values[:9].reshape(3, 3).T
    world_from_ijk = np.eye(4)
    world_from_ijk[:3, :3] = axes
    world_from_ijk[:3, 3] = values[9:] - axes @ ((np.array(size_ijk) - 1.0) / 2.0)
    shape = size_ijk[::-1] + ((components,) if components > 1 else ())
    voxels = np.frombuffer(data, dtype=dtype).reshape(shape)
    return ImageContent(voxels, world_from_ijk, Coordinate(coordinate))


# --- POINT -------------------------------------------------------------------------------------

_POINT = struct.Struct(">64s32s4B3ff20s")


@dataclass(frozen=True)
class Point:
    """One POINT item: a labelled position (mm) with a group ("Fiducial", "Target"), a colour
    (RGBA 0-255), a diameter (mm, 0 allowed) and the name of the image it belongs to."""

    name: str
    position_mm: tuple[float, float, float]
    group: str = ""
    rgba: tuple[int, int, int, int] = (255, 255, 0, 255)
    diameter_mm: float = 0.0
    owner: str = ""


def pack_points(points: Sequence[Point]) -> bytes:
    """The POINT content: 136 bytes per point."""
    return b"".join(
        _POINT.pack(
            _text_field(point.name, 64, "point name"),
            _text_field(point.group, 32, "point group"),
            *point.rgba,
            *point.position_mm,
            point.diameter_mm,
            _text_field(point.owner, 20, "point owner image"),
        )
        for point in points
    )


def unpack_points(content: bytes | memoryview) -> tuple[Point, ...]:
    """The points of a POINT content; raises ``ProtocolError`` unless its size is a multiple
    of 136 bytes and the names are text."""
    if len(content) % _POINT.size:
        raise ProtocolError(
            f"POINT content is a multiple of {_POINT.size} bytes; got {len(content)}"
        )
    points = []
    for fields in _POINT.iter_unpack(content):
        name, group, *rgba, x, y, z, diameter, owner = fields
        points.append(
            Point(
                _c_string(name, "point name"),
                (x, y, z),
                _c_string(group, "point group"),
                tuple(rgba),
                diameter,
                _c_string(owner, "point owner image"),
            )
        )
    return tuple(points)


def _text_field(text: str, size: int, what: str) -> bytes:
    """``text`` as UTF-8 of at most ``size`` bytes (``struct`` pads it with NULs)."""
    data = text.encode("utf-8")
    if len(data) > size or b"\0" in data:
        raise ConfigurationError(
            f"an OpenIGTLink {what} holds at most {size} bytes of UTF-8 text without NULs; "
            f"got {text!r} ({len(data)} bytes)"
        )
    return data


def _c_string(raw: bytes, what: str) -> str:
    """A NUL-padded text field (UTF-8, as other implementations write it)."""
    try:
        return raw.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"POINT {what} {raw!r} is not UTF-8 text") from error
