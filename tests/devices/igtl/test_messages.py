"""TRANSFORM, IMAGE and POINT contents: the specification's layouts byte by byte, round trips,
and pyigtl (an independent implementation) reading ours and writing what we read."""

import contextlib
import struct

import numpy as np
import pyigtl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from devices.exceptions import ConfigurationError, ProtocolError
from devices.igtl.header import HEADER_SIZE, parse_header
from devices.igtl.messages import (
    Coordinate,
    ImageContent,
    Point,
    pack_image,
    pack_message,
    pack_points,
    pack_transform,
    unpack_image,
    unpack_points,
    unpack_transform,
)
from registration.transforms import make_rigid, rotation_from_vector

FINITE = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


def _pyigtl_read(data: bytes) -> pyigtl.MessageBase:
    """A whole message decoded by pyigtl, as its client does."""
    fields = pyigtl.MessageBase.parse_header(data[:HEADER_SIZE])
    message = pyigtl.MessageBase.create_message(fields["message_type"])
    message.unpack(fields, data[HEADER_SIZE:])
    return message


def _pyigtl_content(message: pyigtl.MessageBase) -> bytes:
    return message.pack()[HEADER_SIZE:]


def _pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_rigid(rotation_from_vector(rng.normal(size=3)), rng.normal(scale=300.0, size=3))


# --- TRANSFORM ---


def test_transform_is_the_3x4_column_by_column():
    matrix = np.arange(16.0).reshape(4, 4)
    expected = struct.pack(">12f", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11)
    assert pack_transform(matrix) == expected


@given(hnp.arrays(np.float64, (4, 4), elements=FINITE))
def test_transform_round_trip_to_float32(matrix):
    expected = matrix.astype(np.float32).astype(np.float64)
    expected[3] = (0.0, 0.0, 0.0, 1.0)
    np.testing.assert_array_equal(unpack_transform(pack_transform(matrix)), expected)


def test_pyigtl_reads_our_transform_and_we_read_theirs():
    pose = _pose(1)
    message = pack_message("TRANSFORM", "StylusToTracker", 1000.5, pack_transform(pose))
    theirs = _pyigtl_read(message)
    assert (theirs.device_name, theirs.timestamp) == ("StylusToTracker", 1000.5)
    np.testing.assert_allclose(theirs.matrix, pose, rtol=0, atol=1e-4)
    ours = unpack_transform(_pyigtl_content(pyigtl.TransformMessage(pose, device_name="X")))
    np.testing.assert_array_equal(ours, unpack_transform(pack_transform(pose)))


@pytest.mark.parametrize("size", [0, 47, 49, 64])
def test_transform_of_wrong_size_is_refused(size):
    with pytest.raises(ProtocolError, match="48 bytes"):
        unpack_transform(bytes(size))


def test_transform_with_nan_is_refused():
    with pytest.raises(ProtocolError, match="NaN"):
        unpack_transform(pack_transform(np.full((4, 4), np.nan)))


# --- IMAGE ---


def _oblique_volume() -> ImageContent:
    """A 5 x 4 x 3 (i, j, k) int16 volume, turned and anisotropic, with distinct voxels."""
    voxels = np.arange(60, dtype=np.int16).reshape(3, 4, 5) * 7 - 100
    rotation = rotation_from_vector(np.array([0.3, -0.2, 0.9]))
    world_from_ijk = np.eye(4)
    world_from_ijk[:3, :3] = rotation * [0.7, 0.9, 2.5]
    world_from_ijk[:3, 3] = (-120.0, 35.5, 410.25)
    return ImageContent(voxels, world_from_ijk, Coordinate.RAS)


def test_image_header_fields_and_centre():
    image = _oblique_volume()
    content = pack_image(image)
    fields = struct.unpack_from(">HBBBB3H12f6H", content)
    assert fields[:8] == (1, 1, 4, 2, 1, 5, 4, 3)  # v1, scalar, int16, little, RAS, i j k
    axes = np.array(fields[8:17]).reshape(3, 3).T  # T, S, N columns: spacing-scaled axes
    np.testing.assert_allclose(axes, image.world_from_ijk[:3, :3], atol=1e-5)
    centre = image.world_from_ijk @ [2.0, 1.5, 1.0, 1.0]  # mid-point of the voxel centres
    np.testing.assert_allclose(fields[17:20], centre[:3], atol=1e-4)
    assert fields[20:] == (0, 0, 0, 5, 4, 3)
    assert content[72:] == image.voxels.astype("<i2").tobytes()


def test_image_round_trip():
    image = _oblique_volume()
    back = unpack_image(pack_image(image))
    np.testing.assert_array_equal(back.voxels, image.voxels)
    np.testing.assert_allclose(back.world_from_ijk, image.world_from_ijk, atol=1e-4)
    assert back.coordinate is Coordinate.RAS


def test_pyigtl_places_every_voxel_where_we_do():
    image = _oblique_volume()
    theirs = _pyigtl_read(pack_message("IMAGE", "CT", 5.0, pack_image(image)))
    assert theirs.world_coordinate_system == "ras"
    np.testing.assert_array_equal(theirs.image, image.voxels)
    corners = np.array([[0, 0, 0, 1], [4, 3, 2, 1], [4, 0, 2, 1]], dtype=float).T
    np.testing.assert_allclose(
        theirs.ijk_to_world_matrix @ corners, image.world_from_ijk @ corners, atol=1e-4
    )


