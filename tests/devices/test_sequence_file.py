"""PLUS sequence files: the real PLUS variants, round trips, recovery of cut files, bad input."""

import logging
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.exceptions import ConfigurationError, RecordingError
from devices.frame import Frame, PoseStatus, ToolPose, match_tool
from devices.sequence_file import (
    SequenceWriter,
    TrackingSequence,
    iter_frames,
    parse_sequence,
    read_sequence,
    tool_from_plus,
    tool_to_plus,
    write_sequence,
)
from registration.transforms import make_rigid
from tests.devices.frames import frame_lists
from tests.shared_data import SHARED_DATA

DATA = SHARED_DATA / "tracking"

OK = PoseStatus.OK
HEADER = "ObjectType = Image\nNDims = 3\n"
TRAILER = "DimSize = 0 0 {n}\nElementType = MET_OTHER\nElementDataFile = LOCAL\n"
IDENTITY = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"


def one_frame_file(transform=IDENTITY, status="OK", extra="", dim=1):
    body = (
        f"Seq_Frame0000_StylusToTrackerTransform = {transform}\n"
        f"Seq_Frame0000_StylusToTrackerTransformStatus = {status}\n"
        f"Seq_Frame0000_Timestamp = 2.5\n{extra}"
    )
    return (HEADER + body + TRAILER.format(n=dim)).encode()


def assert_same_frames(read: list[Frame], written: list[Frame], tools):
    assert len(read) == len(written)
    for got, want in zip(read, written, strict=True):
        assert got.timestamp == want.timestamp
        assert got.frame_number == want.frame_number
        for tool in tools:
            expected = want.poses.get(tool, ToolPose.missing(tool))
            pose = got.poses[tool]
            assert pose.status is expected.status
            if expected.valid:
                np.testing.assert_array_equal(pose.tracker_from_tool, expected.tracker_from_tool)
            else:
                assert np.all(np.isnan(pose.tracker_from_tool))
            assert pose.error_rms == expected.error_rms or (
                math.isnan(pose.error_rms) and math.isnan(expected.error_rms)
            )


# -- real files written by PLUS ------------------------------------------------------------------


def test_reads_variant_b_with_padded_dim_size():
    sequence = read_sequence(DATA / "SlidingProbeTrackingData.igs.mha")
    assert len(sequence) == 85
    assert sequence.tools == ("needle", "probe", "reference")
    assert not sequence.recovered
    assert sequence.timestamps_s[0] == pytest.approx(167.1779999999853, abs=1e-12)
    # No FrameNumber field in this file: frames are numbered by index.
    np.testing.assert_array_equal(sequence.frame_numbers, np.arange(85))
    probe = sequence.frame(0).poses["probe"]
    assert probe.status is PoseStatus.OK
    np.testing.assert_allclose(
        probe.tracker_from_tool[0],
        [-0.2124741673469544, -0.9769757390022278, -0.01931597664952278, 91.98129272460938],
    )
    np.testing.assert_allclose(sequence.frame(0).poses["reference"].tracker_from_tool, np.eye(4))


def test_reads_variant_a_with_a_dummy_pixel_and_frame_numbers():
    sequence = read_sequence(DATA / "SyntheticTrackerBuffer20.igs.mha")
    assert len(sequence) == 20
    assert sequence.tools == ("tool",)
    np.testing.assert_array_equal(sequence.frame_numbers[:3], [1, 2, 3])
    np.testing.assert_allclose(sequence.timestamps_s[:3], [1.0, 1.5, 2.0])
    np.testing.assert_allclose(
        sequence.tracker_from_tool[:3, 0, :3, 3], [[10, 20, 30], [10, 20, 31], [10, 20, 32]]
    )
    np.testing.assert_allclose(sequence.tracker_from_tool[3, 0, 0, :3], [0.36, 0.48, -0.8])


