"""XOAUTH2 and OAUTHBEARER: user and bearer token as sent, masked unless asked for."""
from __future__ import annotations

from security_common import read, sidecar


def test_bearer_tokens_equal_the_sidecar():
    cap = read("smtp-auth-mechs.pcap", show_secrets=True)
    auths = [a for s in sidecar("smtp-auth-mechs.pcap")["sessions"] for a in s["auth"]]
    rows = [(r, a) for r, a in zip(cap.credentials.itertuples(), auths) if r.mechanism in ("XOAUTH2", "OAUTHBEARER")]
    assert [(r.mechanism, r.outcome_code) for r, _ in rows] == [("XOAUTH2", 535), ("XOAUTH2", 235), ("OAUTHBEARER", 235)]
    for row, auth in rows:
        assert (row.username, row.secret, row.secret_kind) == (auth["username"], auth["token"], "token")
        assert bool(row.success) == (auth["expected"] == "success")


def test_tokens_masked_by_default():
    creds = read("smtp-auth-mechs.pcap").credentials
    tokens = creds[creds["secret_kind"] == "token"]
    assert len(tokens) == 3 and set(tokens["secret"]) == {"********"}
