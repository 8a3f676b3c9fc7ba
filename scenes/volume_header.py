"""Checking a volume file's header and payload before SimpleITK reads it.

ITK's readers repair what they cannot use without a word: a NaN or infinite origin becomes 0, a
spacing lost after a garbage header line becomes 1 mm, a negative spacing loses its sign, a
truncated gzip stream is padded, a raw payload announced as compressed becomes a volume of zeros,
a header announcing 4000 x 5000 x 6000 voxels is allocated before the data are looked at. For
navigation each of these is a target in the wrong place, so this module reads the header itself
(MetaImage ``.mha``/``.mhd``, NRRD ``.nrrd``/``.nhdr``, NIfTI-1 ``.nii``/``.nii.gz``), checks the
geometry fields and that the payload holds what the header declares, and raises
CorruptVolumeError naming the file and the field.

Compressed payloads are checked without decompressing them when the format allows: a gzip
stream's trailer records its uncompressed size (mod 2^32, RFC 1952), compared with what the
header declares (only a mismatch costs a full decompression, to tell a truncated stream from a
padded one); MetaImage's zlib data are checked against its ``CompressedDataSize`` field and must
start as a zlib stream.
"""

import gzip
import math
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scenes.exceptions import CorruptVolumeError

# Largest deviation of a direction matrix's D^T D from the identity (the file stores ~6 digits).
ORTHONORMAL_TOL = 1e-4
CHUNK_BYTES = 1 << 22
HEADER_BYTES = 1 << 20
# Deflate expands at most ~1032 times (RFC 1951's longest match per symbol): more voxel data than
# that from a compressed payload is a corrupt header, refused before anything is allocated.
DEFLATE_MAX_RATIO = 1100

METAIMAGE_TYPE_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char"), 1),
    **dict.fromkeys(("uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int"), 2),
    **dict.fromkeys(("int16", "int16_t", "ushort", "unsigned short"), 2),
    **dict.fromkeys(("unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int"), 4),
    **dict.fromkeys(("uint32", "uint32_t", "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long"), 8),
    **dict.fromkeys(("signed long long int", "int64", "int64_t", "ulonglong"), 8),
    **dict.fromkeys(("unsigned long long", "unsigned long long int", "uint64"), 8),
    **dict.fromkeys(("uint64_t", "double"), 8),
}
NIFTI_HEADER_BYTES = 348


def _error(path: Path, message: str) -> CorruptVolumeError:
    return CorruptVolumeError(f"{path}: {message}")


def _numbers(path: Path, field: str, text: str, count: int) -> np.ndarray:
    """``count`` finite numbers from a header field's text (spaces, commas or parentheses)."""
    words = [word for word in re.split(r"[\s,()]+", text) if word]
    try:
        values = np.array([float(word) for word in words], dtype=np.float64)
    except ValueError:
        raise _error(path, f"{field} must be {count} numbers; got {text.strip()!r:.80}") from None
    if values.shape != (count,):
        raise _error(path, f"{field} must be {count} numbers; got {text.strip()!r:.80}")
    if not np.all(np.isfinite(values)):
        raise _error(path, f"{field} has a NaN or infinite value: {text.strip()!r:.80}")
    return values


def _sizes(path: Path, field: str, text: str, count: int) -> tuple[int, ...]:
    values = _numbers(path, field, text, count)
    if not np.all((values >= 1) & (values == np.round(values))):
        raise _error(path, f"{field} must be {count} whole numbers >= 1; got {text.strip()!r:.80}")
    return tuple(int(value) for value in values)


def _spacing(path: Path, field: str, values: np.ndarray) -> None:
    if not np.all(np.isfinite(values) & (values > 0)):
        raise _error(path, f"{field} must be positive and finite (mm); got {values.tolist()}")


