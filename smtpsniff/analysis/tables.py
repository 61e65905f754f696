"""Records to typed pandas DataFrames, one per table in :data:`~smtpsniff.analysis.schema.SCHEMAS`.

An empty input gives an empty DataFrame that still has every column with its dtype.  Connection
columns (client/server address and port) are joined in from the sessions so that every table can
be filtered by address without a merge.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, count, repeat
from keyword import iskeyword
from operator import attrgetter, eq
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..net import native
from .schema import BOOL, CAT, INT, LIST, SCHEMAS, STR, TS, Column

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

    ``columns`` maps column names to their values in row order, or to a :class:`TypedColumn`
    built already; a schema column it lacks is all missing (as a row without that key), a name the
    schema lacks is ignored.
    """
    if not length:
        return empty_frame(table)
    schema = SCHEMAS[table]
    data = {}
    for c in schema:
        values = columns.get(c.name)
        # a list is read, never changed or kept, by _typed_frame: no copy needed
        data[c.name] = _Missing(length) if values is None else values if isinstance(values, (list, TypedColumn)) \
            else list(values)
    return _typed_frame(data, schema)


@dataclass(frozen=True, slots=True)
class TypedColumn:
    """A column built already with its schema dtype (as :func:`typed_column` or
    :func:`connection_columns` build it): :func:`frame_from_columns` takes ``array`` as it is."""

    array: Any


class _Missing(list):
    """A column that was not given: ``length`` Nones, built at once by :func:`_typed_frame`."""

    __slots__ = ()

    def __init__(self, length: int) -> None:
        super().__init__([None] * length)


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
    them, inferred as :func:`_inferred` does (None when a block had no one type); and ``kinds``:
    the set of the values' types when it was asked for (see :func:`field_columns`), else None."""

    __slots__ = ("blocks", "kinds")

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[pa.Array] | None = []
        self.kinds: set[type] | None = None


def field_columns(records: Sequence[Any], names: Sequence[str], kinds: Collection[str] = ()
                  ) -> dict[str, FieldColumn]:
    """The values of the attributes ``names`` of ``records``, one list per name, in record order;
    the columns named in ``kinds`` also gather the types of their values (read while in cache)."""
    return _block_columns(records, names, _attribute_reader(names), kinds, slots=True)


def row_columns(rows: Sequence[tuple], names: Sequence[str]) -> dict[str, FieldColumn]:
    """The columns ``names`` of the value tuples ``rows``, the i-th value of each row in the i-th
    column, read as :func:`field_columns` reads fields."""
    if not set(map(len, rows)) <= {len(names)}:
        raise ValueError(f"rows of {len(names)} values expected")
    return _block_columns(rows, names, _transposed)


class RowColumnParts:
    """:func:`row_columns` of rows given part by part (:meth:`add`), for a table whose rows come a
    few at a time: each part is read as it comes, and :meth:`columns` gives each column's values
    in row order with the blocks of every part.  A block is inferred from its own values alone
    (see :func:`_inferred`), so blocks cut at other rows give the same arrays; a part whose
    values in a column have no one type leaves that column to the general path, as a block of
    :func:`row_columns` would."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._columns = [FieldColumn() for _ in self.names]
        self._rows = 0

    def __len__(self) -> int:
        """The rows added."""
        return self._rows

    def add(self, rows: Sequence[tuple]) -> None:
        self._rows += len(rows)
        for column, part in zip(self._columns, row_columns(rows, self.names).values()):
            column.extend(part)
            if part.blocks is None:
                column.blocks = None
            elif column.blocks is not None:
                column.blocks.extend(part.blocks)

    def columns(self) -> dict[str, FieldColumn]:
        return dict(zip(self.names, self._columns))


def _transposed(rows: Sequence[tuple]) -> tuple[list, ...]:
    """``([r[0] for r in rows], [r[1] for r in rows], ...)`` of tuples ``rows`` of one length (not
    none): ``zip`` takes each tuple's values in order, in C."""
    return tuple(map(list, zip(*rows)))


