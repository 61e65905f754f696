"""The :class:`Capture` of typed DataFrames that ``smtpsniff.read`` returns, and the records-to-tables step.

This is the notebook-facing object: every table is an attribute, empty tables keep their columns,
and Jupyter shows a summary.  :func:`read` itself (in :mod:`smtpsniff.analysis.reading`, named here
too) runs the pipeline; neither prints nor writes files.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from itertools import chain, repeat
from operator import attrgetter

import numpy as np
import pandas as pd

from ..anomaly import Anomaly
from ..credentials.mask import mask_auth_argument
from ..pipeline import collector_paused
from ..records.builder import SessionRecords
from ..records.model import SessionRecord
from .reading import CaptureStats, ReadOptions, read
from .schema import CAT, INT, SCHEMAS
from .tables import (
    TypedColumn,
    add_connection_columns,
    connection_columns,
    field_columns,
    frame_from_columns,
    int_values,
    positions_of,
    strings_with,
    typed_column,
)

TABLES = ("sessions", "transactions", "recipients", "commands", "replies", "anomalies")

#: Modules that add further tables, called in this order.  Each defines
#: ``build(records: list[SessionRecords], tables: dict[str, DataFrame], options: ReadOptions)
#: -> dict[str, DataFrame]`` and sees the tables built before it.  Values that are not DataFrames
#: are objects the provider keeps beside its tables; they end up in :attr:`Capture.objects`.  A
#: provider may also define ``prepare(records, tables, options) -> object``: what it can do with the
#: session tables alone, called before any provider builds, its result given to its ``build`` as
#: ``prepared=`` (``smtpsniff.read`` has it done while worker processes parse the messages).  Each
#: names in ``TABLES`` the tables it builds or adds rows to (see :func:`providers_for`).
TABLE_PROVIDERS: tuple[str, ...] = ("smtpsniff.analysis.mail_tables", "smtpsniff.analysis.security_tables")


@dataclass(frozen=True)
class ProviderPlan:
    """Which table providers run while ``read`` reads and which are left for later
    (:func:`providers_for`), in :data:`TABLE_PROVIDERS` order: ``now``, then ``partly``, whose
    deferrable tables (its ``DEFERRABLE``) are left for later, then ``later``."""

    now: tuple[str, ...]
    partly: str | None = None
    later: tuple[str, ...] = ()

    @property
    def deferred(self) -> bool:
        return self.partly is not None or bool(self.later)


def providers_for(wanted: Iterable[str] | None) -> ProviderPlan:
    """The table providers to run for the tables ``wanted`` (None: every table), and what may be
    left for later.

    A provider is run for a wanted table it builds or adds rows to, and for one of :data:`TABLES`,
    which are always built (the mail tables add the mail parser's anomalies to ``anomalies``);
    so is every provider before it, whose tables it may read.  The last one run may leave for later
    those of its tables it can (``DEFERRABLE``) when none is wanted; the providers after it are
    left for later.  What is left for later adds only tables of its own."""
    if wanted is None:
        return ProviderPlan(TABLE_PROVIDERS)
    needed = {*wanted, *TABLES}
    modules = [import_module(name) for name in TABLE_PROVIDERS]
    last = max((i for i, module in enumerate(modules) if needed & set(module.TABLES)), default=-1)
    later = TABLE_PROVIDERS[last + 1:]
    deferrable = set(getattr(modules[last], "DEFERRABLE", ())) if last >= 0 else set()
    if deferrable and not deferrable & needed:
        return ProviderPlan(TABLE_PROVIDERS[:last], TABLE_PROVIDERS[last], later)
    return ProviderPlan(TABLE_PROVIDERS[:last + 1], None, later)


class Capture:
    """The tables of one analysis.  Build it with :func:`read`.

    Tables that ``read`` was asked not to build yet (its ``tables``) are built the first time one
    of them, or :attr:`tables`, is asked for: ``deferred`` then adds them to ``tables`` (and what
    their providers keep to ``objects``), and ``deferred_tables`` names them."""

    def __init__(self, tables: dict[str, pd.DataFrame], stats: CaptureStats,
                 sessions: list[SessionRecords] | None = None, objects: dict[str, object] | None = None, *,
                 deferred: Callable[[], None] | None = None, deferred_tables: Iterable[str] = ()) -> None:
        self._tables = tables
        self.stats = stats
        self._records = sessions or []
        #: What table providers keep beside their tables (``objects["mail"]``: the parsed messages).
        self.objects: dict[str, object] = objects if objects is not None else {}
        self._deferred = deferred
        self._deferred_tables = frozenset(deferred_tables) if deferred is not None else frozenset()
        self._table_attributes()

    def _table_attributes(self) -> None:
        for name, frame in self._tables.items():
            setattr(self, name, frame)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (those left for later built first)."""
        self._build_deferred()
        return self._tables

    def __getattr__(self, name: str) -> pd.DataFrame:
        # Called only for a name found nowhere else: a table left for later is built now.
        if name in self.__dict__.get("_deferred_tables", ()):
            self._build_deferred()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build_deferred(self) -> None:
        build = self._deferred
        if build is None:
            return
        build()
        self._deferred, self._deferred_tables = None, frozenset()
        self._table_attributes()

    sessions: pd.DataFrame
    transactions: pd.DataFrame
    recipients: pd.DataFrame
    commands: pd.DataFrame
    replies: pd.DataFrame
    anomalies: pd.DataFrame
    credentials: pd.DataFrame
    findings: pd.DataFrame

    @property
    def records(self) -> list[SessionRecords]:
        """The frozen records behind the tables, one bundle per session."""
        return self._records

    def errors(self) -> pd.DataFrame:
        """Replies with a 4xx or 5xx code, 550 first, then by count."""
        errors = self.replies[self.replies["code"] >= 400]
        order = errors.assign(_not_550=errors["code"] != 550).sort_values(["_not_550", "code", "ts"])
        return order.drop(columns="_not_550")

    @property
    def plot(self):
        """The charts of this capture as methods: ``cap.plot.reply_codes()``, ``cap.plot.ladder(3)``."""
        from .charts import Plotter

        return Plotter(self)

    def filter(self, expression: str) -> Capture:
        """The capture cut to a display filter (see :mod:`smtpsniff.analysis.filters`): the matching
        rows of the filter's table, and every row of the sessions that have one in the others."""
        from .filters import filter_tables

        tables, result = filter_tables(self.tables, expression)
        records = [r for r in self._records if r.session.session_id in result.session_ids]
        return Capture(tables, self.stats, records, self.objects)

    def __repr__(self) -> str:
        files = ", ".join(os.path.basename(f) for f in self.stats.files)
        return (f"<Capture {files}: {len(self.sessions)} sessions, {len(self.transactions)} transactions, "
                f"{len(self.commands)} commands, {len(self.replies)} replies, {len(self.anomalies)} anomalies>")

    def _repr_html_(self) -> str:
        from .notebook import capture_html

        return capture_html(self)


def build_tables(records: list[SessionRecords], loose_anomalies: Iterable[Anomaly] = (),
                 capture_of: dict[int, str] | None = None,
                 options: ReadOptions | None = None, objects: dict[str, object] | None = None,
                 plan: ProviderPlan | None = None) -> dict[str, pd.DataFrame]:
    """Records to the typed DataFrames of :data:`~smtpsniff.analysis.schema.SCHEMAS`; what providers
    keep beside their tables goes into ``objects``.  ``plan``: what to build now (by default every
    table; see :func:`providers_for`, and :func:`build_later` for the rest)."""
    with collector_paused():
        return _build_tables(records, loose_anomalies, capture_of, options, objects,
                             plan or ProviderPlan(TABLE_PROVIDERS))


def build_later(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options: ReadOptions,
                objects: dict[str, object], plan: ProviderPlan) -> None:
    """The tables ``plan`` left out of :func:`build_tables` (which built ``tables``), added to
    ``tables``; what their providers keep, to ``objects``.  They are the same tables: each provider
    sees the tables of those before it, all built (see :func:`providers_for`)."""
    with collector_paused():
        if plan.partly is not None:
            tables.update(import_module(plan.partly).build_later(records, tables, options, objects))
        _run_providers([import_module(module) for module in plan.later], records, tables, options, objects)


def _build_tables(records: list[SessionRecords], loose_anomalies: Iterable[Anomaly],
                  capture_of: dict[int, str] | None, options: ReadOptions | None,
                  objects: dict[str, object] | None, plan: ProviderPlan) -> dict[str, pd.DataFrame]:
    capture_of = capture_of or {}
    options = options or ReadOptions()
    sessions = _table("sessions", [r.session for r in records],
                      ("session_id", "start_ns", "end_ns", "starttls_used", "implicit_tls"),
                      lambda f: _session_columns(f, capture_of), integers=("start_ns", "end_ns"))
    anomalies = _all_anomalies(records, loose_anomalies)
    tables = {
        "sessions": sessions,
        "transactions": _table("transactions", _flat(records, "transactions"), ("ts_ns", "end_ts_ns"), lambda f: dict(
            ts=f["ts_ns"], end=f["end_ts_ns"]), sessions),
        "recipients": _table("recipients", _flat(records, "recipients"), ("ts_ns",), lambda f: dict(
            ts=f["ts_ns"]), sessions),
        "commands": _table("commands", _flat(records, "commands"), ("verb", "argument", "ts_ns", "reply_ts_ns"), lambda f: dict(
            argument=_arguments(f["verb"], f["argument"], options.show_secrets),
            ts=f["ts_ns"],
            latency_s=_seconds(f["ts_ns"], f["reply_ts_ns"], missing_ends=True)), sessions, ("ts_ns", "reply_ts_ns")),
        "replies": _table("replies", _flat(records, "replies"), ("code", "ts_ns"), lambda f: dict(
            ts=f["ts_ns"], reply_class=_reply_classes(f["code"])), sessions, ("code",)),
        "anomalies": frame_from_columns("anomalies", len(anomalies), {
            "session_id": [a.conn_id for a in anomalies], "ts": [a.ts_ns for a in anomalies],
            "frame": [a.frame for a in anomalies], "layer": [a.layer.value for a in anomalies],
            "kind": [a.kind for a in anomalies], "message": [a.message for a in anomalies]}),
    }
    modules = [import_module(module) for module in plan.now]
    partly = import_module(plan.partly) if plan.partly is not None else None
    _run_providers(modules if partly is None else [*modules, partly], records, tables, options, objects, partly)
    return tables


def _run_providers(providers: list, records: list[SessionRecords], tables: dict[str, pd.DataFrame],
                   options: ReadOptions, objects: dict[str, object] | None, partly: object | None = None) -> None:
    # What a provider needs no other provider's table for, first (see each provider's prepare).
    prepared = {provider: provider.prepare(records, tables, options) for provider in providers
                if hasattr(provider, "prepare")}
    for provider in providers:
        extra = {"prepared": prepared[provider]} if provider in prepared else {}
        if provider is partly:  # its deferrable tables left for later
            extra["wanted"] = tuple(t for t in provider.TABLES if t not in provider.DEFERRABLE)
        for name, value in provider.build(records, tables, options, **extra).items():
            if isinstance(value, pd.DataFrame):
                tables[name] = value
            elif objects is not None:
                objects[name] = value


def _table(table: str, items: list, fields: tuple[str, ...],
           computed: Callable[[dict[str, list]], dict[str, list | TypedColumn]],
           sessions: pd.DataFrame | None = None, integers: tuple[str, ...] = ()) -> pd.DataFrame:
    """The frame of ``table`` from records ``items``: the columns ``computed`` gives, from the records'
    ``fields`` and fields named as the table's columns, and those columns themselves; with
    ``sessions``, the connection columns :func:`add_connection_columns` gives it.  The columns of
    ``integers`` (fields ``computed`` does arithmetic on) gather their values' types (see
    :func:`int_values`)."""
    if not items:
        return frame_from_columns(table, 0, {})
    record_fields = items[0].__dataclass_fields__
    names = [c.name for c in SCHEMAS[table] if c.name in record_fields]
    columns: dict[str, list | TypedColumn] = field_columns(items, [*names, *(f for f in fields if f not in names)],
                                                          kinds=integers)
    columns.update(computed(columns))
    if sessions is None:
        return frame_from_columns(table, len(items), columns)
    # The connection columns looked up by the session_id column, instead of built missing and replaced
    session_ids = typed_column(INT, columns["session_id"])
    connection = connection_columns(session_ids, sessions)
    if connection is None:
        return add_connection_columns(frame_from_columns(table, len(items), columns), sessions)
    columns.update(connection, session_id=TypedColumn(session_ids))
    return frame_from_columns(table, len(items), columns)


def _flat(records: list[SessionRecords], name: str) -> list:
    """The rows of every bundle's tuple ``name`` (transactions, commands, ...), in bundle order."""
    return list(chain.from_iterable(map(attrgetter(name), records)))


def _session_columns(f: dict[str, list], capture_of: dict[int, str]) -> dict[str, list]:
    """The sessions table's columns of :data:`_SESSION_COLUMNS`, from the sessions' field columns
    ``f``: the same values, computed column by column."""
    base_names = {path: os.path.basename(path) for path in set(capture_of.values())}  # one per file
    names = {session_id: base_names[path] for session_id, path in capture_of.items()}
    return {"start": f["start_ns"], "end": f["end_ns"],
            "duration_s": _seconds(f["start_ns"], f["end_ns"], missing_ends=False),
            "tls": [starttls or implicit for starttls, implicit in zip(f["starttls_used"], f["implicit_tls"])],
            "capture": list(map(names.get, f["session_id"], repeat(os.path.basename(""))))}


def _seconds(starts: list, ends: list, *, missing_ends: bool) -> list | TypedColumn:
    """``(end - start) / 1e9`` of each pair (None where ``missing_ends`` and the end is None).

    With integers of 64 bits (the nanoseconds of records) the differences are computed by numpy:
    each difference is exact within 2**63, turned into the nearest float as Python's ``int / float``
    does, then divided by 1e9; missing ends give the Float64 column pandas makes of None (NaN behind
    the mask).  Anything else is computed value by value in Python.
    """
    start, end = int_values(starts), int_values(ends)
    if start is not None and end is not None and len(start[0]) and not start[1].any() \
            and (missing_ends or not end[1].any()) \
            and all(-_HALF_RANGE < int(a.min()) and int(a.max()) < _HALF_RANGE for a in (start[0], end[0])):
        seconds = (end[0] - start[0]).astype(np.float64) / 1e9
        seconds[end[1]] = np.nan
        return TypedColumn(pd.arrays.FloatingArray(seconds, end[1].copy()))
    if missing_ends:
        return [(end - start) / 1e9 if end is not None else None for start, end in zip(starts, ends)]
    return [(end - start) / 1e9 for start, end in zip(starts, ends)]


#: Integers within this bound of 0 leave a difference of two of them within int64.
_HALF_RANGE = 2 ** 62


def _arguments(verbs: list, arguments: list, show_secrets: bool) -> list | TypedColumn:
    """The commands' arguments, AUTH's masked (its initial response is base64 credentials), each
    other argument as it is (from the column's blocks when it can, see :func:`strings_with`)."""
    auth = positions_of(verbs, "AUTH")
    masked = [mask_auth_argument(arguments[i], show_secrets) for i in auth]
    column = strings_with(arguments, auth, masked)
    if column is not None:
        return column
    out = list(arguments)
    for i, argument in zip(auth, masked):
        out[i] = argument
    return out


def _reply_classes(codes: list[int]) -> list[str] | TypedColumn:
    """``f"{code // 100}xx"`` of each reply code, as a category column.

    With integers of 64 bits (the codes of records) numpy divides them; the column is the category
    column of the distinct classes (the same categories as of every row's class), taken row by row.
    Else one string is made per distinct code.
    """
    ints = int_values(codes)
    if ints is not None and not ints[1].any():
        classes, rows = np.unique(ints[0] // 100, return_inverse=True)
        distinct = typed_column(CAT, [f"{c}xx" for c in classes.tolist()])
        return TypedColumn(distinct.take(rows.reshape(-1)))
    classes = {code: f"{code // 100}xx" for code in set(codes)}
    return list(map(classes.__getitem__, codes))


def _fields(record: object) -> dict:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


#: The sessions table's columns that are not SessionRecord fields: name -> f(session, capture_of).
_SESSION_COLUMNS: dict[str, Callable[[SessionRecord, dict[int, str]], object]] = {
    "start": lambda s, _: s.start_ns,
    "end": lambda s, _: s.end_ns,
    "duration_s": lambda s, _: (s.end_ns - s.start_ns) / 1e9,
    "tls": lambda s, _: s.starttls_used or s.implicit_tls,
    "capture": lambda s, capture_of: os.path.basename(capture_of.get(s.session_id, "")),
}


def _session_row(r: SessionRecords, capture_of: dict[int, str]) -> dict:
    s = r.session
    row = _fields(s)
    row.update((name, f(s, capture_of)) for name, f in _SESSION_COLUMNS.items())
    return row


def _all_anomalies(records: list[SessionRecords], loose: Iterable[Anomaly]) -> list[Anomaly]:
    out = [a for r in records for a in r.anomalies]
    out.extend(loose)
    out.sort(key=lambda a: (a.ts_ns is None, a.ts_ns or 0, a.frame or 0))
    return out


__all__ = ["Capture", "CaptureStats", "ProviderPlan", "ReadOptions", "TABLES", "read", "build_tables", "build_later",
           "providers_for", "SCHEMAS"]
