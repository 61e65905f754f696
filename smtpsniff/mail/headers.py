"""Header fields: split a header block from raw bytes, and decode one field's value.

RFC 5322 section 2.2 (header fields), 2.2.3 (folding), 3.6.8 (field names); RFC 6532 section 3.2
(UTF-8 in header values); RFC 2047 (encoded words, decoded by the stdlib ``email.policy.default``
header classes; values that need no parse are read by :mod:`smtpsniff.mail.simple` to the same
result).  This module reads only the top-level header block itself, so that the exact
bytes of every field survive; MIME part headers come from the stdlib parser
(:func:`headers_from_stdlib`).  It knows nothing of MIME structure, bodies or SMTP.

Choices where the RFCs are silent about damaged input (each one recorded as an anomaly):

* a line ending may be CRLF, bare LF or bare CR, as in the stdlib parser;
* ``Name : value`` (white space before the colon) is RFC 5322 section 4.5 obsolete syntax and is
  accepted as the field ``Name``, as Postfix does (the stdlib would end the header block there);
* a line that is neither a field nor a continuation is skipped when the next line is a field
  or the empty line, otherwise the body starts at it (as in the stdlib and Postfix);
* an mbox ``From `` envelope line before the first field is skipped;
* past ``max_mail_header_bytes`` fields are still split (to find the body) but not kept.
"""
from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.errors import MessageDefect
from email.headerregistry import (
    AddressHeader,
    DateHeader,
    HeaderRegistry,
    ParameterizedMIMEHeader,
    UnstructuredHeader,
)
from email.message import Message
from email.utils import parsedate_to_datetime

from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import Limits
from smtpsniff.mail.anomalies import AnomalyLog, excerpt
from smtpsniff.mail.model import Address, Header
from smtpsniff.mail.simple import (
    address_value,
    canonical_date,
    canonical_date_value,
    date_value,
    simple_mailboxes,
    value_reader,
)

# RFC 5322 section 2.1: CRLF ends a line; bare CR and bare LF are taken as line ends too.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_EOL = re.compile(rb"\r\n|\r|\n")
# RFC 5322 section 3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126; section 4.5
# (obs-optional) allows white space between the name and the colon.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
# One field of a header block with only CRLF line ends: its first line (a name, the colon at once)
# and its folds (lines that start with WSP, section 2.2.3), then CRLF or the end of the block.
# Groups: the whole field, its name, its value without the blanks that start it (what
# ``lstrip(b" \t")`` leaves: "[^\r]*" matches blanks too, so the greedy "[ \t]*" takes them all
# and the field ends where it would without it).  Used only on blocks where every CR starts a
# CRLF and every LF ends one, so "[^\r]*" (which the regex engine scans fastest) stops where
# "[^\r\n]*" would: at the next line end.
_CLEAN_FIELDS = re.compile(
    rb"(([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r]*(?:\r\n[ \t][^\r]*)*))(?:\r\n|\Z)")
# What a header block cannot start with: a fold, or a line end (no header block at all).
# (Byte tests here use find() and byte values: ``bytes in bytes`` first tries the operand as an
# integer, and pays for the error it raises.)
_BLANK_OR_LINE_END = frozenset(b" \t\r\n")
# RFC 5322 section 2.1.1: a line is at most 998 characters, CRLF excluded.
MAX_LINE_CHARS = 998
# RFC 2047 section 2: encoded-word = "=?" charset ["*" language] "?" encoding "?" encoded-text "?="
_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?*\s]+)(?:\*[^?\s]*)?\?[bBqQ]\?")
# RFC 5322 section 3.6.4: msg-id = "<" id-left "@" id-right ">"
_MSG_ID = re.compile(r"<[^<>]*>")


# How HeaderParses.simple treats a value of each class: read it as it is, read it as a date (once
# per message, for parse_date too), or keep what the reader returns (a parameterised value, which
# the stdlib's getters ask for again); an unstructured value (simple._unstructured) is read as it
# is too, and is its own answer when it is printable ASCII without "=?".
_PLAIN, _DATE, _PARAMETERIZED, _ADDRESSES, _UNSTRUCTURED = range(5)


def _reading(header_class: type) -> tuple[Callable[[str], str | None], int]:
    """The reader of ``header_class`` and how :meth:`HeaderParses.simple` treats its values."""
    reader = value_reader(header_class)
    if issubclass(header_class, DateHeader):
        return reader, _DATE
    if issubclass(header_class, AddressHeader):
        return reader, _ADDRESSES
    if issubclass(header_class, ParameterizedMIMEHeader):
        return reader, _PARAMETERIZED
    if issubclass(header_class, UnstructuredHeader):
        return reader, _UNSTRUCTURED
    return reader, _PLAIN