def test_reads_real_tracker_buffer_with_three_tools():
    sequence = read_sequence(DATA / "WaterTankBottomTranslationTrackerBuffer-trimmed.igs.mha")
    assert len(sequence) == 801
    assert sequence.tools == ("probe", "reference", "stylus")
    np.testing.assert_array_equal(sequence.frame_numbers[:3], [332203, 332204, 332205])
    assert sequence.unfiltered_timestamps_s[1] == pytest.approx(7415.699)
    stylus = sequence.frame(0).poses["stylus"].tracker_from_tool
    np.testing.assert_allclose(stylus[:3, 3], [505.42, -128.476, 77.9115])
    assert all(status is PoseStatus.OK for status in sequence.statuses.ravel())


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plus", "ours"),
    [
        ("Stylus", "stylus"),
        ("NeedleTip", "needle_tip"),
        ("USProbe", "us_probe"),
        ("Tool2", "tool2"),
    ],
)
def test_plus_names_become_snake_case(plus, ours):
    assert tool_from_plus(plus) == ours


@settings(deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9]{1,6}(_[a-z][a-z0-9]{1,6}){0,2}", fullmatch=True))
def test_our_tool_names_round_trip_through_plus_names(tool):
    assert tool_from_plus(tool_to_plus(tool)) == tool


@settings(deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}(_[A-Za-z0-9]{1,6}){0,2}", fullmatch=True))
def test_any_writable_tool_name_comes_back_as_the_same_tool(tool):
    # As the user wrote it (``Pointer``, ``a_b``, ``NDITool``): back up to case and '_', which
    # is how every tool name is matched (devices.frame.match_tool).
    assert match_tool(tool, [tool_from_plus(tool_to_plus(tool))]) == tool_from_plus(
        tool_to_plus(tool)
    )


def test_a_recording_of_a_capitalised_tool_is_found_by_the_name_it_was_recorded_with(tmp_path):
    path = tmp_path / "p.igs.mha"
    pose = ToolPose("Pointer", make_rigid(np.eye(3), [1.0, 2.0, 3.0]), PoseStatus.OK)
    write_sequence(path, [Frame(0.0, 0, {"Pointer": pose})], ["Pointer"])
    sequence = read_sequence(path)
    assert sequence.tools == ("pointer",)
    np.testing.assert_array_equal(sequence.poses_of("Pointer")[0], pose.tracker_from_tool)
    with pytest.raises(ConfigurationError, match=r"no tool 'stylus' in the recording; .*'pointer'"):
        sequence.poses_of("stylus")


def test_two_tools_plus_would_name_alike_are_refused(tmp_path):
    with pytest.raises(RecordingError, match="would share a name"):
        SequenceWriter(tmp_path / "x.igs.mha", ["needle_tip", "NeedleTip"])


@pytest.mark.parametrize("bad", ["needle tip", "2nd", "needle__tip", "_stylus", "tool-1", ""])
def test_rejects_tool_names_a_plus_field_cannot_hold(bad):
    with pytest.raises(RecordingError, match="cannot be written"):
        tool_to_plus(bad)


# -- round trips ---------------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame_lists())
def test_frames_round_trip_exactly(tmp_path, frames_and_tools):
    frames, tools = frames_and_tools
    path = tmp_path / "round.igs.mha"
    assert write_sequence(path, frames, tools, overwrite=True) == len(frames)
    sequence = read_sequence(path)
    assert sequence.tools == tools
    assert not sequence.recovered
    assert_same_frames(list(iter_frames(sequence)), frames, tools)


def test_written_header_is_variant_b_with_element_data_file_last(tmp_path):
    path = tmp_path / "b.igs.mha"
    pose = ToolPose("stylus", make_rigid(np.eye(3), [1.0, 2.0, 3.0]), PoseStatus.OK, 0.1)
    write_sequence(path, [Frame(0.5, 7, {"stylus": pose})], ["stylus"])
    lines = path.read_text().splitlines()
    assert lines[0] == "ObjectType = Image"
    assert "ElementType = MET_OTHER" in lines
    assert "DimSize = 0 0 1" in lines
    assert lines[-1] == "ElementDataFile = LOCAL"
    matrix = "1.0 0.0 0.0 1.0 0.0 1.0 0.0 2.0 0.0 0.0 1.0 3.0 0.0 0.0 0.0 1.0"
    assert f"Seq_Frame0000_StylusToTrackerTransform = {matrix}" in lines
    assert "Seq_Frame0000_StylusToTrackerTransformStatus = OK" in lines
    assert "Seq_Frame0000_FrameNumber = 7" in lines
    assert "Seq_Frame0000_UnfilteredTimestamp = 0.5" in lines


