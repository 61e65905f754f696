"""Table provider for the ``credentials`` and ``findings`` tables.

Registered in :data:`~smtpsniff.analysis.capture.TABLE_PROVIDERS` after the mail tables.
Credentials come from :mod:`smtpsniff.credentials`, findings from :mod:`smtpsniff.findings`;
secrets (passwords, tokens, crackable hash lines) are masked unless ``options.show_secrets``.
What needs no parsed message (the credentials, the findings of the detectors that read no
message) is found by :func:`prepare`, which ``build_tables`` calls before any provider builds:
``smtpsniff.read`` then has it done while worker processes parse the messages.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np
import pandas as pd

from ..credentials import Credential, credentials
from ..credentials.mask import mask
from ..findings import Finding, Severity, detect_all, detect_early, order_of, reordered
from ..findings.verbs import sessions_sending
from ..records.builder import SessionRecords
from .tables import add_connection_columns, frame_from_columns, record_columns


def prepare(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options) -> dict[str, object]:
    """The credentials, and the findings of the detectors that read no message (``tables``: the
    session tables suffice)."""
    with_auth = sessions_sending("AUTH", records, tables)  # credentials come from AUTH commands only
    creds = [c for r in _records_of(records, tables["sessions"], with_auth) for c in credentials(r)]
    early = detect_early(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                         limits=options.limits, tables=tables)
    return {"credentials": creds, "early": early}


def build(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options,
          prepared: dict[str, object] | None = None) -> dict[str, pd.DataFrame]:
    """The credentials and findings tables (``prepared``: what :func:`prepare` gave, else it is
    called here)."""
    if prepared is None:
        prepared = prepare(records, tables, options)
    creds: list[Credential] = prepared["credentials"]  # type: ignore[assignment]
    sessions = tables["sessions"]
    found = detect_all(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                       limits=options.limits, tables=tables, early=prepared["early"])  # type: ignore[arg-type]
    out = {
        "credentials": frame_from_columns("credentials", len(creds), _credential_columns(creds, options.show_secrets)),
        "findings": frame_from_columns("findings", len(found), _finding_columns(found)),
    }
    for frame in out.values():
        add_connection_columns(frame, sessions)
    return out


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
