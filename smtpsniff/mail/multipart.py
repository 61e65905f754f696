"""The parts of a clean multipart message, attached to its stdlib root as the stdlib parser would.

RFC 2046 section 5.1.1: a multipart body is a preamble, body parts each after a delimiter line
(``--`` boundary, optional white space), a close delimiter (``--`` boundary ``--``) and an
epilogue; the CRLF before a delimiter belongs to the delimiter.  :func:`attach_parts` builds what
``email.feedparser.FeedParser`` builds from such a body -- one ``policy.message_factory`` entity
per part, each field through ``policy.header_source_parse``, the part's body as its payload, the
preamble and epilogue on the root, no defects -- without its line-by-line reading, for bodies in a
subset it is sure of:

* every line ends in CRLF (the caller checks), and the root is neither ``multipart/digest``
  (whose parts default to message/rfc822) nor of a Content-Transfer-Encoding the stdlib flags;
* a delimiter comes before any close delimiter, never twice in a row, and a close delimiter ends
  the last part;
* each part's header block is fields (a name of printable characters but ``:``, not starting with
  ``From ``) and their folds, closed by an empty line;
* a part that is itself multipart is of this subset too (up to ``MAX_NESTING`` levels), and a
  message/* part (not message/delivery-status) holds a message of that shape (a header block,
  an empty line, a body) that is neither multipart nor message/*: deeper nesting is left to the
  parser.  (The parser compiles a regular expression for each multipart's boundary; mail, where
  each message has its own boundaries, pays for that compilation once per multipart.)

Anything else returns False, the root untouched, and the caller asks the stdlib parser.
:func:`read_parts` reads such a body into each part's fields and text without making the
entities (:func:`smtpsniff.mail.mime.leaf_parts` records them from that).  It knows nothing of
anomalies, SMTP or the records made from the tree.
"""
from __future__ import annotations

import re
from email.message import Message
from email.policy import EmailPolicy

from smtpsniff.mail.getters import boundary, content_type, content_type_in, get

# The stdlib's header line test (feedparser.headerRE) without its "From " and empty-name cases.
_FIELD_LINE = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_IDENTITY_ENCODINGS = ("7bit", "8bit", "binary")
# The stdlib's reading of a field's source lines (name up to the first ":", the rest without
# leading blanks and trailing line ends): what :func:`_fields` does itself for an EmailPolicy.
_SOURCE_PARSE = EmailPolicy.header_source_parse


#: How deep :func:`attach_parts` reads multiparts within multiparts; deeper trees are left to the
#: parser (mail nests two or three levels: mixed, alternative, related).
MAX_NESTING = 8


def attach_parts(root: Message, body: str, policy: EmailPolicy, depth: int = 0) -> bool:
    """Attach the parts of multipart ``root`` read from ``body`` (the message after its header
    block, ASCII with surrogate escapes, every line ending in CRLF); True when done here.

    A part that is itself multipart is read the same way from its text, as the parser reads it
    (``depth``: how many multiparts enclose ``root``; see :func:`_attach_nested`)."""
    if content_type(root) == "multipart/digest":
        return False
    separator = boundary(root)
    if separator is None:
        return False
    if str(get(root, "content-transfer-encoding", "8bit")).lower() not in _IDENTITY_ENCODINGS:
        return False
    read = read_parts(body, separator, policy, nested=depth < MAX_NESTING)
    if read is None:
        return False
    preamble, parts, epilogue = read
    entities = []  # attached once all are read: a part the parser must read leaves root untouched
    for items, inner, text in parts:
        part = leaf = _entity(items, policy)
        if inner is not None:  # an embedded message
            leaf = _entity(inner, policy)
            part.attach(leaf)
        elif content_type_in(items, policy).split("/")[0] == "multipart":
            if not _attach_nested(part, text, policy, depth + 1):
                return False
            entities.append(part)
            continue
        leaf.set_payload(text)  # the CRLF before the delimiter is its own
        entities.append(part)
    for part in entities:
        root.attach(part)
    if preamble is not None:
        root.preamble = preamble
    root.epilogue = epilogue
    return True


def _attach_nested(part: Message, text: str, policy: EmailPolicy, depth: int) -> bool:
    """:func:`attach_parts` of a multipart ``part`` whose text (without the CRLF before the
    enclosing multipart's next delimiter) is ``text``.

    The parser reads such a part from its lines up to that delimiter, so with that CRLF: the
    same lines as ``text + "\\r\\n"``.  None of them is a delimiter of an enclosing multipart
    (:func:`read_parts` cut ``text`` between two), so the enclosing boundaries, which the parser
    also tests each line against, end nothing early.  Then the enclosing multipart takes the
    line end before its delimiter from the part's epilogue: an empty epilogue becomes None, any
    other loses its last line end (``NLCRE_eol``; here always a CRLF, which it ends with)."""
    if not attach_parts(part, text + "\r\n", policy, depth):
        return False
    epilogue = part.epilogue
    part.epilogue = None if not epilogue else epilogue[:-2]
    return True


#: One part as :func:`read_parts` reads it: its fields (as ``policy.header_source_parse`` makes
#: them), those of the message it embeds (message/*, else None), and the text of its leaf.
Part = tuple[list[tuple[str, str]], "list[tuple[str, str]] | None", str]