def test_invalid_poses_are_written_invalid_with_a_placeholder_matrix(tmp_path):
    path = tmp_path / "missing.igs.mha"
    write_sequence(
        path,
        [Frame(0.0, 0, {"stylus": ToolPose.missing("stylus", PoseStatus.OUT_OF_VOLUME)})],
        ["stylus"],
    )
    text = path.read_text()
    assert f"Seq_Frame0000_StylusToTrackerTransform = {IDENTITY}\n" in text
    assert "Seq_Frame0000_StylusToTrackerTransformStatus = INVALID\n" in text
    assert read_sequence(path).frame(0).poses["stylus"].status is PoseStatus.OUT_OF_VOLUME


# -- leniency the real files need ----------------------------------------------------------------


def test_ignores_the_matrix_of_an_invalid_frame():
    sequence = parse_sequence(one_frame_file(transform="garbage", status="INVALID"))
    pose = sequence.frame(0).poses["stylus"]
    assert pose.status is PoseStatus.MISSING
    assert np.all(np.isnan(pose.tracker_from_tool))


def test_status_ok_is_case_insensitive_as_in_plus():
    assert (
        parse_sequence(one_frame_file(status="ok")).frame(0).poses["stylus"].status is PoseStatus.OK
    )


def test_accepts_crlf_line_ends_and_extra_spaces():
    text = (
        one_frame_file()
        .decode()
        .replace("Timestamp = 2.5", "Timestamp   =   2.5   ")
        .replace("\n", "\r\n")
    )
    sequence = parse_sequence(text.encode())
    assert sequence.timestamps_s[0] == 2.5
    assert sequence.frame(0).poses["stylus"].status is PoseStatus.OK


def test_header_fields_may_come_in_any_order():
    text = HEADER + TRAILER.format(n=1).replace("ElementDataFile = LOCAL\n", "")
    text += "Seq_Frame0000_Timestamp = 1\nSeq_Frame0000_StylusToTrackerTransform = " + IDENTITY
    text += "\nElementDataFile = LOCAL\n"
    assert len(parse_sequence(text.encode())) == 1


# -- recovery of files cut short -----------------------------------------------------------------


def write_growing(path, frames, tools):
    """Write frames without closing; returns the file size after each frame was flushed."""
    writer = SequenceWriter(path, tools, overwrite=True)
    sizes = []
    for frame in frames:
        writer.append(frame)
        sizes.append(path.stat().st_size)
    return writer, sizes


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame_lists(min_frames=1), st.floats(0.0, 1.0))
def test_a_file_cut_anywhere_keeps_every_complete_frame(tmp_path, frames_and_tools, fraction):
    frames, tools = frames_and_tools
    path = tmp_path / "cut.igs.mha"
    writer, sizes = write_growing(path, frames, tools)
    writer.close()
    data = path.read_bytes()
    header_size = sizes[0] - len(_frame_block(data, 0))
    # Anywhere from the first frame up to, not including, the last line (ElementDataFile).
    cut = header_size + int(fraction * (data.index(b"\nElementDataFile") - header_size))
    sequence = parse_sequence(data[:cut])
    assert sequence.recovered
    complete = sum(1 for size in sizes if size <= cut)
    assert_same_frames(list(iter_frames(sequence)), frames[:complete], tools)


def _frame_block(data: bytes, index: int) -> bytes:
    start = data.index(f"Seq_Frame{index:04d}_".encode())
    end = data.find(f"Seq_Frame{index + 1:04d}_".encode())
    return data[start : end if end >= 0 else data.index(b"DimSize")]


