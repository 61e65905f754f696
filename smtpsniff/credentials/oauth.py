"""Bearer-token mechanisms: XOAUTH2 (Google's SASL XOAUTH2) and OAUTHBEARER (RFC 7628 3.1).

XOAUTH2: ``user=<user> ^A auth=Bearer <token> ^A ^A``.  OAUTHBEARER: a GS2 header
``n,a=<authzid>,`` then ``^A``-separated ``key=value`` pairs with ``auth=Bearer <token>``.
A failed attempt gets a 334 with a JSON error that the client answers with an empty message.
"""
from __future__ import annotations

from .model import AuthExchange, Decoded, SecretKind, decoded
from .text import sasl_text

MECHANISMS = ("XOAUTH2", "OAUTHBEARER")


def _pairs(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in data.split(b"\x01"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            out.setdefault(sasl_text(key).lower(), sasl_text(value))
    return out


def _token(auth: str | None) -> str | None:
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else auth


def _gs2_authzid(header: bytes) -> str | None:
    # RFC 5801 4: gs2-header = [gs2-nonstd-flag ","] gs2-cb-flag "," [gs2-authzid] ","
    for part in header.split(b","):
        if part.startswith(b"a="):
            return sasl_text(part[2:]).replace("=2C", ",").replace("=3D", "=")
    return None


def decode(ex: AuthExchange) -> Decoded:
    client = [c for c in ex.client if c]
    if not client:
        return decoded(note="no client message with credentials")
    first = client[0]
    if ex.mechanism == "OAUTHBEARER":
        header, _, rest = first.partition(b"\x01")
        authzid = _gs2_authzid(header)
        pairs = _pairs(rest)
        token = _token(pairs.get("auth"))
        return decoded(username=authzid, authzid=authzid, secret=token,
                       secret_kind=SecretKind.TOKEN if token is not None else None, complete=token is not None,
                       note=None if token is not None else "no auth=Bearer pair (RFC 7628 3.1)")
    pairs = _pairs(first)
    token = _token(pairs.get("auth"))
    return decoded(username=pairs.get("user"), secret=token,
                   secret_kind=SecretKind.TOKEN if token is not None else None, complete=token is not None,
                   note=None if token is not None else "no auth=Bearer field")
