"""PLUS sequence files (``.igs.mha``, MetaIO): tracking recordings that PLUS and 3D Slicer open.

A tracking-only file is a MetaIO header: ``Seq_Frame<index>_<Tool>ToTrackerTransform`` holds the
4x4 matrix row by row, ``..._<Tool>ToTrackerTransformStatus`` is ``OK`` or ``INVALID`` (any
value but OK means invalid), plus ``Timestamp``, ``UnfilteredTimestamp`` and ``FrameNumber``;
``ElementDataFile`` comes last. PLUS's names are converted here and go no further:
``StylusToTracker`` is the tool ``"stylus"`` and its matrix is ``tracker_from_stylus``.

gestes writes two more per-frame fields that PLUS and Slicer keep as plain text:
``<Tool>ToTrackerPoseStatus`` (the full ``PoseStatus``: out of volume is not just invalid) and
``<Tool>ToTrackerErrorRms`` (the device's fit error, mm), so a replay gives back the frames that
were recorded. The writer appends frames as they come and writes ``DimSize`` and
``ElementDataFile`` when closed; a file cut short by a crash is recovered by the reader. The
reader also takes the NRRD variant of the format (``.seq.nrrd`` from 3D Slicer, ``.igs.nrrd``).
"""

import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import numpy as np

from devices.exceptions import RecordingError
from devices.frame import (
    MAX_TRACKED_DISTANCE_MM,
    Frame,
    PoseStatus,
    ToolPose,
    carries_pose,
    match_tool,
)
from registration.transforms import RECORDED_ORTHONORMAL_TOL, rigid_mask

logger = logging.getLogger(__name__)

TRACKER = "Tracker"

_HEADER_START = (
    "ObjectType = Image",
    "NDims = 3",
    "AnatomicalOrientation = RAI",
    "BinaryData = True",
    "BinaryDataByteOrderMSB = False",
    "CenterOfRotation = 0 0 0",
    "CompressedData = False",
    "ElementNumberOfChannels = 1",
    "ElementSpacing = 1 1 1",
    "Offset = 0 0 0",
    "TransformMatrix = 1 0 0 0 1 0 0 0 1",
    "UltrasoundImageOrientation = XX",
    "UltrasoundImageType = XX",
)
_FRAME_PREFIX = "Seq_Frame"
# Letters and digits, words joined by '_', starting with a letter: names that survive the trip to
# PLUS's CamelCase and back up to case and '_' (``devices.frame.match_tool`` ignores both).
_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$")
# What a recording is written as: a MetaIO sequence file (PLUS writes .igs.mha or .seq.mha).
RECORDING_SUFFIX = ".mha"
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_IDENTITY_TEXT = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"
_STATUS_BY_VALUE = {status.value: status for status in PoseStatus}