def _block_columns(items: Sequence[Any], names: Sequence[str], read: Callable[[Sequence[Any]], tuple[list, ...]],
                   kinds: Collection[str] = (), *, slots: bool = False) -> dict[str, FieldColumn]:
    """The columns ``names`` of ``items`` as ``read`` gives them, :data:`_BLOCK` items at a time.

    ``slots``: ``read`` reads the attributes ``names``.  The C reader (``slot_columns``, see
    :func:`smtpsniff.net.native.slot_columns`) then reads the slots of each block whose items are
    all of one slotted class, and gives with each column's values the bytes of the array
    ``pa.array`` infers from them when they are all None or of one type it describes (see
    :func:`_block_array`): the same values, blocks and types, made in C.  Any other block or
    column is read as without it.
    """
    columns = [FieldColumn() for _ in names]
    for name, column in zip(names, columns):
        if name in kinds:
            column.kinds = set()
    c_read = native.slot_columns() if slots else None
    attributes = tuple(names)
    for start in range(0, len(items), _BLOCK):
        block = items[start:start + _BLOCK]
        read_in_c = None
        if c_read is not None:
            read_in_c = c_read(block if type(block) is list else list(block), type(block[0]), attributes)
        for column, (values, described) in (zip(columns, read_in_c) if read_in_c is not None
                                            else zip(columns, zip(read(block), repeat(None)))):
            column.extend(values)
            if described is None:  # (read in Python, or no one type)
                if column.blocks is not None:
                    column.blocks = _add_block(column.blocks, values)
                if column.kinds is not None:
                    column.kinds.update(map(type, values))
                continue
            if column.blocks is not None:
                column.blocks.append(_block_array(described))
            if column.kinds is not None:
                column.kinds.update(_C_KINDS[described[0]] if described[0] == "null" or not described[2]
                                    else _C_KINDS_NONE[described[0]])
    return dict(zip(names, columns))


#: The pyarrow type of each type the C reader names, and the Python types of its values.
_C_TYPES = {"int64": pa.int64(), "bool": pa.bool_(), "string": pa.string()}
_C_KINDS = {"null": {type(None)}, "int64": {int}, "bool": {bool}, "string": {str}}
_C_KINDS_NONE = {name: {*kinds, type(None)} for name, kinds in _C_KINDS.items()}


def _block_array(described: tuple) -> pa.Array:
    """The array of a block the C reader described: ``("null", n)``, or ``(type, n, nulls,
    validity, data, offsets)`` (validity None when no value is missing, offsets None but for
    strings) -- the array ``pa.array`` makes of the block's values, on the C reader's bytes."""
    if described[0] == "null":
        return pa.nulls(described[1])
    name, length, nulls, validity, data, offsets = described
    buffers = [None if validity is None else pa.py_buffer(validity)]
    if offsets is not None:
        buffers.append(pa.py_buffer(offsets))
    buffers.append(pa.py_buffer(data))
    return pa.Array.from_buffers(_C_TYPES[name], length, buffers, null_count=nulls)


def _attribute_reader(names: Sequence[str]) -> Callable[[Sequence[Any]], tuple[list, ...]]:
    """``read(items)``: the list of each attribute of ``names`` of ``items``, in that order.

    ``[r.name for r in items]`` reads a slot about twice as fast as mapping ``attrgetter(name)``
    over them (the interpreter specialises the attribute read to the records' class); both read the
    attribute as ``getattr`` does.  A name that is no identifier is read by ``attrgetter``.
    """
    if all(name.isidentifier() and not iskeyword(name) for name in names):
        return _compiled_reader([f"r.{name}" for name in names])
    getters = [attrgetter(name) for name in names]
    return lambda items: tuple([list(map(get, items)) for get in getters])


def _compiled_reader(expressions: list[str]) -> Callable[[Sequence[Any]], tuple[list, ...]]:
    """``read(items)``: ``([expression for r in items], ...)`` of each expression of ``r``, in order.

    Generated from the field names or positions only (as :mod:`smtpsniff.fastinit` and
    ``dataclasses`` generate their functions), once per call of :func:`field_columns`."""
    if not expressions:
        return lambda items: ()
    lists = "".join(f"[{expression} for r in items], " for expression in expressions)
    namespace: dict[str, Any] = {}
    exec(f"def read(items):\n    return ({lists})\n", namespace)  # noqa: S102
    return namespace["read"]


_INT_OR_NONE = frozenset({int, type(None)})