def test_an_unclosed_recording_is_readable_while_being_written(tmp_path, caplog):
    frames = [
        Frame(i / 60, i, {"stylus": ToolPose("stylus", np.eye(4), PoseStatus.OK, 0.2)})
        for i in range(5)
    ]
    path = tmp_path / "open.igs.mha"
    writer, _ = write_growing(path, frames, ["stylus"])
    with caplog.at_level(logging.WARNING):
        sequence = read_sequence(path)
    assert sequence.recovered
    assert len(sequence) == 5
    assert "cut short" in caplog.text
    writer.close()
    assert not read_sequence(path).recovered


# -- bad input -----------------------------------------------------------------------------------


def test_rejects_a_file_that_is_not_metaio():
    with pytest.raises(RecordingError, match="not a MetaIO sequence file"):
        parse_sequence(b"hello\nworld\nElementDataFile = LOCAL\n")


def test_rejects_binary_garbage_in_the_header():
    with pytest.raises(RecordingError, match="non-text bytes"):
        parse_sequence(HEADER.encode() + b"\xff\xfe\x00\nElementDataFile = LOCAL\n")


def test_rejects_wrong_ndims():
    with pytest.raises(RecordingError, match="NDims must be 3"):
        parse_sequence(one_frame_file().replace(b"NDims = 3", b"NDims = 2"))


@pytest.mark.parametrize("declared", [0, 2, 371])
def test_dim_size_that_disagrees_with_the_frames_is_overruled_by_them(declared, caplog):
    sequence = parse_sequence(one_frame_file(dim=declared))
    assert len(sequence) == 1
    assert sequence.recovered
    assert f"DimSize declares {declared} frames but 1 complete frames are present" in caplog.text


def test_a_complete_header_without_dim_size_still_gives_its_frames(caplog):
    sequence = parse_sequence(one_frame_file().replace(b"DimSize = 0 0 1\n", b""))
    assert len(sequence) == 1
    assert sequence.recovered
    assert "DimSize declares None frames" in caplog.text


def test_a_recorder_interrupted_after_a_frame_but_before_counting_it_loses_nothing(tmp_path):
    # What Ctrl-C did to the old recorder (issue 14.12): the last frame is in the file, the
    # header's DimSize counts one frame less. Every complete frame is read back.
    frames = [
        Frame(0.1 * k, k, {"stylus": ToolPose("stylus", make_rigid(np.eye(3), [k, 0, 0]), OK)})
        for k in range(4)
    ]
    path = tmp_path / "short.igs.mha"
    write_sequence(path, frames, ["stylus"])
    path.write_bytes(path.read_bytes().replace(b"DimSize = 0 0 4", b"DimSize = 0 0 3"))
    sequence = read_sequence(path)
    assert sequence.frame_numbers.tolist() == [0, 1, 2, 3]
    assert sequence.recovered


def test_a_frame_index_far_beyond_the_others_is_an_error_not_a_huge_allocation():
    data = one_frame_file(extra="Seq_Frame999999999999_Timestamp = 3.0\n")
    with pytest.raises(RecordingError, match="frame 1 has no fields, yet frames up to"):
        parse_sequence(data)


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("Seq_Frame0000_Timestamp", "Seq_Frame0000_Timestamp = 2.75\n"),
        ("NDims", "NDims = 3\n"),
    ],
)
def test_a_field_given_twice_is_an_error_naming_both_values(field, line):
    with pytest.raises(RecordingError, match=f"gives {field} a second time"):
        parse_sequence(one_frame_file(extra=line))


@pytest.mark.parametrize("value", ["inf", "-0.5", "-inf"])
def test_an_error_rms_that_is_not_an_error_is_refused(value):
    extra = f"Seq_Frame0000_StylusToTrackerErrorRms = {value}\n"
    with pytest.raises(RecordingError, match="ErrorRms must be a finite error >= 0 mm"):
        parse_sequence(one_frame_file(extra=extra))