def tool_from_plus(name: str) -> str:
    """PLUS's CamelCase tool name to ours: ``"NeedleTip"`` -> ``"needle_tip"``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def tool_to_plus(tool: str) -> str:
    """Our tool name to PLUS's: ``"needle_tip"`` -> ``"NeedleTip"``, ``"Pointer"`` -> ``"Pointer"``.

    Each '_'-separated word gets a capital first letter; ``tool_from_plus`` gives back the same
    name up to case and '_'. Raises for names a PLUS field cannot hold (spaces, punctuation, a
    leading digit).
    """
    if not _TOOL_NAME.match(tool):
        raise RecordingError(
            f"tool name {tool!r} cannot be written to a PLUS file: use letters and digits, "
            "words separated by '_', starting with a letter (e.g. 'stylus', 'needle_tip')"
        )
    return "".join(word[0].upper() + word[1:] for word in tool.split("_"))


def check_recording_path(path: str | Path, overwrite: bool = False) -> Path:
    """``path`` as a ``Path`` if a recording may be written there: a ``.mha`` name (``.igs.mha``
    as PLUS writes), and no file there unless ``overwrite``. Raises ``RecordingError``."""
    path = Path(path)
    if not path.name.lower().endswith(RECORDING_SUFFIX):
        raise RecordingError(
            f"{path}: a recording is written as a PLUS sequence file: name it with the "
            "extension .igs.mha (or .seq.mha, .mha), which PLUS and 3D Slicer open"
        )
    if not overwrite and path.exists():
        raise RecordingError(
            f"{path} already exists: choose another name, or overwrite it on purpose"
        )
    return path


@dataclass(frozen=True, eq=False)
class TrackingSequence:
    """A tracking recording held as arrays: F frames of T tools.

    ``reference_from_tool`` is ``(F, T, 4, 4)`` (mm): each tool's pose in the sequence's
    ``reference_frame`` (``"Tracker"``, unless the file was read relative to a reference tool),
    NaN where the pose is not valid; ``tracker_from_tool`` is the same array, for a sequence
    relative to the tracker. ``statuses`` is an ``(F, T)`` object array of ``PoseStatus``;
    ``error_rms`` is ``(F, T)`` mm (NaN when unknown, as in files written by PLUS).
    ``timestamps_s`` are the filtered times, ``unfiltered_timestamps_s`` the raw ones (s).
    ``recovered`` is True when the file was cut short or its header disagreed with its frames,
    and what could be read was kept.
    """

    tools: tuple[str, ...]
    timestamps_s: np.ndarray
    unfiltered_timestamps_s: np.ndarray
    frame_numbers: np.ndarray
    reference_from_tool: np.ndarray
    statuses: np.ndarray
    error_rms: np.ndarray
    recovered: bool = False
    reference_frame: str = TRACKER

    def __len__(self) -> int:
        return len(self.timestamps_s)

    @property
    def tracker_from_tool(self) -> np.ndarray:
        """``(F, T, 4, 4)`` poses in the tracker frame; an error for a sequence read relative
        to another reference frame (its poses are ``reference_from_tool``)."""
        if self.reference_frame != TRACKER:
            raise RecordingError(
                f"these poses are relative to {self.reference_frame!r}, not the tracker: "
                "use reference_from_tool"
            )
        return self.reference_from_tool

    def column(self, tool: str) -> int:
        """The index of ``tool`` in ``tools``, matched as ``devices.frame.match_tool`` does."""
        return self.tools.index(match_tool(tool, self.tools, "the recording"))

    def poses_of(self, tool: str) -> np.ndarray:
        """``(F, 4, 4)`` poses of ``tool`` (any case) in the reference frame, NaN where invalid."""
        return self.reference_from_tool[:, self.column(tool)]

    def frame(self, index: int) -> Frame:
        """Frame ``index`` as the tracker reported it."""
        poses = {
            tool: ToolPose(
                tool,
                self.reference_from_tool[index, column],
                self.statuses[index, column],
                float(self.error_rms[index, column]),
            )
            for column, tool in enumerate(self.tools)
        }
        return Frame(
            float(self.timestamps_s[index]),
            int(self.frame_numbers[index]),
            poses,
            float(self.unfiltered_timestamps_s[index]),
        )

    @classmethod
    def from_frames(cls, frames: Sequence[Frame], tools: Sequence[str]) -> Self:
        """Arrays from ``frames``; a tool absent from a frame is MISSING there."""
        count, width = len(frames), len(tools)
        matrices = np.full((count, width, 4, 4), np.nan)
        statuses = np.full((count, width), PoseStatus.MISSING, dtype=object)
        errors = np.full((count, width), np.nan)
        for row, frame in enumerate(frames):
            for column, tool in enumerate(tools):
                pose = frame.poses.get(tool)
                if pose is None:
                    continue
                statuses[row, column] = pose.status
                errors[row, column] = pose.error_rms
                if pose.valid:
                    matrices[row, column] = pose.tracker_from_tool
        matrices.setflags(write=False)
        timestamps = np.array([frame.timestamp for frame in frames], dtype=np.float64)
        return cls(
            tools=tuple(tools),
            timestamps_s=timestamps,
            unfiltered_timestamps_s=np.array(
                [_unfiltered(frame) for frame in frames], dtype=np.float64
            ),
            frame_numbers=np.array([frame.frame_number for frame in frames], dtype=np.int64),
            reference_from_tool=matrices,
            statuses=statuses,
            error_rms=errors,
        )


# ----------------------------------------------------------------------------------------------
# Reading


def read_sequence(path: str | Path, reference_frame: str = TRACKER) -> TrackingSequence:
    """Read the tracker transforms of a PLUS sequence file (both PLUS header variants).

    Tools are the ``<Tool>To<reference_frame>Transform`` fields; another ``reference_frame``
    (e.g. ``"Reference"``) reads the poses relative to that tool instead of the tracker, as PLUS's
    ``ToolReferenceFrame`` option does.

    Accepts fields in any order, padded values, a 1x1 dummy image or none (``MET_OTHER``), and
    ignores the matrix of any frame whose status is not OK. A file with no end of header or a
    partial last frame is read up to its last complete frame, with a warning, and flagged
    ``recovered``. Raises ``RecordingError`` naming the file and the problem otherwise.
    """
    path = Path(path)
    return parse_sequence(path.read_bytes(), str(path), reference_frame)


def parse_sequence(
    data: bytes, source: str = "sequence file", reference_frame: str = TRACKER
) -> TrackingSequence:
    """Parse the bytes of a PLUS sequence file, MetaIO or NRRD (see ``read_sequence``)."""
    parsed = (
        _nrrd_header_text(data, source) if data.startswith(b"NRRD") else _header_text(data, source)
    )
    text = parsed.text
    if not text.startswith("ObjectType"):
        raise RecordingError(
            f"{source}: not a MetaIO sequence file (it should start with 'ObjectType = Image') "
            "nor a NRRD one (starting with 'NRRD')"
        )
    split = _split_fields(text, source)
    header, fields = split.header, split.frames
    if header.get("NDims", "3") != "3":
        raise RecordingError(f"{source}: NDims must be 3 for a sequence; got {header['NDims']}")
    count = _frame_count(fields, source)
    recovered = not parsed.complete
    if recovered:
        count = _complete_frame_count(header, fields, count, source)
        logger.warning(
            "%s was cut short (no end of header): read its %d complete frames", source, count
        )
    elif _declared_frames(header) != count:
        # A recorder interrupted between a frame and the header's end: the frames are the truth.
        count = _complete_frame_count(header, fields, count, source)
        recovered = True
        logger.warning(
            "%s: DimSize declares %s frames but %d complete frames are present: read them all",
            source,
            _declared_frames(header),
            count,
        )
    timestamps = _numbers(fields, "Timestamp", count, source, required=True)
    unfiltered = _numbers(fields, "UnfilteredTimestamp", count, source, default=timestamps)
    frame_numbers = _numbers(fields, "FrameNumber", count, source, default=np.arange(count))
    _check_finite(timestamps, "Timestamp", source)
    _check_finite(unfiltered, "UnfilteredTimestamp", source)
    _check_finite(frame_numbers, "FrameNumber", source)
    if np.any(frame_numbers != np.round(frame_numbers)):
        bad = int(np.flatnonzero(frame_numbers != np.round(frame_numbers))[0])
        raise RecordingError(f"{source}: frame {bad} FrameNumber must be a whole number")
    if np.any(np.abs(frame_numbers) >= 2.0**63):
        bad = int(np.flatnonzero(np.abs(frame_numbers) >= 2.0**63)[0])
        raise RecordingError(
            f"{source}: frame {bad} FrameNumber {frame_numbers[bad]:g} is beyond the range of a "
            "64-bit frame counter"
        )
    plus_names = _tool_names(header, fields, reference_frame)
    if count and not plus_names:
        frames_found = sorted(
            {_reference_of(name) for name in fields if name.endswith("Transform")} - {None}
        )
        raise RecordingError(
            f"{source}: no '<Tool>To{reference_frame}Transform' fields: nothing to replay "
            f"(transforms found relative to: {', '.join(frames_found) or 'nothing'})"
        )
    matrices = np.full((count, len(plus_names), 4, 4), np.nan)
    statuses = np.empty((count, len(plus_names)), dtype=object)
    errors = np.full((count, len(plus_names)), np.nan)
    for column, name in enumerate(plus_names):
        prefix = f"{name}To{reference_frame}"
        statuses[:, column] = _tool_statuses(fields, prefix, count, source)
        rows = np.flatnonzero([carries_pose(status) for status in statuses[:, column]])
        matrices[rows, column] = _parse_matrices(
            [fields[f"{prefix}Transform"][row] for row in rows], rows, prefix, source
        )
        errors[:, column] = _numbers(fields, f"{prefix}ErrorRms", count, source)
        _check_error_rms(errors[:, column], f"{prefix}ErrorRms", source)
    matrices.setflags(write=False)
    return TrackingSequence(
        tools=tuple(tool_from_plus(name) for name in plus_names),
        timestamps_s=timestamps,
        unfiltered_timestamps_s=unfiltered,
        frame_numbers=frame_numbers.astype(np.int64),
        reference_from_tool=matrices,
        statuses=statuses,
        error_rms=errors,
        recovered=recovered,
        reference_frame=reference_frame,
    )


@dataclass(frozen=True)
class _Fields:
    """The header's fields by name, and the per-frame fields by name then frame index."""

    header: dict[str, str]
    frames: dict[str, dict[int, str]]


