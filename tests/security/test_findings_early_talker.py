"""early_talker: the client spoke before the greeting (aiosmtpd with a greeting pause)."""
from __future__ import annotations

import pytest

from security_common import findings, session_ids_by_note, shared

NAME = "smtp-early-talker.pcap"


def test_early_client_found_polite_client_not():
    f = findings(NAME, "early_talker")
    notes = session_ids_by_note(NAME)
    assert list(f["session_id"]) == [notes["EHLO sent before the greeting"]]
    assert f["evidence"].iloc[0] == "EHLO early.example.test\\r\\n"
    assert "the greeting was 220" in f["explanation"].iloc[0]


@pytest.mark.parametrize("case", ["zeek/smtp-one-side-only/smtp-one-side-only.pcap",
                                  "zeek/smtp-attachment-msg/smtp-attachment-msg.pcap",
                                  "arkime/smtp-subject-multi-nospace/smtp-subject-multi-nospace.pcap"])
def test_one_sided_captures_cannot_tell(case):
    if not shared(case).exists():
        pytest.skip("shared captures absent")
    assert findings(f"shared:{case}", "early_talker").empty
