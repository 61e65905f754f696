"""The mail tables: every transferred message parsed once into messages, attachments and headers.

A table provider (see ``TABLE_PROVIDERS`` in :mod:`smtpsniff.analysis.capture`): it runs the mail
parser (:func:`smtpsniff.mail.parse_message`) over each message of every session, builds the
``messages``, ``attachments`` and ``headers`` (long form) tables, adds the mail anomalies to the
``anomalies`` table, and keeps the parsed messages as :class:`MailMessage` objects under
``Capture.objects["mail"]`` so that extraction and the Zeek logs never parse twice.

It knows records and parsed messages; it knows nothing of files, packets or output formats.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING

import pandas as pd

from ..anomaly import Anomaly, Layer
from ..fastinit import slot_builder
from ..limits import Limits
from ..mail import Header, MimePart, ParsedMessage, parse_message
from ..records.builder import MessageData, SessionRecords
from ..records.model import SessionRecord, TransactionRecord
from .schema import INT, STR, TS
from .tables import (
    RowColumnParts,
    StrColumnParts,
    TypedColumn,
    add_connection_columns,
    concat_rows,
    connection_columns,
    frame_from_columns,
    new_lists,
    repeated,
)

if TYPE_CHECKING:
    from .capture import Capture, ReadOptions

#: The tables this provider builds, and the one it adds rows to (see ``TABLE_PROVIDERS``).
TABLES = ("messages", "attachments", "headers", "anomalies")
#: Those it may leave for later (:func:`build`'s ``wanted``, then :func:`build_later`): the
#: messages are parsed and their anomalies added at once.
DEFERRABLE = ("messages", "attachments", "headers")
#: Name under which the parsed messages are kept in ``Capture.objects``.
OBJECTS_KEY = "mail"

# datetime64[ns] holds 1677-09-21 .. 2262-04-11; a Date outside it cannot be a table cell.
_NS_MIN = int(pd.Timestamp.min.value)
_NS_MAX = int(pd.Timestamp.max.value)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One transferred message and what the mail parser read from it.

    ``message_index`` numbers the session's messages from 0; with ``session.session_id`` it is the
    key of the messages table.  ``transaction`` is None when the message was sent outside a mail
    transaction (DATA without MAIL: the server refused it, but the bytes were sent).
    """

    session: SessionRecord
    transaction: TransactionRecord | None
    message_index: int
    data: MessageData
    parsed: ParsedMessage
    #: SHA-256 of the bytes held (``data.content``).
    sha256: str

    @property
    def session_id(self) -> int:
        return self.session.session_id


_new_mail_message = slot_builder(MailMessage)


def parse_all(records: Iterable[SessionRecords], limits: Limits,
              parse: Callable[[MessageData], ParsedMessage] | None = None) -> tuple[MailMessage, ...]:
    """Parse every message of ``records`` once, in session then transfer order; by ``parse`` when
    given (:attr:`ReadOptions.parse <smtpsniff.analysis.capture.ReadOptions.parse>`)."""
    return tuple(_parsed_messages(records, limits, parse))


def _parsed_messages(records: Iterable[SessionRecords], limits: Limits,
                     parse: Callable[[MessageData], ParsedMessage] | None) -> Iterator[MailMessage]:
    """:func:`parse_all`'s messages, one by one: each parsed when it is reached."""
    for bundle in records:
        if not bundle.messages:
            continue
        transactions = {t.trans_index: t for t in bundle.transactions}
        for index, data in enumerate(bundle.messages):
            content = data.content
            yield _new_mail_message(  # MailMessage's fields in its order
                bundle.session, transactions.get(data.trans_index), index, data,
                parse_message(content, limits=limits, complete=data.complete) if parse is None else parse(data),
                hashlib.sha256(content).hexdigest())


def mail_messages(cap: Capture) -> tuple[MailMessage, ...]:
    """The parsed messages of a :class:`~smtpsniff.analysis.capture.Capture`, in table order."""
    return tuple(cap.objects.get(OBJECTS_KEY, ()))  # type: ignore[arg-type]


#: Messages whose rows are made at once by :func:`build`, as their parses come.
_CHUNK = 256


