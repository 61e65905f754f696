"""The From fields the spoofing detectors read, from the mail tables when they were built.

The mail table provider has already parsed every message (``messages``: ``from``, ``from_addr``,
``from_count``; ``headers``: every field); reading its rows costs nothing, parsing again would
double the mail parser's work.  Without those tables each message is parsed here.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from email.utils import getaddresses

import numpy as np

from ..fastinit import slot_builder
from ..mail.model import ParsedMessage
from ..records.builder import MessageData, SessionRecords
from ..records.model import TransactionRecord
from .columns import tables_of
from .context import DetectionContext

#: pandas' missing value (``pd.NA``) once a table has been read: the functions that read tables
#: set it (:func:`_na`), so that importing the detectors (as the command line does to list them)
#: does not import pandas.  Before, no value is it.
_NA: object = object()


def _na() -> None:
    global _NA
    from pandas import NA as missing

    _NA = missing


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
# A word of a display name: atext, and any character beyond ASCII (RFC 6532 3.2; what a decoded
# RFC 2047 name holds), each of which email.utils' parser takes into an atom as it is.
_NAME_WORD = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+"
#: The two From shapes nearly all mail has: ``addr@domain`` and ``Display Name <addr@domain>``
#: (words of atext or other than ASCII, one space apart, one space before the angle bracket).
_SIMPLE_FROM = re.compile(rf"(?P<name>{_NAME_WORD}(?: {_NAME_WORD})*) <(?P<angle>{_ADDR_SPEC})>|(?P<bare>{_ADDR_SPEC})")


def mailboxes(text: str) -> tuple[tuple[str, str], ...]:
    """The (display name, addr-spec) pairs of a From value with an address, as
    :func:`email.utils.getaddresses` reads them.

    The two simple shapes of :data:`_SIMPLE_FROM` are read by one regular expression: for them
    ``getaddresses`` gives exactly one pair, the words of the name as they stand (no quoting,
    comment, folding or route to undo; its parser ends an atom only at ASCII specials, blanks and
    line ends, so any character beyond ASCII is part of a word) and the addr-spec as written (dots
    and ``@`` are its only specials).  Everything else goes to ``getaddresses`` itself.
    tests/findings compares both on every capture and on fuzzed values.
    """
    if not text:
        return ()
    m = _SIMPLE_FROM.fullmatch(text)
    if m is not None:
        bare = m.group("bare")
        return (("", bare),) if bare is not None else ((m.group("name"), m.group("angle")),)
    return tuple((n, a) for n, a in getaddresses([text]) if a)


def _mailboxes_of(ctx: DetectionContext, text: str) -> tuple[tuple[str, str], ...]:
    """:func:`mailboxes` of ``text``, read once per context: the From detectors and their
    messages' fields read the same texts (a sender writes the same From each time)."""
    found = ctx.from_mailboxes.get(text)
    if found is None:
        found = ctx.from_mailboxes[text] = mailboxes(text)
    return found


def _from_tables(ctx: DetectionContext, keys: Collection[tuple[int, int]] | None = None
                 ) -> dict[tuple[int, int], FromFields] | None:
    """The From fields of each message of the mail tables by (session, transaction); with ``keys``,
    of those keys only.  None without the tables."""
    messages, headers = ctx.tables.get("messages"), ctx.tables.get("headers")
    if messages is None or headers is None:
        return None
    _na()
    fields = _header_values(ctx, headers)
    out = {}
    new = _new_from_fields
    rows = zip(messages["session_id"].tolist(), messages["trans_index"].tolist(), messages["from"].tolist(),
               messages["from_count"].tolist())
    if keys is not None:
        rows = (row for row in rows if row[1] is not _NA and (int(row[0]), int(row[1])) in keys)
    # The columns are Int64 and string: a missing cell is pd.NA; a From text "<NA>" (what a
    # missing cell prints as) is read as missing too.
    for sid, trans, shown, count in rows:
        if trans is _NA:
            continue
        key = (int(sid), int(trans))
        boxes = _mailboxes_of(ctx, _text(shown))
        found = fields.get(key)
        out[key] = new(boxes, 0 if count is _NA else int(count), () if found is None else tuple(found))
    return out


