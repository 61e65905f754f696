"""The MIME tree of a parsed message, flattened into :class:`MimePart` records in document order.

RFC 2045 (Content-Type, Content-Transfer-Encoding; section 6.7 quoted-printable, 6.8 base64),
RFC 2046 (section 5.1 multipart, 5.2.1 message/rfc822), RFC 2183 (Content-Disposition), RFC 2231
(parameter continuations and charsets), RFC 6532 section 3.7 (message/global).  The tree itself
is the stdlib's (``email.parser.BytesParser`` with ``email.policy.default``); this module walks
it without recursion, decodes each leaf itself (the stdlib returns the *encoded* bytes when
base64 has a bad length), hashes it, and turns the stdlib's defects into anomalies.  For the
clean messages most mail is (a single part, or a multipart body that
:mod:`smtpsniff.mail.multipart` reads: leaves, embedded messages and multiparts within it such
as mixed holding alternative), :func:`single_part` and :func:`leaf_parts` record what the walk
of that tree would record without building it (tests/mail/test_mail_single_part.py and
tests/mail/test_mail_nested_leaves.py check them against the walk).  It knows nothing of SMTP or
of the top-level header fields.

A leaf's content ends before the CRLF that precedes the next boundary (RFC 2046 section 5.1.1:
that CRLF belongs to the boundary).  Zeek's MIME analyser adds a line end after the last line of
a quoted-printable part, so its files.log hashes of such parts differ from ours by that CRLF;
base64 and 7bit parts hash the same.
"""
from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.policy import EmailPolicy
from email.utils import collapse_rfc2231_value
from typing import TypeVar

from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import Limits
from smtpsniff.mail.anomalies import AnomalyLog, excerpt
from smtpsniff.mail.fields import embedded_summary
from smtpsniff.mail.getters import (
    RENDERED_PARAM,
    fetch,
    get_in,
    media_type,
    rendered_param,
)
from smtpsniff.mail.headers import (
    HeaderParses,
    headers_from_items,
    headers_from_stdlib,
    report_defects,
)
from smtpsniff.mail.model import EmbeddedMessage, Header, MimePart
from smtpsniff.mail.multipart import MAX_NESTING, read_parts
from smtpsniff.mail.urls import html_text, html_urls, plain_preview, text_urls

T = TypeVar("T")

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(set(range(256)) - set(_B64_ALPHABET))
_WHITESPACE = b" \t\r\n"
# RFC 2045 section 6.7 rule 1 and 3: "=" starts two upper-case hex digits or a soft line break.
# Lower-case hex is accepted by every decoder (and by rule 1's robustness note), so not flagged.
_BAD_QP = re.compile(rb"=(?![0-9A-Fa-f]{2})(?![ \t]*(?:\r\n|\r|\n|$))")
_SOFT_BREAK = re.compile(rb"=[ \t]*(?:\r\n|\r|\n)")
# RFC 2231 section 3 and 4: name*N / name*N* / name* sections of one parameter.
_PARAM = re.compile(
    r";\s*([^\s=;]+?)\s*=\s*(\"(?:[^\"\\]|\\.)*\"?|[^;]*)", re.DOTALL
)
_MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})  # RFC 2046 5.2.1, RFC 6532 3.7
_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})


def decode_base64(data: bytes) -> tuple[bytes, str | None]:
    """RFC 2045 section 6.8 base64; on damage, decode what decodes and say what was wrong."""
    stripped = data.translate(None, _WHITESPACE)
    try:
        return binascii.a2b_base64(stripped, strict_mode=True), None
    except binascii.Error as exc:
        problem = str(exc)
    clean = stripped.translate(None, _NOT_B64)  # junk and misplaced "=" dropped
    rest = len(clean) % 4
    if rest == 1:  # one lone character carries no whole byte
        clean = clean[:-1]
    elif rest:
        clean += b"=" * (4 - rest)
    return binascii.a2b_base64(clean), problem


def decode_quoted_printable(data: bytes) -> tuple[bytes, str | None]:
    """RFC 2045 section 6.7 quoted-printable; bad ``=`` sequences are kept as they are."""
    bad = _BAD_QP.search(data)
    problem = None if bad is None else (
        f"'=' not followed by two hex digits or a line end at offset {bad.start()}: "
        f"{excerpt(data[bad.start():bad.start() + 12])}")
    # Rule 5 soft line breaks are removed first, whatever their line end (binascii drops the byte
    # after "=\r"), and with any white space a transport added after the "=" (rule 3).
    return binascii.a2b_qp(_SOFT_BREAK.sub(b"", data)), problem


