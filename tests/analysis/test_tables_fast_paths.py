"""The core tables' fast paths against the general ones they stand beside.

``capture.py`` computes ``latency_s``, ``duration_s``, ``reply_class`` and the masked AUTH argument
from the field columns' pyarrow blocks (numpy or pyarrow doing the arithmetic and the comparisons)
and takes the connection columns by one index lookup; ``tables.py`` builds a column that was not
given at once.  The oracle of each is the Python or pandas code it replaces, written out here:
integers, None, integers beyond 64 bits, numpy scalars, bools, floats, non-strings and lone
surrogates, in blocks that agree and blocks that do not, must give the same arrays (masked data
and pyarrow chunks included) or the same error.
"""
from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smtpsniff
from smtpsniff.analysis import capture, mail_tables, tables
from smtpsniff.analysis.schema import BOOL, CAT, FLOAT, INT, LIST, SCHEMAS, STR, TS
from smtpsniff.credentials.mask import mask_auth_argument


class _Number(enum.IntEnum):
    FIVE = 5


@dataclass(frozen=True, slots=True)
class _Row:
    a: object
    b: object


def _columns(pairs: list[tuple], block: int, monkeypatch, kinds=("a", "b")) -> dict:
    """Field columns ``a`` and ``b`` of ``pairs`` read in blocks of ``block`` records."""
    monkeypatch.setattr(tables, "_BLOCK", block)
    return tables.field_columns([_Row(a, b) for a, b in pairs], ["a", "b"], kinds=kinds)


def _outcome(build):
    try:
        return build(), None
    except Exception as e:  # noqa: BLE001 - the error itself is compared
        return None, (type(e), str(e))


def _array(column, dtype: str):
    """What frame_from_columns makes of a computed column (a list or a TypedColumn)."""
    return column.array if isinstance(column, tables.TypedColumn) else tables.typed_column(dtype, column)


def _same(expected, got) -> None:
    if isinstance(expected, pd.Series) or isinstance(got, pd.Series):
        pd.testing.assert_series_equal(pd.Series(expected), pd.Series(got), check_exact=True, check_names=False)
        return
    assert type(expected) is type(got) and expected.dtype == got.dtype
    pd.testing.assert_extension_array_equal(expected, got, check_exact=True)
    if isinstance(expected, pd.Categorical):
        assert expected.categories.dtype == got.categories.dtype
        assert np.array_equal(expected.codes, got.codes) and expected.codes.dtype == got.codes.dtype
    elif hasattr(expected, "_mask"):
        assert np.array_equal(expected._data, got._data, equal_nan=expected._data.dtype.kind == "f")
        assert np.array_equal(expected._mask, got._mask)
        assert got._data.flags.writeable and got._mask.flags.writeable
        assert not np.shares_memory(got._data, got._mask)
    elif hasattr(expected, "_pa_array"):
        assert expected._pa_array.type == got._pa_array.type
        assert expected._pa_array.num_chunks == got._pa_array.num_chunks
        assert expected._pa_array.equals(got._pa_array)


#: Integer-like values a nanosecond or code field could be handed.
_ODD_INTS = [None, 0, -1, 7, 2**62 - 1, 2**62, -2**62, 2**63 - 1, 2**63, -2**63 - 1, 2**70, True, False, 1.0, 1.5,
             np.int64(5), np.int32(2**31 - 1), np.uint64(2**64 - 1), _Number.FIVE, "5", float("nan")]
_BASES = [[1_715_677_207_202_957_000, 1_715_677_207_228_445_000], [0, 10], [None, 3], [5]]


def _pairs() -> list[list[tuple]]:
    out = []
    for base in _BASES:
        for odd in _ODD_INTS:
            out.append([(b, b + 1_000_000 if b is not None else None) for b in base] + [(b, odd) for b in base]
                       + [(odd, b) for b in base])
            out.append([(odd, odd)] + [(b, b) for b in base])
    out.append([(i * 10**9, i * 10**9 + 123_456_789 if i % 3 else None) for i in range(50)])
    return out


