"""NTLM: NetNTLMv1 (hashcat 5500) and NetNTLMv2 (5600) lines check against the password with
pyspnego's NTLM one-way functions (an independent implementation of MS-NLMP 3.3)."""
from __future__ import annotations

import hashlib
import hmac

import pytest

spnego_crypto = pytest.importorskip("spnego._ntlm_raw.crypto")

from security_common import read, shared, sidecar  # noqa: E402


def _v1_ok(line: str, password: str) -> bool:
    user, _, domain, lm, nt, challenge = line.split(":")
    server = bytes.fromhex(challenge)
    lm_b = bytes.fromhex(lm)
    if len(lm_b) == 24 and lm_b[8:] == bytes(16):  # extended session security
        server = hashlib.md5(server + lm_b[:8]).digest()[:8]
    return spnego_crypto.desl(spnego_crypto.ntowfv1(password), server).hex() == nt


def _v2_ok(line: str, password: str) -> bool:
    user, _, domain, challenge, proof, blob = line.split(":")
    key = spnego_crypto.ntowfv2(user, spnego_crypto.ntowfv1(password), domain)
    return hmac.new(key, bytes.fromhex(challenge + blob), "md5").hexdigest() == proof


def test_ntlm_lines_check_with_the_password():
    cap = read("smtp-auth-mechs.pcap", show_secrets=True)
    ntlm = cap.credentials[cap.credentials["mechanism"] == "NTLM"].reset_index(drop=True)
    auths = [a for s in sidecar("smtp-auth-mechs.pcap")["sessions"] for a in s["auth"] if a["mechanism"] == "NTLM"]
    assert len(ntlm) == len(auths) == 2
    (v1, a1), (v2, a2) = zip(ntlm.itertuples(), auths)
    assert (v1.username, v1.realm, v1.hashcat_mode, v1.outcome_code) == ("dave", "EXAMPLE", 5500, 235)
    assert _v1_ok(v1.hash, a1["password"]) and not _v1_ok(v1.hash, "Dave-NTLM-2")
    assert (v2.username, v2.realm, v2.hashcat_mode, v2.outcome_code) == ("erin", "EXAMPLE", 5600, 235)
    assert _v2_ok(v2.hash, a2["password"]) and not _v2_ok(v2.hash, "erin")


def test_ntlm_challenge_is_the_servers():
    cap = read("smtp-auth-mechs.pcap", show_secrets=True)
    import base64
    for row in cap.credentials[cap.credentials["mechanism"] == "NTLM"].itertuples():
        challenges = cap.replies[(cap.replies["session_id"] == row.session_id) & (cap.replies["code"] == 334)]
        type2 = next(base64.b64decode(t) for t in challenges["text"] if t)
        fields = row.hash.split(":")
        server_challenge = fields[3] if row.hashcat_mode == 5600 else fields[5]
        assert type2[24:32].hex() == server_challenge


def test_arkime_ntlm_synthetic():
    path = shared("arkime/ntlm_synthetic/ntlm_synthetic.pcap")
    if not path.exists():
        pytest.skip("shared captures absent")
    cap = read("shared:arkime/ntlm_synthetic/ntlm_synthetic.pcap", show_secrets=True)
    row = cap.credentials.iloc[0]
    # Arkime's expected output for this capture names the user and domain
    assert (row.mechanism, row.username, row.realm, row.outcome_code) == ("NTLM", "jack", "SMTPDOM", 235)
    assert row.hash.endswith(":0123456789abcdef") and row.hashcat_mode == 5500
