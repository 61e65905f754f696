"""command_injection: CR or LF inside a command, NUL, over-long lines."""
from __future__ import annotations

from security_common import findings, session_ids_by_note

NAME = "smtp-command-injection.pcap"


def test_each_injection_shape():
    notes = session_ids_by_note(NAME)
    f = findings(NAME, "command_injection").set_index("session_id")
    expected = {
        "bare CR inside MAIL FROM": ("medium", "CR inside a command line", "MAIL FROM:<alice@example.test>\\rRCPT TO:<bob@example.test>\\r\\n"),
        "LF inside MAIL FROM": ("medium", "LF inside a command line", "MAIL FROM:<alice@example.test>\\n"),
        "NUL in RCPT TO": ("medium", "NUL octet", "RCPT TO:<bob\\x00@example.test>\\r\\n"),
        "2000-octet HELO": ("low", "command line over 512 octets", "HELO AAAA"),
    }
    assert len(f) == len(expected)
    for note, (severity, why, evidence) in expected.items():
        row = f.loc[notes[note]]
        assert str(row.severity) == severity and why in row.explanation and evidence in row.evidence
    assert "longest 2007 octets" in f.loc[notes["2000-octet HELO"], "explanation"]


def test_silent_on_clean_clients():
    for name in ("smtp-basic.pcap", "smtp-features.pcap", "smtp-bdat.pcap", "captures/smtp-sample.pcap"):
        assert findings(name, "command_injection").empty
