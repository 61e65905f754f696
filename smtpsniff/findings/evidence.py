"""Evidence text: capture bytes shown safely (escaped, cut) and short lists of lines.

Findings carry this text into tables, JSON lines and terminals, so every control octet is shown
escaped (``\\r``, ``\\n``, ``\\x00``) and long values are cut with the count of octets left out.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

#: Octets of one piece of evidence shown before it is cut.
MAX_EVIDENCE_BYTES = 300
#: Lines listed before "... and N more".
MAX_EVIDENCE_LINES = 8

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def show(data: bytes | str, limit: int = MAX_EVIDENCE_BYTES) -> str:
    """``data`` with control characters escaped, cut to ``limit`` octets (the cut is said)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    cut = len(raw) - limit
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    text = _CONTROL.sub(lambda m: _NAMED.get(m.group(0), f"\\x{ord(m.group(0)):02x}"), text)
    return text + (f"… (+{cut} octets)" if cut > 0 else "")


def lines(items: Iterable[str], limit: int = MAX_EVIDENCE_LINES) -> str:
    items = list(items)
    shown = items[:limit]
    more = len(items) - len(shown)
    return " | ".join(shown) + (f" | … and {more} more" if more > 0 else "")
