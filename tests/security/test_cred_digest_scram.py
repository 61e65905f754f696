"""DIGEST-MD5 (John dmd5 line) and SCRAM (smtpsniff-scram line) check with the right password only."""
from __future__ import annotations

from smtpsniff.credentials import digest_md5, scram

from security_common import read, sidecar


def _pairs(name, mechanisms):
    cap = read(name, show_secrets=True)
    auths = [a for s in sidecar(name)["sessions"] for a in s["auth"]]
    return [(row, a) for row, a in zip(cap.credentials.itertuples(), auths) if row.mechanism in mechanisms]


def test_digest_md5_line_verifies():
    pairs = _pairs("smtp-auth-mechs.pcap", {"DIGEST-MD5"})
    assert len(pairs) == 1
    row, auth = pairs[0]
    assert row.hash.startswith("$DIGEST-MD5$frank$example.test$") and row.outcome_code == 235
    assert digest_md5.verify(row.hash, auth["password"]) and not digest_md5.verify(row.hash, "frank")


def test_digest_md5_nonce_is_the_servers():
    cap = read("smtp-auth-mechs.pcap", show_secrets=True)
    row = cap.credentials[cap.credentials["mechanism"] == "DIGEST-MD5"].iloc[0]
    import base64
    challenge = cap.replies[(cap.replies["session_id"] == row.session_id) & (cap.replies["code"] == 334)]["text"].iloc[0]
    assert f'nonce="{row.hash.split("$")[4]}"' in base64.b64decode(challenge).decode()


def test_scram_lines_verify_with_the_password_the_client_used():
    pairs = _pairs("smtp-auth-mechs.pcap", {"SCRAM-SHA-1", "SCRAM-SHA-256"})
    assert [(r.mechanism, r.outcome_code) for r, _ in pairs] == [
        ("SCRAM-SHA-256", 535), ("SCRAM-SHA-256", 235), ("SCRAM-SHA-1", 235)]
    db = sidecar("smtp-auth-mechs.pcap")["credentials_db"]["scram"]
    for row, auth in pairs:
        assert row.username == auth["username"]
        assert scram.verify(row.hash, auth["password"])  # what the client typed produced the proof
        assert scram.verify(row.hash, db[auth["username"]]) == (row.outcome_code == 235)
