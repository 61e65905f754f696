"""What the mail tables take from a message's bytes alone, made where the message is parsed.

:func:`parse_row` parses one message (:func:`smtpsniff.mail.parse_message`) and gives, with the
parse, the message's SHA-256 and its values in the columns of the messages table that the parse
decides (:data:`PARSED_COLUMNS`).  The mail tables (:mod:`smtpsniff.analysis.mail_tables`) add the
columns the session and the transaction decide.  A worker process (:mod:`smtpsniff.worker`) that
parses a message makes these values too, while the process that asked builds the session tables:
that process then only joins them with the session's own values.

It needs no pandas (a worker imports it), and knows nothing of sessions, files or frames.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..limits import Limits
from ..mail import Address, MimePart, ParsedMessage, parse_message

#: The messages table's columns a message's bytes decide, in the order of :attr:`ParsedRow.values`.
PARSED_COLUMNS = (
    "sha256", "from", "from_addr", "from_count", "sender", "reply_to", "to", "cc", "bcc", "subject",
    "subject_raw", "date", "date_raw", "message_id", "in_reply_to", "references", "return_path",
    "x_mailer", "user_agent", "x_originating_ip", "dkim_domains", "received_count", "received_path",
    "mime_version", "content_type", "part_count", "attachment_count", "url_count", "urls", "preview",
    "header_bytes", "anomalies")

# A table timestamp is int64 nanoseconds (pandas' datetime64[ns]: 1677-09-21 .. 2262-04-11).
_NS_MIN = -(2 ** 63) + 1
_NS_MAX = 2 ** 63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A message's parse and what the messages table takes from it."""

    parsed: ParsedMessage
    #: The values of :data:`PARSED_COLUMNS`, in that order (the SHA-256 of the bytes parsed first).
    values: tuple
    #: ``(kind, message)`` of each mail anomaly the values bring: an address list cut to
    #: ``max_header_addresses``, a Date a table timestamp cannot hold.
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def sha256(self) -> str:
        return self.values[0]


def parse_row(content: bytes, limits: Limits, complete: bool) -> ParsedRow:
    """``content`` parsed as ``parse_message(content, limits=limits, complete=complete)``, with its values."""
    return row_of(parse_message(content, limits=limits, complete=complete), hashlib.sha256(content).hexdigest(),
                  limits)


def row_of(p: ParsedMessage, sha256: str, limits: Limits) -> ParsedRow:
    """The :class:`ParsedRow` of parse ``p`` of bytes whose SHA-256 is ``sha256``."""
    notes: list[tuple[str, str]] = []
    from_value = None
    if p.from_count:  # the number of From fields among p.headers: look for the first
        for h in p.headers:
            if h.name.lower() == "from":
                from_value = h.value.strip()
                break
    # (each list column gets a list of its own; an empty tuple gives [] without a loop)
    cap = limits.max_header_addresses
    to, cc, reply_to, bcc, dkim = p.to, p.cc, p.reply_to, p.bcc, p.dkim
    to = ([a.addr for a in to] if to else []) if len(to) <= cap else _capped("To", to, cap, notes)
    cc = ([a.addr for a in cc] if cc else []) if len(cc) <= cap else _capped("Cc", cc, cap, notes)
    parts = p.parts
    return ParsedRow(p, (
        sha256,
        from_value,
        p.from_[0].addr if p.from_ else None,
        p.from_count,
        p.sender[0].addr if p.sender else None,
        [a.addr for a in reply_to] if reply_to else [], to, cc,
        [a.addr for a in bcc] if bcc else [],
        p.subject, p.subject_raw, _date_ns(p.date, notes) if p.date is not None else None,
        p.date_raw, p.message_id, p.in_reply_to, p.references, p.return_path, p.x_mailer,
        p.user_agent, p.x_originating_ip, [d_ for d_, _ in dkim if d_] if dkim else [],
        len(p.received), p.received_path, p.mime_version, p.content_type, len(parts),
        (int(parts[0].is_attachment) if len(parts) == 1  # attachment_count
         else sum([part.is_attachment for part in parts])),
        len(p.urls), p.urls, body_preview(parts), p.header_bytes,
        len(p.anomalies) + p.anomalies_suppressed,
    ), tuple(notes))


def _capped(field: str, addresses: Sequence[Address], cap: int, notes: list[tuple[str, str]]) -> list[str]:
    notes.append(("header_address_limit", f"{len(addresses)} {field} mailboxes; max_header_addresses={cap} kept"))
    return [a.addr for a in addresses[:cap]]


def _date_ns(when: datetime, notes: list[tuple[str, str]]) -> int | None:
    ns = (when - _EPOCH) // _MICROSECOND * 1000
    if not _NS_MIN <= ns <= _NS_MAX:
        notes.append(("date_out_of_range", (f"Date {when.isoformat()} is outside the years "
                                            "1677-2262 a table timestamp can hold; see date_raw")))
        return None
    return ns


def body_preview(parts: Sequence[MimePart]) -> str | None:
    """The preview of the first text/plain body part (not an attachment), else of the first HTML
    (found in one pass: the first HTML one is kept until a text/plain one is found)."""
    html = None
    for part in parts:
        wanted = part.content_type
        if wanted == "text/plain":
            if not part.is_attachment and part.preview:
                return part.preview
        elif (wanted == "text/html" and html is None and not part.is_attachment
              and part.preview):
            html = part.preview
    return html
