"""The stdlib's decoded value of a header field simple enough to be read without its parser.

The ``email.policy.default`` header classes build a parse tree for every value; most values on the
wire need none of it.  :func:`simple_value` and :func:`simple_mailboxes` return exactly what the
stdlib would (``str(header)``, and the display name and addr-spec of each mailbox), with no
defects, for values in a strict subset of each field's grammar, and ``None`` for anything else:
the caller then asks the stdlib.  The subsets (each one checked against the stdlib by
tests/mail/test_mail_simple_headers.py):

* unstructured fields (RFC 5322 section 3.2.5; every field without its own class): any value
  without ``=?`` (no RFC 2047 encoded word, section 2), which the stdlib returns unchanged,
  and words of printable ASCII separated by blanks, some of them whole RFC 2047 encoded words
  (see :func:`_encoded_unstructured` and :func:`_decoded_text`);
* address fields (RFC 5322 section 3.4): a list of mailboxes, each ``addr-spec``,
  ``<addr-spec>`` or ``phrase <addr-spec>``, where the local part and the domain are
  dot-atom-text (section 3.2.3) and the phrase is atoms separated by single spaces, the list
  separated by ``","`` or ``", "`` (the stdlib renders ``<addr-spec>`` as ``addr-spec`` and
  joins mailboxes with ``", "``); and such lists whose phrases hold RFC 2047 encoded words or
  quoted strings (see :func:`_phrase_mailboxes`), the display names the stdlib quotes when they
  hold specials (see :func:`_mailbox_text`);
* Message-ID (RFC 5322 section 3.6.4): ``"<" dot-atom-text "@" dot-atom-text ">"``;
* MIME-Version (RFC 2045 section 4): ``1.0``;
* Content-Transfer-Encoding (RFC 2045 section 6.1): one token of letters, digits and ``-``;
* Content-Type and Content-Disposition (RFC 2045 section 5.1, RFC 2183 section 2): a type (and
  subtype) of token characters, then parameters, each a plain token or a quoted string of
  printable characters with single spaces (no escapes), or an RFC 2231 value (section 4:
  ``name*=charset'language'%-encoded text``, in a charset of ``_CHARSET_CODECS``; section 3:
  continuations ``name*0*=...; name*1*=...``, encoded or plain), rendered as the stdlib renders
  them (``; name="value"``, each name once, its sections joined and decoded; see
  :func:`_parameter_values`); a decoded value the stdlib would escape (``"``, backslash) is
  left to it;
* Date (RFC 5322 section 3.3): any value the stdlib's date parser reads, rendered as the stdlib
  renders it (``email.utils.format_datetime``).  A date in the canonical form
  ``Tue, 04 Jun 2024 10:15:00 +0000`` is read by :func:`canonical_date` without the stdlib's
  parser, and is its own rendering when its day name is right.

It knows nothing of messages, MIME or anomalies: it takes a field's name and unfolded value.
"""
from __future__ import annotations

import codecs
import re
from binascii import Error as BinasciiError
from binascii import a2b_base64, a2b_qp
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
from urllib.parse import unquote_to_bytes

