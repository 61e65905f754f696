"""The stdlib tree parse_message walks, against its oracle: ``email.parser.BytesParser``.

smtpsniff.mail.parse builds the tree of a clean single-part message itself (no line-by-line
read), and smtpsniff.mail.multipart the parts of a clean multipart one; every entity of it must equal what the stdlib parser makes of the same bytes: headers,
payload, defects, default type, preamble and epilogue.  Inputs: the messages the recorded clients
sent (tests/data sidecars) and seeded mutations of them and of hand-made shapes (folds, 8-bit
bytes, bare CR/LF, stray lines, mbox From lines, no body, no empty line, multipart, message/rfc822,
a Content-Type the stdlib cannot read, multipart bodies with preambles, epilogues, odd boundaries,
nested parts, missing or repeated delimiters).
"""
from __future__ import annotations

import random
from dataclasses import replace
from email.parser import BytesParser

from mail_oracles import captures_with_sidecars, sent_messages

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import (
    MAIL_POLICY,
    HeaderParses,
    _clean_header_block,
    _header_block_by_lines,
    split_header_block,
)
from smtpsniff.mail.multipart import attach_parts
from smtpsniff.mail.parse import _scan_line_ends, _stdlib_tree

_SHAPES = [
    b"From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
    b"Subject: folded\r\n  over\r\n\ttwo lines\r\nX-Empty:\r\nX-Space: \r\n \r\n\r\nbody",
    b"Subject: no body\r\n",
    b"Subject: no line end",
    b"\r\nbody only\r\n",
    b"",
    b"Subject: 8-bit \xe9\xff\r\nX-Nul: a\x00b\r\n\r\n\xe9 body \x00\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
    b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n",
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nAction: failed\r\n",
    b"Content-Type: (((((((((((((((((((((((((((((((\r\n\r\nbody\r\n",
    b"Content-Type: text/plain; name*0*=utf-8''a%C3; name*1=\".txt\"\r\n\r\nbody\r\n",
    b"From sender@example.test Mon Jan  1 00:00:00 2024\r\nSubject: mbox\r\n\r\nbody\r\n",
    b"Subject: a\r\nnot a field\r\n\r\nbody\r\n",
    b"Subject: a\r\n continuation only first\r\nX: y\nZ: bare LF\r\n\r\nbody\r",
]
_B = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
_MULTIPART = [
    _B + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n\r\nno headers\r\n--b--\r\n",
    _B + b"preamble\r\n\r\n--b \t\r\nX: a\r\n folded\r\n\r\n\r\n\r\n--b--  \r\nepilogue\r\n\r\n",
    _B + b"--b\r\n\r\n--b--",
    _B + b"--b\r\nA: 1\r\n\r\nbody \xe9\x00\r\n--bx\r\n--b--x\r\n--b---\r\n--b--\r\n\r\n",
    _B + b"--b\r\nA: 1\r\n\r\none\r\n--b\r\n--b\r\nB: 2\r\n\r\ntwo\r\n--b--\r\n",
    _B + b"--b--\r\n--b\r\nA: 1\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nA: 1\r\n\r\nno close\r\n",
    _B + b"--b\r\nA: 1\r\n--b--\r\n",
    _B + b"--b\r\nA: 1\r\n",
    _B + b"--b\r\n folded first\r\nA: 1\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nX-Tab:\t \tvalue\r\nContent-Type:\ttext/plain\r\nX-Empty:\r\nX-Blank: \t\r\n"
         b"\t\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nFrom x\r\nA: 1\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\n: no name\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nnot a field\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n"
         b"\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: (((\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\n\r\nno headers\r\n\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: no empty line\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom x\r\nA: 1\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nA: 1\r\nnot a field\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=c"
         b"\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"
         b"A: 1\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: message/global\r\n\r\nSubject: \xc3\xa9\r\n folded\r\n\r\n\xc3\xa9\r\n"
         b"--b\r\nContent-Type: message/delivery-status\r\n\r\nA: 1\r\n\r\nB: 2\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: Message/RFC822\r\n\r\nA: 1\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    (b"Content-Type: multipart/mixed; boundary=\"a: (b)*+?.[\"\r\n\r\n--a: (b)*+?.[\r\nX: 1\r\n\r\n"
     b"x\r\n--a: (b)*+?.[--\r\n"),
    b"Content-Type: multipart/mixed; boundary=\"b: c\"\r\n\r\n--b: c\r\nX: 1\r\n--b: c--\r\n",
    b"Content-Type: multipart/mixed; boundary=b--\r\n\r\n--b--\r\n\r\nx\r\n--b----\r\n",
    b"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nSubject: x\r\n\r\ny\r\n--b--\r\n",
    (b"Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     b"--b\r\n\r\nx\r\n--b--\r\n"),
    b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    b"Content-Type: multipart/mixed; boundary*0=b; boundary*1=c\r\n\r\n--bc\r\n\r\nx\r\n--bc--\r\n",
]
_C = b"Content-Type: multipart/alternative; boundary=c\r\n\r\n"
_NESTED = [  # multiparts within multiparts: epilogues, preambles, blank lines, odd inner bodies
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nx\r\n--c--\r\n\r\n\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nx\r\n--c--\r\nepi\r\n\r\nlogue\r\n--b\r\n\r\ny\r\n--b--",
    _B + b"--b\r\n" + _C + b"pre\r\n\r\n--c\r\nA: 1\r\n\r\nx\r\n--c\r\n\r\ny\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nx\r\n--c--  \r\n--b\r\n" + _C
         + b"--c\r\n\r\nz\r\n--c--\r\n--b--\r\nend\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nno inner close\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--b\r\n\r\nx\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n\r\nx\r\n--c--",
    _B + b"--b\r\n" + _C[:-4] + b"\r\n\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: multipart/related\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: multipart/digest; boundary=c\r\n\r\n--c\r\n\r\nA: 1\r\n\r\nx\r\n"
         b"--c--\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\nContent-Transfer-Encoding: base64"
         b"\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\nContent-Type: multipart/related; boundary=d\r\n\r\n--d\r\n"
         b"Content-Type: message/rfc822\r\n\r\nA: 1\r\n\r\nx\r\n--d--\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\n" + _C + b"--c\r\n" + _B + b"--b\r\n\r\nx\r\n--b--\r\n--c--\r\n--b--\r\n",
    _B + b"--b\r\nContent-Type: multipart/alternative; boundary=bc\r\n\r\n--bc\r\n\r\nx\r\n--bc--"
         b"\r\n--b--\r\n",
    # deeper than attach_parts reads: the parser decides
    b"".join(b"Content-Type: multipart/mixed; boundary=%d\r\n\r\n--%d\r\n" % (i, i) for i in range(12))
    + b"\r\nx\r\n" + b"".join(b"--%d--\r\n" % i for i in reversed(range(12))),
]
_SHAPES += _MULTIPART + _NESTED
_NOISE = [b"\r\n", b"\n", b"\r", b"\r\n ", b"\r\n\t", b" ", b":", b"\x00", b"\xe9", b"\r\n\r\n",
          b"From ", b"Content-Type: multipart/alternative; boundary=z\r\n", b"--z\r\n", b"=?",
          b"--b\r\n", b"--b--", b"\r\n--b\r\n", b"\r\n--b--\r\n", b"--", b"X: 1\r\n",
          b"--c\r\n", b"\r\n--c--\r\n", b"--c--", _C]


