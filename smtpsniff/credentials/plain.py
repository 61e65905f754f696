"""PLAIN (RFC 4616 2): ``[authzid] NUL authcid NUL passwd`` in the first client message."""
from __future__ import annotations

from .model import AuthExchange, Decoded, SecretKind, decoded
from .text import sasl_text

MECHANISMS = ("PLAIN",)


def decode(ex: AuthExchange) -> Decoded:
    client = ex.client
    if not client:
        return decoded(note="no client message: the exchange ended before the credentials were sent")
    parts = client[0].split(b"\x00")
    if len(parts) != 3:
        return decoded(note=f"PLAIN message has {len(parts) - 1} NUL separators, RFC 4616 2 needs 2")
    authzid, authcid, passwd = parts
    return decoded(username=sasl_text(authcid), authzid=sasl_text(authzid) or None, secret=sasl_text(passwd),
                   secret_kind=SecretKind.PASSWORD, complete=True)