# RFC 5322 section 3.2.3: atext (ASCII only: no RFC 6532 UTF-8, which the stdlib may flag).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_TEXT = rf"{_ATEXT}(?:\.{_ATEXT})*"
_ADDR_SPEC = rf"{_DOT_ATOM_TEXT}@{_DOT_ATOM_TEXT}"
# RFC 5322 section 3.4: mailbox = name-addr / addr-spec; name-addr = [display-name] angle-addr;
# here the display name is atoms separated by single spaces.
_MAILBOX = re.compile(rf"({_ATEXT}(?: {_ATEXT})*) <({_ADDR_SPEC})>|<({_ADDR_SPEC})>|({_ADDR_SPEC})")
# RFC 5322 section 3.2.3: the specials, which the stdlib's Address quotes a display name for.
_SPECIAL = re.compile(r'[()<>\[\]:;@\\,."]')
# A list of bare addr-specs, separated as simple_mailboxes separates them ("," or ", ").
_BARE_ADDRESSES = re.compile(rf"{_ADDR_SPEC}(?:, ?{_ADDR_SPEC})*")
# RFC 5322 section 3.6.4: msg-id = "<" id-left "@" id-right ">" with dot-atom-text on both sides.
_MSG_ID = re.compile(rf"<{_ADDR_SPEC}>")
# RFC 2045 section 6.1: mechanism = token; here letters, digits and "-" only.
_MECHANISM = re.compile(r"[A-Za-z0-9-]+")
# RFC 2045 section 5.1: token = 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>; here
# (a type, subtype or disposition type) also without "%", "'" and "*" (RFC 2231 syntax).  A
# quoted-string without escapes and with single spaces inside.  attribute = token; here letters,
# digits, ".", "_" and "-".
_TOKEN = r"[A-Za-z0-9!#$&+.^_`{|}~-]+"
_QUOTED = r'"([\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*)"'
# RFC 2231 section 7: extended-other-values = *(ext-octet / attribute-char), that is token
# characters and "%" (ext-octet = "%" 2HEXDIG; the stdlib reads any "%" here, and decodes
# what urllib.parse.unquote_to_bytes decodes).  A parameter's value here is such text (literal
# unless the parameter is marked "*"), a quoted string, or (RFC 2231 section 4: the first
# section of a "*" parameter) charset "'" language "'" text, with a charset of letters, digits,
# "_", "." and "-" and a language of token characters, either of them empty.
_EXT_TEXT = r"[A-Za-z0-9!#$%&+.^_`{|}~-]+"
_INITIAL = r"([A-Za-z0-9_.-]*)'[A-Za-z0-9!#$&+.^_`{|}~-]*'(" + _EXT_TEXT + ")"
# RFC 2045 section 5.1 parameter, with RFC 2231 section 3 (continuations: "*" section number,
# without a leading 0; here of at most 9 digits, which int() reads whatever its limits) and
# section 4 ("*": a charset and language, then %-encoded text).  Groups: the attribute, the
# section number, the "*", the charset and text of an initial value, a text, a quoted string's
# content.
_PARAMETER = (rf";[ \t]*([A-Za-z0-9._-]+)(?:\*(0|[1-9][0-9]{{0,8}}))?(\*)?="
              rf"(?:{_INITIAL}|({_EXT_TEXT})|{_QUOTED})")
_CONTENT_TYPE = re.compile(rf"({_TOKEN}/{_TOKEN})((?:{_PARAMETER})*)")
_DISPOSITION = re.compile(rf"({_TOKEN})((?:{_PARAMETER})*)")
_PARAMETERS = re.compile(_PARAMETER)
# What a rendered value may not hold: the stdlib writes it as a quoted string, escaping these,
# and a caller reads a rendering back as a quoted string without escapes.
_ESCAPED = re.compile(r'["\\]')
# RFC 2047 section 2: an encoded word starts with "=?".
_ENCODED_WORD_START = "=?"
_SURROGATE = re.compile("[\ud800-\udfff]")
# RFC 2047 section 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=", the
# charset with an RFC 2231 section 5 "*" language; here the charset is letters, digits and
# "_.:-", and the encoded-text either "B" (section 4.1: base64, RFC 4648 section 4, "=" only as
# padding) or "Q" (section 4.2: printable ASCII without "?", "=" only in "=" 2HEXDIG).  Neither
# text holds "?", so a word ends at the first "?=" after its "?B?" or "?Q?", where the stdlib's
# get_encoded_word ends it too (it joins the "?=" of a "Q" text that starts with "=" 2HEXDIG
# back to the word).  _ENCODED_WORD's groups: the charset, the "B" text, the "Q" text.
_CHARSET = r"[A-Za-z0-9_.:-]+(?:\*[A-Za-z0-9-]*)?"
_B_TEXT = r"[A-Za-z0-9+/]*={0,2}"
_Q_CHAR = r"[\x21-\x3c\x3e\x40-\x7e]"
_Q_TEXT = rf"{_Q_CHAR}*(?:=[0-9A-Fa-f]{{2}}{_Q_CHAR}*)*"
_ENCODED_WORD = re.compile(
    rf"=\?({_CHARSET})\?(?:[bB]\?({_B_TEXT})|[qQ]\?({_Q_TEXT}))\?=")
