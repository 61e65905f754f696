"""The mail parser's shortcuts against the general paths beside them, on the same entities.

* part and embedded-message headers (``headers_from_stdlib``): the ASCII one-line fields made
  without the round trip through bytes must equal what ``make_header`` makes of every field;
* ``_simple_getters`` (Content-Type and Content-Disposition fetched in one pass over the fields)
  must answer what the stdlib's getters answer on the same tree;
* :mod:`smtpsniff.mail.getters` must answer what ``Message.get``, ``get_content_type`` and
  ``get_boundary`` answer (or raise what they raise);
* mailboxes read once per message (``HeaderParses.mailboxes``): the decoded values, addresses
  and anomalies must equal those read without the message's ``HeaderParses``.

Inputs: the messages of test_mail_stdlib_tree (recorded clients' messages, hand-made shapes and
their seeded mutations: folds, 8-bit bytes, bare CR/LF, repeated fields), parsed by the stdlib.
"""
from __future__ import annotations

import random
from dataclasses import replace
from email.parser import BytesParser

from test_mail_simple_headers import _ADDRESS_FIELDS, _mailbox_list, _mutated
from test_mail_stdlib_tree import _messages

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail import getters
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import (
    MAIL_POLICY,
    HeaderParses,
    addresses,
    decode_value,
    headers_from_stdlib,
    make_header,
)
from smtpsniff.mail.mime import _simple_getters
from smtpsniff.mail.model import Header

_EXTRA = [
    b"Content-Type: text/plain;\r\n charset=utf-8\r\nContent-type: text/html\r\n\r\nx\r\n",
    (b"CONTENT-TYPE: text/plain; name=\"a b\"\r\n"
     b"content-disposition: attachment;\r\n\tfilename=x\r\n\r\nx\r\n"),
    b"Content-Disposition: inline\r\nContent-Type: image/png; name=\"p.png\"\r\n\r\nx\r\n",
    b"X-Colon: a: b\r\nX-Blank:   \t  lead\r\nX-8bit: caf\xc3\xa9\r\nX-Bad: \xff\r\n\r\nx\r\n",
    b"Content-Type:\r\n text/plain\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n",
    b"Content-Type: multipart/mixed; Boundary=\"<a b>\"; boundary=c\r\n\r\n--<a b>\r\n\r\nx\r\n",
    b"Content-Type: multipart/mixed; boundary=\"a \"\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n",
    b"Content-Type: multipart/mixed; boundary=\"a\\\"b\"\r\n\r\n--a\"b\r\n\r\nx\r\n",
    b"Content-Type: multipart/mixed; boundary*0=a; boundary*1=b\r\n\r\n--ab\r\n\r\nx\r\n",
    b"Content-Type: multipart/mixed; charset=x\r\nContent-Transfer-Encoding: BASE64\r\n\r\nx\r\n",
    b"Content-Type: multipart/mixed;\r\n\tboundary=\"b\"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
]


def _trees() -> list:
    policy = MAIL_POLICY.clone(header_factory=HeaderParses())
    return [BytesParser(policy=policy).parsebytes(raw) for raw in _messages() + _EXTRA]


def _by_make_header(entity, limits, log, where, parses) -> tuple[Header, ...]:
    """headers_from_stdlib through make_header for every field (the general path)."""
    headers: list[Header] = []
    total = 0
    for name, value in entity.raw_items():
        whole = (name + ": " + (value if isinstance(value, str) else str(value))).encode(
            "utf-8", "surrogateescape")
        total += len(whole) + 2
        if total > limits.max_mail_header_bytes:
            log.add("header_bytes_limit", f"headers of {where} exceed max_mail_header_bytes="
                    f"{limits.max_mail_header_bytes}; the rest were counted, not kept")
            break
        headers.append(make_header(len(headers), name.encode("ascii", "replace"), whole, log,
                                   parses))
    return tuple(headers)


