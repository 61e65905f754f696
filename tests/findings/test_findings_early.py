"""The findings of the detectors that read no message, found early (``detect_early``: before the
messages are parsed, from the records and the session tables alone), are those ``detect_all``
finds with every table, and ``detect_all`` given them finds the rest as before.
``smtpsniff.read`` finds them while worker processes parse the messages, so they must parse none.
"""
from __future__ import annotations

import pytest
from corpus import own_captures

import smtpsniff
from smtpsniff.analysis.capture import TABLES
from smtpsniff.credentials import credentials
from smtpsniff.findings import context, detect_all, detect_early, detector_modules

CAPTURES = [p for p in own_captures() if p.suffix in (".pcap", ".pcapng")]


def _inputs(capture):
    cap = smtpsniff.read(capture, workers=0)
    records = cap.records
    return records, [c for r in records for c in credentials(r)], cap.tables


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_early_findings_are_those_found_with_every_table(capture, monkeypatch):
    records, creds, tables = _inputs(capture)
    expected = detect_all(records, creds, tables=tables)

    def no_parse(*args, **kwargs):
        raise AssertionError("a detector that runs early parsed a message")

    with monkeypatch.context() as patch:
        patch.setattr(context, "parse_message", no_parse)
        early = detect_early(records, creds, tables={name: tables[name] for name in TABLES})
    assert detect_all(records, creds, tables=tables, early=early) == expected
    waiting = {m.__name__ for m in detector_modules()} - early.keys()
    assert all(getattr(m, "READS_MESSAGES", False) for m in detector_modules() if m.__name__ in waiting)


def test_the_captures_exercise_both_kinds_of_detector():
    found = set()
    for capture in CAPTURES:
        records, creds, tables = _inputs(capture)
        early = detect_early(records, creds, tables=tables)
        found |= {f.kind for f in detect_all(records, creds, tables=tables)
                  if f.kind not in {f.kind for fs in early.values() for f in fs}}
    assert {"sender_mismatch", "display_name_spoof"} <= found  # (found late: they read messages)
