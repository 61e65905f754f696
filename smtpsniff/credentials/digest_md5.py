"""DIGEST-MD5 (RFC 2831 2.1): a challenge of directives, a response carrying an MD5 digest.

The response holds all that an offline guess needs (username, realm, nonce, cnonce, nc, qop,
digest-uri, response), written as John the Ripper's ``dmd5`` line
``$DIGEST-MD5$user$realm$nonce$digest-uri$cnonce$nc$qop$response[$authzid]``.
:func:`verify` checks a password against such a line (RFC 2831 2.1.2.1).
"""
from __future__ import annotations

import hashlib
import re

from .model import AuthExchange, Decoded, decoded
from .text import sasl_text

MECHANISMS = ("DIGEST-MD5",)
HASH_FORMAT = "john dmd5"
# RFC 2831 7.1: directive = token "=" ( token | quoted-string ), comma separated.
_DIRECTIVE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def directives(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _DIRECTIVE.findall(text):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.setdefault(key.lower(), value)
    return out


def decode(ex: AuthExchange) -> Decoded:
    response = next((c for c in ex.client if b"response=" in c), None)
    if response is None:
        return decoded(note="no digest-response seen (RFC 2831 2.1.2)")
    d = directives(sasl_text(response))
    needed = ("username", "nonce", "cnonce", "nc", "digest-uri", "response")
    missing = [k for k in needed if k not in d]
    if missing:
        return decoded(username=d.get("username"), note=f"digest-response lacks {', '.join(missing)}")
    qop = d.get("qop", "auth")
    fields = [d["username"], d.get("realm", ""), d["nonce"], d["digest-uri"], d["cnonce"], d["nc"], qop,
              d["response"]]
    if d.get("authzid"):
        fields.append(d["authzid"])
    if any("$" in f for f in fields):
        return decoded(username=d["username"], realm=d.get("realm"), authzid=d.get("authzid"), complete=True,
                       note="a directive contains '$': no dmd5 line can hold it")
    return decoded(username=d["username"], realm=d.get("realm"), authzid=d.get("authzid"),
                   hash="$DIGEST-MD5$" + "$".join(fields), hash_format=HASH_FORMAT, complete=True)


def verify(line: str, password: str) -> bool:
    """Whether ``password`` yields the response in a ``$DIGEST-MD5$`` line (RFC 2831 2.1.2.1)."""
    fields = line.split("$")[2:]
    user, realm, nonce, uri, cnonce, nc, qop, response = fields[:8]
    authzid = fields[8] if len(fields) > 8 else None

    def hexmd5(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()

    a1 = hashlib.md5(f"{user}:{realm}:{password}".encode("utf-8")).digest() + f":{nonce}:{cnonce}".encode()
    if authzid:
        a1 += f":{authzid}".encode("utf-8")
    a2 = f"AUTHENTICATE:{uri}" + (":" + "0" * 32 if qop in ("auth-int", "auth-conf") else "")
    expected = hexmd5(f"{hexmd5(a1)}:{nonce}:{nc}:{cnonce}:{qop}:{hexmd5(a2.encode())}".encode())
    return expected == response.lower()
