"""The stdlib's decoded value of a header field simple enough to be read without its parser.

The ``email.policy.default`` header classes build a parse tree for every value; most values on the
wire need none of it.  :func:`simple_value` and :func:`simple_mailboxes` return exactly what the
stdlib would (``str(header)``, and the display name and addr-spec of each mailbox), with no
defects, for values in a strict subset of each field's grammar, and ``None`` for anything else:
the caller then asks the stdlib.  The subsets (each one checked against the stdlib by
tests/mail/test_mail_simple_headers.py):

* unstructured fields (RFC 5322 section 3.2.5; every field without its own class): any value
  without ``=?`` (no RFC 2047 encoded word, section 2), which the stdlib returns unchanged,
  and words of printable ASCII separated by single spaces, some of them whole UTF-8 "B" encoded
  words (see :func:`_encoded_unstructured`);
* address fields (RFC 5322 section 3.4): a list of mailboxes, each ``addr-spec``,
  ``<addr-spec>`` or ``phrase <addr-spec>``, where the local part and the domain are
  dot-atom-text (section 3.2.3) and the phrase is atoms separated by single spaces, the list
  separated by ``","`` or ``", "`` (the stdlib renders ``<addr-spec>`` as ``addr-spec`` and
  joins mailboxes with ``", "``);
* Message-ID (RFC 5322 section 3.6.4): ``"<" dot-atom-text "@" dot-atom-text ">"``;
* MIME-Version (RFC 2045 section 4): ``1.0``;
* Content-Transfer-Encoding (RFC 2045 section 6.1): one token of letters, digits and ``-``;
* Content-Type and Content-Disposition (RFC 2045 section 5.1, RFC 2183 section 2): a type (and
  subtype) of token characters, then parameters of distinct names, each a plain token or a
  quoted string of printable characters with single spaces (no RFC 2231 sections, no escapes),
  rendered as the stdlib renders them (``; name="value"``);
* Date (RFC 5322 section 3.3): any value the stdlib's date parser reads, rendered as the stdlib
  renders it (``email.utils.format_datetime``).  A date in the canonical form
  ``Tue, 04 Jun 2024 10:15:00 +0000`` is read by :func:`canonical_date` without the stdlib's
  parser, and is its own rendering when its day name is right.

It knows nothing of messages, MIME or anomalies: it takes a field's name and unfolded value.
"""
from __future__ import annotations

import re
from binascii import Error as BinasciiError
from binascii import a2b_base64
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.headerregistry import (
    AddressHeader,
    ContentDispositionHeader,
    ContentTransferEncodingHeader,
    ContentTypeHeader,
    DateHeader,
    MessageIDHeader,
    MIMEVersionHeader,
    UnstructuredHeader,
)
from email.utils import format_datetime, parsedate_to_datetime

# RFC 5322 section 3.2.3: atext (ASCII only: no RFC 6532 UTF-8, which the stdlib may flag).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_TEXT = rf"{_ATEXT}(?:\.{_ATEXT})*"
_ADDR_SPEC = rf"{_DOT_ATOM_TEXT}@{_DOT_ATOM_TEXT}"
# RFC 5322 section 3.4: mailbox = name-addr / addr-spec; name-addr = [display-name] angle-addr;
# here the display name is atoms separated by single spaces.
_MAILBOX = re.compile(rf"({_ATEXT}(?: {_ATEXT})*) <({_ADDR_SPEC})>|<({_ADDR_SPEC})>|({_ADDR_SPEC})")
# A list of bare addr-specs, separated as simple_mailboxes separates them ("," or ", ").
_BARE_ADDRESSES = re.compile(rf"{_ADDR_SPEC}(?:, ?{_ADDR_SPEC})*")
# RFC 5322 section 3.6.4: msg-id = "<" id-left "@" id-right ">" with dot-atom-text on both sides.
_MSG_ID = re.compile(rf"<{_ADDR_SPEC}>")
# RFC 2045 section 6.1: mechanism = token; here letters, digits and "-" only.
_MECHANISM = re.compile(r"[A-Za-z0-9-]+")
# RFC 2045 section 5.1: token = 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>; here
# also without "%", "'" and "*" (RFC 2231 syntax).  A quoted-string without escapes and with single
# spaces inside.  attribute = token; here letters, digits, ".", "_" and "-".
_TOKEN = r"[A-Za-z0-9!#$&+.^_`{|}~-]+"
_QUOTED = r'"([\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*)"'
_PARAMETER = rf";[ \t]*([A-Za-z0-9._-]+)=(?:({_TOKEN})|{_QUOTED})"
_CONTENT_TYPE = re.compile(rf"({_TOKEN}/{_TOKEN})((?:{_PARAMETER})*)")
_DISPOSITION = re.compile(rf"({_TOKEN})((?:{_PARAMETER})*)")
_PARAMETERS = re.compile(_PARAMETER)
# RFC 2047 section 2: an encoded word starts with "=?".
_ENCODED_WORD_START = "=?"
_SURROGATE = re.compile("[\ud800-\udfff]")
# RFC 2047 section 2 and 4.1: a UTF-8 "B" encoded word; encoded-text as base64 (RFC 4648
# section 4) that starts with a base64 character.
_B_WORD = re.compile(r"=\?(?:utf-8|UTF-8)\?[bB]\?([A-Za-z0-9+/]+={0,2})\?=")
_PRINTABLE_WORD = re.compile(r"[\x21-\x7e]+")
# RFC 5322 section 3.3 date-time in the form every current client writes: day-name "," SP, a
# two-digit day, month name, four-digit year (not starting with 0), hh:mm:ss, a numeric zone
# whose minutes are below 60.  ASCII digits only.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, 1)}
# int() of every two ASCII digits (the day, time and zone fields of _CANONICAL_DATE).
_TWO_DIGITS = {f"{number:02d}": number for number in range(100)}
_CANONICAL_DATE = re.compile(
    rf"(?:{'|'.join(_DAYS)}), ([0-9]{{2}}) ({'|'.join(_MONTHS)}) ([1-9][0-9]{{3}}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-5][0-9])")