class _BuiltOnceRegistry(HeaderRegistry):
    """The stdlib header registry, with each header class built once instead of on every lookup.

    ``HeaderRegistry.__getitem__`` creates a new class (``type(...)``) for every header it parses;
    here the same classes are made once, when the registry is created, so values parse exactly
    as with ``email.policy.default``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes = {cls: self._build(cls)
                         for cls in {*self.registry.values(), self.default_class}}
        self._spelled: dict[str, type] = {}
        #: :func:`_reading` of each name in ``_SPELLINGS``, by its exact spelling.
        self.readings: dict[str, tuple[Callable[[str], str | None], int]] = {}
        self._spell()

    def _build(self, cls: type) -> type:
        return type("_" + cls.__name__, (cls, self.base_class), {})  # as the stdlib builds it

    def _spell(self) -> None:
        """The class of each name in ``_SPELLINGS``, found by its exact spelling (a name's class
        depends on its lower-case form only)."""
        self._spelled = {name: self._classes[self.registry.get(name.lower(), self.default_class)]
                         for name in _SPELLINGS}
        self.readings = {name: _reading(cls) for name, cls in self._spelled.items()}

    def map_to_type(self, name: str, cls: type) -> None:
        super().map_to_type(name, cls)
        self._classes[cls] = self._build(cls)
        self._spell()

    def __getitem__(self, name: str) -> type:
        found = self._spelled.get(name)
        if found is None:
            found = self._classes[self.registry.get(name.lower(), self.default_class)]
        return found


# Field names as messages usually spell them (RFC 5322 section 3.6, RFC 2045, RFC 5321 4.4, ...).
_SPELLINGS = (
    "From", "To", "Cc", "Bcc", "Sender", "Reply-To", "Subject", "Date", "Message-ID",
    "Message-Id", "MIME-Version", "Mime-Version", "Content-Type", "Content-Transfer-Encoding",
    "Content-Disposition", "Content-ID", "Content-Id", "Content-Description", "Received",
    "Return-Path", "In-Reply-To", "References", "X-Mailer", "User-Agent", "DKIM-Signature",
    "Authentication-Results", "X-Originating-IP", "Resent-From", "Resent-To", "Resent-Date",
    "Resent-Sender", "Resent-Cc", "Resent-Bcc", "List-Unsubscribe", "Precedence",
    "Thread-Topic", "Thread-Index", "Importance", "X-Priority", "Content-Language",
)


#: ``email.policy.default`` with header classes built once: the policy of every stdlib parse here.
MAIL_POLICY = policy.default.clone(header_factory=_BuiltOnceRegistry())
_HEADER_FACTORY = MAIL_POLICY.header_factory
#: :func:`~smtpsniff.mail.simple.simple_value` of each header class, looked up once per class.
_SIMPLE_READERS = {cls: value_reader(cls) for cls in _HEADER_FACTORY._classes.values()}
_READINGS = {cls: _reading(cls) for cls in _SIMPLE_READERS}


def _simple(header_class: type, value: str) -> str | None:
    """:func:`~smtpsniff.mail.simple.simple_value` through the reader found for the class."""
    reader = _SIMPLE_READERS.get(header_class)
    return (reader or value_reader(header_class))(value)


_UNREAD = object()
_make_header = slot_builder(Header)


#: The strings :func:`shared_string` shares, each its own key: header names, short values and
#: Received clauses, the first ones met, at most ``_SHARED_STRINGS_MAX`` strings of at most
#: ``_SHARED_STRING_CHARS`` characters (about 1 MiB in all); once full it takes no more, and other
#: strings are kept as they come.
#: A module-level table of immutable strings, read by every parse: a string found in it is equal
#: to the one it stands for, so no record can tell which one it holds.
_SHARED_STRINGS: dict[str, str] = {}
_SHARED_STRINGS_MAX = 8192
_SHARED_STRING_CHARS = 40


def shared_string(text: str) -> str:
    """``text``, or the equal string of :data:`_SHARED_STRINGS` (where it is put while there is
    room, when it is a short ``str``): records that hold the result instead of ``text`` hold
    equal values, with one string for the many fields of a capture that repeat it."""
    if type(text) is not str:  # a subclass is kept as it is
        return text
    found = _SHARED_STRINGS.get(text)
    if found is not None:
        return found
    if len(text) <= _SHARED_STRING_CHARS and len(_SHARED_STRINGS) < _SHARED_STRINGS_MAX:
        _SHARED_STRINGS[text] = text
    return text


def _new_header(index: int, name: str, raw: bytes, raw_value: str, value: str) -> Header:
    """The :class:`Header` of these fields, holding as few strings as it can: its name and a
    short ``raw_value`` shared through :data:`_SHARED_STRINGS` (every MIME entity repeats a few
    names, and values such as ``1.0``, ``base64`` or ``text/plain; charset="utf-8"``), and
    ``value`` the same object as ``raw_value`` when the two are equal (a value without encoded
    words is most often its own decoding).  Equal strings stand for each other anywhere: the
    fields are what they were, only fewer copies of them are kept."""
    raw_value = shared_string(raw_value)
    if value == raw_value and type(value) is type(raw_value):
        value = raw_value
    return _make_header(index, shared_string(name), raw, raw_value, value)


_new_address = slot_builder(Address)


class HeaderParses:
    """The stdlib header objects of one message (or the exception each raised), by (name, value).

    A header factory for the stdlib (``MAIL_POLICY.clone(header_factory=parses)``) and for
    :func:`decode_value` and :func:`addresses`: each field value is parsed once per message,
    however often the stdlib parser, its getters (``get_content_type``, ``get_filename``, ...)
    and this package ask for it, and every caller gets exactly what the stdlib would return (or
    raise).  It stands where ``HeaderRegistry.__call__`` stands, so the stdlib parses at the same
    stack depth as without it; a RecursionError, whose happening depends on that depth, is not
    kept.  One instance lives for one parse: nothing is shared between messages.

    A Content-Type or Content-Disposition value in :func:`~smtpsniff.mail.simple.simple_value`'s
    subset is answered with the plain string the stdlib header would equal: the stdlib's getters
    (``get_content_type``, ``get_param``, ``get_filename``, ``get_boundary``, ...) read nothing
    of a header but ``str(header)``.
    """

    __slots__ = ("_boxes", "_dates", "_found")

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], object] = {}
        self._dates: dict[str, object] = {}
        self._boxes: dict[str, list[tuple[str, str]] | None] = {}

    def mailboxes(self, value: str) -> list[tuple[str, str]] | None:
        """:func:`~smtpsniff.mail.simple.simple_mailboxes` of ``value``, found once per value
        (the list is the caller's to read, not to change)."""
        found = self._boxes.get(value, _UNREAD)
        if found is _UNREAD:
            found = self._boxes[value] = simple_mailboxes(value)
        return found  # type: ignore[return-value]

    def __call__(self, name: str, value: str) -> object:
        key = (name, value)
        found = self._found.get(key)
        if found is None:
            header_class = _HEADER_FACTORY[name]
            if issubclass(header_class, ParameterizedMIMEHeader):
                found = _simple(header_class, value)
            if found is None:
                try:
                    found = header_class(name, value)  # as HeaderRegistry.__call__ does
                except RecursionError:
                    raise
                except Exception as exc:
                    self._found[key] = exc
                    raise
            self._found[key] = found
        elif isinstance(found, Exception):
            raise found
        return found

    def parsedate(self, text: str) -> datetime | None:
        """``email.utils.parsedate_to_datetime(text)``, found once per text (what it raised is
        raised again)."""
        found = self._dates.get(text, _UNREAD)
        if found is _UNREAD:
            found = canonical_date(text)  # the stdlib's answer, found without its parser
            if found is not None:
                self._dates[text] = found
                return found
            try:
                found = parsedate_to_datetime(text)
            except Exception as exc:  # noqa: BLE001  # kept, and raised again below
                found = exc
            self._dates[text] = found
        if isinstance(found, Exception):
            raise found
        return found  # type: ignore[return-value]

    def simple(self, name: str, value: str) -> str | None:
        """:func:`~smtpsniff.mail.simple.simple_value` of the field, which a Content-Type or
        Content-Disposition value in its subset keeps as what ``self(name, value)`` returns."""
        reading = _HEADER_FACTORY.readings.get(name)
        if reading is None:
            header_class = _HEADER_FACTORY[name]
            reading = _READINGS.get(header_class) or _reading(header_class)
        reader, kind = reading
        if kind == _UNSTRUCTURED:
            # simple._unstructured: a value without "=?" that is printable ASCII (no control, no
            # surrogate escape) is returned as it is
            return value if value.isascii() and value.isprintable() and "=?" not in value else reader(value)
        if kind == _PLAIN:
            return reader(value)
        if kind == _DATE:  # the date is read once, for parse_date too
            when = canonical_date(value)
            if when is None:
                return date_value(value, self.parsedate)
            self._dates[value] = when  # what parsedate keeps of it
            return canonical_date_value(value, when)
        if kind == _ADDRESSES:  # the mailboxes are read once, for addresses too
            return address_value(value, self.mailboxes)
        key = (name, value)
        found = self._found.get(key)
        if type(found) is str:  # only simple parameterised values are kept as plain strings
            return found
        found = reader(value)
        if found is not None:
            self._found[key] = found
        return found


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """The top-level header block as split from the raw bytes.

    ``body_offset`` is where the body starts in the raw bytes.  ``for_stdlib`` is what to give the
    stdlib parser: the raw bytes themselves, or (when a repair above was needed) the kept and
    counted fields rebuilt with plain CRLFs, an empty line, then the untouched body.
    ``fields`` holds the bytes of every field (name, colon, folded value, without the line end
    that closes it; kept or only counted) when no repair was needed, else None; ``items``, when
    set, holds ``policy.header_source_parse`` of each of them (name and value, as the stdlib
    parser stores them).
    """

    headers: tuple[Header, ...]
    header_bytes: int
    body_offset: int
    for_stdlib: bytes
    fields: tuple[bytes, ...] | None = None
    items: tuple[tuple[str, str], ...] | None = None


_new_block = slot_builder(HeaderBlock)


def split_header_block(raw: bytes, limits: Limits, log: AnomalyLog,
                       parses: HeaderParses | None = None, crlf_only: bool = False
                       ) -> HeaderBlock:
    """Split the header block of ``raw`` into :class:`Header` records (RFC 5322 section 2.2).

    ``crlf_only``: the caller found that every line of ``raw`` ends in CRLF (no bare CR or LF)."""
    clean = _clean_header_block(raw, limits, log, parses, crlf_only)
    return clean if clean is not None else _header_block_by_lines(raw, limits, log, parses)


def _header_block_by_lines(raw: bytes, limits: Limits, log: AnomalyLog,
                           parses: HeaderParses | None) -> HeaderBlock:
    """:func:`split_header_block` line by line, with the repairs of damaged blocks."""
    fields: list[tuple[bytes, bytes]] = []  # (name, whole field bytes without its final line end)
    pos = 0
    end = len(raw)
    body_offset = end
    repaired = False
    long_lines = 0
    kept_bytes = 0
    dropped = 0
    limit_hit = False
    current: list[bytes] | None = None  # lines of the field being read, with their line ends
    current_name = b""
    headers: list[Header] = []

    def close_field() -> None:
        nonlocal current, kept_bytes, dropped, limit_hit
        if current is None:
            return
        whole = b"".join(current).rstrip(b"\r\n")  # folds keep their line ends; the last goes
        fields.append((current_name, whole))
        kept_bytes += len(whole) + 2
        if kept_bytes > limits.max_mail_header_bytes:
            limit_hit = True
        if limit_hit:
            dropped += 1
        else:
            headers.append(make_header(len(headers), current_name, whole, log, parses))
        current = None

    line_no = 0
    while pos < end:
        match = _LINE.match(raw, pos)
        line = match.group()
        start, pos = pos, match.end()
        content = line.rstrip(b"\r\n")
        if len(content) > MAX_LINE_CHARS:
            long_lines += 1
        if not content and line:
            close_field()
            body_offset = pos
            break
        if content[:1] in (b" ", b"\t"):
            if current is None:
                log.add("invalid_header_line",
                        f"header line {line_no + 1} is a continuation with no field before it; "
                        f"skipped: {excerpt(content)}")
                repaired = True
            else:
                current.append(line)
        else:
            field = _FIELD.match(content)
            if field is not None:
                close_field()
                current, current_name = [line], field.group(1)
                if field.group(2):
                    log.add("header_space_before_colon",
                            "white space between field name and colon in "
                            f"{excerpt(field.group(1))} (RFC 5322 section 4.5 obsolete syntax)")
                    repaired = True
            elif line_no == 0 and content.startswith(b"From "):
                log.add("invalid_header_line",
                        f"mbox envelope line before the header fields skipped: {excerpt(content)}")
                repaired = True
            elif _next_line_is_field(raw, pos):
                close_field()
                log.add("invalid_header_line",
                        f"header line {line_no + 1} has no colon; skipped: {excerpt(content)}")
                repaired = True
            else:
                close_field()
                body_offset = start
                repaired = True  # the stdlib would take some such lines (":x") for fields
                log.add("missing_header_body_separator",
                        f"line {line_no + 1} is not a header field and no empty line came before "
                        f"it; the body starts there (RFC 5322 section 2.1): {excerpt(content)}")
                break
        line_no += 1
    else:
        close_field()

    if long_lines:
        log.add("header_line_too_long",
                f"{long_lines} header line(s) longer than {MAX_LINE_CHARS} characters "
                "(RFC 5322 section 2.1.1)")
    if limit_hit:
        log.add("header_bytes_limit",
                f"header block exceeds max_mail_header_bytes={limits.max_mail_header_bytes}; "
                f"{dropped} field(s) past it were counted, not kept")
    header_bytes = body_offset
    if repaired:
        rebuilt = b"".join(_canonical(name, whole) + b"\r\n" for name, whole in fields)
        for_stdlib = rebuilt + b"\r\n" + raw[body_offset:]
    else:
        for_stdlib = raw
    return HeaderBlock(tuple(headers), header_bytes, body_offset, for_stdlib,
                       None if repaired else tuple(whole for _, whole in fields))


def _clean_header_block(raw: bytes, limits: Limits, log: AnomalyLog,
                        parses: HeaderParses | None, crlf_only: bool = False
                        ) -> HeaderBlock | None:
    """:func:`split_header_block` for a block that needs no repair, read field by field with one
    regular expression instead of line by line: every line up to the first empty one ends in
    CRLF, and each is a field (no white space before the colon) or a fold of one.  None for any
    other block, before anything is logged.

    ``_CLEAN_FIELDS.findall`` finds the fields in order; they cover the whole block, with no
    byte skipped, exactly when the block has that shape (see ``_CLEAN_FIELDS``).  Each field is
    then made as :func:`make_header` makes it: with only CRLF line ends, unfolding removes the
    CRLFs, and the name (ASCII, see ``_FIELD``) ends at the first colon.  ``items`` holds what
    ``policy.header_source_parse`` returns for each field: its name, and its value after the
    colon without leading blanks (undecoded bytes as surrogate escapes), which is ``raw_value``
    itself for a one-line ASCII value."""
    end = raw.find(b"\r\n\r\n")
    if end <= 0 or raw[0] in _BLANK_OR_LINE_END:  # (end > 0: raw is not empty)
        return None
    block = raw[:end]
    if not crlf_only:  # the block's own line ends, then
        crlf = block.count(b"\r\n")
        if block.count(b"\r") != crlf or block.count(b"\n") != crlf:  # a bare CR or LF
            return None
    found = _CLEAN_FIELDS.findall(block)
    wholes = [whole for whole, _, _ in found]
    # The matches cover len(whole) + 2 bytes each (the last one: len(whole)), never overlapping.
    if sum(map(len, wholes)) + 2 * len(found) - 2 != len(block):
        return None
    long_lines = 0
    if len(block) > MAX_LINE_CHARS:  # a line may be longer: measured all at once, counted if one is
        lengths = list(map(len, block.split(b"\r\n")))
        if max(lengths) > MAX_LINE_CHARS:
            long_lines = sum(n > MAX_LINE_CHARS for n in lengths)
    headers: list[Header] = []
    items: list[tuple[str, str]] = []
    kept_bytes = 0
    dropped = 0
    cap = limits.max_mail_header_bytes
    simple = parses.simple if parses is not None else None
    if (end + 2 <= cap and block.isascii() and block.find(b"\r\n ") < 0
            and block.find(b"\r\n\t") < 0):
        # The loop below for an ASCII block without folds (no CR in any value, see
        # _CLEAN_FIELDS) that fits in the cap (the fields take end + 2 bytes): every field is
        # kept, its raw_value its value without leading blanks.
        # decode_value of a value without "=?" checks no charset and returns parses.simple's
        # answer when there is one; it is called here (not through a helper, so that the stdlib
        # parses at the depth it always does) for any other value.
        for index, (whole, name, value) in enumerate(found):
            name_text = name.decode("ascii")
            raw_value = value.decode("ascii")  # (_CLEAN_FIELDS leaves out the leading blanks)
            items.append((name_text, raw_value))
            decoded = (simple(name_text, raw_value)
                       if simple is not None and "=?" not in raw_value else None)
            if decoded is None:
                decoded = decode_value(name_text, raw_value, log, parses)
            headers.append(_new_header(index, name_text, whole, raw_value, decoded))
        found = ()
    for whole, name, value in found:
        name_text = name.decode("ascii")
        if value.isascii() and value.find(b"\r") < 0:
            raw_value = value.lstrip(b" \t").decode("ascii")
            items.append((name_text, raw_value))
        else:
            items.append((name_text, value.decode("ascii", "surrogateescape").lstrip(" \t")))
            raw_value = None
        kept_bytes += len(whole) + 2
        if dropped or kept_bytes > cap:
            dropped += 1
            continue
        if raw_value is None:
            unfolded = value.replace(b"\r\n", b"").lstrip(b" \t")
            try:
                raw_value = unfolded.decode("utf-8")
            except UnicodeDecodeError:
                raw_value = unfolded.decode("utf-8", "replace")
                _not_utf8(name_text, log)
        decoded = (simple(name_text, raw_value)  # decode_value's, as in the loop above
                   if simple is not None and "=?" not in raw_value else None)
        if decoded is None:
            decoded = decode_value(name_text, raw_value, log, parses)
        headers.append(_new_header(len(headers), name_text, whole, raw_value, decoded))
    if long_lines:
        log.add("header_line_too_long",
                f"{long_lines} header line(s) longer than {MAX_LINE_CHARS} characters "
                "(RFC 5322 section 2.1.1)")
    if dropped:
        log.add("header_bytes_limit",
                f"header block exceeds max_mail_header_bytes={limits.max_mail_header_bytes}; "
                f"{dropped} field(s) past it were counted, not kept")
    return _new_block(tuple(headers), end + 4, end + 4, raw, tuple(wholes), tuple(items))


def _next_line_is_field(raw: bytes, pos: int) -> bool:
    match = _LINE.match(raw, pos)
    content = match.group().rstrip(b"\r\n")
    return pos >= len(raw) or not content or _FIELD.match(content) is not None


def _canonical(name: bytes, whole: bytes) -> bytes:
    """``name:value`` with any white space before the colon removed (for the stdlib parser)."""
    value = whole.split(b":", 1)[1]
    return name + b":" + value


def unfold(value: bytes) -> bytes:
    """RFC 5322 section 2.2.3: remove the line ends of folds (each is followed by WSP)."""
    if value.find(b"\r") < 0 and value.find(b"\n") < 0:  # one line: nothing to unfold
        return value
    return _EOL.sub(b"", value)


def decode_text(data: bytes) -> tuple[str, bool]:
    """UTF-8 (RFC 6532 section 3.2) or, for other 8-bit bytes, UTF-8 with U+FFFD; True if clean."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), False


def make_header(index: int, name: bytes, whole: bytes, log: AnomalyLog,
                parses: HeaderParses | None = None) -> Header:
    """One :class:`Header` from the bytes of a whole field (name, colon, folded value)."""
    name_text = name.decode("ascii", "replace")
    raw_value, clean = decode_text(unfold(whole.split(b":", 1)[1]).lstrip(b" \t"))
    if not clean:
        _not_utf8(name_text, log)
    return _new_header(index, name_text, whole, raw_value,
                       decode_value(name_text, raw_value, log, parses))


def _not_utf8(name_text: str, log: AnomalyLog) -> None:
    log.add("header_not_utf8",
            f"{name_text} header has 8-bit bytes that are not UTF-8 (RFC 6532 section 3.2); "
            "shown with U+FFFD")


def headers_from_stdlib(entity: Message, limits: Limits, log: AnomalyLog, where: str,
                        parses: HeaderParses | None = None) -> tuple[Header, ...]:
    """Header records for a MIME part or an embedded message, from the stdlib's raw items.

    The stdlib keeps each value's folds but not the white space after the colon, so ``raw`` is
    rebuilt as ``name: value``.  A field whose name and value are ASCII, the name without a colon
    and the value on one line, is made without the round trip through bytes
    :func:`make_header` takes: its ``raw_value`` is the value without leading blanks.
    """
    return headers_from_items(entity.raw_items(), limits, log, where, parses)


def headers_from_items(items: Iterable[tuple[str, object]], limits: Limits, log: AnomalyLog,
                       where: str, parses: HeaderParses | None = None) -> tuple[Header, ...]:
    """:func:`headers_from_stdlib` of an entity whose fields (``raw_items()``) are ``items``."""
    headers: list[Header] = []
    total = 0
    simple = parses.simple if parses is not None else None
    for name, value in items:
        value_text = value if isinstance(value, str) else str(value)
        whole_text = name + ": " + value_text
        if (whole_text.isascii() and ":" not in name and "\r" not in value_text
                and "\n" not in value_text):
            whole = whole_text.encode("ascii")
            total += len(whole) + 2
            if total > limits.max_mail_header_bytes:
                _parts_over_limit(where, limits, log)
                break
            raw_value = value_text.lstrip(" \t")
            decoded = (simple(name, raw_value)  # decode_value's, as in _clean_header_block
                       if simple is not None and "=?" not in raw_value else None)
            if decoded is None:
                decoded = decode_value(name, raw_value, log, parses)
            headers.append(_new_header(len(headers), name, whole, raw_value, decoded))
            continue
        whole = whole_text.encode("utf-8", "surrogateescape")
        total += len(whole) + 2
        if total > limits.max_mail_header_bytes:
            _parts_over_limit(where, limits, log)
            break
        headers.append(make_header(len(headers), name.encode("ascii", "replace"), whole, log,
                                   parses))
    return tuple(headers)


def _parts_over_limit(where: str, limits: Limits, log: AnomalyLog) -> None:
    log.add("header_bytes_limit",
            f"headers of {where} exceed max_mail_header_bytes="
            f"{limits.max_mail_header_bytes}; the rest were counted, not kept")


def decode_value(name: str, raw_value: str, log: AnomalyLog,
                 parses: HeaderParses | None = None) -> str:
    """The RFC 2047 decoded value, by the stdlib header class for ``name``; raw on failure."""
    for charset in _ENCODED_WORD_CHARSET.findall(raw_value) if "=?" in raw_value else ():
        try:
            codecs.lookup(charset)
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            log.add("undecodable_charset",
                    f"{name} header: unknown charset {excerpt(charset)} in an RFC 2047 "
                    "encoded word")
    simple = (_simple(_HEADER_FACTORY[name], raw_value) if parses is None
              else parses.simple(name, raw_value))
    if simple is not None:  # what the stdlib would return, with no defects
        return simple
    try:
        header = (_HEADER_FACTORY if parses is None else parses)(name, raw_value)
        value = str(header)
    except Exception as exc:  # the stdlib raises on some hostile values
        log.add("header_value_error", f"{name} header could not be decoded ({exc!r}); raw kept")
        return raw_value
    report_defects(header.defects, f"{name} header", log, skip={"InvalidDateDefect"})
    _report_value_defects(header, f"{name} header", log)
    return value


def _report_value_defects(header: object, where: str, log: AnomalyLog) -> None:
    """Record the defects the stdlib finds in an unstructured value and does not keep in the
    header's ``defects``, as the structured headers do: an encoded word that does not decode
    (bad base64, bytes its charset refuses; RFC 2047 section 6.3 has a reader show what it
    can), an encoded word glued to other text (section 5), ASCII controls.  They are in the
    value's parse tree.  Each defect is recorded once, with how often the value has it (a
    Subject of twenty glued words is one anomaly); an unknown charset was recorded by
    :func:`decode_value` already."""
    if not isinstance(header, UnstructuredHeader) or header.defects:
        return
    found = getattr(getattr(header, "_parse_tree", None), "all_defects", ())
    times = Counter((type(d).__name__, str(d)) for d in found)
    for (cls, detail), count in times.items():
        if cls != "CharsetError" and cls not in _IGNORED_DEFECTS:
            text = _defect_text(where, cls, detail)
            log.add(_DEFECT_KINDS.get(cls, "mime_defect"), text if count == 1 else f"{text}, {count} times")


def addresses(header: Header, log: AnomalyLog, parses: HeaderParses | None = None,
              distinct: bool = False) -> tuple[Address, ...]:
    """The mailboxes of an address header (RFC 5322 section 3.4), groups flattened; with
    ``distinct``, each mailbox once (in first-seen order).

    A simple value's mailboxes are made distinct as (display name, addr-spec) pairs before they
    become :class:`Address` records, which compare (and hash) as those pairs do."""
    reading = _HEADER_FACTORY.readings.get(header.name)
    if (reading[1] == _ADDRESSES if reading is not None
            else issubclass(_HEADER_FACTORY[header.name], AddressHeader)):
        simple = (simple_mailboxes if parses is None else parses.mailboxes)(header.raw_value)
        if simple is not None:  # what the stdlib would find; every one has a domain
            if distinct and len(simple) > 1:
                simple = dict.fromkeys(simple)  # type: ignore[assignment]
            return tuple([_new_address(name, addr) for name, addr in simple])
    try:
        parsed = (_HEADER_FACTORY if parses is None else parses)(header.name, header.raw_value)
        found = parsed.addresses
    except Exception as exc:
        log.add("invalid_address",
                f"{header.name} header: addresses not parsed ({exc!r}): "
                f"{excerpt(header.raw_value)}")
        return ()
    result: list[Address] = []
    bad = 0
    for item in found:
        addr_spec = item.addr_spec
        if addr_spec in ("", "<>") or not item.domain and "@" not in addr_spec:
            bad += 1
            continue
        result.append(Address(display_name=item.display_name or "", addr=addr_spec))
    if bad:
        log.add("invalid_address",
                f"{header.name} header: {bad} mailbox(es) could not be parsed: "
                f"{excerpt(header.raw_value)}")
    return tuple(dict.fromkeys(result)) if distinct and len(result) > 1 else tuple(result)


def parse_date(text: str, where: str, log: AnomalyLog, parses: HeaderParses | None = None
               ) -> datetime | None:
    """RFC 5322 section 3.3 date-time in UTC, or None (recorded) when it does not parse.

    A date with no zone at all (obsolete, section 4.3) is taken as UTC and recorded; ``-0000``
    (section 3.3: no information about the local zone) is taken as UTC without an anomaly.
    ``parses``: the message's :class:`HeaderParses`, which may have read the date already.
    """
    try:
        if parses is not None:
            when = parses.parsedate(text)
        else:
            when = canonical_date(text) or parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None:
        log.add("date_unparseable", f"{where}: date {excerpt(text)} does not parse (RFC 5322 3.3)")
        return None
    if when.tzinfo is None:
        if not re.search(r"-0000\b", text):
            log.add("date_without_timezone",
                    f"{where}: date {excerpt(text)} has no zone; taken as UTC")
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        log.add("date_unparseable", f"{where}: date {excerpt(text)} is out of range")
        return None


def msg_ids(text: str) -> tuple[str, ...]:
    """The msg-ids of a References or In-Reply-To value (RFC 5322 section 3.6.4), in order."""
    found = _MSG_ID.findall(text)
    return tuple(found) if found else tuple(text.split())


# The stdlib's defect classes (email.errors), by the anomaly kind each becomes.
_DEFECT_KINDS = {
    "InvalidBase64PaddingDefect": "bad_base64",
    "InvalidBase64CharactersDefect": "bad_base64",
    "InvalidBase64LengthDefect": "bad_base64",
    "UndecodableBytesDefect": "undecodable_bytes",
    "ObsoleteHeaderDefect": "header_obsolete_syntax",
    "InvalidHeaderDefect": "header_invalid",
    "HeaderMissingRequiredValue": "header_invalid",
    "NonPrintableDefect": "header_nonprintable",
    "InvalidDateDefect": "date_unparseable",
    "CharsetError": "undecodable_charset",
    "StartBoundaryNotFoundDefect": "missing_boundary",
    "NoBoundaryInMultipartDefect": "missing_boundary",
    "CloseBoundaryNotFoundDefect": "unterminated_multipart",
    "MultipartInvariantViolationDefect": "multipart_without_parts",
    "FirstHeaderLineIsContinuationDefect": "invalid_header_line",
    "MissingHeaderBodySeparatorDefect": "missing_header_body_separator",
    "MisplacedEnvelopeHeaderDefect": "invalid_header_line",
    "InvalidMultipartContentTransferEncodingDefect": "bad_multipart_encoding",
}
# Legal under RFC 6532 (SMTPUTF8): not an anomaly.
_IGNORED_DEFECTS = {"NonASCIILocalPartDefect"}


def report_defects(defects: list[MessageDefect], where: str, log: AnomalyLog,
                   skip: set[str] | frozenset[str] = frozenset()) -> None:
    """Record the stdlib's defects as anomalies (kind by class, message with ``where``)."""
    for defect in defects:
        cls = type(defect).__name__
        if cls in skip or cls in _IGNORED_DEFECTS:
            continue
        log.add(_DEFECT_KINDS.get(cls, "mime_defect"), _defect_text(where, cls, str(defect)))


def _defect_text(where: str, cls: str, detail: str) -> str:
    """An anomaly's message for a stdlib defect of class ``cls`` (named once when it has no text)."""
    return f"{where}: {detail} ({cls})" if detail else f"{where}: {cls}"
