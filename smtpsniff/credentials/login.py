"""LOGIN (draft-murchison-sasl-login): the username, then the password, each in its own message.

The prompts ("Username:", "User Name", anything) are not read: the first client message is the
username (on the AUTH line or after the first 334), the second the password.
"""
from __future__ import annotations

from .model import AuthExchange, Decoded, SecretKind, decoded
from .text import sasl_text

MECHANISMS = ("LOGIN",)


def decode(ex: AuthExchange) -> Decoded:
    client = ex.client
    if not client:
        return decoded(note="no client message: the exchange ended before the username was sent")
    username = sasl_text(client[0])
    if len(client) < 2:
        return decoded(username=username, note="the password was never sent")
    note = f"{len(client) - 2} further client messages ignored" if len(client) > 2 else None
    return decoded(username=username, secret=sasl_text(client[1]), secret_kind=SecretKind.PASSWORD,
                   complete=True, note=note)
