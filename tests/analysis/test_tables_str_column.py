"""``tables.str_column`` and ``tables.StrColumnParts`` against the general ``string`` column
builder they stand in for.

``str_column`` builds the ``large_string`` array of a column of ``str`` values from buffers of
their UTF-8 bytes (one chunk per piece), offset by each value's length; the oracle is :func:`tables._string_array`
(pyarrow's inference and cast, or pandas' own path), which gives the column any other way.
Seeded random columns cross the piece boundaries, mix ASCII with 2-, 3- and 4-byte characters,
empty strings, NUL and lone surrogates; columns holding anything but ``str`` are left to the
general path.
"""
from __future__ import annotations

import random

import pandas as pd
import pyarrow as pa
import pytest

from smtpsniff.analysis import tables
from smtpsniff.analysis.tables import TypedColumn, str_column

_CHARS = ["a", "Z", " ", "\x00", "\r\n", "é", "€", "日", "😀", "\u200f"]


def _column(rng: random.Random, count: int, chars: list[str]) -> list[str]:
    return ["".join(rng.choice(chars) for _ in range(rng.randrange(0, 9))) for _ in range(count)]


def _same_as_general(values: list) -> None:
    built = str_column(values)
    try:
        general = tables._string_array(values)
    except Exception as exc:  # noqa: BLE001  # the general path's own refusal
        assert built is values, f"general path raised {exc!r}"
        return
    if built is values:  # left to the general path: nothing to compare
        return
    assert isinstance(built, TypedColumn)
    array = built.array
    assert array.dtype == general.dtype
    assert array._pa_array.type == general._pa_array.type == pa.large_string()
    assert array._pa_array.equals(general._pa_array)
    assert array.tolist() == general.tolist() == values


@pytest.mark.parametrize("seed", range(6))
def test_tables_str_column_random_columns(seed):
    rng = random.Random(f"str-column-{seed}")
    piece = tables._STR_PIECE
    for count in (1, 2, piece - 1, piece, piece + 1, 2 * piece + 3):
        ascii_only = _column(rng, count, _CHARS[:4])
        _same_as_general(ascii_only)
        assert isinstance(str_column(ascii_only), TypedColumn)
        mixed = _column(rng, count, _CHARS)
        _same_as_general(mixed)
        assert isinstance(str_column(mixed), TypedColumn)
        one_wide = list(ascii_only)  # one wide value in one piece: only its length differs
        one_wide[rng.randrange(count)] = rng.choice(_CHARS[5:]) * rng.randrange(1, 4)
        _same_as_general(one_wide)


@pytest.mark.parametrize("odd", ["x\udcff", "\ud800", b"x", None, 1, True, pd.NA, ["a"]],
                         ids=repr)
def test_tables_str_column_leaves_other_values_to_the_general_path(odd):
    values = ["a", "é", odd, "b"]
    assert str_column(values) is values
    _same_as_general(values)


def test_tables_str_column_leaves_str_subclasses_and_empty_columns():
    class Text(str):
        pass

    values = ["a", Text("b")]
    assert str_column(values) is values
    assert str_column([]) == []


def test_tables_str_column_in_a_frame_as_the_general_path():
    rng = random.Random("str-column-frame")
    values = _column(rng, 3 * tables._STR_PIECE, _CHARS)
    length = len(values)
    fast = tables.frame_from_columns("headers", length, {"name": str_column(values)})
    general = tables.frame_from_columns("headers", length, {"name": list(values)})
    pd.testing.assert_frame_equal(fast, general, check_exact=True)


def _in_parts(values: list, cuts: list[int]) -> object:
    """``StrColumnParts`` given ``values`` cut at the positions ``cuts`` (empty parts included)."""
    parts = tables.StrColumnParts()
    for start, end in zip([0, *cuts], [*cuts, len(values)]):
        parts.add(values[start:end])
    return parts.column()


@pytest.mark.parametrize("seed", range(4))
def test_tables_str_column_parts_give_the_column_of_all_the_values(seed):
    rng = random.Random(f"str-column-parts-{seed}")
    for count in (1, 5, 300):
        for chars in (_CHARS[:4], _CHARS):
            values = _column(rng, count, chars)
            cuts = sorted(rng.randrange(count + 1) for _ in range(rng.randrange(0, 6)))
            built = _in_parts(values, cuts)
            assert isinstance(built, TypedColumn)
            whole = str_column(values)
            assert built.array._pa_array.equals(whole.array._pa_array)
            assert built.array.tolist() == values


@pytest.mark.parametrize("odd", ["x\udcff", b"x", None, 1], ids=repr)
def test_tables_str_column_parts_leave_other_values_to_the_general_path(odd):
    """An odd value in a later part: every value, in order, for the general path."""
    values = ["a", "é", "b", odd, "c"]
    for cuts in ([3], [1, 3, 4], [0, 5]):
        assert _in_parts(values, cuts) == values
    assert _in_parts([], []) == []
