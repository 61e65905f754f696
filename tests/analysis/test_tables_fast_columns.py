"""The fast column builders of :mod:`smtpsniff.analysis.tables` against pandas' general path.

Every column of every table is built from Python values; ``tables.py`` lets pyarrow read the values
when the type pyarrow infers shows that pandas would keep each value as it is, and reads record
fields in blocks (:func:`field_columns`).  The oracle here is the plain pandas construction
(``pd.array(values, dtype=...)``, one value at a time in Python) and the row-by-row definition of
each core table's columns: odd values, values mixed across blocks, and every capture of the corpus
must give the same frames, dtypes, storage and masked data.
"""
from __future__ import annotations

import decimal
import enum
import os
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import pytest

from smtp_oracles import ROOT, all_capture_params, smtpsniff_read
from smtpsniff.analysis import capture, tables
from smtpsniff.analysis.schema import LIST, SCHEMAS, TS
from smtpsniff.credentials.mask import mask_auth_argument


class _Number(enum.IntEnum):
    FIVE = 5


class _Word(str, enum.Enum):
    WORD = "word"


#: Values a column could be handed: each type pyarrow or pandas treat apart.
ODD = [True, False, 1.0, 1.5, np.float64(2.0), np.int32(3), np.uint64(7), np.uint64(2**64 - 1),
       decimal.Decimal(1), "1", "a", b"x", bytearray(b"q"), float("nan"), pd.NA, pd.NaT, _Number.FIVE,
       _Word.WORD, np.str_("z"), 2**63, -2**63, 2**63 - 1, -2**63 - 1, "\udcff", "é", "", None,
       np.bool_(True), [1], (1,)]
BASES = {"string": [["a", None, "b"], ["x"], [None, None]], "Int64": [[1, None], [7], [None]],
         "boolean": [[True, None], [False], [None]]}
BUILDERS = {"string": tables._string_array, "Int64": tables._int_array, "boolean": tables._bool_array}


def _same_array(expected, got) -> None:
    pd.testing.assert_extension_array_equal(expected, got)
    assert type(expected) is type(got) and expected.dtype == got.dtype
    if hasattr(expected, "_mask"):  # masked arrays: the data behind the mask too, and writable
        assert expected._data.dtype == got._data.dtype
        assert np.array_equal(expected._data, got._data) and np.array_equal(expected._mask, got._mask)
        assert got._data.flags.writeable and got._mask.flags.writeable
    else:  # pyarrow storage: the same type, chunks and nulls
        assert expected._pa_array.type == got._pa_array.type
        assert expected._pa_array.num_chunks == got._pa_array.num_chunks
        assert expected._pa_array.equals(got._pa_array)


def _outcome(build, values):
    try:
        return build(values), None
    except Exception as e:  # noqa: BLE001 - the error itself is compared
        return None, (type(e), str(e))


def _check(dtype: str, values: list, given) -> None:
    expected, expected_error = _outcome(lambda v: pd.array(v, dtype=dtype), values)
    got, error = _outcome(BUILDERS[dtype], given)
    assert error == expected_error, (dtype, values)
    if expected_error is None:
        _same_array(expected, got)


#: pandas' own path warns on some odd values (a NaN cast to Int64): it is the oracle here.
_ORACLE_WARNS = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@_ORACLE_WARNS
@pytest.mark.parametrize("dtype", list(BUILDERS))
def test_tables_builders_match_pandas_on_odd_values(dtype):
    for base in BASES[dtype]:
        for odd in ODD:
            for values in (base + [odd], [odd] + base, [odd]):
                _check(dtype, values, values)


@dataclass(frozen=True, slots=True)
class _Row:
    value: object


@_ORACLE_WARNS
@pytest.mark.parametrize("dtype", list(BUILDERS))
def test_tables_blocks_of_a_field_column_match_pandas(dtype, monkeypatch):
    """A field column's pyarrow blocks stand for the whole list only when every block agrees."""
    monkeypatch.setattr(tables, "_BLOCK", 2)
    for base in BASES[dtype]:
        for odd in ODD:
            for values in (base * 2 + [odd], [odd] + base * 3, [None, None, odd], base + [None, None] + [odd] + base):
                column = tables.field_columns([_Row(v) for v in values], ["value"])["value"]
                assert list(column) == values
                _check(dtype, values, column)


