"""The C reader of records' slots for the tables (``fastpath.slot_columns``) against the Python
reader it stands in for: the generated ``[r.name for r in items]`` lists, ``pa.array`` of each
block and the set of the values' types.  Every column of every block must come out the same: the
very value objects, blocks of the same types and contents (or none where pyarrow refuses the
values), and the same types gathered.
"""
from __future__ import annotations

import decimal
import enum
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis import capture, tables
from smtpsniff.net import native

pytestmark = pytest.mark.skipif(native.slot_columns() is None, reason="the C extension is not built or is off")


class _Word(str, enum.Enum):
    WORD = "word"


class _Number(enum.IntEnum):
    FIVE = 5


#: Values of every kind the C reader takes or must leave to pyarrow.
VALUES = [None, 0, -1, 1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, True, False, "", "a", "é", "日本", "\udcff",
          "x" * 300, b"x", 1.5, decimal.Decimal(1), _Word.WORD, _Number.FIVE, np.int64(3), np.str_("z"),
          (1,), ["b"]]


@dataclass(frozen=True, slots=True)
class _Three:
    a: object
    b: object
    c: object


class _Plain:
    """No slots: attributes in a __dict__."""

    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c


@dataclass(frozen=True, slots=True)
class _Doubled:
    """Slots read through a __getattribute__ of its own: reading the slot itself would be wrong."""

    a: object

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        return value * 2 if name == "a" else value


def _read(items, names, *, in_c: bool):
    with pytest.MonkeyPatch.context() as patch:
        if not in_c:
            patch.setattr(tables.native, "slot_columns", lambda: None)
        return tables.field_columns(items, names, kinds=("a", "b", "c"))


def _same_columns(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name, column in got.items():
        want = expected[name]
        assert len(column) == len(want) and all(a is b for a, b in zip(column, want))
        assert column.kinds == want.kinds
        assert (column.blocks is None) == (want.blocks is None), name
        if want.blocks is not None:
            assert [b.type for b in column.blocks] == [b.type for b in want.blocks]
            assert all(b.equals(w) for b, w in zip(column.blocks, want.blocks))
            assert [b.null_count for b in column.blocks] == [b.null_count for b in want.blocks]


@pytest.mark.parametrize("block", [1, 3, 8, 1024])
def test_columns_of_one_kind_and_of_every_mix_are_read_as_in_python(block, monkeypatch):
    monkeypatch.setattr(tables, "_BLOCK", block)
    rng = random.Random(block)
    cases = [[_Three(v, v, None) for v in VALUES]]
    for value in VALUES:  # one odd value among values of each kind the C reader takes
        for base in ([1, None, 2], ["s", None, "t"], [True, None, False], [None, None]):
            cases.append([_Three(x, value, x) for x in base * 3 + [value] + base])
    for _ in range(40):  # random rows of random kinds
        pool = rng.sample(VALUES, rng.randint(1, 4))
        cases.append([_Three(rng.choice(pool), rng.choice(pool), rng.choice(VALUES)) for _ in range(rng.randint(1, 30))])
    for rows in cases:
        _same_columns(_read(rows, ["a", "b", "c"], in_c=True), _read(rows, ["a", "b", "c"], in_c=False))


def test_the_c_reader_reads_them():
    """The blocks of a slotted class's records do come from C: a column of each kind it takes."""
    rows = [_Three(i, f"v{i}" if i % 3 else None, i % 2 == 0) for i in range(10)]
    read = native.slot_columns()
    columns = read(rows, _Three, ("a", "b", "c"))
    assert [values for values, _ in columns] == [[r.a for r in rows], [r.b for r in rows], [r.c for r in rows]]
    assert [described[:3] for _, described in columns] == [("int64", 10, 0), ("string", 10, 4), ("bool", 10, 0)]
    assert read([_Three(None, None, None)], _Three, ("a",))[0][1] == ("null", 1)
    assert read(rows, _Three, ()) == ()


def test_what_it_leaves_to_python():
    read = native.slot_columns()
    rows = [_Three(1, 2, 3), _Three(4, 5, 6)]
    assert read(rows + [_Plain(7, 8, 9)], _Three, ("a",)) is None  # an item of another class
    assert read([_Plain(1, 2, 3)], _Plain, ("a",)) is None  # no slots
    assert read(rows, _Three, ("a", "missing")) is None  # a name that is no slot
    assert read(rows, _Three, ("__class__",)) is None
    assert read([_Doubled(1)], _Doubled, ("a",)) is None
    assert tables.field_columns([_Doubled(1), _Doubled(2)], ["a"]) == {"a": [2, 4]}
    unset = object.__new__(_Three)  # a slot never set: Python's way raises AttributeError
    assert read([unset], _Three, ("a",)) is None
    with pytest.raises(AttributeError):
        tables.field_columns([unset], ["a"])
    with pytest.raises(TypeError):
        read(tuple(rows), _Three, ("a",))
    with pytest.raises(TypeError):
        read(rows, _Three, ["a"])


def test_tables_of_a_capture_are_the_same_either_way(monkeypatch):
    """The core tables of a recorded capture, built with the C reader and without."""
    cap = smtpsniff.read(ROOT / "tests" / "data" / "smtp-features.pcap", workers=0)
    in_c = capture.build_tables(cap.records)
    monkeypatch.setattr(tables.native, "slot_columns", lambda: None)
    in_python = capture.build_tables(cap.records)
    assert in_c.keys() == in_python.keys()
    for name in in_c:
        pd.testing.assert_frame_equal(in_c[name], in_python[name], check_exact=True)