def test_part_headers_equal_make_headers():
    small = replace(DEFAULT_LIMITS, max_mail_header_bytes=60)
    shortcut = 0
    for tree in _trees():
        for entity in tree.walk():
            for limits in (DEFAULT_LIMITS, small):
                logs = [AnomalyLog(limits.max_anomalies_per_kind) for _ in range(2)]
                ours = headers_from_stdlib(entity, limits, logs[0], "MIME part 1", HeaderParses())
                general = _by_make_header(entity, limits, logs[1], "MIME part 1", HeaderParses())
                assert ours == general, entity.raw_items()
                assert [type(h.name) for h in ours] == [str] * len(ours)
                assert logs[0].freeze() == logs[1].freeze(), entity.raw_items()
                shortcut += sum(h.raw.isascii() and b"\r" not in h.raw for h in ours)
    assert shortcut > 1000


def _stdlib_getters(entity) -> tuple:
    name = entity.get_param("name")
    return (entity.get_content_type(), entity.get_content_disposition(), entity.get_filename(),
            name if isinstance(name, str) else None, entity.get_content_charset())


def test_simple_getters_equal_the_stdlib_getters_on_parsed_trees():
    answered = 0
    for tree in _trees():
        for entity in tree.walk():
            expected = _outcome(lambda e=entity: _stdlib_getters(e))
            found = _simple_getters(entity)
            if found is not None:
                answered += 1
                assert found == expected, entity.raw_items()
    assert answered > 500


def test_mailboxes_read_once_per_message_read_as_before():
    rng = random.Random(5322)
    values = [_mutated(rng, _mailbox_list(rng)) for _ in range(1500)]
    values += ["", "a@b, a@b", "A <a@b>, a@b", "undisclosed-recipients:;", "<>", "a@b (c)"]
    for value in values:
        name = rng.choice(_ADDRESS_FIELDS)
        logs = [AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind) for _ in range(2)]
        parses = HeaderParses()
        found = []
        for log, reads in ((logs[0], parses), (logs[0], parses), (logs[1], None), (logs[1], None)):
            decoded = decode_value(name, value, log, reads)
            header = Header(index=0, name=name, raw=b"", raw_value=value, value=decoded)
            found.append((decoded, addresses(header, log, reads)))
        assert found[0] == found[1] == found[2] == found[3], value
        assert logs[0].freeze() == logs[1].freeze(), value


def test_distinct_addresses_are_the_addresses_without_repeats():
    """addresses(distinct=True) (simple values made distinct as pairs) against the addresses
    without it made distinct as records, with the same anomalies, with and without the
    message's HeaderParses; on lists with repeats (in other spellings too) and other names."""
    rng = random.Random(6532)
    values = []
    for _ in range(1500):
        value = _mailbox_list(rng)
        items = value.split(",")
        value = ",".join(items + [rng.choice(items) for _ in range(rng.randint(0, 3))])
        values.append(_mutated(rng, value) if rng.random() < 0.5 else value)
    values += ["a@b, a@b", "A <a@b>, a@b, <a@b>, A <a@b>", '"A" <a@b>, A <a@b>, a@b (c), a@b',
               "g: a@b, a@b;, a@b", "<>, a@b, a@b"]
    repeated = 0
    for value in values:
        name = rng.choice(_ADDRESS_FIELDS + ("Subject",))
        header = Header(index=0, name=name, raw=b"", raw_value=value, value=value)
        for reads in (HeaderParses(), None):
            logs = [AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind) for _ in range(2)]
            every = addresses(header, logs[0], reads)
            distinct = addresses(header, logs[1], reads, distinct=True)
            assert distinct == tuple(dict.fromkeys(every)), value
            assert logs[0].freeze() == logs[1].freeze(), value
            repeated += len(distinct) < len(every)
    assert repeated > 500


def _outcome(call) -> object:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001  # the same exception must come from both
        return repr(exc)