def _split_fields(text: str, source: str) -> _Fields:
    """Split ``Name = value`` lines (spaces around either side allowed) into header fields and
    ``Seq_Frame<index>_<Name>`` frame fields; one pass, no regular expression, for speed.
    A field given twice is an error: which of the two values is meant cannot be known.
    """
    header: dict[str, str] = {}
    frames: dict[str, dict[int, str]] = defaultdict(dict)
    for number, line in enumerate(text.split("\n"), start=1):
        key, equals, value = line.partition("=")
        if not equals:
            if line.strip():
                raise RecordingError(f"{source}: line {number} is not 'Name = value': {line!r}")
            continue
        key = key.strip()
        if key.startswith(_FRAME_PREFIX):
            index, _, name = key[len(_FRAME_PREFIX) :].partition("_")
            if not (index.isascii() and index.isdigit() and name):
                raise RecordingError(f"{source}: line {number} has a malformed frame field {key!r}")
            values = frames[name]
            index_number = int(index)
        else:
            values, index_number = header, key
        if index_number in values:
            raise RecordingError(
                f"{source}: line {number} gives {key} a second time ({value.strip()!r} after "
                f"{values[index_number]!r}): which one is right cannot be known"
            )
        values[index_number] = value.strip()
    return _Fields(header, frames)


