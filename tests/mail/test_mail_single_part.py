"""The shortcuts past the stdlib tree (``mime.single_part``, ``mime.leaf_parts``) against the
general path they stand for.

For a clean message that is neither multipart nor message/*, ``parse_message`` records the one
MIME part without building the stdlib root, and for a clean multipart message whose parts are
all leaves, the root and its parts without building any entity; what they record must equal what
:func:`walk` records of the tree ``_stdlib_tree`` builds (every :class:`MimePart` field, the
URLs, the anomalies in order), and they must decline (None, nothing logged) wherever the general
path would go another way.  Inputs: the messages of test_mail_stdlib_tree (recorded clients'
messages, hand-made shapes and their seeded mutations), hand-made Content-Type,
Content-Disposition and multipart shapes, and each under limits that list nothing, cut the
walk short or cut bodies and part headers.
"""
from __future__ import annotations

from dataclasses import replace

from test_mail_stdlib_tree import _messages

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import MAIL_POLICY, HeaderParses, split_header_block
from smtpsniff.mail.mime import leaf_parts, single_part, walk
from smtpsniff.mail.parse import _scan_line_ends, _stdlib_tree

_HEAD = b"From: a@example.test\r\nSubject: s\r\n"
_BODY = b"\r\nsee http://example.test/a, and more\r\n"
_EXTRA = [_HEAD + field + _BODY for field in (
    b"",
    b"Content-Type: text/plain\r\n",
    b"Content-Type: text/html; charset=\"us-ascii\"\r\n",
    b"content-type: TEXT/Plain; CHARSET=UTF-8; Name=\"a.txt\"\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Type: text/html\r\n",
    b"Content-Type: text/plain;\r\n charset=utf-8\r\n",
    b"Content-Type: text\r\n",
    b"Content-Type: ((((\r\n",
    b"Content-Type: text/plain; name*0*=utf-8''a%C3; name*1=\".txt\"\r\n",
    b"Content-Type: text/plain; name=\"=?utf-8?q?caf=C3=A9?=.txt\"\r\n",
    b"Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n",
    b"Content-Type: image/png\r\nContent-Disposition: attachment; filename=\"p.png\"\r\n",
    b"Content-Type: text/plain\r\nContent-Disposition: inline\r\n",
    b"Content-Type: text/plain\r\nContent-Disposition: attachment;\r\n\tfilename=x\r\n",
    b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A9\r\n",
    b"Content-Disposition: attachment; filename=\"a.txt\"\r\n",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-uue\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: Message/Partial; id=x\r\n",
    b"Content-Type: text/plain\r\nContent-ID: <c@example.test>\r\n",
    (b"Content-Type: text/plain;\r\n charset=\"utf-8\"\r\nContent-Disposition: attachment;\r\n"
     b"\tfilename=\"a.txt\"\r\n"),
)]
_M = (b"From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
      b" boundary=\"==b==\"\r\n")
_PARTS = [
    b"Content-Type: text/plain; charset=\"utf-8\"\r\n\r\nsee http://example.test/x\r\n",
    (b"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"<a href=3D\"https://example.test/\">x</a>=\r\n!\r\n"),
    (b"Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
     b"Content-Disposition: attachment;\r\n filename=\"r.pdf\"\r\n\r\nJVBERi0xLjQK\r\n"),
    b"\r\nno headers at all\r\n",
    b"Content-Disposition: attachment; filename=\"a.txt\"\r\n\r\nx\r\n",
    b"Content-Type: text/plain; name*0*=utf-8''a%C3; name*1=\".txt\"\r\n\r\nx\r\n",
    b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n",
    (b"Content-Type: message/rfc822\r\n\r\nFrom: x <y@example.test>\r\nSubject: =?x-no?q?a?=\r\n"
     b"Date: nonsense\r\nContent-Type: text/html\r\n\r\n<a href='http://example.test/'>\r\n"),
    b"Content-Type: message/global\r\n\r\nTo: a@example.test, b@\r\n\r\nbody\r\n",
    b"Content-Type: message/partial; id=x\r\n\r\nSubject: inner\r\n\r\nbody\r\n",
    (b"Content-Type: text/plain; charset=x-unknown\r\nSubject: =?x-nope?q?a?=\r\n"
     b"X-Long: " + b"y" * 300 + b"\r\n\r\n\xe9\xff\r\n"),
    b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n!!bad==base64\r\n",
]
_MULTIPART = [_M + b"\r\npreamble\r\n--==b==\r\n" + b"\r\n--==b==\r\n".join(
    _PARTS[i:i + n]) + b"\r\n--==b==--\r\nepilogue\r\n"
    for n in (1, 2, 3) for i in range(len(_PARTS) - n + 1)]