def test_an_unknown_error_rms_is_nan():
    extra = "Seq_Frame0000_StylusToTrackerErrorRms = nan\n"
    assert np.isnan(parse_sequence(one_frame_file(extra=extra)).error_rms[0, 0])


@pytest.mark.parametrize("translation", ["1e308", "-10000.5", "2e4"])
def test_a_translation_beyond_any_tracker_is_refused(translation):
    transform = f"1 0 0 {translation} 0 1 0 0 0 0 1 0 0 0 0 1"
    with pytest.raises(RecordingError, match="beyond any tracker's reach"):
        parse_sequence(one_frame_file(transform=transform))


def test_a_translation_within_reach_is_read():
    transform = "1 0 0 -9999.5 0 1 0 0 0 0 1 2500 0 0 0 1"
    assert parse_sequence(one_frame_file(transform=transform)).tracker_from_tool[0, 0, 0, 3] == (
        -9999.5
    )


def test_the_reader_accepts_what_pivot_accepts_and_no_more():
    # One rigid-matrix rule (registration.transforms, RECORDED_ORTHONORMAL_TOL) for both.
    slightly = "1.0009 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"  # 2e-3 off in R^T R: beyond 1e-3
    with pytest.raises(RecordingError, match="not a rigid transform"):
        parse_sequence(one_frame_file(transform=slightly))
    printed = "0.99999 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"  # 6-digit rounding: accepted
    assert len(parse_sequence(one_frame_file(transform=printed))) == 1


def test_writer_refuses_a_pose_beyond_any_tracker(tmp_path):
    far = ToolPose("stylus", make_rigid(np.eye(3), [0.0, 0.0, 2e4]), OK)
    with pytest.raises(RecordingError, match="beyond 10000 mm"):
        write_sequence(tmp_path / "far.igs.mha", [Frame(0.0, 0, {"stylus": far})], ["stylus"])


def test_rejects_a_transform_of_fifteen_numbers():
    with pytest.raises(
        RecordingError, match="frame 0 StylusToTrackerTransform must be 16 numbers; got 15"
    ):
        parse_sequence(one_frame_file(transform=IDENTITY.rsplit(" ", 1)[0]))


def test_rejects_a_transform_with_a_word_in_it():
    with pytest.raises(RecordingError, match="non-number"):
        parse_sequence(one_frame_file(transform=IDENTITY.replace("0", "zero", 1)))


def test_rejects_a_scaled_transform():
    with pytest.raises(RecordingError, match="not a rigid transform"):
        parse_sequence(one_frame_file(transform=IDENTITY.replace("1", "2", 1)))


def test_rejects_a_frame_without_timestamp():
    data = one_frame_file().replace(b"Seq_Frame0000_Timestamp = 2.5\n", b"")
    with pytest.raises(RecordingError, match="frame 0 has no Timestamp"):
        parse_sequence(data)


def test_rejects_a_non_numeric_timestamp():
    with pytest.raises(RecordingError, match="Timestamp must be a number"):
        parse_sequence(one_frame_file().replace(b"= 2.5", b"= soon"))


def test_rejects_frames_without_tracker_transforms_and_names_the_frames_found():
    data = one_frame_file().replace(b"ToTracker", b"ToReference")
    with pytest.raises(
        RecordingError,
        match=r"no '<Tool>ToTrackerTransform' fields.*transforms found relative to: Reference",
    ):
        parse_sequence(data)


def test_reads_poses_relative_to_another_reference_frame():
    data = one_frame_file(transform="1 0 0 5 0 1 0 0 0 0 1 0 0 0 0 1").replace(
        b"ToTracker", b"ToReference"
    )
    sequence = parse_sequence(data, reference_frame="Reference")
    assert sequence.tools == ("stylus",)
    assert sequence.reference_frame == "Reference"
    assert sequence.reference_from_tool[0, 0, 0, 3] == 5.0
    # The poses are reference_from_tool: calling them tracker_from_tool is an error.
    with pytest.raises(RecordingError, match="relative to 'Reference'"):
        _ = sequence.tracker_from_tool