def raw_params(header_value: str | None, name: str) -> str | None:
    """Parameter ``name`` exactly as on the wire (quotes included), RFC 2231 sections joined.

    ``filename="a.txt"`` gives ``"a.txt"``; ``filename*0*=utf-8''a%C3; filename*1=".txt"`` gives
    ``utf-8''a%C3".txt"``.  None when the parameter is absent.
    """
    if not header_value or name not in header_value.lower():  # every key holds the name
        return None
    plain: str | None = None
    sections: dict[int, str] = {}
    for match in _PARAM.finditer(header_value):
        key, value = match.group(1).lower(), match.group(2).rstrip()
        if key in (name, name + "*"):
            if plain is None:
                plain = value
        elif key.startswith(name + "*"):
            number = key[len(name) + 1:].rstrip("*")
            if number.isdigit():
                sections.setdefault(int(number), value)
    if plain is not None:
        return plain
    if sections:
        return "".join(sections[k] for k in sorted(sections))
    return None


def _payload_bytes(entity: Message) -> bytes:
    """The body bytes exactly as transferred.

    The public ``get_payload()`` re-decodes 8-bit bodies with the declared charset and
    ``errors="replace"``, losing bytes; ``_payload`` holds them as ASCII plus surrogate escapes.
    """
    payload = getattr(entity, "_payload", None)
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    if isinstance(payload, bytes):
        return payload
    return b""


@dataclass(slots=True)
class _Walk:
    """State of one walk: the output and what was counted instead of listed."""

    limits: Limits
    log: AnomalyLog
    parts: list[MimePart]
    urls: list[str]
    parses: HeaderParses | None = None
    too_deep: int = 0
    too_many: int = 0
    #: The root entity of an embedded message and the headers read from it for the summary,
    #: when reading them recorded nothing: its own visit, next, takes them instead of reading
    #: them again (they would come out the same, with nothing recorded again).
    embedded: tuple[Message, tuple[Header, ...]] | None = None


def walk(root: Message, root_headers: tuple[Header, ...], limits: Limits, log: AnomalyLog,
         parses: HeaderParses | None = None) -> tuple[tuple[MimePart, ...], list[str]]:
    """Every entity of ``root`` as a :class:`MimePart` (paths from ``"1"``), and the body URLs.

    ``parses``: the header factory ``root`` was parsed with, so that part headers are parsed once
    for their decoded values and the stdlib's getters alike."""
    state = _Walk(limits=limits, log=log, parts=[], urls=[], parses=parses)
    stack: list[tuple[Message, str, int, str | None]] = [(root, "1", 0, None)]
    while stack:
        entity, path, depth, parent = stack.pop()
        if depth > limits.max_mime_depth:
            state.too_deep += 1
            continue
        if len(state.parts) >= limits.max_mime_parts:
            state.too_many += 1
            continue
        children = _record(state, entity, path, depth, parent,
                           root_headers if parent is None else None)
        for number in range(len(children), 0, -1):
            stack.append((children[number - 1], f"{path}.{number}", depth + 1, path))
    if state.too_deep:
        log.add("mime_depth_limit",
                f"MIME nesting deeper than max_mime_depth={limits.max_mime_depth}; "
                f"{state.too_deep} entity(ies) below it not listed")
    if state.too_many:
        log.add("mime_parts_limit",
                f"more than max_mime_parts={limits.max_mime_parts} MIME entities; "
                f"{state.too_many} not listed")
    return tuple(state.parts), state.urls


def single_part(items: Sequence[tuple[str, str]], body: bytes, root_headers: tuple[Header, ...],
                limits: Limits, log: AnomalyLog, parses: HeaderParses
                ) -> tuple[tuple[MimePart, ...], list[str]] | None:
    """:func:`walk` of the root :func:`smtpsniff.mail.parse._stdlib_tree` builds for a clean
    message that is neither multipart nor message/*, without building that root; None for any
    other message, before anything is logged (the caller then builds the tree and walks it).

    ``items`` are the root's fields as ``policy.header_source_parse`` made them (the stdlib
    entity's ``_headers``), ``body`` the bytes after the header block (the entity's payload, as
    :func:`_payload_bytes` would give it back) and ``parses`` the message's header factory.  Such
    a root has no defects and no children, so :func:`walk` records it alone, as a leaf at path
    ``"1"``, unless the limits list nothing at all.  Its getters are :func:`_clean_getters`'."""
    if limits.max_mime_depth < 0 or limits.max_mime_parts < 1:
        return None
    found = _content_fields(items)
    read = _clean_getters(items, parses, found)
    if read is None:
        return None
    getters = read[0]
    maintype, _, subtype = getters[0].partition("/")
    if maintype in ("multipart", "message"):
        return None
    state = _Walk(limits=limits, log=log, parts=[], urls=[], parses=parses)
    _leaf(state, body, _common("1", 0, None, getters, root_headers, found), root_headers,
          maintype, subtype, "MIME part 1")
    return tuple(state.parts), state.urls