def build(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options: ReadOptions,
          wanted: Collection[str] | None = None) -> dict[str, object]:
    """The table provider entry point (see ``TABLE_PROVIDERS``).

    The rows of each :data:`_CHUNK` messages are made once they are parsed, before the next are
    asked for: with worker processes parsing (``options.parse``), this process makes rows while
    they parse the messages that follow.

    ``wanted``: the tables of :data:`TABLES` wanted now (None: every one).  With none of
    :data:`DEFERRABLE` among them, the messages are parsed and their anomalies added, and the rows
    are left to :func:`build_later`."""
    limits = options.limits
    parsed = _parsed_messages(records, limits, options.parse)
    if wanted is not None and not set(wanted) & set(DEFERRABLE):
        mail = tuple(parsed)
        return {"anomalies": _with_mail_anomalies(tables["anomalies"], mail, _limit_anomalies(mail, limits)),
                OBJECTS_KEY: mail}
    rows = _Rows()
    mail: list[MailMessage] = []
    extra: list[Anomaly] = []
    while chunk := list(islice(parsed, _CHUNK)):
        mail.extend(chunk)
        rows.add(chunk, limits, extra)
    return {**rows.frames(tables["sessions"]), "anomalies": _with_mail_anomalies(tables["anomalies"], mail, extra),
            OBJECTS_KEY: tuple(mail)}


def build_later(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options: ReadOptions,
                objects: dict[str, object]) -> dict[str, object]:
    """The tables of :data:`DEFERRABLE`, which :func:`build` left for later, from the messages it
    parsed (kept in ``objects``): the tables it would have built."""
    mail: tuple[MailMessage, ...] = objects.get(OBJECTS_KEY, ())  # type: ignore[assignment]
    rows = _Rows()
    for start in range(0, len(mail), _CHUNK):
        rows.add(mail[start:start + _CHUNK], options.limits, [])  # (their anomalies are in already)
    return rows.frames(tables["sessions"])