def _orthonormal(path: Path, field: str, columns: np.ndarray) -> None:
    """``columns`` (n x n) must be an orthonormal matrix (the voxel axes' unit directions)."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge entries: inf/NaN, refused below
        gram = columns.T @ columns
        orthonormal = np.allclose(gram, np.eye(len(columns)), atol=ORTHONORMAL_TOL)
    if not orthonormal:
        raise _error(
            path,
            f"{field} is not a rotation (axes of unit length at right angles): "
            f"{np.array2string(columns.T, precision=6)}",
        )


def _payload_bytes(sizes: Sequence[int], element_bytes: int, channels: int = 1) -> int:
    return math.prod(sizes) * element_bytes * channels


def _check_raw_length(path: Path, available: int, expected: int, what: str) -> None:
    if available < expected:
        raise _error(
            path,
            f"truncated: the header declares {what} = {expected} bytes of voxel data, the file "
            f"holds {available}",
        )


def _gzip_length(path: Path, offset: int) -> int:
    """Uncompressed length of the gzip data starting at ``offset``, decompressed to the end;
    raises CorruptVolumeError for a truncated or corrupt stream."""
    try:
        with path.open("rb") as raw:
            raw.seek(offset)
            with gzip.GzipFile(fileobj=raw) as stream:
                total = 0
                while chunk := stream.read(CHUNK_BYTES):
                    total += len(chunk)
    except (EOFError, OSError, zlib.error) as error:
        raise _error(
            path, f"the compressed voxel data are incomplete or corrupt ({error})"
        ) from None
    return total


def _check_gzip(path: Path, offset: int, expected: int, what: str) -> None:
    """The gzip data from ``offset`` to the end must decompress to at least ``expected`` bytes."""
    with path.open("rb") as raw:
        raw.seek(offset)
        magic = raw.read(2)
        raw.seek(-4, 2)
        recorded = struct.unpack("<I", raw.read(4))[0]
    if magic != b"\x1f\x8b":
        raise _error(path, "the voxel data should be gzip-compressed but are not")
    if recorded == expected % 2**32:
        return
    length = _gzip_length(path, offset)
    _check_raw_length(path, length, expected, what + " once decompressed")


def _check_zlib(path: Path, data: bytes, expected: int, declared_size: int | None) -> None:
    """MetaImage's compressed data (a zlib stream) must be whole and decompress as declared."""
    if expected > DEFLATE_MAX_RATIO * len(data) + 1024:
        raise _error(
            path,
            f"the header declares {expected} bytes of voxel data; {len(data)} compressed bytes "
            "cannot hold them",
        )
    try:
        zlib.decompressobj().decompress(data[: 1 << 16], 1 << 16)
    except zlib.error:
        raise _error(
            path, "CompressedData = True, but the voxel data are not zlib-compressed"
        ) from None
    if declared_size is not None:
        if len(data) < declared_size:
            raise _error(
                path,
                f"truncated: CompressedDataSize = {declared_size} bytes, the file holds "
                f"{len(data)}",
            )
        return
    decompressor = zlib.decompressobj()
    try:
        length = len(decompressor.decompress(data))
    except zlib.error as error:
        raise _error(path, f"the compressed voxel data are corrupt ({error})") from None
    if not decompressor.eof:
        raise _error(path, "the compressed voxel data are incomplete (the zlib stream is cut)")
    _check_raw_length(path, length, expected, "DimSize x ElementType once decompressed")


def _metaimage_fields(path: Path, data: bytes) -> tuple[dict[str, str], int]:
    """The header fields (``Key = Value``) and the offset of the data after ``ElementDataFile``."""
    fields, offset = {}, 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        offset += len(line) + 1
        text = line.decode("latin-1").strip()
        if not text:
            continue
        key, equals, value = text.partition("=")
        if not equals or not key.strip() or " " in key.strip():
            raise _error(path, f"header line {number} is not 'Key = Value': {text!r:.80}")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields, offset
        if offset > HEADER_BYTES:
            break
    raise _error(path, "no ElementDataFile line: not a MetaImage header, or a truncated one")


def _head(path: Path) -> bytes:
    """The first MB of a file: room for any header."""
    with path.open("rb") as file:
        return file.read(HEADER_BYTES)


def _dimensions(path: Path, fields: dict[str, str], count: str, sizes: str) -> tuple[int, ...]:
    """The voxel counts along each axis: header field ``sizes``, as many as field ``count``."""
    ndims = _sizes(path, count, fields.get(count, ""), 1)[0]
    if sizes not in fields:
        raise _error(path, f"no {sizes} field")
    return _sizes(path, sizes, fields[sizes], ndims)