def leaf_parts(items: Sequence[tuple[str, str]], body: bytes, root_headers: tuple[Header, ...],
               limits: Limits, log: AnomalyLog, policy: EmailPolicy
               ) -> tuple[tuple[MimePart, ...], list[str]] | None:
    """:func:`walk` of the multipart root :func:`smtpsniff.mail.parse._stdlib_tree` builds when
    :func:`~smtpsniff.mail.multipart.attach_parts` reads its body, without building the root or
    its parts; None for any other message, before anything is logged (the caller then builds the
    tree and walks it).

    ``items``, ``body`` as for :func:`single_part`; ``policy`` is the tree's policy, whose header
    factory is the message's :class:`~smtpsniff.mail.headers.HeaderParses`.  :func:`_plan_parts`
    reads the tree's entities first, in the order :func:`walk` visits them, as ``attach_parts``
    reads them (so declining before anything is logged); then each is recorded as
    :func:`_record` records it: its headers read from its fields as :func:`headers_from_stdlib`
    reads them (the root's are ``root_headers``), then a multipart as a container, a
    message/rfc822 or message/global part as a container with the summary of the message it
    holds (that message's one leaf follows it), any other part as a leaf (see :func:`_leaf`).
    Such a tree has no defects, and the stdlib getters answer as :func:`_clean_getters` reads
    them; an entity they are not read for, other message/* parts and limits that would cut the
    walk short (depth, entity count) leave the message to the tree."""
    if limits.max_mime_depth < 1 or limits.max_mime_parts < 1:
        return None
    root_found = _content_fields(items)
    read = _entity_getters(items, policy, root_found, limits)
    if read is None:
        return None
    getters, type_value = read
    if getters[0][:10] != "multipart/" or type_value is None:
        return None
    plan: list[_Planned] = [("1", 0, None, items, getters, root_found, _MULTIPART, None)]
    try:
        if not _plan_parts(plan, items, type_value, body.decode("ascii", "surrogateescape"),
                           policy, limits):
            return None
    except Exception:  # noqa: BLE001  # attach_parts raises the same, and the parser decides
        return None

    parses = policy.header_factory
    state = _Walk(limits=limits, log=log, parts=[], urls=[], parses=parses)
    embedded_headers = None  # an embedded message's headers, when its leaf (next) takes them
    for path, depth, parent, fields, getters, found, kind, held in plan:
        where = f"MIME part {path}"
        if parent is None:
            headers = root_headers
        elif embedded_headers is not None:
            headers, embedded_headers = embedded_headers, None
        else:
            headers = headers_from_items(fields, limits, log, where, parses)
        common = _common(path, depth, parent, getters, headers, found)
        if kind is _LEAF:  # held: its text
            maintype, _, subtype = getters[0].partition("/")
            encoded = held.encode("ascii", "surrogateescape")  # type: ignore[union-attr]
            _leaf(state, encoded, common, headers, maintype, subtype, where)
        elif kind is _MESSAGE:  # held: the embedded message's fields
            recorded = log.count
            inner = headers_from_items(held, limits, log,  # type: ignore[arg-type]
                                       f"message in {where}", parses)
            if log.count == recorded:
                embedded_headers = inner
            state.parts.append(_container(common, headers, embedded_summary(
                inner, f"message in {where}", log, parses)))
        else:
            cte = common[6]
            if cte is not None and cte not in _IDENTITY_ENCODINGS:
                log.add("bad_multipart_encoding",
                        f"{where}: {getters[0]} with Content-Transfer-Encoding {excerpt(cte)} "
                        "(RFC 2045 section 6.4 allows only 7bit, 8bit or binary)")
            state.parts.append(_container(common, headers))
    return tuple(state.parts), state.urls