def _messages() -> list[bytes]:
    base = list(_SHAPES)
    for capture in captures_with_sidecars():
        base.extend(message["bytes"] for message in sent_messages(capture))
    rng = random.Random(5322)
    out = list(base)
    for raw in base:
        for _ in range(6):
            mutated = bytearray(raw)
            for _ in range(rng.randint(1, 3)):
                at = rng.randint(0, len(mutated))
                mutated[at:at] = rng.choice(_NOISE)
            out.append(bytes(mutated))
    return out


def _entities(message) -> list[dict]:
    """Every entity of a tree as a comparable dict (defects by class and text)."""
    out = []
    for entity in message.walk():
        state = {k: v for k, v in vars(entity).items() if k not in ("policy", "defects", "_payload")}
        payload = entity._payload
        state["payload"] = payload if isinstance(payload, str) else len(payload)
        state["defects"] = [(type(d).__name__, str(d)) for d in entity.defects]
        out.append(state)
    return out


def test_tree_equals_the_stdlib_parsers():
    built_here = split_here = nested_here = 0
    for raw in _messages():
        parses = HeaderParses()
        log = AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind)
        crlf_only = _scan_line_ends(raw, log)
        block = split_header_block(raw, DEFAULT_LIMITS, log, parses)
        policy = MAIL_POLICY.clone(header_factory=parses)
        expected = BytesParser(policy=policy).parsebytes(block.for_stdlib)
        try:
            expected_entities = _entities(expected)
        except Exception as exc:  # noqa: BLE001  # the oracle itself fails: so must we
            expected_entities = repr(exc)
        tree = _stdlib_tree(raw, block, policy, crlf_only)
        try:
            entities = _entities(tree)
        except Exception as exc:  # noqa: BLE001
            entities = repr(exc)
        assert entities == expected_entities, raw
        if block.fields is not None and crlf_only:
            root = policy.message_factory(policy=policy)
            for whole in block.fields:
                root.set_raw(*policy.header_source_parse([whole.decode("ascii", "surrogateescape")]))
            try:
                multipart = root.get_content_maintype() == "multipart" and attach_parts(
                    root, raw[block.body_offset:].decode("ascii", "surrogateescape"), policy)
            except Exception:  # noqa: BLE001  # the stdlib's getters raise: the fallback decides
                multipart = False
            built_here += not tree.is_multipart()
            split_here += multipart
            nested_here += multipart and any(p.is_multipart() for p in root.get_payload())
    assert built_here > 50  # the direct builds are exercised, not only the fallback
    assert split_here > 40
    assert nested_here > 15  # and multiparts within multiparts