def int_values(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(int64 data, missing mask) of ``values`` when each is an ``int`` (exactly: not a bool, not a
    numpy integer) that fits in 64 bits, or None; else None.

    Python's arithmetic on such values and numpy's on the data give the same numbers while no
    result leaves 64 bits; the caller checks its bounds.  Missing values have 1 behind the mask.
    The types are those a :class:`FieldColumn` gathered, when it did.
    """
    kinds = getattr(values, "kinds", None)
    if not (set(map(type, values)) if kinds is None else kinds) <= _INT_OR_NONE:
        return None
    array = _inferred(values, pa.int64())
    if array is None:
        return None
    return _data_and_mask(array.cast(pa.int64()), 1)


def repeated(dtype: str, values: Sequence[Any], counts: Sequence[int]) -> TypedColumn | list:
    """The column of dtype ``dtype`` of each of ``values`` repeated as often as the count beside it
    in ``counts`` (numbers >= 0): what :func:`typed_column` builds of the list
    ``[v for v, n in zip(values, counts) for _ in range(n)]``, which is given when the column
    cannot be built at once.

    An ``Int64`` column (or a timestamp one, built from it) of integers that :func:`int_values`
    takes repeats their data and mask (1 behind it, as :func:`_int_array` stores); a ``string``
    one whose values pyarrow infers as ``string`` repeats their array (taken by index).
    """
    if len(values) != len(counts):
        raise ValueError("a count for each value expected")
    times = np.fromiter(counts, dtype=np.int64, count=len(counts))
    if dtype in (INT, TS) and (found := int_values(values)) is not None:
        data, mask = (np.repeat(part, times) for part in found)
        array = pd.arrays.IntegerArray(data, mask)
        return TypedColumn(array if dtype == INT else pd.to_datetime(array, unit="ns", utc=True))
    if dtype == STR and (strings := _inferred(values, *_STRINGS)) is not None and strings.type in _STRINGS:
        taken = strings.take(pa.array(np.repeat(np.arange(len(values), dtype=np.int64), times)))
        return TypedColumn(pd.array(taken.cast(pa.large_string()), dtype=STR))
    return [v for v, n in zip(values, counts) for _ in range(n)]


def _joined_strings(column: Sequence[Any]) -> pa.Array | None:
    """The ``string`` array of a :class:`FieldColumn` whose blocks show every value a ``str`` or
    None (not all None), else None; read from the blocks only."""
    if not getattr(column, "blocks", None):
        return None
    array = _inferred(column, pa.string())
    return array if array is not None and array.type == pa.string() else None


def positions_of(column: Sequence[Any], value: str) -> list[int]:
    """The positions ``i`` where ``column[i] == value``, in order.

    A column of strings compares in pyarrow (UTF-8 equal exactly when the ``str`` are equal), the
    values themselves not read again; any other, value by value.
    """
    array = _joined_strings(column)
    if array is None:
        return list(compress(count(), map(eq, column, repeat(value))))
    found = pc.equal(array, value).fill_null(False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(found).tolist()


def strings_with(column: Sequence[Any], positions: Sequence[int], values: Sequence[Any]) -> TypedColumn | None:
    """The ``string`` column of ``column``'s values with ``values`` put at ``positions`` (ascending),
    when ``column``'s blocks show it all strings (or None) and ``values`` are strings, else None.

    The column's blocks joined, with ``values`` put in (``pyarrow.compute.replace_with_mask``), are
    the array pyarrow infers from the new values: :func:`_string_array`'s column of those values,
    made without reading the others again.
    """
    base = _joined_strings(column)
    if base is None:
        return None
    if positions:
        try:
            replacements = pa.array(values)
        except _NO_ONE_TYPE:
            return None
        if replacements.type != pa.string():
            return None
        mask = np.zeros(len(base), dtype=np.bool_)
        mask[np.asarray(positions, dtype=np.intp)] = True
        base = pc.replace_with_mask(base, pa.array(mask), replacements)
    return TypedColumn(pd.array(base.cast(pa.large_string()), dtype=STR))


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
    each column and then converting it.  Every column built here (and every :class:`TypedColumn`)
    is a new array made for this frame alone, so the frame takes them as they are: the copy
    ``pd.DataFrame`` makes of a dict's columns by default would be the same values again.
    """
    columns: dict[str, Any] = {}
    for col in schema:
        values = data[col.name]
        if type(values) is TypedColumn:
            columns[col.name] = values.array
        elif type(values) is _Missing and col.dtype in _MISSING:
            columns[col.name] = _MISSING[col.dtype](len(values))
        else:
            columns[col.name] = typed_column(col.dtype, values)
    return pd.DataFrame(columns, copy=False)


def typed_column(dtype: str, values: Sequence[Any]) -> Any:
    """The column of schema dtype ``dtype`` from the Python values ``values``, as
    :func:`frame_from_columns` builds it (a list, or a :class:`FieldColumn` whose blocks it uses)."""
    if dtype == TS:
        return pd.to_datetime(_int_array(values), unit="ns", utc=True)
    if dtype == LIST:
        return _list_series(values)
    if dtype == "category":
        return _string_array(values).astype("category")
    if dtype == STR:
        return _string_array(values)
    if dtype == INT:
        return _int_array(values)
    if dtype == BOOL:
        return _bool_array(values)
    return pd.array(values, dtype=dtype)


_LIST_KINDS = frozenset({tuple, list})


def new_lists(values: Sequence[Any]) -> TypedColumn | Sequence[Any]:
    """The list column of ``values`` that are each a ``list`` made for this column alone (no other
    cell and nothing else holds it): the Series :func:`_list_series` builds, holding those lists
    themselves instead of a copy of each.  Any other value: ``values`` as given (the general path).
    """
    if not set(map(type, values)) <= {list}:
        return values
    return TypedColumn(pd.Series(list(values), dtype=object))


def _list_series(values: Sequence[Any]) -> pd.Series:
    """Each tuple or list of ``values`` as a new list, anything else as an empty list, in an object Series.

    When every value is a tuple or a list (as in records), ``list`` is mapped over them in C.
    """
    if set(map(type, values)) <= _LIST_KINDS:
        return pd.Series(list(map(list, values)), dtype=object)
    return pd.Series([list(v) if isinstance(v, (tuple, list)) else [] for v in values], dtype=object)


# -- a column of Nones ----------------------------------------------------------------------------
# What each builder below makes of ``[None] * length``, made without reading the Nones: pyarrow
# infers the null type for them, which each builder turns into an all-missing array (``_data_and_mask``
# stores 1 behind the mask of an integer, False behind that of a bool).
def _missing_ints(length: int) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.IntegerArray(np.ones(length, dtype=np.int64), np.ones(length, dtype=np.bool_))


def _missing_strings(length: int) -> pd.api.extensions.ExtensionArray:
    return pd.array(pa.nulls(length, pa.large_string()), dtype=STR)


_MISSING: dict[str, Callable[[int], Any]] = {
    INT: _missing_ints,
    BOOL: lambda length: pd.arrays.BooleanArray(np.zeros(length, dtype=np.bool_), np.ones(length, dtype=np.bool_)),
    STR: _missing_strings,
    "category": lambda length: _missing_strings(length).astype("category"),
    TS: lambda length: pd.to_datetime(_missing_ints(length), unit="ns", utc=True),
}


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


#: Values joined per piece by :func:`str_column`: a piece's text is checked and encoded at once.
_STR_PIECE = 4096


def str_column(values: Sequence[Any]) -> TypedColumn | Sequence[Any]:
    """The ``string`` column of ``values`` that are each a ``str`` (exactly, no subclass): the
    ``large_string`` array :class:`StrColumnParts` builds of them, given in pieces of
    :data:`_STR_PIECE` (one chunk each).

    The array :func:`_string_array` builds holds the same values (pyarrow infers ``string`` for
    such values and the cast keeps each; a ``str`` is stored as its UTF-8 bytes), but pyarrow's
    builder grows its buffer as it reads, and the cast copies it: the memory that takes stays
    with pyarrow's allocator.  Any other values, or a ``str`` UTF-8 cannot encode (a lone
    surrogate): ``values`` as given (the general path, which decides what they become).
    """
    parts = StrColumnParts()
    for start in range(0, len(values), _STR_PIECE):
        parts.add(values[start:start + _STR_PIECE])
    column = parts.column()
    return column if isinstance(column, TypedColumn) else values


class StrColumnParts:
    """The ``string`` column of values given a few at a time (:meth:`add`), each part one chunk of
    its ``large_string`` array, made as the part comes: its text checked and encoded at once (a
    part whose joined text is ASCII is all ASCII, and each value's encoded length is then its
    number of characters; else the length of each value that is not ASCII is that of its
    encoding), the bytes kept as the chunk's data buffer and the lengths summed into its offsets.
    The column holds those buffers themselves: its text is never copied or held twice.

    :meth:`column` (once): that column when every value is a ``str`` (exactly) that UTF-8 can
    encode, else the list of the values (the general path, which decides what they become).
    """

    __slots__ = ("values", "_chunks")

    def __init__(self) -> None:
        self.values: list[Any] = []
        #: Each part's chunk; None once a value is no ``str`` (exactly) or cannot be encoded.
        self._chunks: list[pa.Array] | None = []

    def add(self, values: Sequence[Any]) -> None:
        self.values.extend(values)
        if self._chunks is None or not values:
            return
        if not set(map(type, values)) <= {str}:
            self._chunks = None
            return
        text = "".join(values)
        count = len(values)
        lengths = np.fromiter(map(len, values), np.int64, count)
        if not text.isascii():
            for index, value in enumerate(values):
                if not value.isascii():
                    try:
                        lengths[index] = len(value.encode("utf-8"))
                    except UnicodeEncodeError:
                        self._chunks = None
                        return
        offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self._chunks.append(pa.LargeStringArray.from_buffers(
            count, pa.py_buffer(offsets), pa.py_buffer(text.encode("utf-8"))))

    def column(self) -> TypedColumn | list[Any]:
        chunks, self._chunks = self._chunks, None
        if chunks is None or not self.values:
            return self.values
        array = chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks, type=pa.large_string())
        return TypedColumn(pd.array(array, dtype=STR))


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