def _frame_count(fields: dict[str, dict[int, str]], source: str) -> int:
    """The number of frames: indices 0..N-1, each with at least one field. A frame index far
    beyond the others (a corrupt digit) is an error, not N empty frames."""
    indices = set().union(*(values.keys() for values in fields.values()))
    count = 1 + max(indices, default=-1)
    if count > len(indices):
        absent = min(set(range(len(indices) + 1)) - indices)
        raise RecordingError(
            f"{source}: frame {absent} has no fields, yet frames up to {count - 1} do: "
            "frames are numbered 0, 1, 2... without gaps"
        )
    return count


@dataclass(frozen=True)
class _Header:
    """The header's text (line ends normalised) and whether it ends with ``ElementDataFile``."""

    text: str
    complete: bool


def _header_text(data: bytes, source: str) -> _Header:
    """The header of ``data``: pixel data after ``ElementDataFile = LOCAL`` is not ours to read;
    a header without that line is a file cut short, of which only whole lines are kept.
    """
    end = data.find(b"\nElementDataFile")
    complete = end >= 0
    head = data[:end] if complete else data[: data.rfind(b"\n") + 1]
    try:
        return _Header(head.decode("ascii").replace("\r", ""), complete)
    except UnicodeDecodeError as error:
        raise RecordingError(
            f"{source}: the header contains non-text bytes at offset {error.start}: "
            "is it a sequence file, or a corrupt one?"
        ) from None


_NRRD_HEADER_END = re.compile(rb"\r?\n\r?\n")
# NRRD field names and their MetaIO equivalents, for the checks both variants share.
_NRRD_FIELDS = {"dimension": "NDims", "sizes": "DimSize"}


