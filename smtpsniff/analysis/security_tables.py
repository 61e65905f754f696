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
    order_of,
    reordered,
)
from ..findings.verbs import sessions_sending
from ..records.builder import SessionRecords
from .schema import CAT, SCHEMAS, STR
from .tables import add_connection_columns, frame_from_columns, record_columns


def prepare(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options) -> dict[str, object]:
    """The credentials and their table, and the findings of the detectors that read no message
    with their findings table (``tables``: the session tables suffice)."""
    sessions = tables["sessions"]
    with_auth = sessions_sending("AUTH", records, tables)  # credentials come from AUTH commands only
    creds = [c for r in _records_of(records, sessions, with_auth) for c in credentials(r)]
    early = detect_early(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                         limits=options.limits, tables=tables)
    # In detector order, each detector's in the order it gave them: what detect_all gives when the
    # detectors that read the messages find nothing.
    found = [f for findings in early.values() for f in findings]
    return {"credentials": creds, "early": early,
            "credentials_table": _credentials_table(creds, options.show_secrets, sessions),
            "early_findings_table": _findings_table(found, sessions)}


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
        findings = _with_late_findings(early_table, by_detector, early, tables["sessions"])
    return {"credentials": prepared["credentials_table"], "findings": findings}  # type: ignore[dict-item]


def _with_late_findings(early_table: pd.DataFrame, by_detector: dict[str, list[Finding]],
                        early: dict[str, list[Finding]], sessions: pd.DataFrame) -> pd.DataFrame:
    """``_findings_table(found, sessions)`` for ``found``, the findings of ``by_detector`` in
    detector order, when ``early_table`` is the findings table of the ``early`` ones alone.

    Only the rows of the others (the findings of the detectors that read the messages: a few,
    beside tens of thousands) are made from their objects; those of the early ones are taken
    from ``early_table``.  Each table's rows are its findings in the order of
    :func:`~smtpsniff.findings.in_order`, read from their three keys: so the row of every finding
    in the two tables is known, and the rows are taken in that order for ``found``."""
    found = [f for findings in by_detector.values() for f in findings]
    if not len(early_table):  # its connection columns' categories are not the sessions' ones
        return _findings_table(found, sessions)
    is_early = np.fromiter((name in early for name, findings in by_detector.items() for _ in findings),
                           dtype=np.bool_, count=len(found))
    late_table = _findings_table([f for f, e in zip(found, is_early.tolist()) if not e], sessions)
    keys = _keys(found)
    rows = np.empty(len(found), dtype=np.intp)  # each finding's row in [early_table; late_table]
    rows[is_early] = _inverse(_order(keys, is_early))
    rows[~is_early] = len(early_table) + _inverse(_order(keys, ~is_early))
    both = pd.concat([early_table, late_table], ignore_index=True)
    merged = both.take(rows[_order(keys)]).reset_index(drop=True)
    # kind and severity: each table had its own values as categories, and concat made them plain
    # (the connection columns have the sessions table's categories in both, which concat keeps)
    for column in SCHEMAS["findings"]:
        if column.dtype == CAT and not isinstance(merged[column.name].dtype, pd.CategoricalDtype):
            merged[column.name] = merged[column.name].astype(STR).astype(CAT)
    return merged


def _keys(found: list[Finding]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The times, severities and kinds of ``found`` as arrays for :func:`~smtpsniff.findings.order_of`
    (the times as ``int64`` when none is missing or beyond 64 bits, else as objects)."""
    times = [f.ts_ns for f in found]
    ts = _int64(times)
    return (np.array(times, dtype=object) if ts is None else ts,
            np.fromiter(map(_SEVERITY, found), dtype=object, count=len(found)),
            np.fromiter(map(_KIND, found), dtype=object, count=len(found)))


def _order(keys: tuple[np.ndarray, np.ndarray, np.ndarray], where: np.ndarray | None = None) -> np.ndarray:
    """The positions that sort the findings of ``keys`` (:func:`_keys`), or of those ``where``
    is True, in :func:`~smtpsniff.findings.in_order`'s order."""
    times, severities, kinds = keys if where is None else (key[where] for key in keys)
    return order_of(times.tolist() if times.dtype == object else times, severities, kinds)


def _inverse(positions: np.ndarray) -> np.ndarray:
    """Where each index stands in ``positions`` (a permutation)."""
    inverse = np.empty(len(positions), dtype=np.intp)
    inverse[positions] = np.arange(len(positions), dtype=np.intp)
    return inverse


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