_ANY_ENCODED_WORD = rf"=\?{_CHARSET}\?(?:[bB]\?{_B_TEXT}|[qQ]\?{_Q_TEXT})\?="
# _encoded_unstructured: the encoded words with blanks or an end of the value on both sides;
# split() returns the text between them and the three groups of each.
_LONE_ENCODED_WORD = re.compile(rf"(?<![^ \t]){_ENCODED_WORD.pattern}(?![^ \t])")
# RFC 5322 section 3.2.4: quoted-string = DQUOTE *([FWS] qcontent) [FWS] DQUOTE; here qcontent
# is printable ASCII (qtext) and quoted-pairs of printable ASCII, and FWS blanks.
_QTEXT = r"[\t\x20\x21\x23-\x5b\x5d-\x7e]"
_QUOTED_WORD = rf'"{_QTEXT}*(?:\\[\x21-\x7e]{_QTEXT}*)*"'
_QUOTED_PAIR = re.compile(r"\\(.)")
# _phrase_mailboxes: one mailbox of a list, after the blanks that follow a comma; its phrase is
# words (RFC 2047 encoded words, section 5 (3), atoms or quoted strings) separated by blanks.
# Groups: the phrase, its addr-spec; the addr-spec of "<addr-spec>"; a bare addr-spec.
# A word is matched once (an atomic group): an encoded word is atext too, and a phrase of n of
# them that fails to match would otherwise be tried in 2**n ways.  _PHRASE_WORDS finds the
# words of such a phrase: each alternative that matches at a word's start ends where the word
# does (an encoded word at its "?=", atext at the first other character, a quoted string at its
# closing quote), so it finds the words the phrase was matched with.
_PHRASE_WORD = rf"(?>{_ANY_ENCODED_WORD}|{_ATEXT}|{_QUOTED_WORD})"
_PHRASE_WORDS = re.compile(rf"{_PHRASE_WORD}(?![^ \t])")
_PHRASE_MAILBOX = re.compile(
    rf"[ \t]*(?:({_PHRASE_WORD}(?:[ \t]+{_PHRASE_WORD})*)[ \t]+<({_ADDR_SPEC})>"
    rf"|<({_ADDR_SPEC})>|({_ADDR_SPEC}))")
_BLANKS = re.compile(r"[ \t]+")
# What the stdlib records a defect for in the text of an encoded word (_validate_xtext: a
# control character other than the blanks it splits the text at, or a surrogate escape), and
# CR and LF, which the stdlib's Address refuses.
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
# RFC 2047 section 5 (1): the value of an unstructured field here is printable ASCII and blanks.
_UNSTRUCTURED_TEXT = re.compile(r"[\t\x20-\x7e]*")
# The white space the stdlib's get_encoded_word reads as one folding white space token (value
# " "): a blank, then any white space (get_fws strips what str.isspace() calls white space).
_EW_BLANK_RUN = re.compile(r"[ \t]\s*")
# RFC 2047 section 1 and 2: charset names (case-insensitive) as mail writes them, each a codec
# that turns any bytes into text or raises UnicodeDecodeError (no error handler of its own, no
# other exception).  The table of each spelling's codec is made once, when the module loads.
_CHARSET_SPELLINGS = (
    "utf-8", "utf8", "us-ascii", "ascii",
    "iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6",
    "iso-8859-7", "iso-8859-8", "iso-8859-9", "iso-8859-10", "iso-8859-11", "iso-8859-13",
    "iso-8859-14", "iso-8859-15", "iso-8859-16", "latin1", "latin-1",
    "windows-1250", "windows-1251", "windows-1252", "windows-1253", "windows-1254",
    "windows-1255", "windows-1256", "windows-1257", "windows-1258",
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "koi8-r", "koi8-u", "gb2312", "gbk", "gb18030", "big5", "big5-hkscs", "shift_jis",
    "shift-jis", "cp932", "euc-jp", "euc-kr", "ks_c_5601-1987", "cp949", "cp950",
    "iso-2022-jp", "tis-620", "cp866",
)


def _codecs(spellings: tuple[str, ...]) -> dict[str, str]:
    """The codec name of each spelling the running Python knows (``codecs.lookup``, which is
    what ``bytes.decode`` finds for it, in any letter case)."""
    found = {}
    for spelling in spellings:
        try:
            found[spelling] = codecs.lookup(spelling).name
        except LookupError:
            continue
    return found


