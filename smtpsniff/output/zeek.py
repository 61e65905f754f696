"""Zeek-compatible logs: ``smtp.log`` (one row per mail transaction) and ``files.log`` (MIME leaves).

The columns, types and semantics are those of Zeek's base scripts (``SMTP::Info`` in
``base/protocols/smtp/main.zeek`` + ``files.zeek``; ``Files::Info`` with the hash analyzers), so that
zat, zeek-cut and SIEM parsers built for Zeek read them unchanged.  Two encodings:

* ``zeek``: Zeek's ASCII writer.  ``#separator \\x09`` header lines, ``-`` for an unset field,
  ``(empty)`` for an empty string or set, ``,`` between set elements; in values, C0/C1 control
  characters, ``\\``, bytes that are not UTF-8 and (inside sets) ``,`` are written ``\\xNN``; a
  value that is literally ``-`` or ``(empty)`` gets its first character escaped.  ``#open`` and
  ``#close`` carry the times of the first and last packet of the capture (UTC), not the clock.
* ``zeek-json``: Zeek's JSON writer (``LogAscii::use_json``): one object per line, ``ts`` as epoch
  seconds, dotted field names (``id.orig_h``), unset fields left out, sets and vectors as arrays.

Header-derived fields follow main.zeek exactly: only the message's own header block counts (not
MIME part or embedded message headers); when a field repeats the last one wins; To and Cc are
split as ``split_mime_email_addresses`` does; ``first_received`` is the *last* Received field in
header order (the oldest hop) and ``second_received`` the one before it; values are the raw field
bytes after the colon, unfolded, leading white space removed, not RFC 2047 decoded.

Where smtpsniff differs from Zeek on purpose (documented in tests/mail/test_mail_zeek_logs.py):

* ``ts`` is the time of the transaction's first MAIL/RCPT (Zeek: the end of the previous one);
* ``uid`` and ``fuid`` cannot be Zeek's (Zeek draws them from a seeded random pool).  ``uid`` is
  ``"C"`` + base62 of the first 96 bits of SHA-256 over ``"<first packet ns>|6|<client ip>|<client
  port>|<server ip>|<server port>"``: the same connection gives the same uid in every run and in
  every capture file holding it.  ``fuid`` is ``"F"`` + base62 of the first 96 bits of SHA-256 over
  ``"<uid>|<message index>|<MIME path>"``;
* ``rcptto`` keeps every RCPT TO forward-path, also ones without ``@`` (``postmaster``), which
  Zeek's e-mail regex drops;
* ``mime_type`` is the declared Content-Type (Zeek sniffs the content with libmagic);
* hashes and ``seen_bytes`` of quoted-printable parts lack the CRLF Zeek's MIME analyser adds at
  their end;
* ``duration`` and ``local_orig`` are unset (per-part timing and local networks are unknown);
  ``missing_bytes`` is unset for the parts of a message cut by a gap unless the message has only
  one part (the SMTP layer does not record where in the message the gap fell).

``files.log`` lists, as Zeek does, every MIME leaf with a body (bodies of text parts included, not
only attachments); ``depth`` counts MIME entities across the session (Zeek's ``mime_depth``).

This module consumes records and parsed messages and writes text; it knows nothing of packets.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..analysis.mail_tables import MailMessage
from ..limits import DEFAULT_LIMITS, Limits
from ..mail import received
from ..mail.model import Header
from ..records.builder import SessionRecords
from ..records.model import SessionRecord, TransactionRecord

FORMATS = ("zeek", "zeek-json")

#: SMTP::Info (base/protocols/smtp/main.zeek + files.zeek), in Zeek's column order.
SMTP_FIELDS: tuple[tuple[str, str], ...] = (
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("trans_depth", "count"), ("helo", "string"),
    ("mailfrom", "string"), ("rcptto", "set[string]"), ("date", "string"), ("from", "string"),
    ("to", "set[string]"), ("cc", "set[string]"), ("reply_to", "string"), ("msg_id", "string"),
    ("in_reply_to", "string"), ("subject", "string"), ("x_originating_ip", "addr"),
    ("first_received", "string"), ("second_received", "string"), ("last_reply", "string"),
    ("path", "vector[addr]"), ("user_agent", "string"), ("tls", "bool"), ("fuids", "vector[string]"),
)
#: Files::Info (base/frameworks/files/main.zeek) with base/files/hash's md5, sha1, sha256.
FILES_FIELDS: tuple[tuple[str, str], ...] = (
    ("ts", "time"), ("fuid", "string"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("source", "string"), ("depth", "count"),
    ("analyzers", "set[string]"), ("mime_type", "string"), ("filename", "string"),
    ("duration", "interval"), ("local_orig", "bool"), ("is_orig", "bool"), ("seen_bytes", "count"),
    ("total_bytes", "count"), ("missing_bytes", "count"), ("overflow_bytes", "count"),
    ("timedout", "bool"), ("parent_fuid", "string"), ("md5", "string"), ("sha1", "string"),
    ("sha256", "string"),
)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EOL = re.compile(rb"\r\n|\r|\n")
# base/utils/email.zeek split_mime_email_addresses: find_all(line, /(\"[^"]*\")?[^,]+/), each stripped.
_MIME_ADDRESS = re.compile(rb'(?:"[^"]*")?[^,]+')
# bytes.strip() with Zeek's strip(): isspace in the C locale.
_SPACE = b" \t\n\v\f\r"


@dataclass(frozen=True, slots=True)
class ZeekRows:
    """The rows of both logs as Python values; ``None`` is an unset field."""

    smtp: list[dict[str, object]]
    files: list[dict[str, object]]
    open_ns: int
    close_ns: int


# -- identifiers ----------------------------------------------------------------------------------
def _base62(number: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)) or "0"


def _id96(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:12], "big")


def connection_uid(session: SessionRecord) -> str:
    """A Zeek-like connection uid derived from the connection (see the module docstring)."""
    return "C" + _base62(_id96(f"{session.start_ns}|6|{session.client_ip}|{session.client_port}|"
                                f"{session.server_ip}|{session.server_port}"))


def file_uid(uid: str, message_index: int, path: str) -> str:
    return "F" + _base62(_id96(f"{uid}|{message_index}|{path}"))


# -- header values as main.zeek reads them --------------------------------------------------------
def header_bytes(header: Header) -> bytes:
    """The value of ``header`` as Zeek's MIME analyser gives it: raw, unfolded, left-stripped."""
    value = header.raw.split(b":", 1)[1] if b":" in header.raw else b""
    return _EOL.sub(b"", value).lstrip(_SPACE)


