"""URLs and readable text from decoded text/plain and text/html bodies.

Finds http, https and ftp URLs: in plain text (RFC 3986 section 3 scheme and hier-part, cut at
white space, quotes and angle brackets, trailing punctuation dropped as in RFC 3986 Appendix C),
and in HTML link attributes such as ``href`` and ``src`` (entities decoded).  Also turns
HTML into text for previews.  It knows nothing of MIME or messages: it takes ``str``.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable

_URL = r"(?:https?|ftp)://[^\s<>\"'`\x00-\x1f\x7f]+"
_TEXT_URL = re.compile(_URL, re.IGNORECASE)
# An HTML attribute holding a URL (HTML 4.01 section 12.2, 13.2, 17.3; the HTML Living Standard).
_HTML_ATTR = re.compile(
    r"\b(?:href|src|action|background|formaction|poster|data)\s*=\s*"
    r"(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+))",
    re.IGNORECASE,
)
_ABSOLUTE = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}>"
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# White space runs are collapsed with str.split() and " ".join(): the same text as
# re.sub(r"\s+", " ", text).strip() (str.split and the \s of a str pattern both split at
# exactly the characters str.isspace() accepts), several times faster than the regex on text.


def _trim(url: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL; keep balanced parentheses."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def text_urls(text: str) -> list[str]:
    """URLs written in plain text, in order (repeats kept)."""
    if "://" not in text:  # every URL found holds it (see _URL)
        return []
    return [u for u in (_trim(m.group()) for m in _TEXT_URL.finditer(text)) if _ABSOLUTE.match(u)]


def html_urls(source: str, readable: str | None = None) -> list[str]:
    """URLs of an HTML document: its link attributes in document order, then URLs written in
    its text.  URLs elsewhere in the markup (``xmlns`` namespaces, style sheets) are not links
    and are left out.  ``readable``: ``html_text(source)``, when the caller has it already."""
    found: list[str] = []
    for match in _HTML_ATTR.finditer(source):
        attr = next(g for g in match.groups() if g is not None)
        url = html.unescape(attr).strip()
        if _ABSOLUTE.match(url):
            found.append(url)
    found.extend(text_urls(html_text(source) if readable is None else readable))
    return found


def html_text(source: str) -> str:
    """The readable text of an HTML document: scripts, styles, comments and tags removed."""
    text = _SCRIPT_STYLE.sub(" ", source)
    text = _COMMENT.sub(" ", text)
    text = _TAG.sub(" ", text)
    return " ".join(html.unescape(text).split())  # white space runs collapsed, ends stripped


def plain_preview(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text`` with white space runs collapsed."""
    return " ".join(text[: chars * 4].split())[:chars]


def dedupe(urls: Iterable[str], limit: int) -> tuple[tuple[str, ...], int]:
    """URLs without repeats, in first-seen order, at most ``limit``; also how many were cut."""
    seen: dict[str, None] = {}
    cut = 0
    for url in urls:
        if url in seen:
            continue
        if len(seen) >= limit:
            cut += 1
            continue
        seen[url] = None
    return tuple(seen), cut
