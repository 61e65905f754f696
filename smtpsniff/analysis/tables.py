"""Records to typed pandas DataFrames, one per table in :data:`~smtpsniff.analysis.schema.SCHEMAS`.

An empty input gives an empty DataFrame that still has every column with its dtype.  Connection
columns (client/server address and port) are joined in from the sessions so that every table can
be filtered by address without a merge.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .schema import BOOL, INT, LIST, SCHEMAS, STR, TS, Column

_CONNECTION_COLUMNS = ("client_ip", "client_port", "server_ip", "server_port")


def empty_frame(table: str) -> pd.DataFrame:
    return _typed(pd.DataFrame({c.name: [] for c in SCHEMAS[table]}), SCHEMAS[table])


def frame_from_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame of ``table`` from dict rows whose keys are the schema's columns.

    Timestamps may be given as integer nanoseconds since the epoch.
    """
    schema = SCHEMAS[table]
    rows = list(rows)
    if not rows:
        return empty_frame(table)
    return _typed_frame({c.name: [row.get(c.name) for row in rows] for c in schema}, schema)


def frame_from_columns(table: str, length: int, columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The frame :func:`frame_from_rows` builds, from ``length`` values per column instead of rows.

    ``columns`` maps column names to their values in row order; a schema column it lacks is all
    missing (as a row without that key), a name the schema lacks is ignored.
    """
    if not length:
        return empty_frame(table)
    schema = SCHEMAS[table]
    data = {}
    for c in schema:
        values = columns.get(c.name)
        # a list is read, never changed or kept, by _typed_frame: no copy needed
        data[c.name] = [None] * length if values is None else values if isinstance(values, list) else list(values)
    return _typed_frame(data, schema)


def record_columns(table: str, records: Sequence[Any], **computed: Sequence[Any]) -> dict[str, Sequence[Any]]:
    """Columns of ``table`` from dataclass ``records`` (all of one class): each schema column from
    ``computed`` if given there, else from the records' field of that name; others are left out."""
    if not records:
        return dict(computed)
    fields = records[0].__dataclass_fields__
    values = field_columns(records, [c.name for c in SCHEMAS[table] if c.name not in computed and c.name in fields])
    out: dict[str, Sequence[Any]] = {}
    for c in SCHEMAS[table]:
        if c.name in computed:
            out[c.name] = computed[c.name]
        elif c.name in values:
            out[c.name] = values[c.name]
    return out


#: Records read per block by :func:`field_columns`: a block of records and their values stays in
#: the CPU cache while each of its fields is read and handed to pyarrow, where one pass per field
#: over all records would fetch every record and value from memory again.
_BLOCK = 1024


class FieldColumn(list):
    """The values of one field of many records, with ``blocks``: pyarrow's array of each block of
    them, inferred as :func:`_inferred` does (None when a block had no one type)."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[pa.Array] | None = []


def field_columns(records: Sequence[Any], names: Sequence[str]) -> dict[str, FieldColumn]:
    """The values of the attributes ``names`` of ``records``, one list per name, in record order."""
    return _block_columns(records, names, [attrgetter(name) for name in names])


def row_columns(rows: Sequence[tuple], names: Sequence[str]) -> dict[str, FieldColumn]:
    """The columns ``names`` of the value tuples ``rows``, the i-th value of each row in the i-th
    column, read as :func:`field_columns` reads fields."""
    if any(len(row) != len(names) for row in rows):
        raise ValueError(f"rows of {len(names)} values expected")
    return _block_columns(rows, names, [itemgetter(i) for i in range(len(names))])


def _block_columns(items: Sequence[Any], names: Sequence[str], getters: list[Callable[[Any], Any]]
                   ) -> dict[str, FieldColumn]:
    columns = [FieldColumn() for _ in names]
    for start in range(0, len(items), _BLOCK):
        block = items[start:start + _BLOCK]
        for column, get in zip(columns, getters):
            values = list(map(get, block))
            column.extend(values)
            if column.blocks is not None:
                column.blocks = _add_block(column.blocks, values)
    return dict(zip(names, columns))


def _add_block(blocks: list[pa.Array], values: list[Any]) -> list[pa.Array] | None:
    try:
        array = pa.array(values)
    except _NO_ONE_TYPE:
        return None
    if not isinstance(array, pa.Array) or array.type not in _BLOCK_TYPES:
        return None  # a type no builder takes (lists, floats): the other blocks need not be made
    blocks.append(array)
    return blocks


def _typed_frame(data: dict[str, list[Any]], schema: tuple[Column, ...]) -> pd.DataFrame:
    """The frame of the column lists ``data``, each column built with its schema dtype at once.

    The same frame as ``_typed(pd.DataFrame(data), schema)`` without first inferring a dtype for
    each column and then converting it.
    """
    columns: dict[str, Any] = {}
    for col in schema:
        values = data[col.name]
        if col.dtype == TS:
            columns[col.name] = pd.to_datetime(_int_array(values), unit="ns", utc=True)
        elif col.dtype == LIST:
            columns[col.name] = pd.Series([list(v) if isinstance(v, (tuple, list)) else [] for v in values],
                                          dtype=object)
        elif col.dtype == "category":
            columns[col.name] = _string_array(values).astype("category")
        elif col.dtype == STR:
            columns[col.name] = _string_array(values)
        elif col.dtype == INT:
            columns[col.name] = _int_array(values)
        elif col.dtype == BOOL:
            columns[col.name] = _bool_array(values)
        else:
            columns[col.name] = pd.array(values, dtype=col.dtype)
    return pd.DataFrame(columns)


# -- one column from a list of Python values ------------------------------------------------------
# Each builder gives exactly what ``pd.array(values, dtype=...)`` gives.  pandas checks and converts
# the values one by one in Python.  pyarrow reads a list in C, infers the one type its values share
# and refuses any mixture (an int beside a bool, a str beside bytes); when that type shows that
# pandas' conversion would leave every value as it is, the pyarrow array holds the column already.
# Anything else takes pandas' own path, so its conversions and errors stay pandas'.
_STRINGS = (pa.string(), pa.large_string())


#: The pyarrow types the builders below take (null: every value None).
_BLOCK_TYPES = (*_STRINGS, pa.int64(), pa.bool_(), pa.null())
_NO_ONE_TYPE = (pa.ArrowException, TypeError, ValueError, OverflowError)  # mixed, out of range, lone surrogate


def _inferred(values: Sequence[Any], *types: pa.DataType) -> pa.Array | None:
    """The pyarrow array of ``values`` when pyarrow infers one of ``types`` (or all are None, the
    null type), else None.  Only None is missing here: a float NaN is a float.

    The blocks of a :class:`FieldColumn` are used when each has one of those types or the null
    type: pyarrow infers a type from each value alone, so the whole list would have that type too.
    """
    blocks = getattr(values, "blocks", None)
    if blocks:
        found = {block.type for block in blocks} - {pa.null()}
        if not found:
            return pa.nulls(len(values))
        if len(found) == 1 and (kind := found.pop()) in types:
            try:
                return pa.concat_arrays([block if block.type == kind else block.cast(kind) for block in blocks])
            except _NO_ONE_TYPE:  # beyond 2 GiB of text: the whole list decides, as below
                pass
    try:
        array = pa.array(values)
    except _NO_ONE_TYPE:
        return None
    if isinstance(array, pa.Array) and (array.type in types or array.type == pa.null()):
        return array
    return None  # a ChunkedArray (beyond 2 GiB of text) or another type


def _string_array(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """``pd.array(values, dtype="string")``.

    pyarrow infers ``string`` only for ``str`` values (and None): pandas keeps those as they are and
    stores them, None missing, in a ``large_string`` pyarrow array; the same array is cast here.
    """
    array = _inferred(values, *_STRINGS)
    if array is None:
        return pd.array(values, dtype=STR)
    return pd.array(array.cast(pa.large_string()), dtype=STR)


def _int_array(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """``pd.array(values, dtype="Int64")``.

    pyarrow infers ``int64`` only for integers (not bools, not floats) that fit in 64 bits, and
    None: pandas keeps each such integer and masks each None, storing 1 behind the mask.
    """
    array = _inferred(values, pa.int64())
    if array is None:
        return pd.array(values, dtype=INT)
    return pd.arrays.IntegerArray(*_data_and_mask(array.cast(pa.int64()), 1))


def _bool_array(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """``pd.array(values, dtype="boolean")``: pyarrow infers ``bool`` only for bools and None, which
    pandas keeps, storing False behind the mask of the Nones."""
    array = _inferred(values, pa.bool_())
    if array is None:
        return pd.array(values, dtype=BOOL)
    return pd.arrays.BooleanArray(*_data_and_mask(array.cast(pa.bool_()), False))


def _data_and_mask(array: pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray]:
    """Writable numpy data (``fill`` where missing) and missing-mask of a pyarrow array."""
    if array.null_count:
        mask = array.is_null().to_numpy(zero_copy_only=False, writable=True)
        array = array.fill_null(fill)
    else:
        mask = np.zeros(len(array), dtype=np.bool_)
    return array.to_numpy(zero_copy_only=False, writable=True), mask


def _typed(df: pd.DataFrame, schema: tuple[Column, ...]) -> pd.DataFrame:
    for col in schema:
        series = df[col.name]
        if col.dtype == TS:
            df[col.name] = pd.to_datetime(pd.array(series, dtype=INT), unit="ns", utc=True)
        elif col.dtype == LIST:
            df[col.name] = series.astype(object).map(lambda v: list(v) if isinstance(v, (tuple, list)) else [])
        elif col.dtype == "category":
            df[col.name] = series.astype("string").astype("category")
        else:
            df[col.name] = series.astype(col.dtype)
    return df


def add_connection_columns(df: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Fill the connection columns of ``df`` from ``sessions`` by ``session_id``."""
    if df.empty or sessions.empty:
        return df
    lookup = sessions.set_index("session_id")
    for name in _CONNECTION_COLUMNS:
        values = df["session_id"].map(lookup[name])
        df[name] = values.astype(lookup[name].dtype) if name.endswith("ip") else values.astype("Int64")
    return df