def _nrrd_header_text(data: bytes, source: str) -> _Header:
    """The header of a NRRD sequence (``.seq.nrrd``, ``.igs.nrrd``: 3D Slicer, PLUS) rewritten
    as MetaIO lines, so that one parser reads both.

    NRRD writes ``field: value`` and key/value pairs ``key:=value`` (the frame fields), and ends
    its header with an empty line, after which come the pixels; no empty line means a file cut
    short. Comment lines (``#``) and the magic line are dropped.
    """
    end = _NRRD_HEADER_END.search(data)
    complete = end is not None
    head = data[: end.start()] if complete else data[: data.rfind(b"\n") + 1]
    try:
        lines = head.decode("ascii").replace("\r", "").split("\n")
    except UnicodeDecodeError as error:
        raise RecordingError(
            f"{source}: the NRRD header contains non-text bytes at offset {error.start}"
        ) from None
    converted = ["ObjectType = Image"]
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        key, separator, value = line.partition(":=")
        if not separator:
            key, separator, value = line.partition(": ")
        if not separator:
            raise RecordingError(
                f"{source}: line {number} is neither 'field: value' nor 'key:=value': {line!r}"
            )
        key = key.strip()
        converted.append(f"{_NRRD_FIELDS.get(key, key.replace(' ', '_'))} = {value}")
    return _Header("\n".join(converted) + "\n", complete)


def _complete_frame_count(
    header: dict[str, str], fields: dict[str, dict[int, str]], count: int, source: str
) -> int:
    """In a file cut short, drop the last frame if it lacks a field a complete frame has.

    The fields of a complete frame are those the header's ``CustomFrameFieldNames`` lists, the
    ``Timestamp``, and (with two frames or more) those of frame 0, complete since frames are
    written one after the other.
    """
    if count == 0:
        return 0
    expected = {"Timestamp", *header.get("CustomFrameFieldNames", "").split()}
    if count >= 2:
        expected.update(name for name, values in fields.items() if 0 in values)
    last = count - 1
    if all(last in fields.get(name, {}) for name in expected):
        return count
    logger.warning("%s: frame %d is incomplete and is dropped", source, last)
    return last


def _declared_frames(header: dict[str, str]) -> int | None:
    """The frame count ``DimSize`` declares (its last value), or None if it has none."""
    try:
        return int(header.get("DimSize", "").split()[-1])
    except (ValueError, IndexError):
        return None


def _numbers(
    fields: dict[str, dict[int, str]],
    name: str,
    count: int,
    source: str,
    required: bool = False,
    default: np.ndarray | None = None,
) -> np.ndarray:
    """One number per frame from field ``name``; frames without it take ``default``."""
    values = fields.get(name, {})
    if required and len([i for i in values if i < count]) < count:
        absent = next(i for i in range(count) if i not in values)
        raise RecordingError(f"{source}: frame {absent} has no {name} field")
    result = np.array(default, dtype=np.float64) if default is not None else np.full(count, np.nan)
    for index, text in values.items():
        if index < count:
            try:
                result[index] = float(text)
            except ValueError:
                raise RecordingError(
                    f"{source}: frame {index} {name} must be a number; got {text!r}"
                ) from None
    return result


def _check_error_rms(errors: np.ndarray, name: str, source: str) -> None:
    """A fit error is a finite number of mm >= 0, or NaN when the device gave none."""
    bad = ~np.isnan(errors) & ~(np.isfinite(errors) & (errors >= 0.0))
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        raise RecordingError(
            f"{source}: frame {row} {name} must be a finite error >= 0 mm (or nan when "
            f"unknown); got {errors[row]!r}"
        )


def _check_finite(values: np.ndarray, name: str, source: str) -> None:
    """Raise RecordingError naming the first frame whose ``name`` is NaN or infinite."""
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise RecordingError(f"{source}: frame {bad} {name} is not a finite number")


def _tool_names(
    header: dict[str, str], fields: dict[str, dict[int, str]], reference_frame: str
) -> list[str]:
    """PLUS names of the tools with ``<Tool>To<reference_frame>Transform`` fields: those the
    header's ``CustomFrameFieldNames`` lists (so that a recording with no frames keeps its
    tools), then those found in frames, in file order.
    """
    suffix = f"To{reference_frame}Transform"
    listed = header.get("CustomFrameFieldNames", "").split()
    names = [name for name in [*listed, *fields] if name.endswith(suffix) and name != suffix]
    return [name.removesuffix(suffix) for name in dict.fromkeys(names)]


def _reference_of(field: str) -> str | None:
    """``"Reference"`` for ``"StylusToReferenceTransform"``; None for other names."""
    head, to, tail = field.removesuffix("Transform").rpartition("To")
    return tail if to and head and tail else None


