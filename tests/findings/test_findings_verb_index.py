"""smtpsniff.findings.verbs: the sessions that sent a verb, read from the commands table, must be
those the session records show (the records are the oracle), on every capture, for every verb the
detectors and the credentials table ask about and for a verb no session sends."""
from __future__ import annotations

import pytest
from corpus import all_capture_params

import smtpsniff
from smtpsniff.findings.verbs import sessions_sending, sessions_sending_in_records

VERBS = ("AUTH", "STARTTLS", "VRFY", "EXPN", "RCPT", "EHLO", "NOT-A-VERB")


@pytest.mark.parametrize("path", all_capture_params())
def test_table_and_records_agree(path):
    cap = smtpsniff.read(path)
    records = cap.records
    for verb in VERBS:
        from_records = sessions_sending_in_records(verb, records)
        assert sessions_sending(verb, records, cap.tables) == from_records, verb
        assert sessions_sending(verb, records, {}) == from_records
        expected = {r.session.session_id for r in records if any(c.verb == verb for c in r.commands)}
        assert from_records == expected


def test_several_files_at_once():
    """Session ids of the second file are shifted: the table's ids and the records' must still agree."""
    from corpus import own_captures

    paths = [p for p in own_captures() if p.suffix == ".pcap"][:3]
    cap = smtpsniff.read(*paths)
    for verb in VERBS:
        assert sessions_sending(verb, cap.records, cap.tables) == sessions_sending_in_records(verb, cap.records)
    assert len({r.session.session_id for r in cap.records}) == len(cap.records)