_MULTIPART += [
    _M.replace(b"multipart/mixed", b"multipart/digest") + b"\r\n--==b==\r\n\r\nx\r\n--==b==--\r\n",
    _M + b"Content-Transfer-Encoding: base64\r\n\r\n--==b==\r\n\r\nx\r\n--==b==--\r\n",
    _M + b"Content-Transfer-Encoding: 8bit\r\n\r\n--==b==\r\n\r\nx\r\n--==b==--\r\n",
    _M + b"\r\n--==b==\r\n\r\nx\r\n",
    _M.replace(b"boundary", b"charset") + b"\r\n--==b==\r\n\r\nx\r\n--==b==--\r\n",
]


def _general(raw: bytes, limits, log: AnomalyLog) -> tuple:
    parses = HeaderParses()
    crlf_only = _scan_line_ends(raw, log)
    block = split_header_block(raw, limits, log, parses, crlf_only)
    root = _stdlib_tree(raw, block, MAIL_POLICY.clone(header_factory=parses), crlf_only)
    return walk(root, block.headers, limits, log, parses)


def _single_part(raw, block, limits, log, parses):
    return single_part(block.items, raw[block.body_offset:], block.headers, limits, log, parses)


def _leaf_parts(raw, block, limits, log, parses):
    return leaf_parts(block.items, raw[block.body_offset:], block.headers, limits, log,
                      MAIL_POLICY.clone(header_factory=parses))


def _against_general(raw: bytes, limits, shortcut) -> tuple | None:
    """``shortcut(raw, block, limits, log, parses)`` on ``raw``'s header block, checked against
    :func:`_general`: None when ``raw`` is no input for a shortcut (no clean block, not CRLF
    only), else (what it found or None, the anomalies it logged).  Declining (None) must log nothing;
    an answer must equal the general path's parts and URLs, and the whole log its log."""
    log = AnomalyLog(limits.max_anomalies_per_kind)
    parses = HeaderParses()
    crlf_only = _scan_line_ends(raw, log)
    block = split_header_block(raw, limits, log, parses, crlf_only)
    if block.items is None or not crlf_only:
        return None
    before = log.freeze()
    found = shortcut(raw, block, limits, log, parses)
    general_log = AnomalyLog(limits.max_anomalies_per_kind)
    expected = _general(raw, limits, general_log)
    if found is None:
        assert log.freeze() == before, raw  # nothing logged before declining
        return None, ()
    assert found == expected, (raw, limits)
    assert log.freeze() == general_log.freeze(), (raw, limits)
    return found, log.freeze()[len(before):]


def test_single_part_records_what_the_walk_of_the_stdlib_root_records():
    cut = replace(DEFAULT_LIMITS, max_part_decoded_bytes=5, mail_preview_chars=3,
                  max_mail_header_bytes=40)
    nothing = replace(DEFAULT_LIMITS, max_mime_parts=0)
    shallow = replace(DEFAULT_LIMITS, max_mime_depth=-1)
    direct = declined = 0
    for raw in _messages() + _EXTRA:
        for limits in (DEFAULT_LIMITS, cut, nothing, shallow):
            outcome = _against_general(raw, limits, _single_part)
            if outcome is None:
                continue
            if outcome[0] is None:
                declined += 1
            else:
                direct += 1
    assert direct > 200
    assert declined > 100


def test_leaf_parts_record_what_the_walk_of_the_stdlib_tree_records():
    cut = replace(DEFAULT_LIMITS, max_part_decoded_bytes=5, mail_preview_chars=3,
                  max_mail_header_bytes=60)
    few = replace(DEFAULT_LIMITS, max_mime_parts=2)
    shallow = replace(DEFAULT_LIMITS, max_mime_depth=0)
    direct = declined = embedded = 0
    noted: set[str] = set()
    for raw in _messages() + _EXTRA + _MULTIPART:
        for limits in (DEFAULT_LIMITS, cut, few, shallow):
            outcome = _against_general(raw, limits, _leaf_parts)
            if outcome is None:
                continue
            found, logged = outcome
            if found is None:
                declined += 1
                continue
            direct += 1
            assert len(found[0]) > 1, raw
            noted.update(a.kind for a in logged)
            embedded += any(part.message is not None for part in found[0])
    assert direct > 60
    assert embedded > 10  # message/rfc822 parts and their leaves
    assert declined > 300
    # the anomalies of part headers and bodies are recorded on the direct path too
    assert {"header_bytes_limit", "undecodable_charset", "bad_base64"} <= noted