def check_metaimage(path: Path) -> None:
    """Check a MetaImage header (``.mha``/``.mhd``) and its payload length."""
    fields, offset = _metaimage_fields(path, _head(path))
    sizes = _dimensions(path, fields, "NDims", "DimSize")
    ndims = len(sizes)
    for field in ("ElementSpacing", "ElementSize"):
        if field in fields:
            _spacing(path, field, _numbers(path, field, fields[field], ndims))
    for field in ("Offset", "Origin", "Position"):
        if field in fields:
            _numbers(path, field, fields[field], ndims)
    for field in ("TransformMatrix", "Rotation", "Orientation"):
        if field in fields:
            matrix = _numbers(path, field, fields[field], ndims * ndims).reshape(ndims, ndims)
            _orthonormal(path, field, matrix.T)
    element = METAIMAGE_TYPE_BYTES.get(fields.get("ElementType", ""))
    location = fields["ElementDataFile"]
    if not location.isprintable() or (
        location.upper().startswith("LOCAL") and location.upper() != "LOCAL"
    ):
        raise _error(path, f"ElementDataFile {location!r:.40} is neither LOCAL nor a file name")
    if element is None or location.upper() == "LIST" or "%" in location:
        return  # multi-file or unusual types: SimpleITK's own checks apply
    channels = _sizes(
        path, "ElementNumberOfChannels", fields.get("ElementNumberOfChannels", "1"), 1
    )
    expected = _payload_bytes(sizes, element, channels[0])
    data_path = path if location.upper() == "LOCAL" else path.parent / location
    if not data_path.is_file():
        raise _error(path, f"ElementDataFile {location!r}: no such file beside the header")
    start = offset if data_path == path else 0
    available = data_path.stat().st_size - start
    if fields.get("CompressedData", "False").lower() == "true":
        declared = fields.get("CompressedDataSize")
        declared_size = _sizes(path, "CompressedDataSize", declared, 1)[0] if declared else None
        with data_path.open("rb") as file:
            file.seek(start)
            _check_zlib(path, file.read(), expected, declared_size)
        return
    _check_raw_length(
        path, available, expected, f"DimSize {fields['DimSize']} x {fields.get('ElementType')}"
    )


def _nrrd_fields(path: Path, data: bytes) -> tuple[dict[str, str], int]:
    lines = data.split(b"\n")
    if not lines[0].startswith(b"NRRD"):
        raise _error(path, "not a NRRD file (no NRRD magic on the first line)")
    fields, offset = {}, len(lines[0]) + 1
    for number, line in enumerate(lines[1:], start=2):
        offset += len(line) + 1
        text = line.decode("latin-1").rstrip("\r")
        if not text.strip():
            return fields, offset
        if text.startswith("#") or ":=" in text:
            continue
        key, colon, value = text.partition(": ")
        if not colon:
            raise _error(path, f"header line {number} is not 'field: value': {text!r:.80}")
        fields[key.strip().lower()] = value.strip()
    if len(data) < HEADER_BYTES:
        return fields, len(data)  # a detached header (.nhdr) may end without a blank line
    raise _error(path, "no end of header (blank line) in the first MB")


def _nrrd_directions(path: Path, text: str, ndims: int) -> np.ndarray:
    groups = re.findall(r"\(([^)]*)\)", text)
    vectors = [_numbers(path, "space directions", group, len(groups)) for group in groups]
    if len(vectors) + text.split().count("none") != ndims or not vectors:
        raise _error(path, f"space directions must give {ndims} axes; got {text!r:.80}")
    columns = np.array(vectors).T
    with np.errstate(over="ignore"):  # an overflowing length is refused just below
        lengths = np.linalg.norm(columns, axis=0)
    _spacing(path, "space directions (vector lengths)", lengths)
    _orthonormal(path, "space directions", columns / lengths)
    return columns


def check_nrrd(path: Path) -> None:
    """Check a NRRD header (``.nrrd``, or ``.nhdr`` with its data file) and its payload length."""
    fields, offset = _nrrd_fields(path, _head(path))
    sizes = _dimensions(path, fields, "dimension", "sizes")
    ndims = len(sizes)
    if "space directions" in fields:
        _nrrd_directions(path, fields["space directions"], ndims)
    if "spacings" in fields:
        values = [word for word in fields["spacings"].split() if word.lower() != "nan"]
        _spacing(path, "spacings", _numbers(path, "spacings", " ".join(values), len(values)))
    if "space origin" in fields:
        origin = fields["space origin"]
        _numbers(path, "space origin", origin, len(origin.strip("() ").split(",")))
    element = NRRD_TYPE_BYTES.get(fields.get("type", "").lower())
    encoding = fields.get("encoding", "raw").lower()
    location = fields.get("data file", fields.get("datafile"))
    detached_list = location is not None and (location == "LIST" or len(location.split()) > 1)
    skips = "line skip" in fields or "lineskip" in fields
    if element is None or encoding not in ("raw", "gzip", "gz") or detached_list or skips:
        return  # text, hex and bzip2 encodings, lists of files: SimpleITK's own checks apply
    data_path = path if location is None else path.parent / location
    if not data_path.is_file():
        raise _error(path, f"data file {location!r}: no such file beside the header")
    start = offset if location is None else 0
    byte_skip = fields.get("byte skip", fields.get("byteskip", "0"))
    if byte_skip.strip() != "-1":
        start += int(_numbers(path, "byte skip", byte_skip, 1)[0])
    expected = _payload_bytes(sizes, element)
    what = f"sizes {fields['sizes']} x {fields['type']}"
    if encoding == "raw":
        _check_raw_length(path, data_path.stat().st_size - start, expected, what)
    else:
        _check_gzip(data_path, start, expected, what)


