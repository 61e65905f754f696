"""Writing every message as an .eml file and every attachment decoded, with a manifest.

Like Wireshark's "Export Objects > IMF", but for every part: ``messages/`` holds each message
exactly as transferred (DATA dot-unstuffed per RFC 5321 section 4.5.2, BDAT chunks joined; what a
receiving MTA stored), ``attachments/`` each attachment after transfer decoding, and
``manifest.csv`` one row per written file with its hashes and where it came from.  ``size`` is
the bytes written; an attachment cut at ``max_part_decoded_bytes`` (``truncated``) keeps hashes of
the whole decoded part.

File names come from the capture and are hostile by assumption: every name goes through
:func:`~smtpsniff.output.safe.safe_filename`, every file is created with ``O_EXCL`` (an existing
file or link is never overwritten or followed: collisions become ``name (2).ext``), and
:func:`~smtpsniff.output.safe.unique_path` checks that each path lies inside its folder.  This
module consumes parsed messages and writes files; it knows nothing of packets or SMTP.
"""
from __future__ import annotations

import csv
import hashlib
import io
import mimetypes
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..analysis.mail_tables import MailMessage
from ..mail import MimePart
from .safe import csv_safe, safe_filename, unique_path

MESSAGES_DIR = "messages"
ATTACHMENTS_DIR = "attachments"
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = (
    "kind", "file", "original_filename", "size", "md5", "sha1", "sha256", "complete", "truncated",
    "session_id", "message_index", "trans_index", "part", "content_type", "frame", "end_frame", "ts",
    "client_ip", "client_port", "server_ip", "server_port", "mail_from", "message_id",
)
#: Fresh names tried for one file before giving up (each try numbers the name once more).
_MAX_CREATE_TRIES = 10_000
# The stdlib's built-in media type table only: no /etc/mime.types, so names do not depend on the host.
_TYPES = mimetypes.MimeTypes(filenames=())
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ExtractError(Exception):
    """The output folder cannot be used safely (a sub-folder is a link or a file)."""


@dataclass(slots=True)
class ExtractSummary:
    messages: int = 0
    attachments: int = 0
    bytes: int = 0
    manifest: Path | None = None
    files: list[Path] = field(default_factory=list)


def extract(mail: tuple[MailMessage, ...] | list[MailMessage], out_dir: Path) -> ExtractSummary:
    """Write every message and attachment of ``mail`` under ``out_dir`` and a manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    messages_dir = _subfolder(root, MESSAGES_DIR)
    attachments_dir = _subfolder(root, ATTACHMENTS_DIR)
    summary = ExtractSummary()
    rows: list[dict[str, object]] = []
    for m in mail:
        name = f"{m.session_id:05d}-{m.message_index}.eml"
        path = _create(messages_dir, name, m.data.content)
        summary.messages += 1
        summary.bytes += len(m.data.content)
        summary.files.append(path)
        rows.append(_message_row(m, path.relative_to(root)))
        for part in m.parsed.attachments:
            content = part.content or b""
            path = _create(attachments_dir, attachment_name(m, part), content)
            summary.attachments += 1
            summary.bytes += len(content)
            summary.files.append(path)
            rows.append(_attachment_row(m, part, path.relative_to(root)))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
    summary.manifest = _create(root, MANIFEST_NAME, buffer.getvalue().encode("utf-8"))
    return summary


def attachment_name(m: MailMessage, part: MimePart) -> str:
    """The sanitised file name of an attachment: its own name, or one made from where it came from."""
    stem = f"{m.session_id:05d}-{m.message_index}-part{part.path}"
    if part.filename:
        return safe_filename(part.filename, fallback=stem)
    extension = _TYPES.guess_extension(part.content_type) or ".bin"
    return safe_filename(stem + extension)


def escaped(text: str | None) -> str | None:
    """``text`` with control and format characters (NUL, CR, bidi overrides) as ``\\xNN``/``\\uNNNN``."""
    if text is None:
        return None
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def iso_utc(ts_ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC with microseconds."""
    return (_EPOCH + timedelta(microseconds=ts_ns // 1000)).isoformat()


def _subfolder(root: Path, name: str) -> Path:
    path = root / name
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ExtractError(f"{path} exists and is not a folder; refusing to write through it")
    path.mkdir(exist_ok=True)
    if path.resolve().parent != root:
        raise ExtractError(f"{path} resolves outside {root}")
    return path


def _create(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``folder/name`` (numbered when taken); never overwrite."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_MAX_CREATE_TRIES):
        path = unique_path(folder, name)
        try:
            fd = os.open(path, flags, 0o644)
        except FileExistsError:  # created between the check and the open: take the next number
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path
    raise ExtractError(f"no free file name for {name!r} in {folder}")


def _common(m: MailMessage) -> dict[str, object]:
    s, d = m.session, m.data
    return {
        "complete": d.complete, "session_id": m.session_id, "message_index": m.message_index,
        "trans_index": d.trans_index, "frame": d.frame, "end_frame": d.end_frame, "ts": iso_utc(d.ts_ns),
        "client_ip": s.client_ip, "client_port": s.client_port, "server_ip": s.server_ip,
        "server_port": s.server_port,
        "mail_from": escaped(m.transaction.mail_from) if m.transaction is not None else None,
        "message_id": escaped(m.parsed.message_id),
    }


def _message_row(m: MailMessage, path: Path) -> dict[str, object]:
    content = m.data.content
    return {
        **_common(m), "kind": "message", "file": path.as_posix(), "original_filename": None,
        "size": len(content), "md5": hashlib.md5(content, usedforsecurity=False).hexdigest(),
        "sha1": hashlib.sha1(content, usedforsecurity=False).hexdigest(), "sha256": m.sha256,
        "truncated": m.data.truncated_content, "part": None, "content_type": m.parsed.content_type,
    }


def _attachment_row(m: MailMessage, part: MimePart, path: Path) -> dict[str, object]:
    return {
        **_common(m), "kind": "attachment", "file": path.as_posix(), "original_filename": escaped(part.filename),
        "size": len(part.content or b""), "md5": part.md5, "sha1": part.sha1, "sha256": part.sha256,
        "truncated": part.content_truncated, "part": part.path, "content_type": part.content_type,
    }
