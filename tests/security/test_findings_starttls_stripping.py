"""starttls_stripping: a masked STARTTLS, a refused STARTTLS, a masked banner (stripping proxy)."""
from __future__ import annotations

from security_common import findings, read, session_ids_by_note

NAME = "smtp-starttls-attacks.pcap"


def _by_session():
    out = {}
    for row in findings(NAME, "starttls_stripping").itertuples():
        out.setdefault(int(row.session_id), []).append((str(row.severity), row.explanation, row.evidence))
    return out


def test_each_stripping_mode_is_found():
    notes, found = session_ids_by_note(NAME), _by_session()
    mask = found.pop(notes["proxy mode mask: the client finds no STARTTLS and goes on in clear"])
    assert [s for s, _, _ in mask] == ["high"] and "XXXXXXXA" in mask[0][2]
    assert "AUTH, DATA, MAIL, RCPT in clear" in mask[0][1]
    banner = found.pop(notes["proxy mode banner: the client finds no STARTTLS and goes on in clear"])
    assert sorted(s for s, _, _ in banner) == ["high", "medium"]
    assert any(e.startswith("220 ****") for _, _, e in banner)
    refused = found.pop(notes["proxy mode refuse: STARTTLS answered 454; swaks --tls-optional goes on in clear"])
    assert refused[0][0] == "high" and "STARTTLS answered 454 although STARTTLS was offered" in refused[0][1]
    assert not found  # the injection sessions strip nothing


def test_what_the_client_saw_matches_the_sidecar():
    from security_common import sidecar
    for s in sidecar(NAME)["sessions"]:
        if s["note"].startswith("proxy mode mask"):
            ehlo = next(c for c in s["commands"] if c.get("verb") == "EHLO")
            assert "XXXXXXXA" in ehlo["reply_text"] and "STARTTLS" not in ehlo["reply_text"]


def test_silent_on_honest_servers():
    for name in ("smtp-starttls.pcap", "smtp-basic.pcap", "smtp-auth.pcap"):
        assert findings(name, "starttls_stripping").empty
    assert read("captures/smtp-sample.pcap").findings.query("kind == 'starttls_stripping'").empty