def _nifti_header(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            header = file.read(NIFTI_HEADER_BYTES)
    except (EOFError, OSError, zlib.error) as error:
        raise _error(path, f"cannot read the NIfTI header ({error})") from None
    if len(header) < NIFTI_HEADER_BYTES:
        raise _error(path, f"truncated: {len(header)} bytes, a NIfTI-1 header has 348")
    return header


def check_nifti(path: Path) -> None:
    """Check a NIfTI-1 header (``.nii``, ``.nii.gz``) and its payload length."""
    header = _nifti_header(path)
    order = next((o for o in "<>" if struct.unpack(o + "i", header[:4])[0] == 348), None)
    if order is None:
        return  # NIfTI-2 or not NIfTI: SimpleITK decides
    dims = struct.unpack(order + "8h", header[40:56])
    bitpix = struct.unpack(order + "h", header[72:74])[0]
    pixdim = np.array(struct.unpack(order + "8f", header[76:108]), dtype=np.float64)
    vox_offset = struct.unpack(order + "f", header[108:112])[0]
    qform_code, sform_code = struct.unpack(order + "2h", header[252:256])
    quatern = np.array(struct.unpack(order + "6f", header[256:280]), dtype=np.float64)
    srows = np.array(struct.unpack(order + "12f", header[280:328]), dtype=np.float64)
    count = dims[0]
    if not 1 <= count <= 7 or min(dims[1 : count + 1]) < 1:
        raise _error(path, f"dim must give 1 to 7 sizes >= 1; got {list(dims)}")
    spatial = pixdim[1 : min(count, 3) + 1]
    if not np.all(np.isfinite(spatial)):
        raise _error(
            path, f"pixdim (voxel spacing) has a NaN or infinite value: {spatial.tolist()}"
        )
    _spacing(path, "pixdim (voxel spacing)", spatial)
    if qform_code > 0 and not np.all(np.isfinite(quatern)):
        raise _error(path, f"the qform (quatern_b..d, qoffset) is not finite: {quatern.tolist()}")
    if qform_code > 0 and float(np.sum(quatern[:3] ** 2)) > 1.0 + ORTHONORMAL_TOL:
        raise _error(
            path, f"the qform quaternion (b, c, d) is longer than 1: {quatern[:3].tolist()}"
        )
    if sform_code > 0:
        if not np.all(np.isfinite(srows)):
            raise _error(path, f"the sform (srow_x/y/z) is not finite: {srows.tolist()}")
        columns = srows.reshape(3, 4)[:, :3]
        with np.errstate(over="ignore"):  # an overflowing length is refused just below
            lengths = np.linalg.norm(columns, axis=0)
        _spacing(path, "the sform's axes (srow_x/y/z)", lengths)
        _orthonormal(path, "the sform (srow_x/y/z)", columns / lengths)
    if bitpix <= 0 or bitpix % 8 or not math.isfinite(vox_offset) or vox_offset < 0:
        raise _error(path, f"bitpix {bitpix} or vox_offset {vox_offset} is impossible")
    expected = int(vox_offset) + _payload_bytes(dims[1 : count + 1], bitpix // 8)
    what = f"vox_offset + dim {list(dims[1 : count + 1])} x {bitpix} bits"
    if path.name.lower().endswith(".gz"):
        _check_gzip(path, 0, expected, what)
    else:
        _check_raw_length(path, path.stat().st_size, expected, what)


CHECKS = {
    ".mha": check_metaimage,
    ".mhd": check_metaimage,
    ".nrrd": check_nrrd,
    ".nhdr": check_nrrd,
    ".nii": check_nifti,
    ".nii.gz": check_nifti,
}


def check_volume_file(path: Path, suffix: str) -> None:
    """Check the header and payload of a volume file of type ``suffix`` (see ``CHECKS``)."""
    check = CHECKS.get(suffix)
    if check is not None:
        check(path)
