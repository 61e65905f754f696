"""display_name_spoof: a display name carrying another address."""
from __future__ import annotations

from security_common import findings, session_ids_by_note

NAME = "smtp-spoofing.pcap"


def test_address_in_display_name():
    f = findings(NAME, "display_name_spoof")
    assert list(f["session_id"]) == [session_ids_by_note(NAME)["display name carrying another address"]]
    assert "shows support@bank.test but the address is attacker@evil.test" in f["explanation"].iloc[0]


def test_display_names_without_addresses_are_fine():
    for name in ("smtp-basic.pcap", "smtp-mime.pcap", "captures/smtp-sample.pcap"):
        assert findings(name, "display_name_spoof").empty