def test_rejects_a_pose_status_that_contradicts_the_transform_status():
    extra = "Seq_Frame0000_StylusToTrackerPoseStatus = missing\n"
    with pytest.raises(
        RecordingError, match="PoseStatus is missing but the transform status is OK"
    ):
        parse_sequence(one_frame_file(extra=extra))


def test_read_names_the_file(tmp_path):
    path = tmp_path / "empty.igs.mha"
    path.write_bytes(b"")
    with pytest.raises(RecordingError, match=r"empty\.igs\.mha"):
        read_sequence(path)


def test_writer_rejects_a_frame_with_an_unknown_tool(tmp_path):
    with (
        SequenceWriter(tmp_path / "x.igs.mha", ["stylus"]) as writer,
        pytest.raises(RecordingError, match="probe"),
    ):
        writer.append(Frame(0.0, 0, {"probe": ToolPose.missing("probe")}))


def test_writer_rejects_a_non_finite_timestamp(tmp_path):
    with (
        SequenceWriter(tmp_path / "x.igs.mha", ["stylus"]) as writer,
        pytest.raises(RecordingError, match="timestamp"),
    ):
        writer.append(Frame(math.nan, 0, {}))


def test_writer_rejects_a_valid_pose_without_a_finite_matrix(tmp_path):
    pose = ToolPose("stylus", np.full((4, 4), np.nan), PoseStatus.OK)
    with (
        SequenceWriter(tmp_path / "x.igs.mha", ["stylus"]) as writer,
        pytest.raises(RecordingError, match="finite 4x4"),
    ):
        writer.append(Frame(0.0, 0, {"stylus": pose}))


def test_writer_rejects_append_after_close(tmp_path):
    writer = SequenceWriter(tmp_path / "x.igs.mha", ["stylus"])
    writer.close()
    with pytest.raises(RecordingError, match="closed"):
        writer.append(Frame(0.0, 0, {}))


def test_writer_needs_a_tool(tmp_path):
    with pytest.raises(RecordingError, match="at least one tool"):
        SequenceWriter(tmp_path / "x.igs.mha", [])


def test_from_frames_marks_absent_tools_missing():
    pose = ToolPose("stylus", make_rigid(np.eye(3), [1.0, 2.0, 3.0]), PoseStatus.OK, 0.1)
    sequence = TrackingSequence.from_frames(
        [Frame(0.0, 0, {"stylus": pose})], ["stylus", "reference"]
    )
    assert sequence.statuses[0, 1] is PoseStatus.MISSING
    assert np.all(np.isnan(sequence.tracker_from_tool[0, 1]))


def test_rejects_a_line_that_is_not_a_field():
    data = one_frame_file().replace(b"NDims = 3\n", b"NDims = 3\nthis is not a field\n")
    with pytest.raises(RecordingError, match="line 3 is not 'Name = value'"):
        parse_sequence(data)


def test_rejects_a_malformed_frame_field_name():
    data = one_frame_file(extra="Seq_FrameX_Timestamp = 1\n")
    with pytest.raises(RecordingError, match="malformed frame field 'Seq_FrameX_Timestamp'"):
        parse_sequence(data)


@settings(max_examples=300, deadline=None)
@given(frame_lists(min_frames=1), st.data())
def test_any_corruption_parses_or_raises_recording_error(frames_and_tools, data):
    frames, tools = frames_and_tools
    text = bytearray(_written_bytes(frames, tools))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(
            st.sampled_from(list(b"=_ \n\r0123456789.-eE+naAOKINVLDSeq_Frame\x00\xff"))
        )
        if action == "replace":
            text[position] = byte
        elif action == "delete":
            del text[position]
        else:
            text.insert(position, byte)
    try:
        sequence = parse_sequence(bytes(text))
    except RecordingError:
        return
    assert sequence.tracker_from_tool.shape == (len(sequence), len(sequence.tools), 4, 4)