def simple_value(header_class: type, value: str) -> str | None:
    """``str()`` of the stdlib header ``header_class`` would build from ``value``, when it is sure
    to equal that and to carry no defects; else None."""
    return value_reader(header_class)(value)


def value_reader(header_class: type) -> Callable[[str], str | None]:
    """:func:`simple_value` for one header class: the function that reads its values (found once
    per class, so that callers skip the class tests for every value)."""
    if issubclass(header_class, UnstructuredHeader):
        return _unstructured
    if issubclass(header_class, AddressHeader):
        return _address
    if issubclass(header_class, MessageIDHeader):
        return _message_id
    if issubclass(header_class, MIMEVersionHeader):
        return _mime_version
    if issubclass(header_class, ContentTransferEncodingHeader):
        return _mechanism
    if issubclass(header_class, ContentTypeHeader):
        return _content_type
    if issubclass(header_class, ContentDispositionHeader):
        return _disposition
    if issubclass(header_class, DateHeader):
        return _date
    return _none


def _plain(value: str) -> bool:
    """No RFC 2047 encoded word and no surrogate escape (undecodable bytes)."""
    return _ENCODED_WORD_START not in value and (
        value.isascii() or _SURROGATE.search(value) is None)


def _unstructured(value: str) -> str | None:
    if _plain(value):
        return value
    return _encoded_unstructured(value) if value.isascii() else None


def _encoded_unstructured(value: str) -> str | None:
    """The stdlib's decoded unstructured ``value`` (``get_unstructured``) when it is words of
    printable ASCII separated by single spaces, each word either plain (no ``=?``) or one whole
    RFC 2047 (section 4.1) UTF-8 "B" encoded word whose base64 needs no repair and whose text is
    printable UTF-8; None for any other value.

    For such a value the stdlib keeps each plain word and each space as written, puts the text
    of each encoded word in its place, drops a space between two encoded words (RFC 2047
    section 6.2), and records no defect: each encoded word is preceded and followed by white
    space or the ends of the value, its padding is complete (``decode_b`` adds none), its bytes
    decode as UTF-8 (no ``UndecodableBytesDefect``) and its text has no control character or
    white space other than the space (``str.isprintable``; no ``NonPrintableDefect``)."""
    words = value.split(" ")
    out: list[str] = []
    previous_encoded = False
    for word in words:
        match = _B_WORD.fullmatch(word)
        if match is None:
            if not word or "=?" in word or _PRINTABLE_WORD.fullmatch(word) is None:
                return None
            if out:
                out.append(" ")
            out.append(word)
            previous_encoded = False
            continue
        encoded = match.group(1)
        if len(encoded) % 4:
            return None
        try:
            text = a2b_base64(encoded.encode("ascii"), strict_mode=True).decode("utf-8")
        except (BinasciiError, UnicodeDecodeError):
            return None
        if not text.isprintable():
            return None
        if out and not previous_encoded:
            out.append(" ")
        out.append(text)
        previous_encoded = True
    return "".join(out)


def address_value(value: str,
                  mailboxes: Callable[[str], list[tuple[str, str]] | None] | None = None
                  ) -> str | None:
    """:func:`simple_value` of an address field; ``mailboxes`` stands for
    :func:`simple_mailboxes` (a caller may answer it from what it already read)."""
    if not _plain(value):
        return None
    found = (mailboxes or simple_mailboxes)(value)
    if found is None:
        return None
    if len(found) == 1:
        name, addr = found[0]
        return f"{name} <{addr}>" if name else addr
    return ", ".join(f"{name} <{addr}>" if name else addr for name, addr in found)


def _address(value: str) -> str | None:
    return address_value(value)


def _message_id(value: str) -> str | None:
    return value if _MSG_ID.fullmatch(value) is not None and _plain(value) else None


def _mime_version(value: str) -> str | None:
    return value if value == "1.0" else None