# What an entity of :func:`_plan_parts` is: a leaf, a multipart, a message/rfc822 or
# message/global part.
_LEAF, _MULTIPART, _MESSAGE = "leaf", "multipart", "message"
#: One entity as :func:`_plan_parts` reads it: path, depth, parent path, fields, getters (see
#: :func:`_clean_getters`), :func:`_content_fields`, kind, and what it holds: a leaf's text, an
#: embedded message's fields, None for a multipart.
_Planned = tuple[str, int, "str | None", Sequence[tuple[str, str]], tuple, list, str,
                 "str | Sequence[tuple[str, str]] | None"]


def _plan_parts(plan: list[_Planned], items: Sequence[tuple[str, str]], type_value: str,
                body: str, policy: EmailPolicy, limits: Limits) -> bool:
    """Add to ``plan`` the entities below its last one, a multipart entity with the fields
    ``items``, the plain Content-Type value ``type_value`` and the body ``body``, in the order
    :func:`walk` visits them; False, with ``plan`` to be dropped, where the tree
    :func:`~smtpsniff.mail.multipart.attach_parts` makes holds anything else than what
    :func:`leaf_parts` records, or where the limits would cut the walk short.

    The body is read as ``attach_parts`` reads it: not multipart/digest, the boundary as
    :func:`smtpsniff.mail.getters.boundary` reads it from such a value, an identity transfer
    encoding, :func:`~smtpsniff.mail.multipart.read_parts` (a part that is multipart in turn
    below ``MAX_NESTING``, read from its text and the CRLF before the enclosing delimiter, as
    ``_attach_nested`` reads it).  :func:`walk` leaves out an entity deeper than
    ``max_mime_depth`` or after ``max_mime_parts`` entities: the plan declines before either."""
    path, depth = plan[-1][0], plan[-1][1]
    if plan[-1][4][0] == "multipart/digest":  # attach_parts leaves digests to the parser
        return False
    found = rendered_param(type_value, "boundary")
    if found is None:  # getters.boundary: no boundary, the tree decides
        return False
    separator = collapse_rfc2231_value(found).rstrip()
    if str(get_in(items, policy, "content-transfer-encoding", "8bit")).lower() \
            not in _IDENTITY_ENCODINGS:
        return False
    read = read_parts(body, separator, policy, nested=depth < MAX_NESTING)
    if read is None:
        return False
    depth += 1
    if depth > limits.max_mime_depth:
        return False
    for number, (part_items, inner, text) in enumerate(read[1], 1):
        if len(plan) >= limits.max_mime_parts:
            return False
        part_path = f"{path}.{number}"
        found_at = _content_fields(part_items)
        answered = _entity_getters(part_items, policy, found_at, limits)
        if answered is None:
            return False
        getters, part_type = answered
        if inner is not None:  # message/*: read_parts read the message it holds
            if (getters[0] not in ("message/rfc822", "message/global")
                    or depth >= limits.max_mime_depth or len(plan) + 1 >= limits.max_mime_parts):
                return False
            plan.append((part_path, depth, path, part_items, getters, found_at, _MESSAGE, inner))
            found_at = _content_fields(inner)
            answered = _entity_getters(inner, policy, found_at, limits)
            if answered is None:
                return False
            plan.append((f"{part_path}.1", depth + 1, part_path, inner, answered[0], found_at,
                         _LEAF, text))
        elif getters[0][:10] == "multipart/":  # read_parts' maintype, from the same value
            if part_type is None:  # a structured Content-Type: its boundary is not read here
                return False
            plan.append((part_path, depth, path, part_items, getters, found_at, _MULTIPART,
                         None))
            if not _plan_parts(plan, part_items, part_type,  # type: ignore[arg-type]
                               text + "\r\n", policy, limits):
                return False
        else:
            plan.append((part_path, depth, path, part_items, getters, found_at, _LEAF, text))
    return True


def _clean_getters(items: Sequence[tuple[str, str]], parses: HeaderParses,
                   found: list[int | None]
                   ) -> tuple[tuple[str, str | None, str | None, str | None, str | None],
                              str | None] | None:
    """What the stdlib's getters (see :func:`_stdlib_getters`) answer for an entity with the
    fields ``items`` and the header factory ``parses``, and its Content-Type value (None when
    it has none); None, having logged nothing, for an entity whose answers are not read here.

    They are answered as :func:`_simple_getters` answers them, from the same ``Message.get``
    values: the first Content-Type and Content-Disposition fields, each a value (unfolded) the
    factory returns as a plain string.  With neither field, the stdlib's getters answer
    ``text/plain`` (the default type of a root and of a part of any multipart but digest) and
    None for the rest.  Any other case (a structured value, a value the factory raises on, a
    Content-Disposition without Content-Type) returns None.  ``found``: the
    :func:`_content_fields` of ``items``."""
    type_item, disposition_item = _type_and_disposition(items, found)
    if type_item is None:
        if disposition_item is not None:
            return None
        return ("text/plain", None, None, None, None), None
    content_type = _plain_value(type_item, parses)
    if content_type is None:
        return None
    disposition = None
    if disposition_item is not None:
        disposition = _plain_value(disposition_item, parses)
        if disposition is None:
            return None
    return _rendered_getters(content_type, disposition), content_type


