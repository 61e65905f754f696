"""starttls_command_injection / starttls_response_injection: clear text where TLS was due."""
from __future__ import annotations

import pytest

from security_common import findings, session_ids_by_note, session_ids_where, shared

NAME = "smtp-starttls-attacks.pcap"


def test_command_injection_against_postfix_and_aiosmtpd():
    f = findings(NAME, "starttls_command_injection")
    injected = session_ids_where(NAME, "STARTTLS command injection")
    assert set(f["session_id"]) == injected and len(injected) == 2
    assert set(f["evidence"]) == {"RSET\\r\\n"} and set(f["severity"].astype(str)) == {"high"}


def test_response_injection():
    f = findings(NAME, "starttls_response_injection")
    notes = session_ids_by_note(NAME)
    assert list(f["session_id"]) == [notes["STARTTLS response injection: 220 and 250 in one write"]]
    assert f["evidence"].iloc[0] == "250 injected\\r\\n"


def test_a_decrypted_capture_is_no_injection():
    # Arkime's smtp-decrypted.pcap holds the TLS part already decrypted: no handshake follows
    if not shared("arkime/smtp-decrypted/smtp-decrypted.pcap").exists():
        pytest.skip("shared captures absent")
    for kind in ("starttls_command_injection", "starttls_response_injection"):
        assert findings("shared:arkime/smtp-decrypted/smtp-decrypted.pcap", kind).empty


def test_silent_on_clean_starttls():
    for kind in ("starttls_command_injection", "starttls_response_injection"):
        assert findings("smtp-starttls.pcap", kind).empty