_CHARSET_CODECS = _codecs(_CHARSET_SPELLINGS)
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
    """An unstructured value without ``=?`` and without a character ``_UNSAFE_TEXT`` finds (an
    ASCII control other than tab, or a surrogate escape: the stdlib's ``_validate_xtext`` flags
    them) is the stdlib's answer as it is; one with encoded words, :func:`_encoded_unstructured`."""
    if _ENCODED_WORD_START not in value and _UNSAFE_TEXT.search(value) is None:
        return value
    return _encoded_unstructured(value) if value.isascii() else None


def _encoded_word_text(word: str) -> str | None:
    """The text of ``word`` when it is one whole RFC 2047 encoded word (``_ENCODED_WORD``) the
    stdlib decodes without a defect; else None."""
    match = _ENCODED_WORD.fullmatch(word)
    return None if match is None else _decoded_text(*match.groups())


def _decoded_text(charset: str, b_text: str | None, q_text: str | None) -> str | None:
    """The text of an encoded word (the groups of ``_ENCODED_WORD``) as the stdlib's
    ``email._encoded_words.decode`` decodes it, when it records no defect and the text has no
    character the stdlib flags (``_UNSAFE_TEXT``); else None.

    That function decodes "B" text with ``base64.b64decode(validate=True)`` (that is,
    ``a2b_base64(strict_mode=True)``) after adding the padding a length that is not a multiple of
    4 lacks (a defect: here such a word is refused), and "Q" text by turning "_" into a space and
    each "=" 2HEXDIG into its byte (what ``a2b_qp(header=True)`` does to a text where every "="
    starts "=" 2HEXDIG); then the bytes with ``bytes.decode`` of the charset without its
    language (``str.partition("*")``).  A charset outside ``_CHARSET_CODECS`` (perhaps unknown
    to Python, a defect) and bytes its codec refuses (a defect) are refused here."""
    codec = _CHARSET_CODECS.get(charset.partition("*")[0].lower())
    if codec is None:
        return None
    try:
        if b_text is not None:
            if len(b_text) % 4:
                return None
            data = a2b_base64(b_text, strict_mode=True)
        else:
            data = a2b_qp(q_text, header=True)  # type: ignore[arg-type]
        text = data.decode(codec)
    except (BinasciiError, UnicodeDecodeError):
        return None
    if text.isprintable() or _UNSAFE_TEXT.search(text) is None:  # (what it finds is not printable)
        return text
    return None


def _encoded_unstructured(value: str) -> str | None:
    """The stdlib's decoded unstructured ``value`` (``get_unstructured``) when it is words of
    printable ASCII separated by blanks (spaces and tabs), each word either plain (no ``=?``)
    or one whole RFC 2047 encoded word :func:`_decoded_text` decodes; None for any other value.

    For such a value the stdlib keeps each plain word and each run of blanks as written, puts
    the text of each encoded word in its place (its white space as decoded), drops the blanks
    between two encoded words (RFC 2047 section 6.2), and records no defect: each encoded word is
    preceded and followed by blanks or the ends of the value, it decodes without a defect, and
    its text holds no character ``_validate_xtext`` flags.

    ``_LONE_ENCODED_WORD`` finds exactly the words that are whole encoded words (a word holds
    no blank); the text between two of them that is only blanks is what the stdlib drops."""
    if _UNSTRUCTURED_TEXT.fullmatch(value) is None:
        return None
    # [text, charset, B text, Q text, text, charset, ..., text]
    pieces = _LONE_ENCODED_WORD.split(value)
    last = len(pieces) - 1
    out: list[str] = []
    for index in range(0, last + 1, 4):
        between = pieces[index]
        if _ENCODED_WORD_START in between:  # a word with "=?" that is not an encoded word
            return None
        if not (0 < index < last and _BLANKS.fullmatch(between) is not None):
            out.append(between)
        if index < last:
            text = _decoded_text(pieces[index + 1], pieces[index + 2], pieces[index + 3])
            if text is None:
                return None
            out.append(text)
    return "".join(out)


