"""NTLM over SMTP (MS-SMTPNTLM, MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE, AUTHENTICATE messages.

The server challenge comes from the CHALLENGE message, user, domain and responses from the
AUTHENTICATE message.  An NT response longer than 24 octets is NTLMv2 and becomes a hashcat mode
5600 line ``user::domain:challenge:NTProofStr:blob``; a 24-octet one is NTLMv1 (with or without
extended session security) and becomes a mode 5500 line ``user::domain:lm:nt:challenge``.
Anonymous authentication (empty user and responses) yields no hash.
"""
from __future__ import annotations

import struct

from .model import AuthExchange, Decoded, decoded

MECHANISMS = ("NTLM",)
SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
FLAG_UNICODE = 0x00000001  # NTLMSSP_NEGOTIATE_UNICODE (MS-NLMP 2.2.2.5)
FORMAT_V2 = "hashcat 5600 / john netntlmv2"
FORMAT_V1 = "hashcat 5500 / john netntlm"


def message_type(data: bytes) -> int | None:
    if len(data) < 12 or not data.startswith(SIGNATURE):
        return None
    return struct.unpack_from("<I", data, 8)[0]


def _field(data: bytes, at: int) -> bytes | None:
    """A (length, max length, offset) security buffer (MS-NLMP 2.2.1.3) at ``at``."""
    if len(data) < at + 8:
        return None
    length, _, offset = struct.unpack_from("<HHI", data, at)
    if offset + length > len(data):
        return None
    return data[offset: offset + length]


def _text(raw: bytes, unicode: bool) -> str:
    return raw.decode("utf-16-le" if unicode else "latin-1", errors="backslashreplace")


def decode(ex: AuthExchange) -> Decoded:
    challenge_msg = next((d for d in ex.server if message_type(d) == CHALLENGE), None)
    auth_msg = next((d for d in ex.client if message_type(d) == AUTHENTICATE), None)
    if auth_msg is None:
        return decoded(note="no AUTHENTICATE message seen")
    fields = [_field(auth_msg, at) for at in (12, 20, 28, 36, 44)]
    if any(f is None for f in fields):
        return decoded(note="AUTHENTICATE message has a field outside the message (MS-NLMP 2.2.1.3)")
    lm, nt, domain_raw, user_raw, _workstation = fields
    flags = struct.unpack_from("<I", auth_msg, 60)[0] if len(auth_msg) >= 64 else FLAG_UNICODE
    unicode = bool(flags & FLAG_UNICODE)
    user, domain = _text(user_raw, unicode), _text(domain_raw, unicode)
    if not user and not nt:
        return decoded(username="", realm=domain or None, complete=True, note="anonymous NTLM: no credentials")
    if challenge_msg is None or len(challenge_msg) < 32:
        return decoded(username=user, realm=domain or None, note="no CHALLENGE message seen: no server challenge")
    server_challenge = challenge_msg[24:32].hex()
    if len(nt) > 24:
        line = f"{user}::{domain}:{server_challenge}:{nt[:16].hex()}:{nt[16:].hex()}"
        return decoded(username=user, realm=domain or None, hash=line, hash_format=FORMAT_V2, hashcat_mode=5600,
                       complete=True)
    if len(nt) == 24:
        line = f"{user}::{domain}:{lm.hex()}:{nt.hex()}:{server_challenge}"
        return decoded(username=user, realm=domain or None, hash=line, hash_format=FORMAT_V1, hashcat_mode=5500,
                       complete=True)
    return decoded(username=user, realm=domain or None, complete=True,
                   note=f"NT response of {len(nt)} octets is neither NTLMv1 (24) nor NTLMv2 (> 24)")
