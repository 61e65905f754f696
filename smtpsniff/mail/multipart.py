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
* no part is itself multipart, and a message/* part (not message/delivery-status) holds a
  message of that shape (a header block, an empty line, a body) that is neither multipart nor
  message/*: deeper nesting is left to the parser.

Anything else returns False, the root untouched, and the caller asks the stdlib parser.  It knows
nothing of anomalies, SMTP or the records made from the tree.
"""
from __future__ import annotations

import re
from email.message import Message
from email.policy import EmailPolicy

from smtpsniff.mail.getters import boundary, content_type, get

# The stdlib's header line test (feedparser.headerRE) without its "From " and empty-name cases.
_FIELD_LINE = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_IDENTITY_ENCODINGS = ("7bit", "8bit", "binary")


def attach_parts(root: Message, body: str, policy: EmailPolicy) -> bool:
    """Attach the parts of multipart ``root`` read from ``body`` (the message after its header
    block, ASCII with surrogate escapes, every line ending in CRLF); True when done here.

    Lines are those of ``body.split("\\r\\n")``; a part's text (its lines joined, without the
    CRLF before the next delimiter) is cut from ``body`` by offsets, so that a long body is not
    split into lines and joined again."""
    if content_type(root) == "multipart/digest":
        return False
    separator = boundary(root)
    if separator is None:
        return False
    if str(get(root, "content-transfer-encoding", "8bit")).lower() not in _IDENTITY_ENCODINGS:
        return False
    found = _delimiter_lines(body, separator)  # (start, end, is a close delimiter)
    if not found or found[0][2]:  # no delimiter, or a close one first
        return False
    start, end, _ = found[0]
    preamble = body[:start - 2] if start else None  # the lines before, joined
    parts: list[Message] = []
    following = iter(found[1:])
    while True:  # body[start:end] is a delimiter line
        begin = end + 2  # where the next line starts
        start, end, close = next(following, (None, None, False))
        if start is None or start == begin:  # no close delimiter, or delimiters in a row
            return False
        read = _entity(body[begin:start - 2], policy)  # the lines in between
        if read is None:
            return False
        part, text = read
        ctype = content_type(part)
        maintype = ctype.split("/")[0]
        if maintype == "multipart" or ctype == "message/delivery-status":
            return False
        leaf = part
        if maintype == "message":  # an embedded message: its header block, then its body
            read = _entity(text, policy)
            if read is None:
                return False
            leaf, text = read
            if content_type(leaf).split("/")[0] in ("multipart", "message"):
                return False
            part.attach(leaf)
        leaf.set_payload(text)  # the CRLF before the delimiter is its own
        parts.append(part)
        if close:
            break
    for part in parts:
        root.attach(part)
    if preamble is not None:
        root.preamble = preamble
    root.epilogue = body[end + 2:]  # the lines after the close delimiter, joined
    return True


def _delimiter_lines(body: str, separator: str) -> list[tuple[int, int, bool]]:
    """The delimiter lines of ``body`` in order: (offset of the line, offset of its end -- the
    CRLF after it, or the end of ``body`` --, True for a close delimiter).

    A line (of ``body.split("\\r\\n")``) is a delimiter when it fullmatches feedparser's
    boundaryre without its line end: ``--`` separator, ``--`` for the close delimiter, then only
    blanks.  Such a line starts with ``--`` separator, so only the places where that text
    starts a line (at 0 or after a CRLF) are tried, found by ``str.find``."""
    marker = "--" + separator
    delimiter = re.compile(re.escape(marker) + r"(--)?[ \t]*").fullmatch
    found: list[tuple[int, int, bool]] = []
    at = body.find(marker)
    while at >= 0:
        if at == 0 or body[at - 2:at] == "\r\n":
            end = body.find("\r\n", at)
            if end < 0:
                end = len(body)
            match = delimiter(body[at:end])
            if match is not None:
                found.append((at, end, match.group(1) is not None))
        at = body.find(marker, at + 1)
    return found


def _entity(text: str, policy: EmailPolicy) -> tuple[Message, str] | None:
    """A new entity with the fields of the header block that starts ``text`` (lines joined by
    CRLF: fields and their folds, then an empty line), and the text after that empty line;
    None if ``text`` does not start so."""
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
    fields: list[list[str]] = []
    for line in head.split("\r\n") if head else ():
        if line[0] in " \t":
            if not fields:
                return None
            fields[-1].append(line)
        elif _FIELD_LINE.match(line) is None or line.startswith("From "):
            return None
        else:
            fields.append([line])
    entity = policy.message_factory(policy=policy)
    for field in fields:
        entity.set_raw(*policy.header_source_parse(["\r\n".join(field)]))
    return entity, rest
