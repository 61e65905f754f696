"""The ``findings`` table as the security table provider builds it (the detectors' findings read in
their own order, then put in time order by position) against its oracle: the findings sorted by
the one stable sort on the whole key, then each turned into its row by ``finding_row``.

On real captures (secrets shown and hidden), and on findings made from a fixed seed with what
the real ones rarely hold: times missing or beyond 64 bits, no session, no frames, equal keys.
The table of the early findings with the late ones merged in (``_with_late_findings``) against
the table built from all of them, likewise.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis.security_tables import (
    _finding_columns,
    _findings_table,
    _table_and_keys,
    _with_late_findings,
    finding_row,
)
from smtpsniff.analysis.tables import frame_from_columns, frame_from_rows
from smtpsniff.credentials import credentials
from smtpsniff.findings import detect_all, detect_by_detector, detect_early, order_of
from smtpsniff.findings.model import Finding, Severity

CAPTURES = ["captures/smtp-sample.pcap", "tests/data/smtp-auth-attacks.pcap", "tests/data/smtp-enumeration.pcap",
            "tests/data/smtp-starttls-attacks.pcap", "tests/data/smtp-spoofing.pcap"]


def oracle(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.ts_ns is None, f.ts_ns or 0, -f.severity.rank, f.kind))


def _same_table(found: list[Finding]) -> None:
    theirs = frame_from_rows("findings", [finding_row(f) for f in oracle(found)])
    ours = frame_from_columns("findings", len(found), _finding_columns(list(found)))
    pd.testing.assert_frame_equal(ours, theirs)
    for column in ("session_id", "ts", "frame"):  # the same Python values, not only equal ones
        assert [type(v) for v in _finding_columns(list(found))[column]] == [
            type(row[column]) for row in map(finding_row, oracle(found))], column


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("show_secrets", [False, True])
def test_real_findings(name, show_secrets):
    cap = smtpsniff.read(ROOT / name, show_secrets=show_secrets)
    records = cap.records
    found = detect_all(records, [c for r in records for c in credentials(r)], show_secrets=show_secrets,
                       tables=cap.tables)
    assert found, name
    _same_table(found)
    pd.testing.assert_frame_equal(cap.findings.drop(columns=["client_ip", "client_port", "server_ip", "server_port"]),
                                  frame_from_rows("findings", [finding_row(f) for f in oracle(found)])
                                  .drop(columns=["client_ip", "client_port", "server_ip", "server_port"]))


def _findings(rng: random.Random, n: int, wide: bool) -> list[Finding]:
    """``n`` findings; ``wide``: with integers beyond 64 bits too (no table holds those)."""
    kinds = ["no_tls", "starttls_not_used", "auth_before_starttls", "a", "b"]
    times = rng.choice([[5, 7], list(range(-3, 3)), [2**63 - 1, 0]]
                       + ([[2**63, 1], [2**70, 2**63 + 5, 4], [-2**63 - 1, 0]] if wide else []))
    out = []
    for i in range(n):
        ts = None if rng.random() < 0.1 else rng.choice(times)
        frames = rng.choice([(), (i,), (i, i + 1)] + ([(2**64, 3)] if wide else []))
        out.append(Finding(kind=rng.choice(kinds), severity=rng.choice(list(Severity)),
                           session_id=None if rng.random() < 0.05 else i, ts_ns=ts, frames=frames,
                           explanation=rng.choice(["", "x", "é"]), evidence=str(i),
                           sessions=rng.choice([(), (i,), (i, 2)])))
    return out


@pytest.mark.parametrize("seed", range(30))
def test_odd_findings(seed):
    rng = random.Random(seed)
    _same_table(_findings(rng, rng.choice([1, 2, 3, 40, 500, 2500]), wide=False))  # 2500: blocks of 1024 and a part
    found = _findings(rng, rng.choice([0, 1, 2, 3, 40, 500]), wide=True)
    positions = order_of([f.ts_ns for f in found], [f.severity for f in found], [f.kind for f in found]).tolist()
    assert [found[i] for i in positions] == oracle(found)
    timed = [f for f in found if f.ts_ns is not None and -2**63 <= f.ts_ns < 2**63]
    positions = order_of(np.array([f.ts_ns for f in timed], dtype=np.int64), [f.severity for f in timed],
                         [f.kind for f in timed]).tolist()  # the times given as an array
    assert [timed[i] for i in positions] == oracle(timed)


def _same_merge(by_detector: dict[str, list[Finding]], early_names: set[str], sessions: pd.DataFrame) -> None:
    early = {name: found for name, found in by_detector.items() if name in early_names}
    early_table = _findings_table([f for found in early.values() for f in found], sessions)
    whole = _findings_table([f for found in by_detector.values() for f in found], sessions)
    # the early rows' keys read by the merge itself, and given with the table as prepare gives them
    table, keys = _table_and_keys(list(early.values()), sessions)
    pd.testing.assert_frame_equal(table, early_table, check_exact=True)
    for merged in (_with_late_findings(early_table, by_detector, early, sessions),
                   _with_late_findings(table, by_detector, early, sessions, keys)):
        pd.testing.assert_frame_equal(merged, whole, check_exact=True)
        for column in merged.columns:  # categories too: those of the values, or the sessions table's
            if isinstance(whole[column].dtype, pd.CategoricalDtype):
                assert merged[column].cat.categories.equals(whole[column].cat.categories), column
                assert merged[column].cat.categories.dtype == whole[column].cat.categories.dtype, column


@pytest.mark.parametrize("name", ["tests/data/smtp-spoofing.pcap", "captures/smtp-sample.pcap"])
def test_late_findings_merged(name):
    cap = smtpsniff.read(ROOT / name, workers=0)
    records, tables = cap.records, cap.tables
    creds = [c for r in records for c in credentials(r)]
    early = detect_early(records, creds, tables=tables)
    by_detector = detect_by_detector(records, creds, tables=tables, early=early)
    assert [f for found in by_detector.values() for f in found] == detect_all(records, creds, tables=tables)
    late = [f for name, found in by_detector.items() if name not in early for f in found]
    assert late or name != "tests/data/smtp-spoofing.pcap"  # the spoofing capture has late findings
    if late:
        _same_merge(by_detector, set(early), tables["sessions"])
        pd.testing.assert_frame_equal(cap.findings, _findings_table(
            [f for found in by_detector.values() for f in found], tables["sessions"]))
    # Any split of the detectors into early and late ones merges to the same table
    for cut in range(len(by_detector) + 1):
        _same_merge(by_detector, set(list(by_detector)[:cut]), tables["sessions"])
        _same_merge(by_detector, set(list(by_detector)[cut:]), tables["sessions"])


@pytest.mark.parametrize("seed", range(20))
def test_late_findings_merged_odd(seed):
    rng = random.Random(seed)
    sessions = smtpsniff.read(ROOT / "captures/smtp-sample.pcap", workers=0).sessions
    by_detector = {f"d{i}": _findings(rng, rng.choice([0, 1, 3, 40, 300]), wide=False) for i in range(6)}
    for found in by_detector.values():  # sessions of the table, one it has not, or none
        for i, f in enumerate(found):
            ids = [*sessions["session_id"].tolist(), 10**6]
            found[i] = Finding(kind=f.kind, severity=f.severity, session_id=None if f.session_id is None else rng.choice(ids),
                               ts_ns=f.ts_ns, frames=f.frames, explanation=f.explanation, evidence=f.evidence,
                               sessions=f.sessions)
    names = list(by_detector)
    _same_merge(by_detector, set(rng.sample(names, rng.randint(0, len(names)))), sessions)
