"""Collect the mail layer's anomalies for one parse, with the per-kind cap.

One :class:`AnomalyLog` lives for one :func:`~smtpsniff.mail.parse.parse_message` call (no global
state).  It knows nothing of MIME or headers: callers pass a kind and a readable message.
"""
from __future__ import annotations

from smtpsniff.anomaly import Anomaly, Layer

#: Longest excerpt of hostile input quoted in an anomaly message.
EXCERPT_CHARS = 80


def excerpt(data: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A short printable rendering of ``data`` for an anomaly message (``repr`` escapes)."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    cut = text[:limit]
    return repr(cut) + ("..." if len(text) > limit else "")


class AnomalyLog:
    """Anomalies of layer MAIL in the order found; past ``max_per_kind`` a kind is only counted."""

    __slots__ = ("_max_per_kind", "_items", "_counts", "suppressed")

    def __init__(self, max_per_kind: int) -> None:
        self._max_per_kind = max_per_kind
        self._items: list[Anomaly] = []
        self._counts: dict[str, int] = {}
        self.suppressed = 0

    def add(self, kind: str, message: str) -> None:
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        if count > self._max_per_kind:
            self.suppressed += 1
            return
        self._items.append(Anomaly(layer=Layer.MAIL, kind=kind, message=message))

    @property
    def count(self) -> int:
        """How many anomalies were added, kept or only counted."""
        return len(self._items) + self.suppressed

    def kinds(self) -> set[str]:
        return set(self._counts)

    def freeze(self) -> tuple[Anomaly, ...]:
        return tuple(self._items)