def _tool_statuses(
    fields: dict[str, dict[int, str]], prefix: str, count: int, source: str
) -> np.ndarray:
    """(F,) ``PoseStatus`` of one tool: from gestes' PoseStatus field when present, else OK when
    the transform is there with status OK (PLUS compares case-insensitively), else MISSING.
    """
    transforms = fields.get(f"{prefix}Transform", {})
    status_texts = fields.get(f"{prefix}TransformStatus", {})
    pose_statuses = fields.get(f"{prefix}PoseStatus", {})
    statuses = np.full(count, PoseStatus.MISSING, dtype=object)
    for index in range(count):
        valid = index in transforms and status_texts.get(index, "OK").upper() == "OK"
        status = _STATUS_BY_VALUE.get(pose_statuses.get(index, ""))
        if status is None:
            statuses[index] = PoseStatus.OK if valid else PoseStatus.MISSING
        elif carries_pose(status) != valid:
            raise RecordingError(
                f"{source}: frame {index} {prefix}PoseStatus is {status.value} but the "
                f"transform status is {status_texts.get(index, 'absent')}"
            )
        else:
            statuses[index] = status
    return statuses


def _parse_matrices(texts: list[str], rows: np.ndarray, prefix: str, source: str) -> np.ndarray:
    """Parse row-major 4x4 matrices (one string of 16 numbers each) and check they are rigid."""
    parts = [text.split() for text in texts]
    for row, numbers in zip(rows, parts, strict=True):
        if len(numbers) != 16:
            raise RecordingError(
                f"{source}: frame {row} {prefix}Transform must be 16 numbers; got {len(numbers)}"
            )
    try:
        numbers = np.array([number for numbers in parts for number in numbers], dtype=np.float64)
    except ValueError as error:
        raise RecordingError(f"{source}: {prefix}Transform holds a non-number ({error})") from None
    matrices = numbers.reshape(-1, 4, 4)
    finite = np.all(np.isfinite(matrices), axis=(1, 2))
    if not np.all(finite):
        row = rows[np.flatnonzero(~finite)[0]]
        raise RecordingError(f"{source}: frame {row} {prefix}Transform has NaN or infinite values")
    bad = ~rigid_mask(matrices, RECORDED_ORTHONORMAL_TOL)
    if np.any(bad):
        row = rows[np.flatnonzero(bad)[0]]
        raise RecordingError(
            f"{source}: frame {row} {prefix}Transform is not a rigid transform "
            f"(rotation not orthonormal within {RECORDED_ORTHONORMAL_TOL:g}, a reflection, or "
            "last row not 0 0 0 1)"
        )
    far = np.abs(matrices[:, :3, 3]).max(axis=1) > MAX_TRACKED_DISTANCE_MM
    if np.any(far):
        index = int(np.flatnonzero(far)[0])
        raise RecordingError(
            f"{source}: frame {rows[index]} {prefix}Transform puts the tool at "
            f"{np.abs(matrices[index, :3, 3]).max():.6g} mm from the tracker, beyond any "
            f"tracker's reach ({MAX_TRACKED_DISTANCE_MM:g} mm): the file is corrupt"
        )
    return matrices


# ----------------------------------------------------------------------------------------------
# Writing