def _written_bytes(frames, tools) -> bytes:
    """The bytes ``write_sequence`` produces for ``frames``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.igs.mha"
        write_sequence(path, frames, tools)
        return path.read_bytes()


def test_rejects_a_timestamp_that_is_not_finite():
    with pytest.raises(RecordingError, match="frame 0 Timestamp is not a finite number"):
        parse_sequence(one_frame_file().replace(b"= 2.5", b"= nan"))


def test_rejects_a_fractional_frame_number():
    data = one_frame_file(extra="Seq_Frame0000_FrameNumber = 1.5\n")
    with pytest.raises(RecordingError, match="FrameNumber must be a whole number"):
        parse_sequence(data)


def test_rejects_a_frame_number_beyond_64_bits():
    data = one_frame_file(extra="Seq_Frame0000_FrameNumber = 1e300\n")
    with pytest.raises(RecordingError, match="beyond the range of a 64-bit frame counter"):
        parse_sequence(data)


def test_writer_does_not_replace_an_existing_recording(tmp_path):
    path = tmp_path / "precious.igs.mha"
    path.write_text("keep me")
    with pytest.raises(RecordingError, match="already exists"):
        SequenceWriter(path, ["stylus"])
    assert path.read_text() == "keep me"
    SequenceWriter(path, ["stylus"], overwrite=True).close()
    assert read_sequence(path).tools == ("stylus",)


def test_rejects_a_transform_with_an_infinite_value():
    with pytest.raises(
        RecordingError, match="frame 0 StylusToTrackerTransform has NaN or infinite"
    ):
        parse_sequence(one_frame_file(transform=IDENTITY.replace("0", "inf", 1)))


# -- NRRD variant (3D Slicer's .seq.nrrd, PLUS's .igs.nrrd) --------------------------------------

NRRD = (
    "NRRD0004\n"
    "# Complete NRRD file format specification at:\n"
    "# http://teem.sourceforge.net/nrrd/format.html\n"
    "type: unsigned char\n"
    "dimension: 3\n"
    "sizes: 0 0 2\n"
    "kinds: domain domain list\n"
    "encoding: raw\n"
    "Seq_Frame0000_Timestamp:=3.114\n"
    "Seq_Frame0000_StylusToReferenceTransform:=1 0 0 0 0 1 0 0 0 0 1 5.645 0 0 0 1\n"
    "Seq_Frame0000_StylusToReferenceTransformStatus:=OK\n"
    "Seq_Frame0001_Timestamp:=3.214\n"
    "Seq_Frame0001_StylusToReferenceTransform:=1 0 0 0 0 1 0 0 0 0 1 6.645 0 0 0 1\n"
    "Seq_Frame0001_StylusToReferenceTransformStatus:=INVALID\n"
    "\n"
)


def test_reads_the_nrrd_variant_and_ignores_its_pixels():
    sequence = parse_sequence(NRRD.encode() + b"\x00\xff\n\n\x01", reference_frame="Reference")
    assert not sequence.recovered
    assert sequence.tools == ("stylus",)
    np.testing.assert_allclose(sequence.timestamps_s, [3.114, 3.214])
    assert sequence.reference_from_tool[0, 0, 2, 3] == 5.645
    assert sequence.statuses[1, 0] is PoseStatus.MISSING


def test_recovers_a_nrrd_file_cut_short():
    cut = NRRD[: NRRD.index("Seq_Frame0001_StylusToReferenceTransformStatus")]
    sequence = parse_sequence(cut.encode(), reference_frame="Reference")
    assert sequence.recovered
    assert len(sequence) == 1


def test_rejects_a_nrrd_dimension_other_than_3():
    with pytest.raises(RecordingError, match="NDims must be 3"):
        parse_sequence(
            NRRD.replace("dimension: 3", "dimension: 2").encode(), reference_frame="Reference"
        )


def test_rejects_a_nrrd_line_without_separator():
    with pytest.raises(RecordingError, match="line 5 is neither 'field: value' nor 'key:=value'"):
        parse_sequence(NRRD.replace("dimension: 3", "dimension 3").encode())
