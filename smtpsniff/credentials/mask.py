"""Hiding secrets in every output unless the user asks for them (``--show-secrets``).

A masked value is always :data:`MASK`, whatever its length: the length of a password is itself
a clue.  Nothing here decides *what* is secret; callers pass the values to hide.
"""
from __future__ import annotations

import re

#: What a hidden secret, token or crackable hash reads as.
MASK = "********"

# RFC 4954 4: "AUTH" SP sasl-mech [SP initial-response]
_AUTH_ARGUMENT = re.compile(r"^(?P<mech>\S+)(?P<sep>\s+)(?P<initial>\S.*)$", re.DOTALL)


def mask(value: str | None, show: bool = False) -> str | None:
    """``value`` itself when ``show``; else :data:`MASK` (``None`` and ``""`` stay as they are)."""
    if show or not value:
        return value
    return MASK


def mask_auth_argument(argument: str, show: bool = False) -> str:
    """An AUTH command's argument with its initial response hidden (``PLAIN ********``).

    The initial response is base64 of the credentials, as readable as the password itself.
    ``=`` (an empty initial response, RFC 4954 4) is kept.
    """
    if show:
        return argument
    m = _AUTH_ARGUMENT.match(argument)
    if m is None or m.group("initial") == "=":
        return argument
    return f"{m.group('mech')}{m.group('sep')}{MASK}"