class SequenceWriter:
    """Writes frames to a PLUS sequence file as they arrive, flushing after each one.

    The header start is written on open, each frame on ``append``, and ``DimSize`` /
    ``ElementDataFile`` on ``close``: a file left without them by a crash keeps every frame
    appended before it, and ``read_sequence`` recovers them. An existing file is replaced only
    with ``overwrite=True``: a recording is not lost to a repeated command.
    """

    def __init__(self, path: str | Path, tools: Iterable[str], overwrite: bool = False) -> None:
        self.tools = tuple(tools)
        prefixes = [f"{name}To{TRACKER}" for name in self.check_tools(self.tools)]
        self._prefixes = dict(zip(self.tools, prefixes, strict=True))
        self.path = check_recording_path(path, overwrite)
        self._count = 0
        try:
            self._file: IO[str] | None = self.path.open(
                "w" if overwrite else "x", encoding="ascii", newline="\n"
            )
        except FileExistsError:
            raise RecordingError(
                f"{self.path} already exists: choose another name, or overwrite it on purpose"
            ) from None
        frame_fields = [
            f"{prefix}{field}"
            for prefix in prefixes
            for field in ("Transform", "TransformStatus", "PoseStatus", "ErrorRms")
        ]
        self._file.write("\n".join(_HEADER_START) + "\n")
        self._file.write(
            "CustomFrameFieldNames = "
            + " ".join(["FrameNumber", *frame_fields, "Timestamp", "UnfilteredTimestamp"])
            + "\n"
        )
        self._file.flush()

    @staticmethod
    def check_tools(tools: Sequence[str]) -> list[str]:
        """The PLUS names of ``tools``; raises ``RecordingError`` for none, a name PLUS cannot
        hold, or two names that PLUS would write alike (``needle_tip`` and ``NeedleTip``)."""
        if not tools:
            raise RecordingError("a recording needs at least one tool")
        names = [tool_to_plus(tool) for tool in tools]
        if len(set(names)) < len(names):
            raise RecordingError(
                f"tools {list(tools)} would share a name in the PLUS file ({names}): rename one"
            )
        return names

    @property
    def frame_count(self) -> int:
        """Frames written so far."""
        return self._count

    def append(self, frame: Frame) -> None:
        """Write one frame and flush it to the operating system."""
        if self._file is None:
            raise RecordingError(f"{self.path}: the recording is closed")
        unknown = set(frame.poses) - set(self.tools)
        if unknown:
            raise RecordingError(
                f"{self.path}: frame {frame.frame_number} has tools {sorted(unknown)} that the "
                f"recording was not opened with ({list(self.tools)})"
            )
        if not math.isfinite(frame.timestamp):
            raise RecordingError(f"{self.path}: frame {frame.frame_number} has no finite timestamp")
        key = f"Seq_Frame{self._count:04d}_"
        lines = [f"{key}FrameNumber = {frame.frame_number}"]
        for tool in self.tools:
            lines.extend(_pose_lines(key + self._prefixes[tool], frame.poses.get(tool)))
        lines.append(f"{key}Timestamp = {frame.timestamp!r}")
        lines.append(f"{key}UnfilteredTimestamp = {_unfiltered(frame)!r}")
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        self._count += 1

    def close(self) -> None:
        """Write the end of the header; the file is then complete. Closing twice is harmless."""
        if self._file is None:
            return
        self._file.write(
            f"DimSize = 0 0 {self._count}\nKinds = domain domain list\n"
            "ElementType = MET_OTHER\nElementDataFile = LOCAL\n"
        )
        self._file.close()
        self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _pose_lines(key: str, pose: ToolPose | None) -> list[str]:
    """The four fields of one tool in one frame; an invalid pose gets an identity placeholder."""
    status = PoseStatus.MISSING if pose is None else pose.status
    error_rms = math.nan if pose is None else float(pose.error_rms)
    valid = carries_pose(status)
    if valid:
        matrix = np.asarray(pose.tracker_from_tool, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise RecordingError(f"{key}: a valid pose needs a finite 4x4 matrix")
        if np.abs(matrix[:3, 3]).max() > MAX_TRACKED_DISTANCE_MM:
            raise RecordingError(
                f"{key}: a translation beyond {MAX_TRACKED_DISTANCE_MM:g} mm is no tracked pose"
            )
        text = " ".join(repr(value) for value in matrix.ravel().tolist())
    else:
        text = _IDENTITY_TEXT
    return [
        f"{key}Transform = {text}",
        f"{key}TransformStatus = {'OK' if valid else 'INVALID'}",
        f"{key}PoseStatus = {status.value}",
        f"{key}ErrorRms = {error_rms!r}",
    ]


def _unfiltered(frame: Frame) -> float:
    """The frame's unfiltered timestamp, or its timestamp when it has none (NaN)."""
    unfiltered = frame.unfiltered_timestamp
    return frame.timestamp if math.isnan(unfiltered) else unfiltered


def write_sequence(
    path: str | Path, frames: Iterable[Frame], tools: Sequence[str], overwrite: bool = False
) -> int:
    """Write ``frames`` of ``tools`` to a complete PLUS sequence file; returns the frame count."""
    with SequenceWriter(path, tools, overwrite) as writer:
        for frame in frames:
            writer.append(frame)
        return writer.frame_count


def iter_frames(sequence: TrackingSequence) -> Iterator[Frame]:
    """Every frame of ``sequence`` in order."""
    return (sequence.frame(index) for index in range(len(sequence)))