def test_we_read_pyigtl_images():
    image = _oblique_volume()
    message = pyigtl.ImageMessage(image.voxels, image.world_from_ijk, "lps", device_name="CT")
    back = unpack_image(_pyigtl_content(message))
    np.testing.assert_array_equal(back.voxels, image.voxels)
    np.testing.assert_allclose(back.world_from_ijk, image.world_from_ijk, atol=1e-4)
    assert back.coordinate is Coordinate.LPS


@pytest.mark.parametrize("dtype", ["u1", "i1", "<u2", ">i2", "<i4", "u4", "<f4", ">f8"])
def test_image_scalar_types_and_byte_orders(dtype):
    voxels = (np.arange(24).reshape(2, 3, 4) % 100).astype(dtype)
    back = unpack_image(pack_image(ImageContent(voxels, np.eye(4), Coordinate.LPS)))
    np.testing.assert_array_equal(back.voxels, voxels)


def test_vector_image_keeps_components_interleaved():
    voxels = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    content = pack_image(ImageContent(voxels, np.eye(4), Coordinate.RAS))
    assert content[2] == 3  # components
    np.testing.assert_array_equal(unpack_image(content).voxels, voxels)


def test_image_of_an_unsendable_type_is_refused():
    with pytest.raises(ValueError, match="cannot be sent"):
        pack_image(ImageContent(np.zeros((2, 2, 2), dtype=np.int64), np.eye(4), Coordinate.RAS))


def _with_fields(content: bytes, offset: int, layout: str, *values) -> bytes:
    data = bytearray(content)
    struct.pack_into(layout, data, offset, *values)
    return bytes(data)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c[:71], "at least 72"),
        (lambda c: _with_fields(c, 0, ">H", 2), "version 2"),
        (lambda c: _with_fields(c, 3, ">B", 9), "scalar type 9"),
        (lambda c: _with_fields(c, 4, ">B", 3), "endian 3"),
        (lambda c: _with_fields(c, 5, ">B", 0), "coordinate 0"),
        (lambda c: _with_fields(c, 6, ">H", 0), "size"),
        (lambda c: _with_fields(c, 60, ">H", 1), "subvolume"),
        (lambda c: _with_fields(c, 66, ">H", 2), "subvolume"),
        (lambda c: c[:-1], "needs 120 bytes"),
        (lambda c: c + b"\0\0", "needs 120 bytes"),
        (lambda c: _with_fields(c, 56, ">f", float("nan")), "NaN"),
    ],
)
def test_inconsistent_images_are_refused(change, match):
    with pytest.raises(ProtocolError, match=match):
        unpack_image(change(pack_image(_oblique_volume())))


# --- POINT ---

POINTS = (
    Point("nasion", (1.5, -20.25, 300.0), "Fiducial", (0, 0, 255, 255), 3.0, "CT"),
    Point("tumour-right-frontal", (-40.0, 12.0, 355.5), "Target", (255, 0, 0, 255), 0.0, "CT"),
)


def test_point_is_136_bytes_as_the_specification_lays_it_out():
    content = pack_points(POINTS[:1])
    assert len(content) == 136
    assert content[:6] == b"nasion" and content[6:64] == bytes(58)
    assert content[64:72] == b"Fiducial"
    assert content[96:100] == bytes([0, 0, 255, 255])
    assert struct.unpack(">4f", content[100:116]) == (1.5, -20.25, 300.0, 3.0)
    assert content[116:118] == b"CT"


def test_points_round_trip_and_pyigtl_agrees():
    assert unpack_points(pack_points(POINTS)) == POINTS
    theirs = _pyigtl_read(pack_message("POINT", "Targets", 1.0, pack_points(POINTS)))
    assert theirs.names == [point.name for point in POINTS]
    assert theirs.groups == [point.group for point in POINTS]
    assert theirs.positions == [point.position_mm for point in POINTS]
    assert theirs.rgba_colors == [point.rgba for point in POINTS]
    message = pyigtl.PointMessage(
        [p.position_mm for p in POINTS],
        [p.name for p in POINTS],
        [p.rgba for p in POINTS],
        [p.diameter_mm for p in POINTS],
        [p.group for p in POINTS],
        [p.owner for p in POINTS],
    )
    assert unpack_points(_pyigtl_content(message)) == POINTS


def test_point_name_too_long_is_refused():
    with pytest.raises(ConfigurationError, match="at most 64 bytes"):
        pack_points([Point("x" * 65, (0.0, 0.0, 0.0))])


@pytest.mark.parametrize("size", [1, 135, 137])
def test_point_content_of_wrong_size_is_refused(size):
    with pytest.raises(ProtocolError, match="multiple of 136"):
        unpack_points(bytes(size))


@settings(deadline=None)
@given(st.binary(max_size=400))
def test_content_parsers_raise_only_protocol_errors(data):
    for parse in (unpack_transform, unpack_image, unpack_points):
        with contextlib.suppress(ProtocolError):
            parse(data)


def test_message_header_carries_size_and_crc():
    content = pack_transform(np.eye(4))
    header = parse_header(pack_message("TRANSFORM", "T", 0.0, content)[:HEADER_SIZE])
    assert header.body_size == 48 and header.timestamp_s == 0.0
    assert header.crc == pyigtl.messages.CRC64(content)