def test_tables_field_columns_read_every_field_in_order(monkeypatch):
    monkeypatch.setattr(tables, "_BLOCK", 3)
    rows = [_Row(i if i % 3 else None) for i in range(10)]
    assert tables.field_columns(rows, ["value"]) == {"value": [r.value for r in rows]}
    assert tables.field_columns([], ["value"]) == {"value": []}


def test_tables_row_columns_transpose_rows(monkeypatch):
    monkeypatch.setattr(tables, "_BLOCK", 2)
    rows = [(i, str(i), None if i % 2 else True) for i in range(5)]
    columns = tables.row_columns(rows, ["a", "b", "c"])
    assert columns == {"a": [r[0] for r in rows], "b": [r[1] for r in rows], "c": [r[2] for r in rows]}
    _check("boolean", columns["c"][:], columns["c"])
    assert tables.row_columns([], ["a"]) == {"a": []}
    with pytest.raises(ValueError):
        tables.row_columns([(1, 2)], ["a"])


# -- every core table against its row-by-row definition, built by pandas alone ----------------------
def _pandas_frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """The frame of ``rows`` with each column made by pandas' general constructors."""
    if not rows:
        return tables.empty_frame(table)
    columns = {}
    for col in SCHEMAS[table]:
        values = [row.get(col.name) for row in rows]
        if col.dtype == TS:
            columns[col.name] = pd.to_datetime(pd.array(values, dtype="Int64"), unit="ns", utc=True)
        elif col.dtype == LIST:
            columns[col.name] = pd.Series([list(v) if isinstance(v, (tuple, list)) else [] for v in values],
                                          dtype=object)
        elif col.dtype == "category":
            columns[col.name] = pd.array(values, dtype="string").astype("category")
        else:
            columns[col.name] = pd.array(values, dtype=col.dtype)
    return pd.DataFrame(columns)


def _as_dict(record) -> dict:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _core_rows(cap, path, show_secrets: bool) -> dict[str, list[dict]]:
    records = cap.records
    capture_of = {r.session.session_id: str(path) for r in records}
    return {
        "sessions": [capture._session_row(r, capture_of) for r in records],
        "transactions": [{**_as_dict(t), "ts": t.ts_ns, "end": t.end_ts_ns} for r in records for t in r.transactions],
        "recipients": [{**_as_dict(x), "ts": x.ts_ns} for r in records for x in r.recipients],
        "commands": [{**_as_dict(c), "ts": c.ts_ns,
                      "argument": mask_auth_argument(c.argument, show_secrets) if c.verb == "AUTH" else c.argument,
                      "latency_s": (c.reply_ts_ns - c.ts_ns) / 1e9 if c.reply_ts_ns is not None else None}
                     for r in records for c in r.commands],
        "replies": [{**_as_dict(x), "ts": x.ts_ns, "reply_class": f"{x.code // 100}xx"}
                    for r in records for x in r.replies],
    }


@pytest.mark.parametrize("path", all_capture_params())
def test_tables_core_and_header_tables_match_rowwise_pandas(path):
    cap = smtpsniff_read(path)
    rows = _core_rows(cap, path, show_secrets=False)
    sessions = _pandas_frame("sessions", rows["sessions"])
    pd.testing.assert_frame_equal(cap.sessions, sessions, check_exact=True)
    for name in ("transactions", "recipients", "commands", "replies"):
        expected = tables.add_connection_columns(_pandas_frame(name, rows[name]), sessions)
        pd.testing.assert_frame_equal(cap.tables[name], expected, check_exact=True)
    header_rows = [{"session_id": m.session_id, "message_index": m.message_index, "trans_index": m.data.trans_index,
                    "ts": m.data.ts_ns, "part": part.path, "index": h.index, "name": h.name, "value": h.value,
                    "raw_value": h.raw_value}
                   for m in cap.objects["mail"] for part in m.parsed.parts for h in part.headers]
    headers = tables.add_connection_columns(_pandas_frame("headers", header_rows), sessions)
    pd.testing.assert_frame_equal(cap.headers, headers, check_exact=True)


def test_tables_sessions_capture_column_names_each_file():
    """Two files read at once: each session's ``capture`` is the name of the file it came from."""
    paths = [p for p in sorted((ROOT / "tests" / "data").glob("*.pcap")) if len(smtpsniff_read(p).sessions)][:2]
    assert len(paths) == 2
    cap = capture.read(*paths)
    expected = [p.name for p in paths for _ in range(len(smtpsniff_read(p).sessions))]
    assert cap.sessions["capture"].astype(str).tolist() == expected
