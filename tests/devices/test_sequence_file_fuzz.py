"""Fuzzing the recording reader with mutated real files: each reads correctly or fails with our
own ``RecordingError``, never another exception (issue 14: a reader the CLI exposes)."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.exceptions import RecordingError
from devices.frame import MAX_TRACKED_DISTANCE_MM
from devices.sequence_file import TRACKER, parse_sequence
from registration.transforms import RECORDED_ORTHONORMAL_TOL, rigid_mask
from tests.shared_data import SHARED_DATA

FILES = sorted((SHARED_DATA / "tracking").glob("*.igs.mha"))
# Bytes a corruption of a sequence file is made of: its own separators, digits and field words.
BYTES = list(b"=_ \n\r\t0123456789.-+eE:naAOKINVLDTrckSeq_Frame\x00\x7f\xff")
# Numbers that are numbers but not plausible values (the fault trial of issue 14).
EXTREMES = [b"1e308", b"-1e308", b"inf", b"-inf", b"nan", b"-0.5", b"1e12", b"-1", b"0", b"1e-300"]
NUMBER = re.compile(rb"-?[0-9][0-9.eE+-]*")


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with 1-6 edits: bytes replaced, deleted or inserted, a line repeated or dropped,
    a digit changed, a number made extreme (1e308, inf, -0.5...), or the file cut short."""
    text = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(
            st.sampled_from(["replace", "delete", "insert", "line", "digit", "number", "cut"])
        )
        position = draw(st.integers(0, max(len(text) - 1, 0)))
        if action == "replace" and text:
            text[position] = draw(st.sampled_from(BYTES))
        elif action == "delete" and text:
            del text[position]
        elif action == "insert":
            text[position:position] = bytes(draw(st.lists(st.sampled_from(BYTES), max_size=8)))
        elif action == "line":
            start = text.rfind(b"\n", 0, position) + 1
            end = text.find(b"\n", position) + 1 or len(text)
            line = bytes(text[start:end])
            if draw(st.booleans()):
                text[end:end] = line  # repeated
            else:
                del text[start:end]  # dropped
        elif action == "digit":
            digits = [
                i for i in range(position, min(position + 200, len(text))) if 48 <= text[i] <= 57
            ]
            if digits:
                text[digits[0]] = draw(st.sampled_from(b"0123456789"))
        elif action == "number":
            found = NUMBER.search(text, position)
            if found:
                text[found.start() : found.end()] = draw(st.sampled_from(EXTREMES))
        elif action == "cut":
            del text[position:]
    return bytes(text)


def check_consistent(sequence) -> None:
    """What a successful read promises: arrays that agree, finite times, rigid poses in reach."""
    frames, tools = len(sequence), len(sequence.tools)
    assert sequence.reference_from_tool.shape == (frames, tools, 4, 4)
    assert sequence.statuses.shape == sequence.error_rms.shape == (frames, tools)
    assert np.all(np.isfinite(sequence.timestamps_s))
    assert np.all(np.isfinite(sequence.unfiltered_timestamps_s))
    errors = sequence.error_rms
    assert np.all(np.isnan(errors) | (np.isfinite(errors) & (errors >= 0.0)))
    valid = np.array(
        [
            [status.value in ("ok", "partially_out_of_volume") for status in row]
            for row in sequence.statuses
        ],
        dtype=bool,
    ).reshape(frames, tools)
    poses = sequence.reference_from_tool[valid]
    assert np.all(rigid_mask(poses, RECORDED_ORTHONORMAL_TOL))
    assert np.all(np.abs(poses[:, :3, 3]) <= MAX_TRACKED_DISTANCE_MM)
    assert np.all(np.isnan(sequence.reference_from_tool[~valid]))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_the_real_files_read_as_they_are(path):
    check_consistent(parse_sequence(path.read_bytes(), path.name))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_real_file_reads_or_raises_recording_error(path, data):
    mutation = data.draw(mutated(path.read_bytes()))
    reference = data.draw(st.sampled_from([TRACKER, "Reference"]))
    try:
        sequence = parse_sequence(mutation, path.name, reference)
    except RecordingError as error:
        assert str(error)  # a message for the user, never empty
        return
    check_consistent(sequence)


def test_there_are_real_files_to_mutate():
    assert len(FILES) >= 3
