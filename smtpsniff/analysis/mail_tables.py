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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pandas as pd

from ..anomaly import Anomaly, Layer
from ..limits import Limits
from ..mail import MimePart, ParsedMessage, parse_message
from ..records.builder import MessageData, SessionRecords
from ..records.model import SessionRecord, TransactionRecord
from .schema import CAT, SCHEMAS
from .tables import add_connection_columns, frame_from_rows

if TYPE_CHECKING:
    from .capture import Capture, ReadOptions

#: Name under which the parsed messages are kept in ``Capture.objects``.
OBJECTS_KEY = "mail"

# datetime64[ns] holds 1677-09-21 .. 2262-04-11; a Date outside it cannot be a table cell.
_NS_MIN = int(pd.Timestamp.min.value)
_NS_MAX = int(pd.Timestamp.max.value)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


def parse_all(records: Iterable[SessionRecords], limits: Limits) -> tuple[MailMessage, ...]:
    """Parse every message of ``records`` once, in session then transfer order."""
    out: list[MailMessage] = []
    for bundle in records:
        transactions = {t.trans_index: t for t in bundle.transactions}
        for index, data in enumerate(bundle.messages):
            parsed = parse_message(data.content, limits=limits, complete=data.complete)
            out.append(MailMessage(session=bundle.session, transaction=transactions.get(data.trans_index),
                                   message_index=index, data=data, parsed=parsed,
                                   sha256=hashlib.sha256(data.content).hexdigest()))
    return tuple(out)


def mail_messages(cap: Capture) -> tuple[MailMessage, ...]:
    """The parsed messages of a :class:`~smtpsniff.analysis.capture.Capture`, in table order."""
    return tuple(cap.objects.get(OBJECTS_KEY, ()))  # type: ignore[arg-type]


def build(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options: ReadOptions
          ) -> dict[str, object]:
    """The table provider entry point (see ``TABLE_PROVIDERS``)."""
    limits = options.limits
    mail = parse_all(records, limits)
    extra: list[Anomaly] = []
    messages = frame_from_rows("messages", (_message_row(m, limits, extra) for m in mail))
    attachments = frame_from_rows("attachments", (
        _attachment_row(m, part) for m in mail for part in m.parsed.attachments))
    headers = frame_from_rows("headers", (
        row for m in mail for row in _header_rows(m)))
    sessions = tables["sessions"]
    for frame in (messages, attachments, headers):
        add_connection_columns(frame, sessions)
    anomalies = _with_mail_anomalies(tables["anomalies"], mail, extra)
    return {"messages": messages, "attachments": attachments, "headers": headers,
            "anomalies": anomalies, OBJECTS_KEY: mail}


# -- rows -----------------------------------------------------------------------------------------
def _key(m: MailMessage) -> dict:
    return {"session_id": m.session_id, "message_index": m.message_index, "trans_index": m.data.trans_index,
            "ts": m.data.ts_ns}


def _message_row(m: MailMessage, limits: Limits, extra: list[Anomaly]) -> dict:
    p, d, t = m.parsed, m.data, m.transaction
    from_header = next((h for h in p.headers if h.lname == "from"), None)
    to, cc = _capped(m, "To", p.to, limits, extra), _capped(m, "Cc", p.cc, limits, extra)
    return {
        **_key(m),
        "end": d.end_ts_ns, "frame": d.frame, "end_frame": d.end_frame,
        "via": d.via, "complete": d.complete, "size": d.size, "captured_bytes": len(d.content),
        "gap_bytes": d.event.gap_bytes, "sha256": m.sha256,
        "mail_from": t.mail_from if t is not None else None,
        "rcpt_to": t.rcpt_to if t is not None else (),
        "from": from_header.value.strip() if from_header is not None else None,
        "from_addr": p.from_[0].addr if p.from_ else None,
        "from_count": p.from_count,
        "sender": p.sender[0].addr if p.sender else None,
        "reply_to": [a.addr for a in p.reply_to],
        "to": to, "cc": cc, "bcc": [a.addr for a in p.bcc],
        "subject": p.subject, "subject_raw": p.subject_raw,
        "date": _date_ns(m, p.date, extra), "date_raw": p.date_raw,
        "message_id": p.message_id, "in_reply_to": p.in_reply_to, "references": p.references,
        "return_path": p.return_path, "x_mailer": p.x_mailer, "user_agent": p.user_agent,
        "x_originating_ip": p.x_originating_ip,
        "dkim_domains": [d_ for d_, _ in p.dkim if d_],
        "received_count": len(p.received), "received_path": p.received_path,
        "mime_version": p.mime_version, "content_type": p.content_type,
        "part_count": len(p.parts), "attachment_count": len(p.attachments),
        "url_count": len(p.urls), "urls": p.urls,
        "preview": body_preview(p.parts), "header_bytes": p.header_bytes,
        "anomalies": len(p.anomalies) + p.anomalies_suppressed,
    }


