"""no_tls: whole sessions in clear; info for port-25 relaying, low for submission with mail."""
from __future__ import annotations

from security_common import findings, read


def test_plain_relaying_is_info():
    f = findings("smtp-basic.pcap", "no_tls")
    assert list(f["severity"].astype(str)) == ["info"] and "offered no STARTTLS" in f["explanation"].iloc[0]


def test_submission_with_mail_in_clear_is_low():
    f = findings("captures/smtp-sample.pcap", "no_tls")
    ports = read("captures/smtp-sample.pcap").sessions.set_index("session_id")
    low = f[f["severity"] == "low"]
    assert len(low) == 1 and int(ports.loc[low["session_id"].iloc[0], "server_port"]) == 587
    assert set(f["severity"].astype(str)) == {"info", "low"}


def test_silent_on_tls_sessions():
    assert findings("smtp-starttls.pcap", "no_tls").empty
    assert findings("smtp-implicit-tls.pcap", "no_tls").empty
    tls = read("captures/smtp-sample.pcap").sessions.query("tls")["session_id"]
    assert not set(tls) & set(findings("captures/smtp-sample.pcap", "no_tls")["session_id"])