def _entity_getters(items: Sequence[tuple[str, str]], policy: EmailPolicy,
                    found: list[int | None], limits: Limits
                    ) -> tuple[tuple[str, str | None, str | None, object, str | None],
                               str | None] | None:
    """:func:`_clean_getters` of an entity with the fields ``items`` made by
    ``policy.message_factory`` (default type ``text/plain``, as the root and every part of
    :func:`~smtpsniff.mail.multipart.attach_parts`' trees); for one it does not read (a
    structured Content-Disposition such as an RFC 2231 ``filename*`` with a defect, a
    structured Content-Type), the stdlib getters' answers as :func:`_record` finds them: those of
    :func:`_stdlib_getters` on such an entity, and its Content-Type value when that is a plain
    string.  None when a getter raises there (the walk would record that): nothing is logged."""
    read = _clean_getters(items, policy.header_factory, found)
    if read is not None:
        return read
    entity = policy.message_factory(policy=policy)
    entity._headers.extend(items)  # type: ignore[attr-defined]  # set_raw of each, at once
    scratch = AnomalyLog(1)
    getters = _stdlib_getters(_Walk(limits=limits, log=scratch, parts=[], urls=[]), entity, "")
    if scratch.count:
        return None
    type_at = found[0]
    type_value = None if type_at is None else _plain_value(items[type_at], policy.header_factory)
    return getters, type_value


# The fields _common and _clean_getters read, by lower-case name: where _content_fields puts the
# index of the first of each.
_CONTENT_FIELDS = {"content-type": 0, "content-disposition": 1, "content-transfer-encoding": 2,
                   "content-id": 3}


def _content_fields(items: Sequence[tuple[str, str]]) -> list[int | None]:
    """The index in ``items`` of the first Content-Type, Content-Disposition,
    Content-Transfer-Encoding and Content-ID field (names in any case; None where there is
    none), found in one pass for :func:`_clean_getters` and :func:`_common`."""
    found: list[int | None] = [None, None, None, None]
    for index, item in enumerate(items):
        slot = _CONTENT_FIELDS.get(item[0].lower())
        if slot is not None and found[slot] is None:
            found[slot] = index
    return found


def _type_and_disposition(items: Sequence[tuple[str, str]], found: list[int | None] | None = None
                          ) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """The first Content-Type and the first Content-Disposition field of ``items`` (names in any
    case; None where there is none): the fields ``Message.get`` reads.  ``found``: the
    :func:`_content_fields` of ``items`` when they were looked for already."""
    type_at, disposition_at = (_content_fields(items) if found is None else found)[:2]
    return (items[type_at] if type_at is not None else None,
            items[disposition_at] if disposition_at is not None else None)


def _plain_value(item: tuple[str, str], parses: HeaderParses) -> str | None:
    """``Message.get``'s value of the field ``item`` when it is a plain string; None otherwise,
    and when the factory raises.  That value is what :func:`~smtpsniff.mail.getters.fetch`
    returns: the factory's of the value, with every CR and LF removed first (as
    ``policy.header_fetch_parse`` removes them from a folded value)."""
    name, value = item
    if "\r" in value or "\n" in value:
        value = value.replace("\r", "").replace("\n", "")
    try:
        found = parses(name, value)
    except Exception:  # noqa: BLE001  # the stdlib's parser meets the same value and decides
        return None
    return found if type(found) is str else None


