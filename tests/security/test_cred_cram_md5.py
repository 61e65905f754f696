"""CRAM-MD5 hash lines crack with the right password (hmac against the recorded challenge)."""
from __future__ import annotations

import base64
import hashlib
import hmac

from smtpsniff.credentials import cram_md5

from security_common import read, sidecar


def _hmac_ok(line: str, password: str) -> bool:
    # the oracle: RFC 2195 recomputed here with the stdlib, from the line's own fields
    _, tag, challenge_b64, response_b64 = line.split("$")
    user, digest = base64.b64decode(response_b64).decode().rsplit(" ", 1)
    return tag == "cram_md5" and hmac.new(password.encode(), base64.b64decode(challenge_b64),
                                           hashlib.md5).hexdigest() == digest


def test_cram_md5_lines_crack_with_the_sidecar_password():
    cap = read("smtp-auth.pcap", show_secrets=True)
    auths = [a for s in sidecar("smtp-auth.pcap")["sessions"] for a in s["auth"]]
    rows = [(row, a) for row, a in zip(cap.credentials.itertuples(), auths) if a["mechanism"] == "CRAM-MD5"]
    assert len(rows) == 3  # smtplib, swaks (success), swaks with a wrong password
    db = sidecar("smtp-auth.pcap")["credentials_db"]
    for row, auth in rows:
        assert row.hashcat_mode == 10200 and row.username == auth["username"]
        # the password the client typed produced the response; the account's real one only if it got in
        assert _hmac_ok(row.hash, auth["password"]) and cram_md5.verify(row.hash, auth["password"])
        assert _hmac_ok(row.hash, db[auth["username"]]) == auth["success"]
        assert not cram_md5.verify(row.hash, auth["password"] + "x")


def test_cram_md5_line_holds_the_challenge_the_server_sent():
    cap = read("smtp-auth.pcap", show_secrets=True)
    for row in cap.credentials[cap.credentials["mechanism"] == "CRAM-MD5"].itertuples():
        replies = cap.replies[(cap.replies["session_id"] == row.session_id)
                              & (cap.replies["command_index"] == row.command_index) & (cap.replies["code"] == 334)]
        assert row.hash.split("$")[2] == replies["text"].iloc[0]