def concat_rows(table: str, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames``, frames of ``table``'s schema, one after the other in one frame
    (``pd.concat`` with a new index) whose category columns stay categories.

    A category column keeps its categories where every frame has the same (the connection
    columns: the sessions table's).  Where they differ, ``pd.concat`` would make it plain objects:
    it is given instead the categories a category column built from its joined values has (those
    values, sorted), through each frame's categories joined first."""
    frames = list(frames)
    changed = []
    for column in SCHEMAS[table]:
        if column.dtype != CAT:
            continue
        dtypes = [frame[column.name].dtype for frame in frames]
        if not all(isinstance(dtype, pd.CategoricalDtype) for dtype in dtypes) \
                or all(dtype.categories.equals(dtypes[0].categories) for dtype in dtypes):
            continue
        joined = dtypes[0].categories.append([dtype.categories for dtype in dtypes[1:]]).unique().sort_values()
        for i, frame in enumerate(frames):
            frames[i] = frame = frame.copy(deep=False)
            frame[column.name] = frame[column.name].cat.set_categories(joined)
        changed.append(column.name)
    merged = pd.concat(frames, ignore_index=True)
    for name in changed:  # a category no value has left out, as in a column built from the values
        merged[name] = merged[name].cat.remove_unused_categories()
    for column in SCHEMAS[table]:  # a column that was no category in some frame
        if column.dtype == CAT and not isinstance(merged[column.name].dtype, pd.CategoricalDtype):
            merged[column.name] = merged[column.name].astype(STR).astype(CAT)
    return merged


def add_connection_columns(df: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Fill the connection columns of ``df`` from ``sessions`` by ``session_id``."""
    if df.empty or sessions.empty:
        return df
    columns = connection_columns(df["session_id"].array, sessions)
    if columns is None:
        lookup = sessions.set_index("session_id")
        for name in _CONNECTION_COLUMNS:
            values = df["session_id"].map(lookup[name])
            df[name] = values.astype(lookup[name].dtype) if name.endswith("ip") else values.astype("Int64")
        return df
    for name, column in columns.items():
        df[name] = column.array
    return df


def connection_columns(session_ids: pd.api.extensions.ExtensionArray, sessions: pd.DataFrame
                       ) -> dict[str, TypedColumn] | None:
    """The connection columns :func:`add_connection_columns` gives rows of ``session_ids`` (the
    Int64 column), None when ``sessions``' own columns are not of the schema's dtypes.

    ``Series.map`` of a Series looks the keys up in its index (``Index.get_indexer``) and takes
    its values there (missing at -1); that lookup is done once here for the four columns, and the
    values already have the dtype ``add_connection_columns`` casts them to.
    """
    if sessions.empty:
        return None
    lookup = sessions.set_index("session_id")
    taken = {}
    for name in _CONNECTION_COLUMNS:
        values = lookup[name].array
        if not (isinstance(values, pd.Categorical) if name.endswith("ip") else values.dtype == INT):
            return None
        taken[name] = values
    indexer = lookup.index.get_indexer(session_ids)
    return {name: TypedColumn(values.take(indexer, allow_fill=True)) for name, values in taken.items()}
