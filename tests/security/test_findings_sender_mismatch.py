"""sender_mismatch: MAIL FROM and From header in different organisational domains."""
from __future__ import annotations

from smtpsniff.findings.domains import org_domain

from security_common import findings, kinds_by_session, session_ids_by_note

NAME = "smtp-spoofing.pcap"


def test_envelope_vs_header():
    notes = session_ids_by_note(NAME)
    f = findings(NAME, "sender_mismatch")
    assert list(f["session_id"]) == [notes["envelope sender in another domain than From"]]
    assert str(f["severity"].iloc[0]) == "low"
    assert f["evidence"].iloc[0] == "MAIL FROM:<bounce-77@mailer.bulk.test> | From: Example CEO <ceo@example.test>"


def test_consistent_message_has_no_spoofing_finding():
    notes = session_ids_by_note(NAME)
    assert kinds_by_session(NAME)[notes["consistent message (no finding)"]] == {"no_tls"}


def test_organisational_domain():
    assert org_domain("mx1.mail.example.co.uk") == "example.co.uk"
    assert org_domain("mailer.bulk.test") == "bulk.test"
    assert org_domain("[192.0.2.1]") is None and org_domain("localhost") is None


def test_silent_on_aligned_mail():
    for name in ("smtp-basic.pcap", "smtp-mime.pcap", "smtp-features.pcap"):
        assert findings(name, "sender_mismatch").empty