def test_clean_header_blocks_split_as_line_by_line():
    """A header block that needs no repair is split field by field; headers, offsets, field bytes
    and anomalies (long lines, header limit, 8-bit values) must equal the line-by-line split's,
    and its (name, value) items what the stdlib's ``header_source_parse`` makes of each field."""
    small = replace(DEFAULT_LIMITS, max_mail_header_bytes=120)
    long_line = b"X-Long: " + b"y" * 1000 + b"\r\n"
    extra = [b"Subject: a\r\n" + long_line + b"X: \xe9\xff\r\n\r\nbody\r\n",
             b"A: 1\r\n folded\r\n\tagain\r\nB:\r\nC: 3\r\n\r\n\r\n\r\n",
             b"A: 1\r\n\r\n", b"A:\r\n \t\r\nB: \t\xc3\xa9\r\n x\r\nC:\t \r\n\r\n",
             b"A: 1\r\nB : 2\r\n\r\n", b"A: 1\r\n\r\nB:2\r\n", b"A: 1\r\nB\r\n\r\n",
             b"A: 1\r\n:B\r\n\r\n", b"A: 1\r\n\x7f: 2\r\n\r\n", b"A: 1\r\nB:\xe9\r\n\r\n"]
    fast = 0
    for raw in _messages() + extra:
        for limits in (DEFAULT_LIMITS, small):
            logs = [AnomalyLog(limits.max_anomalies_per_kind) for _ in range(2)]
            clean = _clean_header_block(raw, limits, logs[0], HeaderParses())
            crlf_only = raw.count(b"\r\n") == raw.count(b"\r") == raw.count(b"\n")
            if crlf_only:  # the same when told that every line of raw ends in CRLF
                told = AnomalyLog(limits.max_anomalies_per_kind)
                assert _clean_header_block(raw, limits, told, HeaderParses(), True) == clean, raw
                assert told.freeze() == logs[0].freeze(), raw
            if clean is None:
                assert not logs[0].freeze(), raw  # nothing logged before giving up
                continue
            fast += 1
            assert replace(clean, items=None) == _header_block_by_lines(
                raw, limits, logs[1], HeaderParses()), raw
            assert list(clean.items) == [  # what the stdlib parser stores for each field
                MAIL_POLICY.header_source_parse([whole.decode("ascii", "surrogateescape")])
                for whole in clean.fields], raw
            assert logs[0].freeze() == logs[1].freeze(), raw
    assert fast > 100