def address_value(value: str,
                  mailboxes: Callable[[str], list[tuple[str, str]] | None] | None = None
                  ) -> str | None:
    """:func:`simple_value` of an address field; ``mailboxes`` stands for
    :func:`simple_mailboxes` (a caller may answer it from what it already read)."""
    if _ENCODED_WORD_START in value or '"' in value:  # (read by _phrase_mailboxes)
        found = (mailboxes or simple_mailboxes)(value)
        if found is None:
            return None
        return ", ".join([_mailbox_text(name, addr) for name, addr in found])
    if not _plain(value):
        return None
    found = (mailboxes or simple_mailboxes)(value)
    if found is None:
        return None
    # (a display name of atoms holds no special: the stdlib writes it as it is)
    if len(found) == 1:
        name, addr = found[0]
        return f"{name} <{addr}>" if name else addr
    return ", ".join(f"{name} <{addr}>" if name else addr for name, addr in found)


def _mailbox_text(name: str, addr: str) -> str:
    """``str()`` of the stdlib's ``headerregistry.Address`` of a mailbox: the display name
    quoted (``quote_string``: backslash and double quote escaped) when it holds one of RFC 5322's
    specials (section 3.2.3), then the addr-spec in angle brackets; the addr-spec alone for an
    empty display name."""
    if not name:
        return addr
    if _SPECIAL.search(name) is not None:
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


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
    """Content-Type or Content-Disposition rendered as the stdlib's ``MimeParameters`` does: the
    type, then each parameter (by name, in the order names first appear) as ``; name="value"``
    (``quote_string``, which escapes nothing here: see :func:`_parameter_values`)."""
    match = grammar.fullmatch(value)
    if match is None:
        return None
    kind, rest = match.group(1, 2)
    if not rest:
        return kind
    # (name, section, "*", charset, initial text, text, quoted text): findall gives "" for a
    # group that did not match, and the texts cannot match empty
    params = _PARAMETERS.findall(rest)
    if "*" in rest or "'" in rest:
        found = _parameter_values(params)
        if found is None:
            return None
        return kind + "; " + "; ".join([f'{name}="{text}"' for name, text in found])
    if len(params) == 1:
        name, _, _, _, _, token, text = params[0]
        return f'{kind}; {name}="{token or text}"'
    if len({param[0] for param in params}) != len(params):  # the stdlib drops repeats (a defect)
        return None
    return kind + "; " + "; ".join(
        [f'{name}="{token or text}"' for name, _, _, _, _, token, text in params])


def _parameter_values(params: list[tuple[str, str, str, str, str, str, str]]
                      ) -> list[tuple[str, str]] | None:
    """Each parameter's name and value (``_PARAMETERS``' groups of each in ``params``) as the
    stdlib's ``MimeParameters.params`` finds them, when it records no defect and no value holds
    ``"`` or a backslash; else None.

    RFC 2231 section 3: the sections of a parameter (``name*0``, ``name*1``, ...; a parameter
    without a section number is section 0) are joined in the order of their numbers, which must
    be 0, 1, 2, ... with neither a gap nor a repeat (else a defect: the stdlib ignores a repeated
    plain parameter, and keeps the sections out of order).  Section 4: a section marked ``*`` is
    %-decoded (``urllib.parse.unquote_to_bytes``, as the stdlib decodes it: a ``%`` that does not
    start two hex digits stays as it is) and decoded with the charset of the parameter's first
    section; that first section, when marked, is charset ``'`` language ``'`` text (the charset
    ``us-ascii`` when empty; the language is not kept), and no other section may be (a defect).
    The charset of a first section not marked is ``us-ascii``.  Here the charset is one of
    ``_CHARSET_CODECS`` and its codec decodes the bytes (the stdlib decodes them with
    ``surrogateescape`` and records a defect for what that escapes, or, for a charset unknown to
    Python, decodes them as ASCII); a marked first section without charset and language, and a
    marked section that is a quoted string, are defects.  A section that is not marked is its
    text or its quoted string's content.

    The stdlib renders a value holding ``"`` or a backslash with those escaped; such a value is
    left to it, so that every rendering here reads back as a quoted string without escapes."""
    # name -> [(section number, marked, charset, initial text, text, quoted text)], the names
    # in the order they first appear
    named: dict[str, list[tuple[int, str, str, str, str, str]]] = {}
    for name, section, marked, charset, initial, text, quoted in params:
        number = int(section) if section else 0
        if initial:
            if not marked or number:  # (an initial value only in a marked first section)
                return None
        elif marked and (number == 0 or quoted):
            return None
        named.setdefault(name, []).append((number, marked, charset, initial, text, quoted))
    found = []
    for name, sections in named.items():
        if len(sections) > 1:
            sections.sort(key=_section_number)
        codec = "ascii"
        pieces = []
        for index, (number, marked, charset, initial, text, quoted) in enumerate(sections):
            if number != index:
                return None
            if not marked:
                pieces.append(text or quoted)
                continue
            if initial:
                codec = _CHARSET_CODECS.get(charset.lower()) if charset else "ascii"
                if codec is None:
                    return None
                text = initial
            try:
                pieces.append(unquote_to_bytes(text).decode(codec))
            except UnicodeDecodeError:
                return None
        joined = "".join(pieces)
        if _ESCAPED.search(joined) is not None:
            return None
        found.append((name, joined))
    return found