# -- latency_s and duration_s ---------------------------------------------------------------------
def _latency(starts, ends):
    return [(end - start) / 1e9 if end is not None else None for start, end in zip(starts, ends)]


def _duration(starts, ends):
    return [(end - start) / 1e9 for start, end in zip(starts, ends)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy scalars overflowing in the oracle
@pytest.mark.parametrize("block", [1, 2, 1024])
@pytest.mark.parametrize("missing_ends", [True, False])
def test_tables_seconds_match_python_arithmetic(block, missing_ends, monkeypatch):
    oracle = _latency if missing_ends else _duration
    for pairs in _pairs():
        f = _columns(pairs, block, monkeypatch)
        expected, expected_error = _outcome(lambda: tables.typed_column(FLOAT, oracle(f["a"], f["b"])))
        got, error = _outcome(lambda: _array(capture._seconds(f["a"], f["b"], missing_ends=missing_ends), FLOAT))
        assert error == expected_error, pairs
        if error is None:
            _same(expected, got)


def test_tables_seconds_take_the_fast_path_for_record_nanoseconds(monkeypatch):
    pairs = [(1_715_677_207_202_957_000 + i, 1_715_677_207_202_957_000 + 3 * i if i % 2 else None) for i in range(9)]
    f = _columns(pairs, 4, monkeypatch)
    assert isinstance(capture._seconds(f["a"], f["b"], missing_ends=True), tables.TypedColumn)
    with pytest.raises(TypeError):  # a missing end where none may be: Python's error, as before
        capture._seconds(f["a"], f["b"], missing_ends=False)
    f = _columns([(start, end if end is not None else start) for start, end in pairs], 4, monkeypatch)
    assert isinstance(capture._seconds(f["a"], f["b"], missing_ends=False), tables.TypedColumn)


# -- reply_class ------------------------------------------------------------------------------------
def _classes(codes):
    return [f"{code // 100}xx" for code in codes]


@pytest.mark.parametrize("block", [1, 3, 1024])
def test_tables_reply_classes_match_python(block, monkeypatch):
    cases = [[220, 250, 354, 550, 250, 421], [999, 0, -5, 100], [2**63 - 1, -2**63], [250]]
    cases += [[250, odd, 550] for odd in _ODD_INTS] + [[odd] for odd in _ODD_INTS]
    for codes in cases:
        f = _columns([(c, None) for c in codes], block, monkeypatch)
        expected, expected_error = _outcome(lambda: tables.typed_column(CAT, _classes(f["a"])))
        got, error = _outcome(lambda: _array(capture._reply_classes(f["a"]), CAT))
        assert error == expected_error, codes
        if error is None:
            _same(expected, got)


def test_tables_reply_classes_take_the_fast_path_for_codes(monkeypatch):
    f = _columns([(c, None) for c in (250, 354, 250, 550)], 2, monkeypatch)
    assert isinstance(capture._reply_classes(f["a"]), tables.TypedColumn)


# -- AUTH arguments -------------------------------------------------------------------------------
_VERBS = ["AUTH", "MAIL", None, 5, "auth", "AUTH ", "\udcff", "É"]
_ARGUMENTS = ["PLAIN dXNlcgB1c2VyAHBhc3M=", "LOGIN", "PLAIN =", "", "FROM:<a@b>", None, "\udcffx", "é ü",
              "CRAM-MD5 \udcff", 7, b"PLAIN x"]


def _masked(verbs, arguments, show):
    return [mask_auth_argument(argument, show) if verb == "AUTH" else argument
            for verb, argument in zip(verbs, arguments)]


@pytest.mark.parametrize("show", [False, True])
@pytest.mark.parametrize("block", [1, 2, 1024])
def test_tables_masked_arguments_match_python(show, block, monkeypatch):
    cases = [[("AUTH", a), ("MAIL", "FROM:<x@y>")] for a in _ARGUMENTS]
    cases += [[(v, "PLAIN c2VjcmV0"), ("AUTH", "LOGIN dXNlcg=="), ("RCPT", "TO:<a@b>")] for v in _VERBS]
    cases += [[("MAIL", a), ("RCPT", "TO:<a@b>")] for a in _ARGUMENTS]
    cases += [[(v, a) for v in _VERBS[:3] for a in ("PLAIN x", None, "LOGIN")]]
    for pairs in cases:
        f = _columns(pairs, block, monkeypatch, kinds=())
        expected, expected_error = _outcome(lambda: tables.typed_column(STR, _masked(f["a"], f["b"], show)))
        got, error = _outcome(lambda: _array(capture._arguments(f["a"], f["b"], show), STR))
        assert error == expected_error, pairs
        if error is None:
            _same(expected, got)


def test_tables_positions_of_match_python(monkeypatch):
    for values in ([v for v in _VERBS], ["AUTH"] * 3, ["MAIL", None, None], [None], ["\udcff", "AUTH"]):
        f = _columns([(v, None) for v in values], 2, monkeypatch, kinds=())
        assert tables.positions_of(f["a"], "AUTH") == [i for i, v in enumerate(values) if v == "AUTH"]
        assert tables.positions_of(list(values), "AUTH") == [i for i, v in enumerate(values) if v == "AUTH"]


# -- connection columns ---------------------------------------------------------------------------
def _connection_by_map(df: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """add_connection_columns as written before its one lookup: a Series.map per column."""
    lookup = sessions.set_index("session_id")
    for name in tables._CONNECTION_COLUMNS:
        values = df["session_id"].map(lookup[name])
        df[name] = values.astype(lookup[name].dtype) if name.endswith("ip") else values.astype("Int64")
    return df


def _sessions(ids: list) -> pd.DataFrame:
    rows = [{"session_id": i, "client_ip": f"10.0.0.{n % 3}", "client_port": 1000 + n, "server_ip": "192.0.2.1",
             "server_port": None if n == 1 else 25} for n, i in enumerate(ids)]
    return tables.frame_from_rows("sessions", rows)


@pytest.mark.parametrize("ids", [[0, 1, 2, 2, 7, 0], [5], [None, 1], [1, 1, 1]])
@pytest.mark.parametrize("session_ids", [[0, 1, 2], [2, 1, 9, 0], [1]])
def test_tables_connection_columns_match_series_map(ids, session_ids, monkeypatch):
    sessions = _sessions(session_ids)
    expected, expected_error = _outcome(lambda: _connection_by_map(
        tables.frame_from_rows("replies", [{"session_id": i} for i in ids]), sessions))
    got, error = _outcome(lambda: tables.add_connection_columns(
        tables.frame_from_rows("replies", [{"session_id": i} for i in ids]), sessions))
    assert error == expected_error
    if error is None:
        pd.testing.assert_frame_equal(expected, got, check_exact=True)
        for name in tables._CONNECTION_COLUMNS:
            _same(expected[name].array, got[name].array)


def test_tables_connection_columns_fall_back_for_other_dtypes():
    sessions = _sessions([0, 1])
    sessions["client_port"] = sessions["client_port"].astype("float64")
    assert tables.connection_columns(pd.array([0, 1], dtype=INT), sessions) is None
    df = tables.frame_from_rows("replies", [{"session_id": 1}, {"session_id": 3}])
    expected = _connection_by_map(df.copy(), sessions)
    pd.testing.assert_frame_equal(tables.add_connection_columns(df, sessions), expected, check_exact=True)


# -- columns not given ----------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 2, 1500])
@pytest.mark.parametrize("dtype", [INT, BOOL, STR, CAT, TS, LIST, FLOAT])
def test_tables_missing_column_matches_a_list_of_nones(dtype, length):
    expected = tables.typed_column(dtype, [None] * length)
    got = tables._typed_frame({"x": tables._Missing(length)}, (tables.Column("x", dtype, ""),))["x"]
    _same(pd.Series(expected).array if dtype != LIST else expected, got.array if dtype != LIST else got)


def test_tables_frames_without_connection_columns_match_the_general_path():
    for name in ("replies", "headers", "findings", "credentials"):
        rows = [{"session_id": i} for i in (3, None, 4)]
        general = tables._typed_frame({c.name: [row.get(c.name) for row in rows] for c in SCHEMAS[name]},
                                      SCHEMAS[name])
        pd.testing.assert_frame_equal(tables.frame_from_rows(name, rows), general, check_exact=True)
        fast = tables.frame_from_columns(name, 3, {"session_id": [3, None, 4]})
        pd.testing.assert_frame_equal(fast, general, check_exact=True)
        for c in SCHEMAS[name]:
            if c.dtype != LIST:
                _same(general[c.name].array, fast[c.name].array)


# -- list columns ---------------------------------------------------------------------------------
def test_tables_list_columns_match_the_general_path():
    for values in ([("a", "b"), (), ["c"]], [("a",), None, "str", 5, ("b",)], [None], [[], ()]):
        expected = pd.Series([list(v) if isinstance(v, (tuple, list)) else [] for v in values], dtype=object)
        got = tables.typed_column(LIST, values)
        pd.testing.assert_series_equal(expected, got, check_exact=True)
        assert all(type(v) is list for v in got)
        assert all(g is not v for g, v in zip(got, values))  # new lists, never the records' own


# -- reading fields -------------------------------------------------------------------------------
def test_tables_field_readers_read_as_attrgetter(monkeypatch):
    """The generated reader (``[r.name for r in items]``) and its attrgetter fallback (names that are
    no identifiers: dotted paths, keywords) read every value as ``operator.attrgetter`` does."""
    from operator import attrgetter
    from types import SimpleNamespace

    monkeypatch.setattr(tables, "_BLOCK", 3)
    rows = [_Row(i, SimpleNamespace(x=i * 2)) for i in range(8)]
    for names in (["a", "b"], ["b.x", "a"], ["a"], []):
        got = tables.field_columns(rows, names)
        assert list(got) == names
        assert {name: list(column) for name, column in got.items()} == \
            {name: list(map(attrgetter(name), rows)) for name in names}
    odd = [SimpleNamespace(**{"if": i, "a": -i}) for i in range(4)]
    assert tables.field_columns(odd, ["if", "a"]) == {"if": [0, 1, 2, 3], "a": [0, -1, -2, -3]}
    with pytest.raises(AttributeError):
        tables.field_columns(rows, ["a", "missing"])


# -- reading rows ---------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 2, 5, 1024])
def test_tables_row_columns_match_indexing(block, monkeypatch):
    """row_columns (each block transposed by ``zip``) gives ``[r[i] for r in rows]`` per column,
    the very objects, and the blocks field_columns makes of the same values."""
    monkeypatch.setattr(tables, "_BLOCK", block)
    odd = [None, "", "\udcff", b"x", 2**70, True, 1.5, ("a",), ["b"], np.int64(3), "é"]
    cases = [[(i, f"s{i}", odd[i % len(odd)], (i,) * (i % 3)) for i in range(13)],
             [(None, None, None, None)], [(v, v, v, v) for v in odd], []]
    for rows in cases:
        names = ["a", "b", "c", "d"]
        got = tables.row_columns(rows, names)
        assert list(got) == names
        for i, name in enumerate(names):
            column = got[name]
            assert type(column) is tables.FieldColumn and len(column) == len(rows)
            assert all(v is r[i] for v, r in zip(column, rows))
            expected = tables.field_columns([_Row(r[i], None) for r in rows], ["a"])["a"]
            assert (column.blocks is None) == (expected.blocks is None)
            if column.blocks is not None:
                assert [b.type for b in column.blocks] == [b.type for b in expected.blocks]
                assert all(b.equals(e) for b, e in zip(column.blocks, expected.blocks))
    assert tables.row_columns([(), ()], []) == {}
    for bad in ([(1, 2, 3)], [(1, 2), (1,)], [(1, 2), (1, 2, 3)]):
        with pytest.raises(ValueError):
            tables.row_columns(bad, ["a", "b"])


@pytest.mark.parametrize("seed", range(12))
def test_tables_row_column_parts_match_row_columns(seed, monkeypatch):
    """RowColumnParts fed the rows in parts cut at random gives each column the values of
    row_columns over every row at once, and the typed column (each dtype its values may take) of
    those: where a part's values in a column have no one type, or the parts' types differ, the
    general path decides both ways."""
    rng = random.Random(seed)
    monkeypatch.setattr(tables, "_BLOCK", rng.choice([1, 3, 1024]))
    pools = {INT: [1, -2, None, 2**40, 2**63, True], STR: ["a", "", None, "é", "\udcff", 3],
             BOOL: [True, False, None, 1], TS: [1_715_677_207_202_957_000, None, 0, 2**70]}
    dtypes = list(pools)
    # Mostly the column's usual values; now and then an odd one, in one part or another.
    rows = [tuple(rng.choice(pools[d][:3] if rng.random() < 0.95 else pools[d]) for d in dtypes)
            for _ in range(rng.randint(0, 60))]
    names = [f"c{i}" for i in range(len(dtypes))]
    parts = tables.RowColumnParts(names)
    start = 0
    while start < len(rows) or not start:
        stop = start + rng.randint(0, 9)
        parts.add(rows[start:stop])
        start = max(stop, 1)
    got, expected = parts.columns(), tables.row_columns(rows, names)
    assert list(got) == names and len(parts) == len(rows)
    for name, dtype in zip(names, dtypes):
        assert list(got[name]) == list(expected[name])
        assert all(a is b for a, b in zip(got[name], expected[name]))
        want, failed = _outcome(lambda: _array(expected[name], dtype))
        have, failed_too = _outcome(lambda: _array(got[name], dtype))
        assert failed == failed_too
        if failed is None:
            _same(pd.Series(want).array, pd.Series(have).array)


# -- list columns of lists made for them ----------------------------------------------------------
class _ListKind(list):
    pass


def test_tables_new_lists_match_the_general_path():
    """new_lists keeps each new list where _list_series copies it: the same Series, the same
    lists by value; anything but a plain list takes the general path."""
    cases = [[["a", "b"], [], ["c"]], [[]], [], [["x"]] * 1, [[1, None], ["é", "\udcff"]],
             [["a"], ("b",)], [["a"], None], [["a"], "str"], [_ListKind(["a"])], [["a"], 5]]
    for values in cases:
        expected = tables.typed_column(LIST, values)
        got = tables.new_lists(values)
        if not all(type(v) is list for v in values):
            assert got is values
            continue
        assert isinstance(got, tables.TypedColumn)
        pd.testing.assert_series_equal(expected, got.array, check_exact=True)
        assert all(type(v) is list for v in got.array)
        assert all(g is v for g, v in zip(got.array, values))
    rows = [{"session_id": 1, "to": ["a@b"], "cc": []}, {"session_id": 2, "to": [], "cc": ["c@d", "e@f"]}]
    general = tables.frame_from_rows("messages", rows)
    fast = tables.frame_from_columns("messages", 2, {
        "session_id": [1, 2], "to": tables.new_lists([list(r["to"]) for r in rows]),
        "cc": tables.new_lists([list(r["cc"]) for r in rows])})
    pd.testing.assert_frame_equal(general, fast, check_exact=True)


# -- repeated keys --------------------------------------------------------------------------------
def _expanded(values, counts):
    return [v for v, n in zip(values, counts) for _ in range(n)]


_ODD_STRINGS = [None, "", "1", "1.2.3", "é", "\udcff", b"x", 5, True, "a\x00b"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [INT, TS, STR, BOOL, CAT])
def test_tables_repeated_match_the_expanded_list(dtype):
    """repeated(dtype, values, counts) builds the column typed_column builds of each value written
    out count times (zero times too), or hands that list over."""
    odd = _ODD_INTS if dtype in (INT, TS) else _ODD_STRINGS
    bases = ([1_715_677_207_202_957_000, 0, None, 7] if dtype in (INT, TS) else ["1", "1.2", None, "x"]
             if dtype != BOOL else [True, False, None])
    cases = [(bases, [3, 0, 2, 1][:len(bases)]), (bases, [0] * len(bases)), ([], []), ([bases[0]], [5]),
             ([None, None], [2, 1])]
    cases += [([*bases, o], [1] * len(bases) + [2]) for o in odd] + [([o, bases[0]], [3, 0]) for o in odd]
    for values, counts in cases:
        expected, expected_error = _outcome(lambda: tables.typed_column(dtype, _expanded(values, counts)))
        got, error = _outcome(lambda: _array(tables.repeated(dtype, values, counts), dtype))
        assert error == expected_error, values
        if error is None:
            _same(pd.Series(expected).array, pd.Series(got).array)
    for values, counts in (([5, 6], [2, 1]), ([2**63 - 1, -2**63, None], [1, 3, 2])):
        assert isinstance(tables.repeated(INT, values, counts), tables.TypedColumn)
    assert isinstance(tables.repeated(STR, ["1", None, "é"], [2, 2, 0]), tables.TypedColumn)
    with pytest.raises(ValueError):
        tables.repeated(INT, [1, 2], [1])


def test_tables_headers_columns_match_written_out_keys():
    """The headers table of a real capture: the repeated key columns equal each message's key
    written out once per header field, as typed_column builds it."""
    capture = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    mail = mail_tables.mail_messages(smtpsniff.read(capture))
    assert mail
    parts = mail_tables._HeaderParts()
    parts.add(mail)
    columns = parts.columns()
    keys = {"session_id": [], "message_index": [], "trans_index": [], "ts": [], "part": []}
    for m in mail:
        for part in m.parsed.parts:
            n = len(part.headers)
            keys["session_id"] += [m.session_id] * n
            keys["message_index"] += [m.message_index] * n
            keys["trans_index"] += [m.data.trans_index] * n
            keys["ts"] += [m.data.ts_ns] * n
            keys["part"] += [part.path] * n
    dtypes = {c.name: c.dtype for c in SCHEMAS["headers"]}
    for name, values in keys.items():
        _same(pd.Series(tables.typed_column(dtypes[name], values)).array,
              pd.Series(_array(columns[name], dtypes[name])).array)


@pytest.mark.parametrize("chunk", [1, 3])
def test_mail_tables_made_chunk_by_chunk_equal_those_made_at_once(chunk, monkeypatch):
    """``mail_tables.build`` makes the rows of each ``_CHUNK`` messages as their parses come: any
    chunk size gives the tables and parsed messages of one chunk holding every message."""
    data = Path(__file__).resolve().parents[1] / "data"
    files = [data / name for name in ("smtp-mime.pcap", "smtp-hostile-names.pcap", "smtp-spoofing.pcap")]
    monkeypatch.setattr(mail_tables, "_CHUNK", 10 ** 9)
    whole = smtpsniff.read(*files, workers=0)
    assert len(whole.messages) > 2 * chunk and len(whole.attachments) and len(whole.headers)
    monkeypatch.setattr(mail_tables, "_CHUNK", chunk)
    chunked = smtpsniff.read(*files, workers=0)
    assert whole.tables.keys() == chunked.tables.keys()
    for name in whole.tables:
        pd.testing.assert_frame_equal(whole.tables[name], chunked.tables[name], check_exact=True, obj=name)
    assert [m.parsed for m in mail_tables.mail_messages(whole)] == \
        [m.parsed for m in mail_tables.mail_messages(chunked)]