def _from_parsed(ctx: DetectionContext, parsed: ParsedMessage) -> FromFields:
    """A parsed message's From fields, read as :func:`_from_tables` reads them from its rows: the
    mailboxes of the first From field's text (as the messages table's ``from`` holds it), so a
    detector finds the same with the tables as without them.  (The parser's own ``from_`` leaves
    out a mailbox with no domain, ``"ceo@example.test" <user>``, which is exactly what
    display_name_spoof must see.)"""
    fields = parsed.header_values("From")
    text = _text(fields[0].strip()) if parsed.from_count and fields else ""
    return FromFields(_mailboxes_of(ctx, text), parsed.from_count, fields)


def _text(shown: object) -> str:
    """A cell of the messages table's ``from`` column as the From text read."""
    return "" if shown is _NA or shown == "<NA>" else str(shown)


def _header_values(ctx: DetectionContext, headers) -> dict[tuple[int, int], list[str]]:
    """Each From field of the top part of each message of the ``headers`` table, by (session,
    transaction), in order (read once per context)."""
    if ctx.from_header_values is None:
        _na()
        fields: dict[tuple[int, int], list[str]] = {}
        top = headers[(headers["part"] == "1") & (headers["name"].str.lower() == "from")]
        for sid, trans, value in zip(top["session_id"].tolist(), top["trans_index"].tolist(), top["value"].tolist()):
            if trans is _NA:  # a header row of no transaction matches no message (those are skipped below)
                continue
            fields.setdefault((int(sid), int(trans)), []).append("" if value is None else str(value))
        ctx.from_header_values = fields
    return ctx.from_header_values


