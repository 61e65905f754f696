"""CRAM-MD5 (RFC 2195): challenge, then ``user SP hex(HMAC-MD5(password, challenge))``.

The exchange becomes the line hashcat mode 10200 and John the Ripper's ``cram_md5`` read:
``$cram_md5$<base64 challenge>$<base64 response>``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from .model import AuthExchange, Decoded, decoded
from .text import sasl_text

MECHANISMS = ("CRAM-MD5",)
HASH_FORMAT = "hashcat 10200 / john cram_md5"
_RESPONSE = re.compile(rb"^(?P<user>.+) (?P<digest>[0-9a-fA-F]{32})$", re.DOTALL)


def decode(ex: AuthExchange) -> Decoded:
    if not ex.server:
        return decoded(note="no server challenge seen")
    challenge = ex.server[0]
    client = ex.client
    if not client:
        return decoded(note="no client response: the exchange ended after the challenge")
    m = _RESPONSE.match(client[0])
    if m is None:
        return decoded(note="response is not 'user SP 32 hex digits' (RFC 2195 2)")
    line = "$cram_md5${}${}".format(base64.b64encode(challenge).decode("ascii"),
                                    base64.b64encode(client[0]).decode("ascii"))
    return decoded(username=sasl_text(m.group("user")), hash=line, hash_format=HASH_FORMAT, hashcat_mode=10200,
                   complete=True)


def verify(line: str, password: str) -> bool:
    """Whether ``password`` produced the response in a ``$cram_md5$`` line."""
    _, _, challenge_b64, response_b64 = line.split("$", 3)
    challenge = base64.b64decode(challenge_b64)
    _, _, digest = base64.b64decode(response_b64).rpartition(b" ")
    expected = hmac.new(password.encode("utf-8"), challenge, hashlib.md5).hexdigest().encode()
    return hmac.compare_digest(expected, digest.lower())
