"""helo_mismatch: an address literal that is not the client's, the server's own name."""
from __future__ import annotations

import pytest

from smtpsniff.findings.helo_mismatch import _problem

from security_common import findings, session_ids_by_note, shared

NAME = "smtp-spoofing.pcap"


def test_literal_and_server_name():
    notes = session_ids_by_note(NAME)
    f = findings(NAME, "helo_mismatch").set_index("session_id")
    assert set(f.index) == {notes["EHLO address literal that is not the client's"],
                            notes["EHLO with the server's own name"]}
    assert "192.0.2.55 is not the client's address 127.0.0.1" in f.loc[notes["EHLO address literal that is not the client's"], "explanation"]
    assert "greets with the server's own name" in f.loc[notes["EHLO with the server's own name"], "explanation"]


@pytest.mark.parametrize("helo,client,server,expected", [
    ("[10.0.0.7]", "93.184.216.34", "81.2.69.160", None),  # NAT: private literal, public client
    ("[81.2.69.142]", "10.2.25.102", "193.252.22.84", None),  # NAT the other way (capture inside)
    ("[127.0.0.1]", "127.0.0.1", "127.0.0.1", None),
    ("mx.example.test", "127.0.0.1", "127.0.0.1", None),  # same host: a local relay may share the name
    ("localhost", "203.0.113.9", "198.51.100.1", "low"),
    ("[198.51.100.1]", "203.0.113.9", "198.51.100.1", "medium"),
])
def test_rules(helo, client, server, expected):
    problem = _problem(helo, client, server, {"mx.example.test"})
    assert (problem[0].value if problem else None) == expected


def test_silent_on_honest_greetings():
    for name in ("smtp-basic.pcap", "smtp-features.pcap", "captures/smtp-sample.pcap", "smtp-auth.pcap"):
        assert findings(name, "helo_mismatch").empty
    if shared("zeek/smtp/smtp.pcap").exists():
        assert findings("shared:zeek/smtp/smtp.pcap", "helo_mismatch").empty
