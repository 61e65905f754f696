"""cleartext_auth: every AUTH outside TLS, high for passwords/tokens, medium for crackable responses."""
from __future__ import annotations

from security_common import findings, read, severities, sidecar


def test_one_finding_per_clear_text_auth():
    f = findings("smtp-auth.pcap", "cleartext_auth")
    auths = [a for s in sidecar("smtp-auth.pcap")["sessions"] for a in s["auth"]]
    assert len(f) == len(auths) == 10
    expected = ["medium" if a["mechanism"] == "CRAM-MD5" else "high" for a in auths]
    assert severities(f) == expected
    for row, a in zip(f.itertuples(), auths):
        assert f"AUTH {a['mechanism']}" in row.explanation and f"user={a['username']}" in row.evidence
        assert a["password"] not in row.evidence and "********" in row.evidence


def test_challenge_response_and_tokens():
    f = findings("smtp-auth-mechs.pcap", "cleartext_auth")
    by_mech = {}
    for row in f.itertuples():
        by_mech.setdefault(row.explanation.split()[1], set()).add(str(row.severity))
    assert by_mech == {"NTLM": {"medium"}, "DIGEST-MD5": {"medium"}, "SCRAM-SHA-256": {"medium"},
                       "SCRAM-SHA-1": {"medium"}, "XOAUTH2": {"high"}, "OAUTHBEARER": {"high"}}


def test_show_secrets_reveals_them_in_the_evidence():
    f = findings("smtp-auth.pcap", "cleartext_auth", show_secrets=True)
    assert "password=wonderland" in " ".join(f["evidence"])


def test_silent_when_auth_ran_inside_tls():
    # smtp-starttls.pcap and smtp-implicit-tls.pcap authenticate inside TLS: nothing visible
    for name in ("smtp-starttls.pcap", "smtp-implicit-tls.pcap"):
        assert findings(name, "cleartext_auth").empty
        assert read(name).credentials.empty