def split_mime_addresses(value: bytes) -> list[bytes]:
    """base/utils/email.zeek ``split_mime_email_addresses``, first-seen order instead of a set."""
    seen: dict[bytes, None] = {}
    for match in _MIME_ADDRESS.finditer(value):
        seen.setdefault(match.group().strip(_SPACE), None)
    return list(seen)


def header_fields(headers: Sequence[Header], limits: Limits) -> dict[str, object]:
    """The SMTP::Info fields main.zeek's ``mime_one_header`` sets from the message's own headers."""
    out: dict[str, object] = {}
    to: dict[bytes, None] = {}
    cc: dict[bytes, None] = {}
    received_values: list[bytes] = []
    names = {"message-id": "msg_id", "in-reply-to": "in_reply_to", "subject": "subject", "from": "from",
             "reply-to": "reply_to", "date": "date", "x-mailer": "user_agent", "user-agent": "user_agent",
             "x-user-agent": "user_agent"}
    for header in headers:
        lname, value = header.lname, header_bytes(header)
        if lname in names:
            out[names[lname]] = value
        elif lname == "received":
            received_values.append(value)
        elif lname in ("to", "cc"):
            target = to if lname == "to" else cc
            for address in split_mime_addresses(value):
                if len(target) >= limits.max_header_addresses:
                    break
                target.setdefault(address, None)
        elif lname == "x-originating-ip":
            ips = received.ips_in(value.decode("utf-8", "replace"))
            if ips:
                out["x_originating_ip"] = ips[0]
    if to:
        out["to"] = list(to)
    if cc:
        out["cc"] = list(cc)
    if received_values:
        out["first_received"] = received_values[-1]
        if len(received_values) > 1:
            out["second_received"] = received_values[-2]
    return out