def _mechanism(value: str) -> str | None:
    return value if _MECHANISM.fullmatch(value) is not None else None


def _content_type(value: str) -> str | None:
    return _parameterized(_CONTENT_TYPE, value) if _plain(value) else None


def _disposition(value: str) -> str | None:
    return _parameterized(_DISPOSITION, value) if _plain(value) else None


def date_value(value: str, parsedate: Callable[[str], datetime | None] = parsedate_to_datetime
               ) -> str | None:
    """:func:`simple_value` of a Date field; ``parsedate`` stands for
    ``email.utils.parsedate_to_datetime`` (a caller may answer it from what it already read)."""
    if not value or not _plain(value):
        return None
    try:
        when = parsedate(value)
        if (len(value) == 31 and value[:3] == _DAYS[when.weekday()]  # type: ignore[union-attr]
                and _CANONICAL_DATE.fullmatch(value) is not None):
            # format_datetime writes the day name of the date, then the fields as canonical_date
            # read them (zero-padded to the widths the form has) and the zone (-0000 for none).
            return value
        return format_datetime(when)  # type: ignore[arg-type]
    except Exception:  # the stdlib class decides what a date it cannot read becomes
        return None


def canonical_date_value(value: str, when: datetime) -> str:
    """:func:`date_value` of a value :func:`canonical_date` read as ``when`` (which is what the
    stdlib's parser reads): such a value is plain ASCII of the canonical form, 31 characters
    long, so it is its own rendering when its day name is right."""
    return value if value[:3] == _DAYS[when.weekday()] else format_datetime(when)


def canonical_date(value: str) -> datetime | None:
    """``email.utils.parsedate_to_datetime(value)`` for a date in the canonical form (see
    ``_CANONICAL_DATE``); None for any other value, and for one the stdlib would refuse.

    For such a value the stdlib's ``_parsedate_tz`` skips the day name (it does not check it),
    reads day, month, four-digit year and time as written, and the zone as
    ``sign * (hh * 3600 + mm * 60)`` seconds -- no zone at all (a naive datetime) for ``-0000``
    (RFC 5322 section 3.3: no information about the local zone).  What ``datetime`` or
    ``timezone`` refuse (31 June, 24:00, a zone of 24 hours) is left to the stdlib to refuse."""
    match = _CANONICAL_DATE.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    two = _TWO_DIGITS  # int() of each two-digit field, looked up
    offset = two[zone_hours] * 3600 + two[zone_minutes] * 60
    try:
        if not offset:
            zone = None if sign == "-" else timezone.utc  # what timezone(timedelta(0)) returns
        else:
            zone = timezone(timedelta(seconds=-offset if sign == "-" else offset))
        return datetime(int(year), _MONTH_NUMBERS[month], two[day], two[hour], two[minute],
                        two[second], tzinfo=zone)
    except (ValueError, OverflowError):
        return None


def _date(value: str) -> str | None:
    return date_value(value)


def _none(value: str) -> None:
    return None


def _parameterized(grammar: re.Pattern[str], value: str) -> str | None:
    """Content-Type or Content-Disposition rendered as the stdlib's ``MimeParameters`` does."""
    match = grammar.fullmatch(value)
    if match is None:
        return None
    kind, rest = match.group(1, 2)
    if not rest:
        return kind
    # (name, token, quoted text): findall gives "" for the alternative that did not match, and
    # neither can match empty
    params = _PARAMETERS.findall(rest)
    if len(params) == 1:
        name, token, text = params[0]
        return f'{kind}; {name}="{token or text}"'
    if len({name for name, _, _ in params}) != len(params):  # the stdlib drops repeats (a defect)
        return None
    return kind + "; " + "; ".join(f'{name}="{token or text}"' for name, token, text in params)


def simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """(display name, addr-spec) of each mailbox of an address field ``value``, as the stdlib
    reads them, when ``value`` is in the simple subset (see the module docstring); else None."""
    if _ENCODED_WORD_START in value:
        return None
    if "<" not in value and _BARE_ADDRESSES.fullmatch(value) is not None:  # (no "<" in atext)
        # Every item is a bare addr-spec (the fourth alternative of _MAILBOX, the only one
        # without "<"), which holds neither "," nor " ": the items are those the loop of
        # _listed_mailboxes finds, each read with no display name.
        return [("", item) for item in value.replace(", ", ",").split(",")]
    return _listed_mailboxes(value)


def _listed_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """:func:`simple_mailboxes` of a value without ``=?``, item by item."""
    found: list[tuple[str, str]] = []
    for number, item in enumerate(value.split(",")):
        if number and item[:1] == " ":
            item = item[1:]
        match = _MAILBOX.fullmatch(item)
        if match is None:
            return None
        name, named_addr, angle_addr, bare_addr = match.groups()
        if name is not None:
            found.append((name, named_addr))
        else:
            found.append(("", angle_addr if angle_addr is not None else bare_addr))
    return found