class _Rows:
    """The rows of the messages, attachments and headers tables, made a few messages at a time
    (:meth:`add`), then the frames (:meth:`frames`, once)."""

    def __init__(self) -> None:
        self.messages = 0
        self.message_parts = RowColumnParts(_MESSAGE_COLUMNS)
        self.attachment_parts = RowColumnParts(_ATTACHMENT_COLUMNS)
        self.header_parts = _HeaderParts()

    def add(self, mail: Sequence[MailMessage], limits: Limits, extra: list[Anomaly]) -> None:
        """The rows of ``mail`` (the anomalies of the messages table's limits go to ``extra``)."""
        self.messages += len(mail)
        self.message_parts.add(_message_rows(mail, limits, extra))
        self.attachment_parts.add(_attachment_rows(mail))
        self.header_parts.add(mail)

    def frames(self, sessions: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The three tables, their connection columns from ``sessions`` (each part let go once its
        frame is made)."""
        messages = frame_from_columns("messages", self.messages, _message_columns(self.message_parts.columns()))
        del self.message_parts
        attachments = frame_from_columns("attachments", len(self.attachment_parts), self.attachment_parts.columns())
        del self.attachment_parts
        header_columns = self.header_parts.columns()
        del self.header_parts
        session_ids = header_columns["session_id"]
        # The headers table's connection columns looked up by its session_id column as
        # add_connection_columns does, and built with the frame instead of made missing and replaced.
        connection = (connection_columns(session_ids.array, sessions)
                      if isinstance(session_ids, TypedColumn) else None)
        if connection is not None:
            header_columns.update(connection)
        headers = frame_from_columns("headers", len(header_columns["index"]), header_columns)
        del header_columns
        unjoined = (messages, attachments) if connection is not None else (messages, attachments, headers)
        for frame in unjoined:
            add_connection_columns(frame, sessions)
        return {"messages": messages, "attachments": attachments, "headers": headers}


# -- columns --------------------------------------------------------------------------------------
_MESSAGE_COLUMNS = (
    "session_id", "message_index", "trans_index", "ts", "end", "frame", "end_frame", "via",
    "complete", "size", "captured_bytes", "gap_bytes", "sha256", "mail_from", "rcpt_to",
    "from", "from_addr", "from_count", "sender", "reply_to", "to", "cc", "bcc", "subject",
    "subject_raw", "date", "date_raw", "message_id", "in_reply_to", "references",
    "return_path", "x_mailer", "user_agent", "x_originating_ip", "dkim_domains",
    "received_count", "received_path", "mime_version", "content_type", "part_count",
    "attachment_count", "url_count", "urls", "preview", "header_bytes", "anomalies")


def _message_columns(columns: dict[str, list | TypedColumn]) -> dict[str, list | TypedColumn]:
    """The messages table's columns from the columns of :func:`_message_rows`' rows (a
    :class:`~smtpsniff.analysis.tables.RowColumnParts`' columns), made ready for the frame."""
    for name in ("reply_to", "to", "cc", "bcc", "dkim_domains"):  # a new list in each row, made there
        columns[name] = new_lists(columns[name])
    return columns


def _message_rows(mail: Sequence[MailMessage], limits: Limits, extra: list[Anomaly]) -> list[tuple]:
    """A row of the messages table's values (:data:`_MESSAGE_COLUMNS`) for each message of ``mail``
    (mail anomalies go to ``extra``)."""
    rows = []
    cap = limits.max_header_addresses
    for m in mail:
        p, d, t = m.parsed, m.data, m.transaction
        from_value = None
        if p.from_count:  # the number of From fields among p.headers: look for the first
            for h in p.headers:
                if h.name.lower() == "from":
                    from_value = h.value.strip()
                    break
        # (each list column gets a list of its own; an empty tuple gives [] without a loop)
        to, cc, reply_to, bcc, dkim = p.to, p.cc, p.reply_to, p.bcc, p.dkim
        to = ([a.addr for a in to] if to else []) if len(to) <= cap else _capped(
            m, "To", to, limits, extra)
        cc = ([a.addr for a in cc] if cc else []) if len(cc) <= cap else _capped(
            m, "Cc", cc, limits, extra)
        parts = p.parts
        rows.append((
            m.session.session_id, m.message_index, d.trans_index, d.ts_ns, d.end_ts_ns, d.frame,
            d.end_frame, d.via, d.complete, d.size, len(d.content), d.event.gap_bytes, m.sha256,
            t.mail_from if t is not None else None,
            t.rcpt_to if t is not None else (),
            from_value,
            p.from_[0].addr if p.from_ else None,
            p.from_count,
            p.sender[0].addr if p.sender else None,
            [a.addr for a in reply_to] if reply_to else [], to, cc,
            [a.addr for a in bcc] if bcc else [],
            p.subject, p.subject_raw, _date_ns(m, p.date, extra) if p.date is not None else None,
            p.date_raw, p.message_id, p.in_reply_to, p.references, p.return_path, p.x_mailer,
            p.user_agent, p.x_originating_ip, [d_ for d_, _ in dkim if d_] if dkim else [],
            len(p.received), p.received_path, p.mime_version, p.content_type, len(parts),
            (int(parts[0].is_attachment) if len(parts) == 1  # attachment_count
             else sum([part.is_attachment for part in parts])),
            len(p.urls), p.urls, body_preview(parts), p.header_bytes,
            len(p.anomalies) + p.anomalies_suppressed,
        ))
    return rows


def _limit_anomalies(mail: Sequence[MailMessage], limits: Limits) -> list[Anomaly]:
    """The anomalies :func:`_message_rows` adds when it makes the rows of ``mail``, in its order
    (To and Cc past ``max_header_addresses``, a Date no table timestamp holds), without the rows."""
    extra: list[Anomaly] = []
    cap = limits.max_header_addresses
    for m in mail:
        p = m.parsed
        if len(p.to) > cap:
            _capped(m, "To", p.to, limits, extra)
        if len(p.cc) > cap:
            _capped(m, "Cc", p.cc, limits, extra)
        if p.date is not None:
            _date_ns(m, p.date, extra)
    return extra


def _capped(m: MailMessage, field: str, addresses: Sequence, limits: Limits, extra: list[Anomaly]) -> list[str]:
    cap = limits.max_header_addresses
    if len(addresses) > cap:
        extra.append(_anomaly(m, "header_address_limit",
                              f"{len(addresses)} {field} mailboxes; max_header_addresses={cap} kept"))
    return [a.addr for a in addresses[:cap]]


def _date_ns(m: MailMessage, when: datetime | None, extra: list[Anomaly]) -> int | None:
    if when is None:
        return None
    ns = (when - _EPOCH) // _MICROSECOND * 1000
    if not _NS_MIN <= ns <= _NS_MAX:
        extra.append(_anomaly(m, "date_out_of_range", f"Date {when.isoformat()} is outside the years "
                              "1677-2262 a table timestamp can hold; see date_raw"))
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


_ATTACHMENT_COLUMNS = (
    "session_id", "message_index", "trans_index", "ts", "frame", "part", "filename", "filename_raw",
    "content_type", "charset", "transfer_encoding", "disposition", "content_id", "size",
    "decoded_size", "md5", "sha1", "sha256", "truncated")


def _attachment_rows(mail: Sequence[MailMessage]) -> list[tuple]:
    """A row of the attachments table's values (:data:`_ATTACHMENT_COLUMNS`) for each attachment
    part of every message of ``mail``."""
    rows = []
    for m in mail:
        key = (m.session.session_id, m.message_index, m.data.trans_index, m.data.ts_ns, m.data.frame)
        for part in m.parsed.parts:
            if not part.is_attachment:
                continue
            rows.append((*key, part.path, part.filename, part.filename_raw, part.content_type,
                         part.charset, part.transfer_encoding, part.disposition, part.content_id,
                         part.size, part.decoded_size, part.md5, part.sha1, part.sha256,
                         part.content_truncated))
    return rows


class _HeaderParts:
    """The headers table's columns, made a few messages at a time (:meth:`add`, as the messages'
    parses come) and given once every message is in (:meth:`columns`, called once: it lets the
    text go as it builds each column)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.fields: list[int] = []  # header fields of each entity
        self.totals: list[int] = []  # header fields of each message
        self.keys: list[tuple] = []  # session, message, transaction, time of each message
        self.index: list[int] = []
        # The text of these three is the bulk of the table: each is encoded as it comes.
        self.texts = {name: StrColumnParts() for name in ("name", "value", "raw_value")}

    def add(self, mail: Sequence[MailMessage]) -> None:
        headers: list[Header] = []
        paths, fields, totals, keys = self.paths, self.fields, self.totals, self.keys
        for m in mail:
            total = 0
            for part in m.parsed.parts:
                count = len(part.headers)
                headers.extend(part.headers)
                paths.append(part.path)
                fields.append(count)
                total += count
            totals.append(total)
            d = m.data
            keys.append((m.session.session_id, m.message_index, d.trans_index, d.ts_ns))
        self.index.extend([h.index for h in headers])
        texts = self.texts
        texts["name"].add([h.name for h in headers])
        texts["value"].add([h.value for h in headers])
        texts["raw_value"].add([h.raw_value for h in headers])

    def columns(self) -> dict[str, list | TypedColumn]:
        """Each message's key and each entity's path repeated for its fields (see :func:`repeated`)."""
        totals, fields = self.totals, self.fields
        session_id, message_index, trans_index, ts = map(list, zip(*self.keys)) if self.keys else ([], [], [], [])
        columns: dict[str, list | TypedColumn] = {
            "session_id": repeated(INT, session_id, totals), "message_index": repeated(INT, message_index, totals),
            "trans_index": repeated(INT, trans_index, totals), "ts": repeated(TS, ts, totals),
            "part": repeated(STR, self.paths, fields), "index": self.index,
        }
        for name in list(self.texts):  # each column's parts let go once it is built
            columns[name] = self.texts.pop(name).column()
        return columns


# -- anomalies ------------------------------------------------------------------------------------
def _anomaly(m: MailMessage, kind: str, message: str) -> Anomaly:
    return Anomaly(layer=Layer.MAIL, kind=kind, message=message, ts_ns=m.data.ts_ns, frame=m.data.frame,
                   conn_id=m.session_id)


def _with_mail_anomalies(anomalies: pd.DataFrame, mail: Sequence[MailMessage], extra: list[Anomaly]
                         ) -> pd.DataFrame:
    """The anomalies table with each message's mail anomalies added (session, time, first frame).

    Their rows are read column by column: a message's anomaly takes the message's session, time
    and first frame, as ``replace(a, conn_id=..., ts_ns=..., frame=...)`` would give it."""
    found = [(m, a) for m in mail for a in m.parsed.anomalies]
    if not found and not extra:
        return anomalies
    messages = [m for m, _ in found]
    everything = [a for _, a in found] + extra
    rows = frame_from_columns("anomalies", len(everything), {
        "session_id": [m.session_id for m in messages] + [a.conn_id for a in extra],
        "ts": [m.data.ts_ns for m in messages] + [a.ts_ns for a in extra],
        "frame": [m.data.frame for m in messages] + [a.frame for a in extra],
        "layer": [a.layer.value for a in everything], "kind": [a.kind for a in everything],
        "message": [a.message for a in everything]})
    merged = concat_rows("anomalies", [anomalies, rows]) if len(anomalies) else rows
    return merged.sort_values(["ts", "frame"], na_position="last", kind="stable").reset_index(drop=True)
