"""auth_before_starttls: AUTH offered in a clear-text EHLO reply."""
from __future__ import annotations

from security_common import findings, read, severities, shared

import pytest


def test_plaintext_mechanisms_offered_before_tls_are_medium():
    f = findings("captures/smtp-sample.pcap", "auth_before_starttls")
    cap = read("captures/smtp-sample.pcap")
    ports = cap.sessions.set_index("session_id")["server_port"]
    assert len(f) == 2 and severities(f) == ["medium", "medium"]
    assert {int(ports[s]) for s in f["session_id"]} == {587}  # the port-25 server offers no AUTH
    assert "STARTTLS was also offered" in f["explanation"].iloc[0] and "LOGIN, PLAIN" in f["explanation"].iloc[0]


def test_challenge_response_only_is_low():
    if not shared("arkime/ntlm_synthetic/ntlm_synthetic.pcap").exists():
        pytest.skip("shared captures absent")
    f = findings("shared:arkime/ntlm_synthetic/ntlm_synthetic.pcap", "auth_before_starttls")
    assert severities(f) == ["low"] and "no STARTTLS was offered" in f["explanation"].iloc[0]


def test_silent_without_auth_offer():
    assert findings("smtp-basic.pcap", "auth_before_starttls").empty
    assert findings("smtp-features.pcap", "auth_before_starttls").empty
