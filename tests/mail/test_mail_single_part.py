"""The single-part shortcut (``mime.single_part``) against the general path it stands for.

For a clean message that is neither multipart nor message/*, ``parse_message`` records the one
MIME part without building the stdlib root; what it records must equal what :func:`walk` records
of the root ``_stdlib_tree`` builds (every :class:`MimePart` field, the URLs, the anomalies in
order), and it must decline (None, nothing logged) wherever the general path would go another
way.  Inputs: the messages of test_mail_stdlib_tree (recorded clients' messages, hand-made shapes
and their seeded mutations), hand-made Content-Type and Content-Disposition shapes, and each
under limits that list nothing or cut bodies.
"""
from __future__ import annotations

from dataclasses import replace

from test_mail_stdlib_tree import _messages

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import MAIL_POLICY, HeaderParses, split_header_block
from smtpsniff.mail.mime import single_part, walk
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
)]


def _general(raw: bytes, limits, log: AnomalyLog) -> tuple:
    parses = HeaderParses()
    crlf_only = _scan_line_ends(raw, log)
    block = split_header_block(raw, limits, log, parses, crlf_only)
    root = _stdlib_tree(raw, block, MAIL_POLICY.clone(header_factory=parses), crlf_only)
    return walk(root, block.headers, limits, log, parses)


def test_single_part_records_what_the_walk_of_the_stdlib_root_records():
    cut = replace(DEFAULT_LIMITS, max_part_decoded_bytes=5, mail_preview_chars=3,
                  max_mail_header_bytes=40)
    nothing = replace(DEFAULT_LIMITS, max_mime_parts=0)
    shallow = replace(DEFAULT_LIMITS, max_mime_depth=-1)
    direct = declined = 0
    for raw in _messages() + _EXTRA:
        for limits in (DEFAULT_LIMITS, cut, nothing, shallow):
            log = AnomalyLog(limits.max_anomalies_per_kind)
            parses = HeaderParses()
            crlf_only = _scan_line_ends(raw, log)
            block = split_header_block(raw, limits, log, parses, crlf_only)
            if block.items is None or not crlf_only:
                continue
            before = log.freeze()
            found = single_part(block.items, raw[block.body_offset:], block.headers, limits, log,
                                parses)
            general_log = AnomalyLog(limits.max_anomalies_per_kind)
            expected = _general(raw, limits, general_log)
            if found is None:
                declined += 1
                assert log.freeze() == before, raw  # nothing logged before declining
                continue
            direct += 1
            assert found == expected, (raw, limits)
            assert log.freeze() == general_log.freeze(), (raw, limits)
    assert direct > 200
    assert declined > 100
