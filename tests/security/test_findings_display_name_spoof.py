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


def test_same_findings_from_the_mail_tables_and_from_parsing():
    from smtpsniff.credentials import credentials
    from smtpsniff.findings import find
    from security_common import read
    cap = read(NAME)
    records = cap.records
    creds = [c for r in records for c in credentials(r)]
    spoof = {"sender_mismatch", "multiple_from", "display_name_spoof"}

    def rows(found):
        return sorted((f.kind, f.session_id, f.explanation, f.evidence) for f in found if f.kind in spoof)
    with_tables = rows(find(records, creds, tables=cap.tables))
    parsed = rows(find(records, creds))
    assert with_tables == parsed and len(parsed) == 3
