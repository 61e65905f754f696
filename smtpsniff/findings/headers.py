"""The From fields the spoofing detectors read, from the mail tables when they were built.

The mail table provider has already parsed every message (``messages``: ``from``, ``from_addr``,
``from_count``; ``headers``: every field); reading its rows costs nothing, parsing again would
double the mail parser's work.  Without those tables each message is parsed here.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import getaddresses

from pandas import NA

from ..fastinit import slot_builder
from ..records.builder import MessageData, SessionRecords
from ..records.model import TransactionRecord
from .context import DetectionContext


@dataclass(frozen=True, slots=True)
class FromFields:
    """What a message's From fields say (RFC 5322 3.6.2)."""

    mailboxes: tuple[tuple[str, str], ...]  # (display name, addr-spec) of the first From field
    count: int  # From fields in the header block
    fields: tuple[str, ...]  # each From field as a reader sees it (RFC 2047 decoded)


_new_from_fields = slot_builder(FromFields)


# An atom of RFC 5322 3.2.3 (ASCII atext only) and a dot-atom addr-spec made of them.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
#: The two From shapes nearly all mail has: ``addr@domain`` and ``Display Name <addr@domain>``
#: (words of atext, one space apart, one space before the angle bracket).
_SIMPLE_FROM = re.compile(rf"(?P<name>{_ATOM}(?: {_ATOM})*) <(?P<angle>{_ADDR_SPEC})>|(?P<bare>{_ADDR_SPEC})")


def mailboxes(text: str) -> tuple[tuple[str, str], ...]:
    """The (display name, addr-spec) pairs of a From value with an address, as
    :func:`email.utils.getaddresses` reads them.

    The two simple shapes of :data:`_SIMPLE_FROM` are read by one regular expression: for them
    ``getaddresses`` gives exactly one pair, the words of the name as they stand (no quoting,
    comment, folding or route to undo) and the addr-spec as written (dots and ``@`` are its only
    specials).  Everything else goes to ``getaddresses`` itself.  tests/findings compares both
    on every capture and on fuzzed values.
    """
    if not text:
        return ()
    m = _SIMPLE_FROM.fullmatch(text)
    if m is not None:
        bare = m.group("bare")
        return (("", bare),) if bare is not None else ((m.group("name"), m.group("angle")),)
    return tuple((n, a) for n, a in getaddresses([text]) if a)


def _from_tables(ctx: DetectionContext) -> dict[tuple[int, int], FromFields] | None:
    messages, headers = ctx.tables.get("messages"), ctx.tables.get("headers")
    if messages is None or headers is None:
        return None
    fields: dict[tuple[int, int], list[str]] = {}
    top = headers[(headers["part"] == "1") & (headers["name"].str.lower() == "from")]
    for sid, trans, value in zip(top["session_id"].tolist(), top["trans_index"].tolist(), top["value"].tolist()):
        if trans is NA:  # a header row of no transaction matches no message (those are skipped below)
            continue
        fields.setdefault((int(sid), int(trans)), []).append("" if value is None else str(value))
    out = {}
    new = _new_from_fields
    read: dict[str, tuple[tuple[str, str], ...]] = {}  # From text -> its mailboxes (senders repeat)
    # The columns are Int64 and string: a missing cell is pd.NA; a From text "<NA>" (what a
    # missing cell prints as) is read as missing too.
    for sid, trans, shown, count in zip(messages["session_id"].tolist(), messages["trans_index"].tolist(),
                                        messages["from"].tolist(), messages["from_count"].tolist()):
        if trans is NA:
            continue
        key = (int(sid), int(trans))
        text = "" if shown is NA or shown == "<NA>" else str(shown)
        boxes = read.get(text)
        if boxes is None:
            boxes = read[text] = mailboxes(text)
        found = fields.get(key)
        out[key] = new(boxes, 0 if count is NA else int(count), () if found is None else tuple(found))
    return out


def messages(ctx: DetectionContext) -> Iterator[tuple[SessionRecords, MessageData, TransactionRecord | None,
                                                        FromFields]]:
    """Every captured message with its transaction and its From fields (listed once per context:
    three detectors read them)."""
    if ctx.from_messages is None:
        ctx.from_messages = _messages(ctx)
    return iter(ctx.from_messages)


def _messages(ctx: DetectionContext) -> list[tuple[SessionRecords, MessageData, TransactionRecord | None,
                                                     FromFields]]:
    if ctx.from_fields is None:
        ctx.from_fields = _from_tables(ctx) or {}
        ctx.from_fields_from_tables = bool(ctx.from_fields) or ctx.tables.get("messages") is not None
    from_fields = ctx.from_fields
    out = []
    for r in ctx.records:
        if not r.messages:
            continue
        transactions = None  # trans_index -> transaction, built for the sessions with a message to list
        for m in r.messages:
            if not m.content:
                continue
            found = from_fields.get((m.session_id, m.trans_index))
            if found is None and not ctx.from_fields_from_tables:
                parsed = ctx.parsed(m)
                found = FromFields(tuple((a.display_name, a.addr) for a in parsed.from_), parsed.from_count,
                                   parsed.header_values("From"))
            if found is not None:
                if len(r.transactions) == 1:  # the usual session: one transaction, no map to build
                    t = r.transactions[0]
                    out.append((r, m, t if t.trans_index == m.trans_index else None, found))
                    continue
                if transactions is None:
                    transactions = {t.trans_index: t for t in r.transactions}
                out.append((r, m, transactions.get(m.trans_index), found))
    return out