def _section_number(section: tuple[int, str, str, str, str, str]) -> int:
    return section[0]


def simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """(display name, addr-spec) of each mailbox of an address field ``value``, as the stdlib
    reads them, when ``value`` is in the simple subset (see the module docstring); else None."""
    if _ENCODED_WORD_START in value or '"' in value:
        return _phrase_mailboxes(value)
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


def _phrase_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """:func:`simple_mailboxes` of a value with ``=?`` or ``"``: a list of mailboxes
    (``_PHRASE_MAILBOX``, each after blanks or none: the first at the start of the value, each
    other one after a ``","``; the stdlib reads the blanks before a mailbox as CFWS it leaves out
    of the display name and the addr-spec), each ``addr-spec``, ``<addr-spec>`` or
    ``phrase <addr-spec>`` (blanks before the ``<``), where the phrase is words separated by
    blanks, each an atom without ``=?``, an RFC 2047 encoded word :func:`_encoded_word_text`
    decodes, or a quoted string without ``=?``, and no addr-spec holds ``=?``; None for any other
    value.

    The stdlib reads each such word of a phrase as an atom (``get_atom``: the encoded word, or
    the atext) or a quoted string (``get_quoted_string``), then the blanks after it as one CFWS
    token, and records no defect (each encoded word is followed by blanks and decodes without
    one; no quoted string holds one).  The display name is the phrase's value without the CFWS
    that ends it (and the CFWS that starts it, after a comma): the words' values joined by one
    space each (a CFWS token's value).  An atom's value is its text; an encoded word's is its
    text with each run of white space that starts with a blank made one space
    (``_EW_BLANK_RUN``: get_encoded_word splits the text at blanks, and a white space token's
    value is one space); a quoted string's is its content with its blanks as written and each
    quoted-pair made the character it quotes (``_get_ptext_to_endchars``).  Unlike an
    unstructured value, the space between two encoded words stays."""
    if not value.isascii():
        return None
    found: list[tuple[str, str]] = []
    pos = 0
    end = len(value)
    while True:
        match = _PHRASE_MAILBOX.match(value, pos)
        if match is None:
            return None
        phrase, named_addr, angle_addr, bare_addr = match.groups()
        if phrase is not None:
            if _ENCODED_WORD_START in named_addr:
                return None
            words = []
            for word in _PHRASE_WORDS.findall(phrase):
                if word[0] == '"':
                    if _ENCODED_WORD_START in word:
                        return None
                    word = _QUOTED_PAIR.sub(r"\1", word[1:-1])
                elif _ENCODED_WORD_START in word:
                    text = _encoded_word_text(word)
                    if text is None:
                        return None
                    word = _EW_BLANK_RUN.sub(" ", text)
                words.append(word)
            found.append((" ".join(words), named_addr))
        else:
            addr = angle_addr if angle_addr is not None else bare_addr
            if _ENCODED_WORD_START in addr:
                return None
            found.append(("", addr))
        pos = match.end()
        if pos == end:
            return found
        if value[pos] != ",":
            return None
        pos += 1
