"""starttls_not_used: STARTTLS offered, the client carried on in clear."""
from __future__ import annotations

from security_common import findings, read, session_ids_by_note


def test_port_25_relaying_is_low_and_submission_with_auth_medium():
    f = findings("captures/smtp-sample.pcap", "starttls_not_used")
    ports = read("captures/smtp-sample.pcap").sessions.set_index("session_id")["server_port"]
    by_port = {}
    for row in f.itertuples():
        by_port.setdefault(int(ports[row.session_id]), set()).add(str(row.severity))
    assert by_port == {25: {"low"}, 587: {"medium"}}


def test_silent_when_starttls_was_used_or_refused():
    assert findings("smtp-starttls.pcap", "starttls_not_used").empty
    notes = session_ids_by_note("smtp-starttls-attacks.pcap")
    refused = notes["proxy mode refuse: STARTTLS answered 454; swaks --tls-optional goes on in clear"]
    assert refused not in set(findings("smtp-starttls-attacks.pcap", "starttls_not_used")["session_id"])