def _capped(m: MailMessage, field: str, addresses: Sequence, limits: Limits, extra: list[Anomaly]) -> list[str]:
    cap = limits.max_header_addresses
    if len(addresses) > cap:
        extra.append(_anomaly(m, "header_address_limit",
                              f"{len(addresses)} {field} mailboxes; max_header_addresses={cap} kept"))
    return [a.addr for a in addresses[:cap]]


def _date_ns(m: MailMessage, when: datetime | None, extra: list[Anomaly]) -> int | None:
    if when is None:
        return None
    ns = (when - _EPOCH) // timedelta(microseconds=1) * 1000
    if not _NS_MIN <= ns <= _NS_MAX:
        extra.append(_anomaly(m, "date_out_of_range", f"Date {when.isoformat()} is outside the years "
                              "1677-2262 a table timestamp can hold; see date_raw"))
        return None
    return ns


def body_preview(parts: Sequence[MimePart]) -> str | None:
    """The preview of the first text/plain body part (not an attachment), else of the first HTML."""
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.content_type == wanted and not part.is_attachment and part.preview:
                return part.preview
    return None


def _attachment_row(m: MailMessage, part: MimePart) -> dict:
    return {
        **_key(m), "frame": m.data.frame, "part": part.path, "filename": part.filename,
        "filename_raw": part.filename_raw, "content_type": part.content_type, "charset": part.charset,
        "transfer_encoding": part.transfer_encoding, "disposition": part.disposition,
        "content_id": part.content_id, "size": part.size, "decoded_size": part.decoded_size,
        "md5": part.md5, "sha1": part.sha1, "sha256": part.sha256, "truncated": part.content_truncated,
    }


def _header_rows(m: MailMessage) -> Iterable[dict]:
    key = _key(m)
    for part in m.parsed.parts:
        for header in part.headers:
            yield {**key, "part": part.path, "index": header.index, "name": header.name,
                   "value": header.value, "raw_value": header.raw_value}


# -- anomalies ------------------------------------------------------------------------------------
def _anomaly(m: MailMessage, kind: str, message: str) -> Anomaly:
    return Anomaly(layer=Layer.MAIL, kind=kind, message=message, ts_ns=m.data.ts_ns, frame=m.data.frame,
                   conn_id=m.session_id)


def _with_mail_anomalies(anomalies: pd.DataFrame, mail: Sequence[MailMessage], extra: list[Anomaly]
                         ) -> pd.DataFrame:
    """The anomalies table with each message's mail anomalies added (session, time, first frame)."""
    found = [replace(a, ts_ns=m.data.ts_ns, frame=m.data.frame, conn_id=m.session_id)
             for m in mail for a in m.parsed.anomalies]
    found.extend(extra)
    if not found:
        return anomalies
    rows = frame_from_rows("anomalies", (
        {"session_id": a.conn_id, "ts": a.ts_ns, "frame": a.frame, "layer": a.layer.value, "kind": a.kind,
         "message": a.message} for a in found))
    merged = pd.concat([anomalies, rows], ignore_index=True) if len(anomalies) else rows
    for column in SCHEMAS["anomalies"]:
        if column.dtype == CAT:  # categories of the two frames differ: concat made them plain objects
            merged[column.name] = merged[column.name].astype("string").astype("category")
    return merged.sort_values(["ts", "frame"], na_position="last", kind="stable").reset_index(drop=True)
