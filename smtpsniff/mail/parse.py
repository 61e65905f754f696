"""Turn the bytes of one transferred message into a :class:`ParsedMessage`.

The one entry point of the mail layer: :func:`parse_message` takes the message as the SMTP layer
delivered it (after DATA, dot-unstuffed, RFC 5321 section 4.5.2; or the BDAT chunks joined) and
returns headers, fields, the flattened MIME tree, URLs and anomalies.  No I/O, no SMTP, no clock:
the caller adds connection context (timestamps, endpoints: see
:func:`smtpsniff.mail.received.zeek_path`) and writes attachments.

Hostile input never raises: each field and each part is read on its own, and what cannot be read
becomes an anomaly (layer MAIL) while the rest is still reported.
"""
from __future__ import annotations

import hashlib
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy

from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.mail.anomalies import AnomalyLog, excerpt
from smtpsniff.mail.fields import message_fields
from smtpsniff.mail.getters import content_type
from smtpsniff.mail.headers import (
    MAIL_POLICY,
    HeaderBlock,
    HeaderParses,
    split_header_block,
)
from smtpsniff.mail.mime import leaf_parts, single_part, walk
from smtpsniff.mail.model import Header, MimePart, ParsedMessage
from smtpsniff.mail.multipart import attach_parts
from smtpsniff.mail.urls import dedupe
from smtpsniff.net import native

_new_message = slot_builder(ParsedMessage)
#: The header block of a message that could not be parsed: none.
_NO_HEADERS = HeaderBlock(headers=(), header_bytes=0, body_offset=0, for_stdlib=b"")

#: The C counter of :func:`_scan_line_ends`, looked up when this module is imported (None when the
#: extension is not compiled or ``SMTPSNIFF_NATIVE=0``).
_C_LINE_ENDS = native.mail_line_ends()


def parse_message(raw: bytes, *, limits: Limits = DEFAULT_LIMITS, complete: bool = True
                  ) -> ParsedMessage:
    """Parse one message.  ``complete=False`` says the capture lost part of it (a gap or a cut
    connection): what there is gets parsed and the anomaly ``message_incomplete`` is recorded.

    The MIME parts are those :func:`~smtpsniff.mail.mime.walk` finds in :func:`_stdlib_tree`'s
    tree; a clean message is recorded as that walk would record it by
    :func:`~smtpsniff.mail.mime.single_part` or :func:`~smtpsniff.mail.mime.leaf_parts`,
    without the tree.

    It never raises: every damage it knows of is an anomaly of its own, and anything else that
    goes wrong in the parse (the stdlib's header and MIME code raise on inputs nobody listed) is
    the anomaly ``mail_parse_failed`` on a message read as one undecoded part, so that one
    message cannot stop the analysis of a capture."""
    try:
        return _parse(raw, limits, complete)
    except Exception as exc:  # noqa: BLE001  # recorded below; RecursionError included
        return _unparsed(raw, limits, complete, exc)


def _unparsed(raw: bytes, limits: Limits, complete: bool, exc: Exception) -> ParsedMessage:
    """The message as one undecoded part without headers, with what went wrong."""
    log = AnomalyLog(limits.max_anomalies_per_kind)
    if not complete:
        log.add("message_incomplete", f"the capture holds only part of this message "
                f"({len(raw)} bytes); later parts and closing boundaries may be missing")
    log.add("mail_parse_failed", f"the message could not be parsed ({type(exc).__name__}: "
            f"{excerpt(str(exc))}); it is listed as one undecoded part without headers")
    no_fields = message_fields((), limits, AnomalyLog(1))  # what no headers give, unreported
    return _parsed(raw, complete, _NO_HEADERS, no_fields, (_opaque_body(raw, (), limits),), [], limits, log)


def _parse(raw: bytes, limits: Limits, complete: bool) -> ParsedMessage:
    """:func:`parse_message`, which may raise on inputs no rule covers."""
    log = AnomalyLog(limits.max_anomalies_per_kind)
    if not complete:
        log.add("message_incomplete", f"the capture holds only part of this message "
                f"({len(raw)} bytes); later parts and closing boundaries may be missing")
    if not raw:
        log.add("empty_message", "the message has no bytes at all (RFC 5322 section 3.6 requires "
                "at least From and Date)")
    crlf_only = _scan_line_ends(raw, log)

    parses = HeaderParses()  # each field value parsed once by the stdlib, for every use
    block = split_header_block(raw, limits, log, parses, crlf_only)
    fields = message_fields(block.headers, limits, log, parses)
    policy = None
    if block.items is not None and crlf_only:  # the tree would start from a clean root
        body = raw[block.body_offset:]
        found = single_part(block.items, body, block.headers, limits, log, parses)
        if found is None:
            policy = MAIL_POLICY.clone(header_factory=parses)
            found = leaf_parts(block.items, body, block.headers, limits, log, policy)
        if found is not None:
            return _parsed(raw, complete, block, fields, *found, limits, log)
    try:
        if policy is None:
            policy = MAIL_POLICY.clone(header_factory=parses)
        root = _stdlib_tree(raw, block, policy, crlf_only)
    except RecursionError:
        log.add("mime_parse_failed", "MIME structure nested too deeply for the stdlib parser; "
                "the body is listed as one part")
        root = None
    except Exception as exc:  # the stdlib parser is not meant to raise; be sure of it
        log.add("mime_parse_failed", f"the stdlib parser failed ({exc!r}); "
                "the body is listed as one part")
        root = None
    if root is not None:
        try:
            parts, urls = walk(root, block.headers, limits, log, parses)
        except RecursionError:
            log.add("mime_parse_failed", "MIME structure nested too deeply to walk; "
                    "the body is listed as one part")
            root = None
    if root is None:
        parts, urls = (_opaque_body(raw[block.body_offset:], block.headers, limits),), []
    return _parsed(raw, complete, block, fields, parts, urls, limits, log)


