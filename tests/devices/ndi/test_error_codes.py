"""The ERRORxx table: each code of the protocol reference has a meaning; others are unknown."""

import pytest

from devices.exceptions import TrackerError
from devices.ndi.error_codes import ERROR_MEANINGS, error_meaning
from devices.ndi.exceptions import NDICommandError

REFERENCE_CODES = [
    *range(0x01, 0x26),
    *range(0x28, 0x31),
    *range(0x32, 0x3A),
    0x3B,
    0x3C,
    0x3D,
    0x40,
    0x41,
    0x42,
    0xF1,
    0xF4,
    0xF5,
    0xF6,
]


def test_table_holds_exactly_the_reference_codes():
    assert sorted(ERROR_MEANINGS) == sorted(REFERENCE_CODES)


def test_meanings_are_distinct_sentences():
    meanings = list(ERROR_MEANINGS.values())
    assert len(set(meanings)) == len(meanings)
    assert all(len(meaning) > 8 for meaning in meanings)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0x01, "invalid command"),
        (0x04, "invalid CRC"),
        (0x0C, "current operating mode"),
        (0x0D, "no tool"),
        (0x23, "out of range"),
    ],
)
def test_well_known_codes(code, words):
    assert words in error_meaning(code)


def test_unknown_code_is_reported_as_unknown():
    assert "unknown error code 0x43" in error_meaning(0x43)


def test_command_error_is_a_tracker_error_with_code_and_meaning():
    error = NDICommandError(0x0C, "TX")
    assert isinstance(error, TrackerError)
    assert (error.code, error.command) == (0x0C, "TX")
    assert "ERROR0C" in str(error)
    assert "current operating mode" in str(error)