def keys_where(ctx: DetectionContext, holds: Callable[[tuple[tuple[str, str], ...], str | None], bool] | None, *,
               sender: bool = False, count_at_least: int | None = None) -> set[tuple[int, int]] | None:
    """The (session, transaction) keys of the messages table's rows whose From text's mailboxes
    ``holds`` (tested once per distinct text, or per distinct pair of envelope sender and text
    when ``sender``: then each row is paired with the ``mail_from`` of every ``transactions`` row
    of its key, and ``holds(mailboxes(text), mail_from)`` is asked; else ``holds(mailboxes(text),
    None)``; no test with ``holds`` None), or whose From count is ``count_at_least`` or more.
    None when the tables are not there: every message must then be read.

    What the From detectors read first, to list only the messages that could hold a finding
    (:func:`messages` with ``keys``): a message's From fields are those of a row of its key
    (:func:`_from_tables`), its transaction one of the ``transactions`` rows of its key, so a
    message whose fields or transaction show a finding has its key here, when ``holds`` is true
    for every text's mailboxes (and sender) that show one.  Each text is read by :func:`mailboxes`
    once per context, whichever detector asks first.
    """
    found = tables_of(ctx.tables, ("messages", "headers", "transactions"), ctx.records)
    if found is None:
        return None
    messages, _, transactions = found
    _na()
    if messages["session_id"].hasnans or transactions["session_id"].hasnans or transactions["trans_index"].hasnans:
        return None
    rows = messages[messages["trans_index"].notna()]
    if not len(rows):
        return set()
    sids = rows["session_id"].to_numpy(dtype=np.int64)
    trans = rows["trans_index"].to_numpy(dtype=np.int64)
    keep = np.zeros(len(rows), dtype=np.bool_)
    if count_at_least is not None:
        keep |= rows["from_count"].fillna(0).to_numpy(dtype=np.int64) >= count_at_least
    if holds is None:
        return set(zip(sids[keep].tolist(), trans[keep].tolist()))
    text_codes, texts = rows["from"].factorize()  # a missing text: -1
    texts = [_text(t) for t in texts.tolist()] + [""]
    if not sender:
        good = np.array([holds(_mailboxes_of(ctx, t), None) for t in texts], dtype=np.bool_)
        keep |= good[text_codes]
    elif len(transactions):
        t_sids = transactions["session_id"].to_numpy(dtype=np.int64)
        t_trans = transactions["trans_index"].to_numpy(dtype=np.int64)
        sender_codes, senders = transactions["mail_from"].factorize()
        senders = [None if x is _NA else str(x) for x in senders.tolist()] + [None]
        # Each message row with each transaction row of its key: both sorted by key, matched in runs.
        width = int(max(trans.max(), t_trans.max())) + 1
        if min(trans.min(), t_trans.min()) < 0 or max(abs(int(sids.min())), abs(int(sids.max())),
                                                      abs(int(t_sids.min())), abs(int(t_sids.max()))) \
                >= 2**62 // width:
            return None  # a key beyond what one integer per key holds: every message is read
        row_keys, t_keys = sids * width + trans, t_sids * width + t_trans
        order = np.argsort(t_keys, kind="stable")
        first = np.searchsorted(t_keys[order], row_keys, side="left")
        last = np.searchsorted(t_keys[order], row_keys, side="right")
        counts = last - first
        row_of = np.repeat(np.arange(len(rows)), counts)
        at = order[np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))]
        pairs = np.asarray(text_codes, dtype=np.int64)[row_of] % len(texts) * len(senders) \
            + np.asarray(sender_codes, dtype=np.int64)[at] % len(senders)
        distinct, inverse = np.unique(pairs, return_inverse=True)
        good = np.array([holds(_mailboxes_of(ctx, texts[p // len(senders)]), senders[p % len(senders)])
                         for p in distinct.tolist()], dtype=np.bool_)
        keep[row_of[good[inverse.reshape(-1)]]] = True
    return set(zip(sids[keep].tolist(), trans[keep].tolist()))


def messages(ctx: DetectionContext, keys: Collection[tuple[int, int]] | None = None
             ) -> Iterator[tuple[SessionRecords, MessageData, TransactionRecord | None, FromFields]]:
    """Every captured message with its transaction and its From fields (listed once per context:
    three detectors read them); with ``keys`` (see :func:`keys_where`), only the messages of those
    (session, transaction) keys: the same items, in the same order."""
    if keys is None:
        if ctx.from_messages is None:
            ctx.from_messages = _messages(ctx)
        return iter(ctx.from_messages)
    if not keys:
        return iter(())
    if ctx.from_messages is not None:
        return (x for x in ctx.from_messages if (x[1].session_id, x[1].trans_index) in keys)
    return iter(_messages(ctx, keys))


def _messages(ctx: DetectionContext, keys: Collection[tuple[int, int]] | None = None
              ) -> list[tuple[SessionRecords, MessageData, TransactionRecord | None, FromFields]]:
    if keys is not None:  # read from the tables (keys_where): their fields for those keys only
        from_fields = _from_tables(ctx, keys) or {}
        from_tables = True
        records = ctx.records_of({sid for sid, _ in keys})
    else:
        if ctx.from_fields is None:
            ctx.from_fields = _from_tables(ctx) or {}
            ctx.from_fields_from_tables = bool(ctx.from_fields) or ctx.tables.get("messages") is not None
        from_fields, from_tables, records = ctx.from_fields, ctx.from_fields_from_tables, ctx.records
    out = []
    for r in records:
        if not r.messages:
            continue
        transactions = None  # trans_index -> transaction, built for the sessions with a message to list
        for m in r.messages:
            if not m.content:
                continue
            if keys is not None and (m.session_id, m.trans_index) not in keys:
                continue
            found = from_fields.get((m.session_id, m.trans_index))
            if found is None and not from_tables:
                found = _from_parsed(ctx, ctx.parsed(m))
            if found is not None:
                if len(r.transactions) == 1:  # the usual session: one transaction, no map to build
                    t = r.transactions[0]
                    out.append((r, m, t if t.trans_index == m.trans_index else None, found))
                    continue
                if transactions is None:
                    transactions = {t.trans_index: t for t in r.transactions}
                out.append((r, m, transactions.get(m.trans_index), found))
    return out
