"""JSON lines for other tools: one line per finished session, transaction and finding, as it completes.

Each line is ``{"type": "session" | "transaction" | "finding", ...}`` followed by the columns of
that table (:data:`~smtpsniff.analysis.schema.SCHEMAS`) with the values ``smtpsniff analyze -o DIR
--format json`` writes for the same row: ISO 8601 UTC timestamps, lists as lists, missing values
as ``null``.  Rows are built straight from the records (no DataFrame per session: a live run
must keep up with the wire).  Secrets never reach these lines: findings arrive masked from the
detectors, and the session and transaction tables hold none.
"""
from __future__ import annotations

import json
import math
from typing import IO

import pandas as pd

from ..analysis.capture import _fields, _session_row
from ..analysis.schema import BOOL, CAT, FLOAT, INT, LIST, SCHEMAS, STR, TS
from ..analysis.security_tables import finding_row
from ..findings import Finding
from ..records.builder import SessionRecords

_CONNECTION = ("client_ip", "client_port", "server_ip", "server_port")


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def _value(dtype: str, value: object) -> object:
    """One cell as ``write_tables(..., "json")`` renders it."""
    if dtype == LIST:
        return list(value) if isinstance(value, (list, tuple)) else []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if dtype == TS:
        return _iso(int(value))
    if dtype in (CAT, STR):
        return str(value)
    if dtype == INT:
        return int(value)
    if dtype == BOOL:
        return bool(value)
    if dtype == FLOAT:
        return float(value)
    return value


def table_row(table: str, row: dict, kind: str) -> dict:
    """``row`` cut to the columns of ``table``, typed as the JSON export types them, tagged ``type``."""
    out: dict = {"type": kind}
    for column in SCHEMAS[table]:
        out[column.name] = _value(column.dtype, row.get(column.name))
    return out


def _connection(records: SessionRecords) -> dict:
    s = records.session
    return {name: getattr(s, name) for name in _CONNECTION}


def session_line(records: SessionRecords, capture: str) -> dict:
    return table_row("sessions", _session_row(records, {records.session.session_id: capture}), "session")


def transaction_lines(records: SessionRecords) -> list[dict]:
    conn = _connection(records)
    return [table_row("transactions", {**_fields(t), "ts": t.ts_ns, "end": t.end_ts_ns, **conn}, "transaction")
            for t in records.transactions]


def finding_line(finding: Finding, connections: dict[int, dict] | None = None) -> dict:
    row = finding_row(finding)
    if connections and finding.session_id in connections:
        row.update(connections[finding.session_id])
    return table_row("findings", row, "finding")


class JsonLinesWriter:
    """Writes the lines to ``fh`` and flushes each session's lines at once, so readers see them now."""

    def __init__(self, fh: IO[str], *, capture: str) -> None:
        self._fh = fh
        self._capture = capture
        self.lines = 0

    def session(self, records: SessionRecords, findings: list[Finding]) -> None:
        lines = [session_line(records, self._capture), *transaction_lines(records)]
        conn = {records.session.session_id: _connection(records)}
        lines.extend(finding_line(f, conn) for f in findings)
        self._write(lines)

    def findings(self, findings: list[Finding], connections: dict[int, dict] | None = None, **extra) -> None:
        self._write([{**finding_line(f, connections), **extra} for f in findings])

    def _write(self, lines: list[dict]) -> None:
        if not lines:
            return
        self._fh.write("".join(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines))
        self._fh.flush()
        self.lines += len(lines)


__all__ = ["JsonLinesWriter", "finding_line", "session_line", "table_row", "transaction_lines"]