# -- rows -----------------------------------------------------------------------------------------
def zeek_rows(records: Iterable[SessionRecords], mail: Sequence[MailMessage], limits: Limits = DEFAULT_LIMITS
              ) -> ZeekRows:
    """smtp.log and files.log rows for every transaction and every MIME leaf of ``records``."""
    by_transaction: dict[tuple[int, int], MailMessage] = {}
    by_session: dict[int, list[MailMessage]] = {}
    for m in mail:
        by_transaction.setdefault((m.session_id, m.data.trans_index), m)
        by_session.setdefault(m.session_id, []).append(m)
    smtp: list[dict[str, object]] = []
    files: list[dict[str, object]] = []
    times: list[int] = []
    for bundle in records:
        s = bundle.session
        times += [s.start_ns, s.end_ns]
        uid = connection_uid(s)
        conn = {"uid": uid, "id.orig_h": s.client_ip, "id.orig_p": s.client_port, "id.resp_h": s.server_ip,
                "id.resp_p": s.server_port}
        fuids: dict[int, list[str]] = {}  # trans_index -> fuids of every message it carried
        depth = 0
        for m in by_session.get(s.session_id, ()):
            leaves = {id(p) for p in m.parsed.parts if not p.is_multipart and zeek_sees_body(m, p)}
            for part in m.parsed.parts:
                depth += 1  # Zeek's SMTP::State$mime_depth counts every entity of the session
                if id(part) not in leaves:
                    continue
                fuid = file_uid(uid, m.message_index, part.path)
                fuids.setdefault(m.data.trans_index, []).append(fuid)
                files.append(_file_row(conn, m, part, fuid, depth, len(leaves)))
        for t in bundle.transactions:
            m = by_transaction.get((s.session_id, t.trans_index))
            smtp.append(_smtp_row(conn, s, t, m, fuids.get(t.trans_index, []), limits))
    smtp.sort(key=lambda r: r["ts"])  # type: ignore[arg-type, return-value]
    files.sort(key=lambda r: r["ts"])  # type: ignore[arg-type, return-value]
    return ZeekRows(smtp, files, min(times, default=0), max(times, default=0))


def zeek_sees_body(m: MailMessage, part) -> bool:
    """Whether Zeek's MIME analyser makes a file of this leaf.  It does for every part with a body
    line, and for the part a capture gap cut (the gap itself opens the file); the message itself
    (path "1") has no body when no empty line ends its header block or nothing follows it (Zeek
    then takes every line for a header)."""
    if part.path != "1" or not m.data.complete:
        return True
    raw, end = m.data.content, m.parsed.header_bytes
    if end >= len(raw):
        return False
    block = raw[:end]
    return block in (b"\r\n", b"\n") or block.endswith((b"\n\r\n", b"\n\n"))


def _smtp_row(conn: dict, s: SessionRecord, t: TransactionRecord, m: MailMessage | None,
              fuids: list[str], limits: Limits) -> dict[str, object]:
    rcpt: dict[str, None] = dict.fromkeys(t.rcpt_to[:limits.max_recipients])
    headers = header_fields(m.parsed.headers, limits) if m is not None else {}
    path = received.zeek_path(m.parsed.received_path if m is not None else (), s.client_ip, s.server_ip,
                              limits.max_received_path)
    row: dict[str, object] = {
        "ts": t.ts_ns, **conn, "trans_depth": t.trans_depth, "helo": t.helo,
        "mailfrom": t.mail_from or None,  # the null sender <> has no address: unset, as in Zeek
        "rcptto": list(rcpt) if t.rcpt_to else None,
        "date": None, "from": None, "to": None, "cc": None, "reply_to": None, "msg_id": None,
        "in_reply_to": None, "subject": None, "x_originating_ip": None, "first_received": None,
        "second_received": None, "last_reply": t.last_reply, "path": list(path), "user_agent": None,
        "tls": t.tls,
        "fuids": [] if t.tls else fuids,  # files.zeek: only while the session is not in TLS
    }
    row.update(headers)
    return row


def _file_row(conn: dict, m: MailMessage, part, fuid: str, depth: int, leaves: int) -> dict[str, object]:
    complete = m.data.complete
    missing = 0 if complete else (m.data.event.gap_bytes if leaves == 1 else None)
    return {
        "ts": m.data.ts_ns, "fuid": fuid, **conn, "source": "SMTP", "depth": depth,
        "analyzers": ["MD5", "SHA1", "SHA256"], "mime_type": part.content_type,
        "filename": part.filename, "duration": None, "local_orig": None, "is_orig": True,
        "seen_bytes": part.decoded_size, "total_bytes": None, "missing_bytes": missing,
        "overflow_bytes": 0, "timedout": False, "parent_fuid": None,
        "md5": part.md5, "sha1": part.sha1, "sha256": part.sha256,
    }