def test_getters_answer_as_the_stdlib_getters():
    names = ("content-type", "content-disposition", "content-transfer-encoding", "subject",
             "from", "x-absent")
    checked = 0
    for tree in _trees():
        for entity in tree.walk():
            checked += 1
            for lname in names:
                assert _outcome(lambda e=entity, n=lname: getters.get(e, n, "failed")) == (
                    _outcome(lambda e=entity, n=lname: e.get(n, "failed"))), (
                    lname, entity.raw_items())
            assert _outcome(lambda e=entity: getters.content_type(e)) == _outcome(
                entity.get_content_type), entity.raw_items()
            assert _outcome(lambda e=entity: getters.boundary(e)) == _outcome(
                entity.get_boundary), entity.raw_items()
    assert checked > 1000


def _forwarded(inner_subject: bytes) -> bytes:
    return (b"From: a@example.test\r\nDate: Tue, 04 Jun 2024 10:15:00 +0000\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
            b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.test\r\n"
            b"Subject: " + inner_subject + b"\r\nTo: d@example.test\r\n\r\ninner body\r\n--b--\r\n")


def test_embedded_message_headers_read_once_or_twice_alike():
    """The headers of an embedded message are read for its summary and taken again for its own
    part only when reading them recorded nothing: part and summary hold the same headers, and an
    anomaly of theirs is recorded for each, as when both are read."""
    from smtpsniff.mail import parse_message

    for subject, kinds in ((b"plain", []),
                           (b"=?x-no-such-charset?q?a?=", ["undecodable_charset"] * 2)):
        parsed = parse_message(_forwarded(subject))
        part = next(p for p in parsed.parts if p.path == "1.2.1")
        container = next(p for p in parsed.parts if p.path == "1.2")
        assert part.headers == container.message.headers
        assert [h.name for h in part.headers] == ["From", "Subject", "To"]
        assert [a.kind for a in parsed.anomalies] == kinds


def test_delimiter_lines_are_the_lines_that_match():
    """multipart._delimiter_lines (found with str.find) against every line tried in turn."""
    import re

    from smtpsniff.mail.multipart import _delimiter_lines

    rng = random.Random(2046)
    pieces = ["--b", "--b--", "--b \t", "--bb", "x--b", "\r\n", "\r", "\n", " ", "--", "b", "x",
              "--b--\t", "---b", "--b-", "\r\n--b", "--b\r\n", "--b -- ", "--b---", "--b--x",
              "--b\t--", "--b-- --", "\t"]
    found = 0
    for _ in range(3000):
        separator = rng.choice(["b", "b.", "a(b)*", "b--", "b "])
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))).replace(
            "b", separator)
        delimiter = re.compile(re.escape("--" + separator) + r"(--)?[ \t]*").fullmatch
        expected = [(number, delimiter(line).group(1) is not None)
                    for number, line in enumerate(body.split("\r\n")) if delimiter(line)]
        found_here = _delimiter_lines(body, separator)
        assert [(body.count("\r\n", 0, start), close) for start, _, close in found_here
                ] == expected, (body, separator)
        for start, end, _ in found_here:  # each is the whole line
            assert body[start - 2:start] in ("", "\r\n") and body[end:end + 2] in ("", "\r\n")
            assert "\r\n" not in body[start:end]
        found += bool(expected)
    assert found > 400


def test_header_classes_by_spelling_are_the_stdlib_ones():
    """Names found by exact spelling get the class (and reading) their lower-case form gets from
    the stdlib's registry, as any other spelling of them does."""
    from email import policy

    from smtpsniff.mail.headers import _HEADER_FACTORY, _SPELLINGS, _reading

    stdlib = policy.default.header_factory
    for name in _SPELLINGS:
        for spelling in (name, name.lower(), name.upper(), name.swapcase()):
            ours = _HEADER_FACTORY[spelling]
            assert ours.__mro__[1] is stdlib[spelling].__mro__[1], spelling
            assert _reading(ours) == _reading(_HEADER_FACTORY[spelling.lower()]), spelling
        assert _HEADER_FACTORY.readings[name] == _reading(_HEADER_FACTORY[name]), name
