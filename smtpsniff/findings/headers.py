"""Shared reading of the headers the spoofing detectors need, from parsed messages."""
from __future__ import annotations

from collections.abc import Iterator

from ..mail.model import ParsedMessage
from ..records.builder import MessageData, SessionRecords
from ..records.model import TransactionRecord
from .context import DetectionContext


def messages(ctx: DetectionContext) -> Iterator[tuple[SessionRecords, MessageData, TransactionRecord | None,
                                                        ParsedMessage]]:
    """Every captured message with its transaction and its parse."""
    for r in ctx.records:
        transactions = {t.trans_index: t for t in r.transactions}
        for m in r.messages:
            if not m.content:
                continue
            yield r, m, transactions.get(m.trans_index), ctx.parsed(m)
