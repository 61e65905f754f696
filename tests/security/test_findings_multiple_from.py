"""multiple_from: two From fields in one message."""
from __future__ import annotations

from security_common import findings, session_ids_by_note

NAME = "smtp-spoofing.pcap"


def test_two_from_fields():
    f = findings(NAME, "multiple_from")
    assert list(f["session_id"]) == [session_ids_by_note(NAME)["two From fields"]]
    assert f["evidence"].iloc[0] == "From: news@bulk.test | From: ceo@example.test"
    assert str(f["severity"].iloc[0]) == "medium"


def test_silent_on_one_from():
    for name in ("smtp-basic.pcap", "smtp-mime.pcap", "captures/smtp-sample.pcap"):
        assert findings(name, "multiple_from").empty
