"""The From fields the spoofing detectors read, from the mail tables when they were built.

The mail table provider has already parsed every message (``messages``: ``from``, ``from_addr``,
``from_count``; ``headers``: every field); reading its rows costs nothing, parsing again would
double the mail parser's work.  Without those tables each message is parsed here.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import getaddresses

from ..records.builder import MessageData, SessionRecords
from ..records.model import TransactionRecord
from .context import DetectionContext


@dataclass(frozen=True, slots=True)
class FromFields:
    """What a message's From fields say (RFC 5322 3.6.2)."""

    mailboxes: tuple[tuple[str, str], ...]  # (display name, addr-spec) of the first From field
    count: int  # From fields in the header block
    fields: tuple[str, ...]  # each From field as a reader sees it (RFC 2047 decoded)


def _from_tables(ctx: DetectionContext) -> dict[tuple[int, int], FromFields] | None:
    messages, headers = ctx.tables.get("messages"), ctx.tables.get("headers")
    if messages is None or headers is None:
        return None
    fields: dict[tuple[int, int], list[str]] = {}
    top = headers[(headers["part"] == "1") & (headers["name"].str.lower() == "from")]
    for sid, trans, value in zip(top["session_id"].tolist(), top["trans_index"].tolist(), top["value"].tolist()):
        fields.setdefault((int(sid), int(trans)), []).append("" if value is None else str(value))
    out = {}
    for sid, trans, shown, count in zip(messages["session_id"].tolist(), messages["trans_index"].tolist(),
                                        messages["from"].tolist(), messages["from_count"].tolist()):
        if str(trans) == "<NA>":
            continue
        key = (int(sid), int(trans))
        text = "" if str(shown) == "<NA>" else str(shown)
        boxes = tuple((n, a) for n, a in getaddresses([text]) if a) if text else ()
        out[key] = FromFields(boxes, 0 if str(count) == "<NA>" else int(count), tuple(fields.get(key, ())))
    return out


def messages(ctx: DetectionContext) -> Iterator[tuple[SessionRecords, MessageData, TransactionRecord | None,
                                                        FromFields]]:
    """Every captured message with its transaction and its From fields."""
    if ctx.from_fields is None:
        ctx.from_fields = _from_tables(ctx) or {}
        ctx.from_fields_from_tables = bool(ctx.from_fields) or ctx.tables.get("messages") is not None
    for r in ctx.records:
        if not r.messages:
            continue
        transactions = {t.trans_index: t for t in r.transactions}
        for m in r.messages:
            if not m.content:
                continue
            found = ctx.from_fields.get((m.session_id, m.trans_index))
            if found is None and not ctx.from_fields_from_tables:
                parsed = ctx.parsed(m)
                found = FromFields(tuple((a.display_name, a.addr) for a in parsed.from_), parsed.from_count,
                                   parsed.header_values("From"))
            if found is not None:
                yield r, m, transactions.get(m.trans_index), found