def _safe(state: _Walk, where: str, what: str, fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception as exc:  # the stdlib raises on some hostile header values
        state.log.add("mime_header_error", f"{where}: {what} not read ({exc!r})")
        return default


class _Getters:
    """``Message.get`` and ``Message._get_params_preserve`` for one entity, each header's answer
    found once however often the stdlib getters ask for it.

    ``get_content_type``, ``get_filename``, ``get_param`` and ``get_content_charset`` each fetch
    Content-Type (or Content-Disposition) again and split its parameters again; with these as the
    entity's methods they share one fetch and one split, and return exactly what they would have
    (an exception is not kept: it is raised again by the next call, as the stdlib would).
    """

    __slots__ = ("_entity", "_params", "_values")

    def __init__(self, entity: Message) -> None:
        self._entity = entity
        self._values: dict[str, object] = {}
        self._params: dict[str, object] = {}

    def get(self, name: str, failobj: object = None) -> object:
        key = name.lower()
        found = self._values.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._values[key] = Message.get(self._entity, key, _MISSING)
        return failobj if found is _MISSING else found

    def params(self, failobj: object, header: str) -> object:
        key = header.lower()
        found = self._params.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._params[key] = Message._get_params_preserve(  # type: ignore[attr-defined]
                self._entity, _MISSING, header)
        return failobj if found is _MISSING else found


_UNSEEN = object()
_MISSING = object()


def _stdlib_getters(state: _Walk, entity: Message, where: str
                    ) -> tuple[str, str | None, str | None, object, str | None]:
    """What ``get_content_type``, ``get_content_disposition``, ``get_filename``,
    ``get_param("name")`` and ``get_content_charset`` return (each failure recorded, its
    default used), with :class:`_Getters` standing in for the entity's ``get`` and
    ``_get_params_preserve`` while they run."""
    getters = _Getters(entity)
    entity.get = getters.get  # type: ignore[method-assign]  # the stdlib getters use them
    entity._get_params_preserve = getters.params  # type: ignore[attr-defined]
    try:
        content_type = _safe(state, where, "Content-Type", entity.get_content_type, "text/plain")
        disposition = _safe(state, where, "Content-Disposition", entity.get_content_disposition,
                            None)
        filename = _safe(state, where, "file name", entity.get_filename, None)
        name = _safe(state, where, "name parameter", lambda: entity.get_param("name"), None)
        if isinstance(name, tuple):
            name = collapse_rfc2231_value(name)
        charset = _safe(state, where, "charset", entity.get_content_charset, None)
    finally:
        del entity.get, entity._get_params_preserve
    return content_type, disposition, filename, name, charset


def _simple_getters(entity: Message) -> tuple[str, str | None, str | None, str | None,
                                              str | None] | None:
    """What ``get_content_type``, ``get_content_disposition``, ``get_filename``,
    ``get_param("name")`` and ``get_content_charset`` return for an entity whose Content-Type is
    a plain string (a value :func:`~smtpsniff.mail.simple.simple_value` answered) and whose
    Content-Disposition is absent or one too; None for any other entity.

    Content-Type and Content-Disposition are fetched as ``Message.get`` fetches them (the first
    field of each name, in any case), found in one pass over the entity's fields.  The stdlib
    getters read such a string with ``_splitparam`` and ``_parseparam``; its
    parameters are ``; name="value"`` with distinct names (none ending in ``*``: RFC 2231 values
    are rendered decoded) and values without quotes or backslashes, so each getter's answer is
    the first parameter of that name (in any case); ``get_content_charset`` answers None for
    such a charset that is not ASCII (one decoded from an RFC 2231 value).
    A value the header factory raises on (an RFC 2231 parameter in a charset such as ``idna``
    that cannot decode it) is left to :func:`_stdlib_getters`, which records the failure."""
    type_item, disposition_item = _type_and_disposition(entity._headers)  # type: ignore[attr-defined]
    if type_item is None:
        return None
    try:
        content_type = fetch(entity, type_item)
        if type(content_type) is not str:
            return None
        disposition = None
        if disposition_item is not None:
            disposition = fetch(entity, disposition_item)
            if type(disposition) is not str:
                return None
    except RecursionError:  # parse_message reports the structure as too deep
        raise
    except Exception:  # noqa: BLE001  # the stdlib getters meet it again, in _safe
        return None
    return _rendered_getters(content_type, disposition)


def _rendered_getters(content_type: str, disposition: str | None
                      ) -> tuple[str, str | None, str | None, str | None, str | None]:
    """:func:`_simple_getters` from the plain-string Content-Type and Content-Disposition
    (None when absent) the entity's ``Message.get`` returns."""
    ctype = media_type(content_type)
    name = charset = filename = None
    if "=" in content_type:
        params: dict[str, str] = {}
        for key, value in RENDERED_PARAM.findall(content_type):
            params.setdefault(key.lower(), value)
        name = params.get("name")
        charset = params.get("charset")
    if disposition is not None:
        filename = rendered_param(disposition, "filename")
        disposition = disposition.partition(";")[0].strip().lower()
    if filename is None:
        filename = name
    if charset is not None:  # get_content_charset: None for a charset that is not ASCII
        charset = charset.lower() if charset.isascii() else None
    return (ctype, disposition,
            collapse_rfc2231_value(filename).strip() if filename is not None else None,
            name, charset)


_ROOT_SKIPPED_DEFECTS = frozenset({
    "FirstHeaderLineIsContinuationDefect", "MissingHeaderBodySeparatorDefect",
    "MisplacedEnvelopeHeaderDefect"})
_new_part = slot_builder(MimePart)


def _container(common: tuple, headers: tuple[Header, ...],
               message: EmbeddedMessage | None = None) -> MimePart:
    """A multipart or message/* entity's :class:`MimePart` (no body of its own); ``common``:
    its fields from ``path`` to ``content_id``, in :class:`MimePart`'s order."""
    # by position: is_multipart, is_attachment, size, decoded_size, md5, sha1, sha256, preview,
    # message, headers, content, content_truncated
    return _new_part(*common, True, False, None, None, None, None, None, None, message, headers,
                     None, False)


def _record(state: _Walk, entity: Message, path: str, depth: int, parent: str | None,
            root_headers: tuple[Header, ...] | None) -> list[Message]:
    """Record one entity; return its children (multipart parts, or an embedded message)."""
    where = f"MIME part {path}"
    log, limits = state.log, state.limits
    if root_headers is None:
        embedded = state.embedded
        if embedded is not None and embedded[0] is entity:
            headers = embedded[1]
        else:
            headers = headers_from_stdlib(entity, limits, log, where, state.parses)
        state.embedded = None
        if entity.defects:
            report_defects(entity.defects, where, log)
    else:  # the top-level header block was read and checked from the raw bytes
        headers = root_headers
        if entity.defects:
            report_defects(entity.defects, where, log, skip=_ROOT_SKIPPED_DEFECTS)

    simple = _simple_getters(entity)
    if simple is None:
        simple = _stdlib_getters(state, entity, where)
    common = _common(path, depth, parent, simple, headers)
    content_type, cte = common[3], common[6]
    maintype, _, subtype = content_type.partition("/")
    payload = entity.get_payload() if entity.is_multipart() else None

    if isinstance(payload, list):
        children = [p for p in payload if isinstance(p, Message)]
        if maintype == "message" and subtype in _MESSAGE_SUBTYPES and children:
            recorded = log.count
            inner = headers_from_stdlib(children[0], limits, log, f"message in {where}",
                                        state.parses)
            if log.count == recorded:
                state.embedded = (children[0], inner)
            embedded = embedded_summary(inner, f"message in {where}", log, state.parses)
            state.parts.append(_container(common, headers, embedded))
            return children[:1]
        if cte is not None and cte not in _IDENTITY_ENCODINGS:
            log.add("bad_multipart_encoding",
                    f"{where}: {content_type} with Content-Transfer-Encoding {excerpt(cte)} "
                    "(RFC 2045 section 6.4 allows only 7bit, 8bit or binary)")
        state.parts.append(_container(common, headers))
        return children

    _leaf(state, _payload_bytes(entity), common, headers, maintype, subtype, where)
    return []


def _common(path: str, depth: int, parent: str | None,
            getters: tuple[str, str | None, str | None, object, str | None],
            headers: tuple[Header, ...], found: list[int | None] | None = None) -> tuple:
    """:class:`MimePart`'s fields from ``path`` to ``content_id``, in its order, from what the
    stdlib's getters answered for the entity (see :func:`_stdlib_getters`) and its headers.

    ``found``: the :func:`_content_fields` of the fields ``headers`` were made from, one header
    per field in order until a limit cut them (so a header list is a prefix of its fields, and
    the first header of a name is the first field of that name when that field was kept)."""
    content_type, disposition, filename, name, charset = getters
    ct_raw = cd_raw = cte_header = content_id = None  # the first raw value of each
    if found is not None:
        kept = len(headers)
        type_at, disposition_at, cte_at, id_at = found
        if type_at is not None and type_at < kept:
            ct_raw = headers[type_at].raw_value
        if disposition_at is not None and disposition_at < kept:
            cd_raw = headers[disposition_at].raw_value
        if cte_at is not None and cte_at < kept:
            cte_header = headers[cte_at].raw_value
        if id_at is not None and id_at < kept:
            content_id = headers[id_at].raw_value
        headers = ()  # read: the loop below has nothing to do
    for header in headers:
        lname = header.name.lower()
        if lname[:8] != "content-":
            continue
        if lname == "content-type":
            if ct_raw is None:
                ct_raw = header.raw_value
        elif lname == "content-disposition":
            if cd_raw is None:
                cd_raw = header.raw_value
        elif lname == "content-transfer-encoding":
            if cte_header is None:
                cte_header = header.raw_value
        elif lname == "content-id" and content_id is None:
            content_id = header.raw_value
    name_raw = raw_params(ct_raw, "name")
    return (  # MimePart's fields from path to content_id, in its order
        path, depth, parent, content_type, ct_raw, charset,
        cte_header.strip().lower() if cte_header else None,  # transfer_encoding
        disposition, filename,
        raw_params(cd_raw, "filename") or (name_raw if filename is not None else None),
        name if isinstance(name, str) else None, name_raw,
        content_id.strip() if content_id else None,
    )


def _leaf(state: _Walk, encoded: bytes, common: tuple, headers: tuple[Header, ...],
          maintype: str, subtype: str, where: str) -> None:
    """Record a leaf entity: its body ``encoded`` (as transferred) decoded, hashed, and (text)
    previewed and searched for URLs.  ``common``: its fields from ``path`` to ``content_id``
    (see :func:`_container`)."""
    log, limits = state.log, state.limits
    charset, cte, disposition, filename = common[5:9]
    if cte == "base64":
        decoded, problem = decode_base64(encoded)
        if problem:
            log.add("bad_base64", f"{where}: base64 body damaged ({problem}); decoded what decodes")
    elif cte == "quoted-printable":
        decoded, problem = decode_quoted_printable(encoded)
        if problem:
            log.add("bad_quoted_printable", f"{where}: {problem}; kept as written")
    else:
        decoded = encoded
        if cte is not None and cte not in _IDENTITY_ENCODINGS:
            log.add("unknown_transfer_encoding",
                    f"{where}: Content-Transfer-Encoding {excerpt(cte)} unknown (RFC 2045 "
                    "section 6.1); body kept undecoded")
    cap = limits.max_part_decoded_bytes
    truncated = len(decoded) > cap
    if truncated:
        log.add("part_decoded_limit",
                f"{where}: decoded body of {len(decoded)} bytes exceeds max_part_decoded_bytes="
                f"{cap}; content cut, hashes cover it all")

    preview: str | None = None
    if maintype == "text" and subtype in ("plain", "html"):
        text = _text(decoded, charset, where, log)
        if subtype == "html":
            readable = html_text(text)
            state.urls.extend(html_urls(text, readable))
            cut = limits.mail_preview_chars * 50
            preview = readable if len(text) <= cut else html_text(text[:cut])
        else:
            state.urls.extend(text_urls(text))
            preview = text
        preview = plain_preview(preview, limits.mail_preview_chars)

    is_attachment = (disposition == "attachment" or filename is not None
                     or maintype not in ("text", "multipart", "message"))
    state.parts.append(_new_part(  # MimePart's fields in its order
        *common,  # path to content_id
        False,  # is_multipart
        is_attachment,
        len(encoded),  # size
        len(decoded),  # decoded_size
        hashlib.md5(decoded, usedforsecurity=False).hexdigest(),
        hashlib.sha1(decoded, usedforsecurity=False).hexdigest(),
        hashlib.sha256(decoded).hexdigest(),
        preview,
        None,  # message
        headers,
        decoded[:cap] if truncated else decoded,  # content
        truncated,  # content_truncated
    ))


def _text(data: bytes, charset: str | None, where: str, log: AnomalyLog) -> str:
    """Decode a text body: its charset (RFC 2046 section 4.1.2), else UTF-8 (a superset of the
    us-ascii default); unknown charsets and bad bytes are recorded and replaced by U+FFFD."""
    codec = "utf-8"
    if charset:
        try:
            info = codecs.lookup(charset)
            if not getattr(info, "_is_text_encoding", True):  # "base64", "zlib", ...
                raise LookupError(charset)
            codec = info.name
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            log.add("undecodable_charset", f"{where}: unknown charset {excerpt(charset)}; "
                    "read as UTF-8")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if charset:
            log.add("undecodable_text", f"{where}: body is not valid {codec}; bad bytes replaced")
        else:
            log.add("undeclared_8bit_text", f"{where}: 8-bit text with no charset; read as UTF-8")
        return data.decode(codec, "replace")
