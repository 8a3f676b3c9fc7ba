"""Hypothesis strategies that damage a real file the way the fault trials did: a byte changed, the
file cut short, a number replaced by a strange one, a line dropped, doubled or made of garbage.

Fuzz tests read the damaged file and accept exactly two outcomes: a correct read, or our own
exception (SceneError, DeviceError, ...); anything else (a ValueError, an IndexError, a
traceback from a library) is a bug.
"""

import re

from hypothesis import strategies as st

STRANGE_NUMBERS = (
    b"nan", b"inf", b"-inf", b"0", b"-0", b"-1", b"1e308", b"1.8e308", b"-1e-320", b"1e400",
    b"99999999999999999999", b"4294967296", b"", b"x", b"1,5", b"0x10",
)  # fmt: skip
NUMBER = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _change_byte(data: bytes, where: int, value: int) -> bytes:
    if not data:
        return data
    where %= len(data)
    return data[:where] + bytes([value]) + data[where + 1 :]


def _cut(data: bytes, where: int) -> bytes:
    return data[: where % (len(data) + 1)]


def _strange_number(data: bytes, which: int, strange: bytes) -> bytes:
    numbers = list(NUMBER.finditer(data))
    if not numbers:
        return data
    match = numbers[which % len(numbers)]
    return data[: match.start()] + strange + data[match.end() :]


def _line(data: bytes, which: int, action: str, garbage: bytes) -> bytes:
    lines = data.split(b"\n")
    index = which % len(lines)
    if action == "drop":
        del lines[index]
    elif action == "double":
        lines.insert(index, lines[index])
    else:
        lines.insert(index, garbage)
    return b"\n".join(lines)


def mutations(limit: int) -> st.SearchStrategy:
    """One damage, as a function of the file's bytes; ``limit`` bounds where it lands (the
    header's length, so that the damage hits what a reader parses)."""
    position = st.integers(0, max(0, limit - 1))
    return st.one_of(
        st.builds(lambda w, v: lambda d: _change_byte(d[:limit], w, v) + d[limit:], position,
                  st.integers(0, 255)),
        st.builds(lambda w: lambda d: _cut(d, w), st.integers(0, 10 * limit)),
        st.builds(lambda n, s: lambda d: _strange_number(d[:limit], n, s) + d[limit:],
                  st.integers(0, 200), st.sampled_from(STRANGE_NUMBERS)),
        st.builds(lambda n, a, g: lambda d: _line(d[:limit], n, a, g) + d[limit:],
                  st.integers(0, 200), st.sampled_from(["drop", "double", "garbage"]),
                  st.binary(max_size=20)),
    )  # fmt: skip


def damaged(data: bytes, damages) -> bytes:
    """``data`` after each of ``damages`` in turn."""
    for damage in damages:
        data = damage(data)
    return data