# -- ASCII (TSV) encoding -------------------------------------------------------------------------
def escape(value: bytes | str, extra: str = "") -> str:
    """A string value as Zeek's ASCII writer writes it with ``LogAscii::enable_utf_8`` (the default)."""
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not part of valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or ch == "\\" or ch in extra:
            out.append(f"\\x{code:02x}")
        elif 0x80 <= code <= 0x9F:  # C1 controls: their UTF-8 bytes
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def _tsv_string(value: bytes | str, extra: str = "") -> str:
    if not value:
        return "(empty)"
    text = escape(value, extra)
    if text in ("-", "(empty)"):  # escapeReservedContent: never confuse a value with the markers
        return f"\\x{ord(text[0]):02x}{text[1:]}"
    return text


def _seconds(ns: int) -> str:
    micro = ns // 1000
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def tsv_value(value: object, zeek_type: str) -> str:
    if value is None:
        return "-"
    if zeek_type in ("time", "interval"):
        return _seconds(int(value))  # type: ignore[call-overload]
    if zeek_type == "bool":
        return "T" if value else "F"
    if zeek_type.startswith(("set[", "vector[")):
        items = list(value)  # type: ignore[call-overload]
        if not items:
            return "(empty)"
        return ",".join(_tsv_string(item, ",") for item in items)
    if zeek_type == "string":
        return _tsv_string(value)  # type: ignore[arg-type]
    return str(value)


def _stamp(ns: int) -> str:
    return (_EPOCH + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%d-%H-%M-%S")


def tsv_lines(path_name: str, fields: Sequence[tuple[str, str]], rows: Iterable[dict[str, object]],
              open_ns: int, close_ns: int) -> Iterator[str]:
    yield "#separator \\x09"
    yield "#set_separator\t,"
    yield "#empty_field\t(empty)"
    yield "#unset_field\t-"
    yield f"#path\t{path_name}"
    yield f"#open\t{_stamp(open_ns)}"
    yield "#fields\t" + "\t".join(name for name, _ in fields)
    yield "#types\t" + "\t".join(kind for _, kind in fields)
    for row in rows:
        yield "\t".join(tsv_value(row.get(name), kind) for name, kind in fields)
    yield f"#close\t{_stamp(close_ns)}"


# -- JSON encoding --------------------------------------------------------------------------------
def _json_string(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    text = value.decode("utf-8", "surrogateescape")
    return re.sub("[\udc80-\udcff]", lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def json_value(value: object, zeek_type: str) -> object:
    if zeek_type in ("time", "interval"):
        return round(int(value) / 1e9, 6)  # type: ignore[call-overload]
    if zeek_type.startswith(("set[", "vector[")):
        return [_json_string(v) if isinstance(v, (bytes, str)) else v for v in value]  # type: ignore[union-attr]
    if isinstance(value, (bytes, str)):
        return _json_string(value)
    return value


def json_lines(fields: Sequence[tuple[str, str]], rows: Iterable[dict[str, object]]) -> Iterator[str]:
    for row in rows:
        record = {name: json_value(row[name], kind) for name, kind in fields if row.get(name) is not None}
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# -- files ----------------------------------------------------------------------------------------
def write_zeek_logs(records: Iterable[SessionRecords], mail: Sequence[MailMessage], out_dir: Path,
                    fmt: str = "zeek", limits: Limits = DEFAULT_LIMITS) -> list[Path]:
    """Write ``smtp.log`` and ``files.log`` into ``out_dir`` (``fmt``: "zeek" or "zeek-json")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown Zeek format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rows = zeek_rows(records, mail, limits)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fields, data in (("smtp", SMTP_FIELDS, rows.smtp), ("files", FILES_FIELDS, rows.files)):
        path = out_dir / f"{name}.log"
        lines = (tsv_lines(name, fields, data, rows.open_ns, rows.close_ns) if fmt == "zeek"
                 else json_lines(fields, data))
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line + "\n")
        written.append(path)
    return written