def read_parts(body: str, separator: str, policy: EmailPolicy, *, nested: bool = False
               ) -> tuple[str | None, list[Part], str] | None:
    """The preamble (None when there is no line before the first delimiter), the parts and the
    epilogue of a multipart body in :func:`attach_parts`' subset, read with ``separator`` (the
    root's boundary); None for any other body.  Each part's type is read as ``get_content_type``
    reads it on the entity :func:`attach_parts` makes of it (what that raises is raised).

    Lines are those of ``body.split("\\r\\n")``; a part's text (its lines joined, without the
    CRLF before the next delimiter) is cut from ``body`` by offsets, so that a long body is not
    split into lines and joined again.  With ``nested``, a multipart part (not multipart/digest)
    is read too, as its fields, None and its text (:func:`attach_parts` reads that text)."""
    found = _delimiter_lines(body, separator)  # (start, end, is a close delimiter)
    if not found or found[0][2]:  # no delimiter, or a close one first
        return None
    start, end, _ = found[0]
    preamble = body[:start - 2] if start else None  # the lines before, joined
    parts: list[Part] = []
    following = iter(found[1:])
    while True:  # body[start:end] is a delimiter line
        begin = end + 2  # where the next line starts
        start, end, close = next(following, (None, None, False))
        if start is None or start == begin:  # no close delimiter, or delimiters in a row
            return None
        read = _fields(body[begin:start - 2], policy)  # the lines in between
        if read is None:
            return None
        items, text = read
        ctype = content_type_in(items, policy)
        maintype = ctype.split("/")[0]
        if maintype == "multipart":
            if not nested or ctype == "multipart/digest":
                return None
        elif ctype == "message/delivery-status":
            return None
        inner = None
        if maintype == "message":  # an embedded message: its header block, then its body
            read = _fields(text, policy)
            if read is None:
                return None
            inner, text = read
            if content_type_in(inner, policy).split("/")[0] in ("multipart", "message"):
                return None
        parts.append((items, inner, text))
        if close:
            break
    return preamble, parts, body[end + 2:]  # the lines after the close delimiter, joined


def _delimiter_lines(body: str, separator: str) -> list[tuple[int, int, bool]]:
    """The delimiter lines of ``body`` in order: (offset of the line, offset of its end -- the
    CRLF after it, or the end of ``body`` --, True for a close delimiter).

    A line (of ``body.split("\\r\\n")``) is a delimiter when it fullmatches feedparser's
    boundaryre without its line end: ``--`` separator, ``--`` for the close delimiter, then only
    blanks.  Such a line starts with ``--`` separator, so only the places where that text
    starts a line (at 0 or after a CRLF) are tried, found by ``str.find``.  What follows the
    marker is read without a regular expression (one per boundary would be compiled for every
    message): the line fullmatches ``(--)?[ \t]*`` after it exactly when, with one leading
    ``--`` removed if there is one (the group matches it, as ``[ \t]*`` cannot), only blanks
    remain; the group matched exactly when that ``--`` was there."""
    marker = "--" + separator
    skip = len(marker)
    found: list[tuple[int, int, bool]] = []
    at = body.find(marker)
    while at >= 0:
        if at == 0 or body[at - 2:at] == "\r\n":
            end = body.find("\r\n", at)
            if end < 0:
                end = len(body)
            rest = body[at + skip:end]
            close = rest[:2] == "--"
            if not (rest[2:] if close else rest).strip(" \t"):
                found.append((at, end, close))
        at = body.find(marker, at + 1)
    return found


def _fields(text: str, policy: EmailPolicy) -> tuple[list[tuple[str, str]], str] | None:
    """The fields of the header block that starts ``text`` (lines joined by CRLF: fields and
    their folds, then an empty line), each as ``policy.header_source_parse`` makes it, and the
    text after that empty line; None if ``text`` does not start so."""
    if not text or text.startswith("\r\n"):  # the first line is the empty one
        head, rest = "", text[2:]
    else:
        empty = text.find("\r\n\r\n")
        if empty >= 0:
            head, rest = text[:empty], text[empty + 4:]
        elif text.endswith("\r\n"):  # the last line is the empty one
            head, rest = text[:-2], ""
        else:  # no empty line after the header block
            return None
    fields: list[str] = []  # each field's lines joined by CRLF
    for line in head.split("\r\n") if head else ():
        if line[0] in " \t":
            if not fields:
                return None
            fields[-1] += "\r\n" + line
        elif _FIELD_LINE.match(line) is None or line.startswith("From "):
            return None
        else:
            fields.append(line)
    if type(policy).header_source_parse is not _SOURCE_PARSE:
        return [policy.header_source_parse([field]) for field in fields], rest
    items = []
    for field in fields:  # what _SOURCE_PARSE([field]) returns, without the call
        name, value = field.split(":", 1)
        items.append((name, value.lstrip(" \t").rstrip("\r\n")))
    return items, rest


def _entity(items: list[tuple[str, str]], policy: EmailPolicy) -> Message:
    """A new entity with the fields ``items`` (``set_raw`` of each)."""
    entity = policy.message_factory(policy=policy)
    entity._headers.extend(items)  # type: ignore[attr-defined]  # set_raw of each, at once
    return entity