def _parsed(raw: bytes, complete: bool, block: HeaderBlock, fields: tuple,
            parts: tuple[MimePart, ...], urls: list[str], limits: Limits, log: AnomalyLog
            ) -> ParsedMessage:
    """The :class:`ParsedMessage` of what was read, its URLs without repeats."""
    kept_urls, cut = dedupe(urls, limits.max_urls_per_message)
    if cut:
        log.add("url_limit", f"more than max_urls_per_message={limits.max_urls_per_message} "
                f"URLs; {cut} not kept")
    return _new_message(  # ParsedMessage's fields in its order
        len(raw),  # size
        complete,
        block.header_bytes,
        block.headers,
        *fields,  # from_ to content_type
        parts,
        kept_urls,  # urls
        log.freeze(),  # anomalies
        log.suppressed,  # anomalies_suppressed
    )


def _stdlib_tree(raw: bytes, block: HeaderBlock, policy: EmailPolicy, crlf_only: bool
                 ) -> Message:
    """The stdlib's tree of the message: what ``BytesParser(policy).parsebytes`` makes of
    ``block.for_stdlib``.

    A message whose header block needed no repair and whose every line ends in CRLF is built
    here as the stdlib's ``FeedParser`` builds it (one ``policy.message_factory`` entity, each
    field through ``policy.header_source_parse``, no defects), without its line-by-line reading:
    the body after the empty line is the payload when the type is neither multipart nor message,
    and a clean multipart body is split by :func:`~smtpsniff.mail.multipart.attach_parts`.
    """
    if block.fields is not None and crlf_only:
        root = policy.message_factory(policy=policy)
        items = block.items
        if items is None:  # the field's lines, each CRLF kept but the last
            items = [policy.header_source_parse([whole.decode("ascii", "surrogateescape")])
                     for whole in block.fields]
        root._headers.extend(items)  # type: ignore[attr-defined]  # set_raw of each, at once
        try:
            maintype = content_type(root).split("/")[0]  # root.get_content_maintype()
        except Exception:  # a Content-Type the stdlib cannot read: the parser below decides
            maintype = "message"
        if maintype not in ("multipart", "message"):
            root.set_payload(raw[block.body_offset:].decode("ascii", "surrogateescape"))
            return root
        if maintype == "multipart" and _parts_attached(root, raw[block.body_offset:], policy):
            return root
    return BytesParser(policy=policy).parsebytes(block.for_stdlib)


def _parts_attached(root: Message, body: bytes, policy: EmailPolicy) -> bool:
    """:func:`~smtpsniff.mail.multipart.attach_parts`; False (the parser decides) also when a
    part's Content-Type is one the stdlib cannot read."""
    try:
        return attach_parts(root, body.decode("ascii", "surrogateescape"), policy)
    except Exception:  # noqa: BLE001  # BytesParser meets the same value and decides
        return False


def _scan_line_ends(raw: bytes, log: AnomalyLog) -> bool:
    """RFC 5322 section 2.3 and RFC 5321 section 2.3.8: CR and LF appear only together.

    True when they do (every line ends in CRLF).  The counts come from the C extension's
    ``mail_line_ends`` in one pass when it is there (tests/mail/test_mail_line_ends.py proves it
    counts as :func:`_line_ends` does), else from :func:`_line_ends`."""
    counts = None if _C_LINE_ENDS is None else _C_LINE_ENDS(raw)
    bare_lf, bare_cr, nul = _line_ends(raw) if counts is None else counts
    if bare_lf:
        log.add("bare_lf", f"{bare_lf} line(s) end with LF alone, not CRLF (RFC 5322 section 2.3; "
                "SMTP smuggling relies on receivers that accept them)")
    if bare_cr:
        log.add("bare_cr", f"{bare_cr} CR byte(s) not followed by LF (RFC 5322 section 2.3)")
    if nul:
        log.add("nul_bytes", f"{nul} NUL byte(s) in the message (RFC 5322 section 2.3 and RFC "
                "2045 section 2.7 forbid them in text)")
    return not bare_lf and not bare_cr


def _line_ends(raw: bytes) -> tuple[int, int, int]:
    """``(bare_lf, bare_cr, nul)``: the LF not preceded by CR, the CR not followed by LF and the
    NUL octets of ``raw``."""
    crlf = raw.count(b"\r\n")  # CRLF cannot overlap itself: each one holds one CR and one LF
    nul = raw.count(b"\x00") if raw.find(b"\x00") >= 0 else 0
    return raw.count(b"\n") - crlf, raw.count(b"\r") - crlf, nul


def _opaque_body(body: bytes, headers: tuple[Header, ...], limits: Limits) -> MimePart:
    """The whole body as one undecoded part, for when the MIME structure cannot be read."""
    cap = limits.max_part_decoded_bytes
    return MimePart(
        path="1", depth=0, parent=None, content_type="application/octet-stream",
        headers=headers, size=len(body), decoded_size=len(body),
        md5=hashlib.md5(body, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(body, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(body).hexdigest(),
        content=body[:cap], content_truncated=len(body) > cap,
    )
