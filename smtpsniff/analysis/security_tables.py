"""Table provider for the ``credentials`` and ``findings`` tables.

Registered in :data:`~smtpsniff.analysis.capture.TABLE_PROVIDERS` after the mail tables.
Credentials come from :mod:`smtpsniff.credentials`, findings from :mod:`smtpsniff.findings`;
secrets (passwords, tokens, crackable hash lines) are masked unless ``options.show_secrets``.
What needs no parsed message (the credentials, the findings of the detectors that read no
message) is found by :func:`prepare`, which ``build_tables`` calls before any provider builds:
``smtpsniff.read`` then has it done while worker processes parse the messages.  It also builds
the credentials table, and the findings table of those findings, which is the table when the
detectors that read the messages find nothing (their findings are rare: spoofing signs); else
the findings table is built once they have run.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import pandas as pd

from ..credentials import Credential, credentials
from ..credentials.mask import mask
from ..findings import (
    Finding,
    Severity,
    detect_by_detector,
    detect_early,
    order_keys,
    order_of,
    reordered,
)
from ..findings.verbs import sessions_sending
from ..records.builder import SessionRecords
from .tables import (
    add_connection_columns,
    concat_rows,
    frame_from_columns,
    record_columns,
)

#: The tables this provider builds (see ``TABLE_PROVIDERS``).
TABLES = ("credentials", "findings")


def prepare(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options) -> dict[str, object]:
    """The credentials and their table, and the findings of the detectors that read no message
    with their findings table (``tables``: the session tables suffice)."""
    sessions = tables["sessions"]
    with_auth = sessions_sending("AUTH", records, tables)  # credentials come from AUTH commands only
    creds = [c for r in _records_of(records, sessions, with_auth) for c in credentials(r)]
    early = detect_early(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                         limits=options.limits, tables=tables)
    early_table, early_keys = _table_and_keys(list(early.values()), sessions)
    return {"credentials": creds, "early": early,
            "credentials_table": _credentials_table(creds, options.show_secrets, sessions),
            "early_findings_table": early_table, "early_keys": early_keys}


def build(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options,
          prepared: dict[str, object] | None = None) -> dict[str, pd.DataFrame]:
    """The credentials and findings tables (``prepared``: what :func:`prepare` gave, else it is
    called here)."""
    if prepared is None:
        prepared = prepare(records, tables, options)
    creds: list[Credential] = prepared["credentials"]  # type: ignore[assignment]
    early: dict[str, list[Finding]] = prepared["early"]  # type: ignore[assignment]
    by_detector = detect_by_detector(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                                     limits=options.limits, tables=tables, early=early)
    early_table: pd.DataFrame = prepared["early_findings_table"]  # type: ignore[assignment]
    if all(name in early or not found for name, found in by_detector.items()):  # the early ones alone
        findings = early_table
    else:
        findings = _with_late_findings(early_table, by_detector, early, tables["sessions"],
                                       prepared.get("early_keys"))  # type: ignore[arg-type]
    return {"credentials": prepared["credentials_table"], "findings": findings}  # type: ignore[dict-item]


def _with_late_findings(early_table: pd.DataFrame, by_detector: dict[str, list[Finding]],
                        early: dict[str, list[Finding]], sessions: pd.DataFrame,
                        early_keys: _RowKeys | None = None) -> pd.DataFrame:
    """``_findings_table(found, sessions)`` for ``found``, the findings of ``by_detector`` in
    detector order, when ``early_table`` is the findings table of the ``early`` ones alone (and
    ``early_keys`` its rows' keys, as :func:`_table_and_keys` gives them with it; None: read here).

    Only the rows of the others (the findings of the detectors that read the messages: a few,
    beside tens of thousands) are made from their objects; those of the early ones are taken
    from ``early_table``.  A row's place in the whole table is decided by its keys (see
    :class:`_RowKeys`): its time, severity and kind, then its detector's place in detector order,
    then its place among its detector's findings -- which is its order in its own table, as the
    two tables are each in that order.  So one stable sort of the two tables' keys, one after the
    other, gives the rows of the whole table."""
    late = [found for name, found in by_detector.items() if name not in early]
    late_table, late_keys = _table_and_keys(late, sessions)
    if early_keys is None:
        early_keys = _row_keys(list(early.values()))
    if not len(early_table) or early_keys is None or late_keys is None:
        # no early row (its connection columns' categories are not the sessions' ones), or a
        # time beyond 64 bits: the whole table made anew
        return _findings_table([f for found in by_detector.values() for f in found], sessions)
    names = list(by_detector)
    detector_place = np.array([names.index(name) for name in early] + [names.index(name) for name in by_detector
                                                                       if name not in early], dtype=np.int64)
    kinds = sorted(set(early_keys.kind_names) | set(late_keys.kind_names))
    rows = np.lexsort((
        np.concatenate([detector_place[early_keys.detectors], detector_place[len(early) + late_keys.detectors]]),
        np.concatenate([_recoded(early_keys, kinds), _recoded(late_keys, kinds)]),
        np.concatenate([early_keys.severities, late_keys.severities]),
        np.concatenate([early_keys.times, late_keys.times]),
        np.concatenate([early_keys.missing, late_keys.missing])))
    # kind and severity: each table has its own values as categories (concat_rows joins them; the
    # connection columns have the sessions table's categories in both)
    return concat_rows("findings", [early_table, late_table]).take(rows).reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class _RowKeys:
    """What puts the rows of a findings table in order, row by row (in the table's order): the
    keys of :func:`~smtpsniff.findings.order_of` as integers, and the place of each finding's
    detector among those of the table."""

    #: Whether the finding has no time (such rows go last).
    missing: np.ndarray
    #: Its time in nanoseconds (0 when missing).
    times: np.ndarray
    #: Minus its severity's rank (the worst first).
    severities: np.ndarray
    #: Its kind, as the place of the kind in ``kind_names``.
    kinds: np.ndarray
    #: The table's kinds, sorted.
    kind_names: list[str]
    #: Its detector's place among the table's detectors (in detector order).
    detectors: np.ndarray


def _table_and_keys(groups: list[list[Finding]], sessions: pd.DataFrame) -> tuple[pd.DataFrame, _RowKeys | None]:
    """The findings table of the findings of ``groups`` (each detector's, in detector order) and
    its rows' keys (None when a time is beyond 64 bits)."""
    return _findings_table([f for found in groups for f in found], sessions), _row_keys(groups)


def _row_keys(groups: list[list[Finding]]) -> _RowKeys | None:
    """The keys of the rows of the findings table of ``groups`` (each detector's findings, in
    detector order), in table order; None when a time is beyond 64 bits."""
    found = [f for group in groups for f in group]
    keys = order_keys([f.ts_ns for f in found], list(map(_SEVERITY, found)), list(map(_KIND, found)))
    if keys is None:
        return None
    kind_names, kind_codes, worst_first, ts, missing = keys
    if missing is None:
        missing = np.zeros(len(found), dtype=np.bool_)
    detectors = np.repeat(np.arange(len(groups), dtype=np.intp), [len(group) for group in groups])
    order = np.lexsort((kind_codes, worst_first, ts, missing))  # order_of's order, stable
    return _RowKeys(missing[order], ts[order], worst_first[order], kind_codes[order], kind_names, detectors[order])


def _recoded(keys: _RowKeys, kinds: list[str]) -> np.ndarray:
    """The kinds of ``keys`` as places in ``kinds`` (sorted, holding every one of them)."""
    place = np.searchsorted(np.array(kinds, dtype=object), np.array(keys.kind_names, dtype=object))
    return place.astype(np.intp)[keys.kinds]


def _credentials_table(creds: list[Credential], show_secrets: bool, sessions: pd.DataFrame) -> pd.DataFrame:
    frame = frame_from_columns("credentials", len(creds), _credential_columns(creds, show_secrets))
    return add_connection_columns(frame, sessions)


def _findings_table(found: list[Finding], sessions: pd.DataFrame) -> pd.DataFrame:
    """The findings table of ``found`` in the order :func:`~smtpsniff.findings.detect_all` gives them."""
    return add_connection_columns(frame_from_columns("findings", len(found), _finding_columns(found)), sessions)


def _records_of(records: list[SessionRecords], sessions: pd.DataFrame, ids: frozenset[int]) -> list[SessionRecords]:
    """The records of the sessions ``ids``, in order: found by the ``sessions`` table's column of
    ids, whose rows are the records' (it is built from them, in their order), when it has a row
    per record; else by each record's id."""
    if len(sessions) != len(records) or sessions["session_id"].hasnans:
        return [r for r in records if r.session.session_id in ids]
    chosen = np.flatnonzero(sessions["session_id"].isin(list(ids)).to_numpy(dtype=bool))
    return [records[i] for i in chosen.tolist()]


def _credential_columns(creds: list[Credential], show_secrets: bool) -> dict[str, list]:
    """Each credential's fields, with ``ts``, the secrets masked unless asked for, and ``cleartext``."""
    return record_columns("credentials", creds, ts=[c.ts_ns for c in creds],
                          secret=[mask(c.secret, show_secrets) for c in creds],
                          hash=[mask(c.hash, show_secrets) for c in creds], cleartext=[not c.tls for c in creds])


def finding_row(f: Finding) -> dict:
    return {"session_id": f.session_id, "ts": f.ts_ns, "frame": f.frame, "kind": f.kind,
            "severity": f.severity.value, "explanation": f.explanation, "evidence": f.evidence,
            "frames": list(f.frames), "sessions": list(f.sessions)}


_SEVERITY_VALUE = {s: s.value for s in Severity}
_SEVERITY = attrgetter("severity")
_KIND = attrgetter("kind")
_COLUMNS = ("session_id", "ts", "frame", "kind", "severity", "explanation", "evidence", "frames", "sessions")


def _finding_columns(found: list[Finding]) -> dict[str, list]:
    """:func:`finding_row` of every finding, column by column, in the order of
    :func:`~smtpsniff.findings.in_order` (``frames`` and ``sessions`` as the tuples they are:
    :func:`~smtpsniff.analysis.tables.frame_from_columns` makes each a list).

    ``found`` is in the order the detectors gave it (:func:`~smtpsniff.findings.detect_all`), the
    order of the findings in memory: each field is read into a column in that order, block by
    block of :data:`_BLOCK` findings (a block stays in the CPU cache while each of its fields is
    read), and the columns are then put in time order (:func:`~smtpsniff.findings.order_of`): the
    integer ones as numpy arrays (:func:`_ints_in`), the others by reference
    (:func:`~smtpsniff.findings.reordered`)."""
    if not found:
        return {name: [] for name in _COLUMNS}
    session_id, times, kinds, severities, explanation, evidence, frames, sessions, frame = columns = \
        [[] for _ in range(9)]
    for start in range(0, len(found), _BLOCK):
        block = found[start:start + _BLOCK]
        for column, get in zip(columns, _FIELDS):
            column.extend(map(get, block))
        frame.extend([f[0] if f else None for f in frames[start:]])
    ts = _int64(times)  # read once: for the order and for the column
    positions = order_of(times if ts is None else ts, severities, kinds)
    return {"session_id": _ints_in(session_id, positions),
            "ts": reordered(times, positions) if ts is None else ts[positions].tolist(),
            "frame": _ints_in(frame, positions), "kind": reordered(kinds, positions),
            "severity": reordered(list(map(_SEVERITY_VALUE.__getitem__, severities)), positions),
            "explanation": reordered(explanation, positions), "evidence": reordered(evidence, positions),
            "frames": reordered(frames, positions), "sessions": reordered(sessions, positions)}


_FIELDS = tuple(map(attrgetter, ("session_id", "ts_ns", "kind", "severity", "explanation", "evidence", "frames",
                                 "sessions")))
_BLOCK = 1024


def _ints_in(values: list, positions: np.ndarray) -> list:
    """``[values[i] for i in positions]`` for a column of integers (session ids, times, frames):
    through a numpy ``int64`` array, whose ``tolist`` gives the same integers, made anew in
    order; with a None or an integer beyond 64 bits, by reference."""
    array = _int64(values)
    return reordered(values, positions) if array is None else array[positions].tolist()


def _int64(values: list) -> np.ndarray | None:
    """``values`` as an ``int64`` array; None when one is None or beyond 64 bits."""
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except (TypeError, OverflowError):
        return None
