"""open_relay_attempt / open_relay_accepted: Postfix refusing relaying, an open aiosmtpd accepting it,
nmap's smtp-open-relay against both."""
from __future__ import annotations

from security_common import findings, read, sidecar

NAME = "smtp-relay.pcap"


def _sessions(server, client):
    cap = read(NAME)
    ports = set(cap.sessions.loc[cap.sessions["server_port"] == server, "session_id"])
    return ports


def test_postfix_refusals_are_attempts():
    postfix = _sessions(25, None)
    attempts = findings(NAME, "open_relay_attempt")
    attempts = attempts[attempts["session_id"].isin(postfix)]
    assert len(attempts) == 2  # the raw client and nmap
    raw = attempts.iloc[0]
    refused = [c for s in sidecar(NAME)["sessions"] if s["server"] == "postfix" and s["client"] == "raw"
               for c in s["commands"] if c.get("verb") == "RCPT" and c["reply_code"] == 554]
    assert raw.explanation.startswith(f"{len(refused)} RCPT") and "Relay access denied" in raw.evidence
    assert findings(NAME, "open_relay_accepted").pipe(lambda f: not set(f["session_id"]) & postfix)


def test_open_server_accepting_relay_syntax():
    accepted = findings(NAME, "open_relay_accepted")
    open_sessions = _sessions(587, None)
    assert set(accepted["session_id"]) <= open_sessions and len(accepted) == 2
    raw = accepted.iloc[0]
    for syntax in ("percent hack", "source route", "quoted address in the local part", "bang path"):
        assert syntax in raw.explanation
    assert "victim%elsewhere.test@example.test" in raw.evidence
    assert "<@example.test:victim@elsewhere.test>" in raw.evidence  # the path as sent
    # a plain foreign recipient is not called relaying: a server may host that domain
    assert "RCPT TO:<victim@elsewhere.test> ->" not in raw.evidence
    assert all(str(s) == "high" for s in accepted["severity"])


def test_nmap_saw_the_same():
    notes = [s["note"] for s in sidecar(NAME)["sessions"] if s["client"] == "nmap"]
    if not notes:
        return  # recorded without nmap
    assert "Server is an open relay" in notes[1] and "Server is an open relay" not in notes[0]


def test_silent_on_ordinary_delivery():
    for name in ("smtp-basic.pcap", "smtp-features.pcap", "smtp-utf8.pcap", "captures/smtp-sample.pcap"):
        for kind in ("open_relay_attempt", "open_relay_accepted"):
            assert findings(name, kind).empty, name
