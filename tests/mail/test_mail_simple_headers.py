"""smtpsniff.mail.simple against its oracle, the stdlib's ``email.policy.default`` header classes.

For every value the simple path answers, the stdlib must build the same ``str`` with no defects,
and (address fields) the same mailboxes; values outside the subset must be left to the stdlib.
Inputs: the header fields of every message the recorded clients sent (tests/data sidecars), and
values generated from the grammar's pieces and their neighbours (quotes, comments, encoded words,
groups, white space, 8-bit), from a fixed seed.
"""
from __future__ import annotations

import random
from email import policy
from email.parser import BytesParser

import pytest
from mail_oracles import recorded_header_fields

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import MAIL_POLICY, HeaderParses, decode_value, parse_date
from smtpsniff.mail.mime import _simple_getters
from smtpsniff.mail.simple import simple_mailboxes, simple_value

STDLIB = policy.default.header_factory

_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_NOISE = ['"', "(", ")", "\t", "=?", "?=", "\u00e9", "\x00", "\x7f", "[", "]", ":", ";", "\\", "  ",
          "\x0b", "\ud800", " <", "> ", ",", ", ", ".", "..", "@", "<>", "=?utf-8?q?x?=", "*", "'",
          "%", "=", "/", "*0*", "''"]
_DATES = ["Tue, 04 Jun 2024 10:15:00 +0000", "4 Jun 2024 10:15 -0000", "Tue, 04 Jun 2024 10:15:00",
          "Mon, 32 Jun 2024 10:15:00 +0000", "Tue, 04 Jun 2024 10:15:00 +9999", "not a date", "",
          "Tue, 04 Jun 24 10:15:00 EST", "Tue,  4 Jun 2024 10:15:00 +0530 (IST)",
          "31 Dec 9999 23:59:59 -1200", "01 Jan 0001 00:00:00 +1200"]
_ADDRESS_FIELDS = ("From", "To", "Cc", "Bcc", "Sender", "Reply-To", "Resent-From")
_OTHER_FIELDS = ("Subject", "X-Mailer", "Received", "Message-ID", "MIME-Version",
                 "Content-Transfer-Encoding", "Date", "Content-ID", "Content-Type",
                 "Content-Disposition")
_TOKEN = "abcXYZ019!#$&+.^_`{|}~-"


def _mailbox_list(rng: random.Random) -> str:
    def atom() -> str:
        return "".join(rng.choice(_ATEXT) for _ in range(rng.randint(1, 4)))

    def joined(words: list[str], usual: str) -> str:  # mostly the usual separator, at times not
        seps = [usual] * 6 + [".", " ", "  ", "\t", ". ", ""]
        return "".join(word + rng.choice(seps) for word in words[:-1]) + words[-1]

    def addr_spec() -> str:
        return (joined([atom() for _ in range(rng.randint(1, 2))], ".") + "@"
                + joined([atom() for _ in range(rng.randint(1, 3))], "."))

    def mailbox() -> str:
        shape = rng.randint(0, 2)
        if shape == 0:
            return addr_spec()
        if shape == 1:
            return f"<{addr_spec()}>"
        return joined([atom() for _ in range(rng.randint(1, 3))], " ") + f" <{addr_spec()}>"

    return rng.choice([",", ", "]).join(mailbox() for _ in range(rng.randint(1, 3)))


def _parameterized(rng: random.Random, kind: str) -> str:
    """A Content-Type or Content-Disposition value with some parameters, tokens or quoted."""
    def token() -> str:
        return "".join(rng.choice(_TOKEN) for _ in range(rng.randint(1, 5)))

    def quoted() -> str:
        words = ("".join(rng.choice(_TOKEN + "=;/@:,()<>[]?") for _ in range(rng.randint(1, 4)))
                 for _ in range(rng.randint(1, 3)))
        return '"' + " ".join(words) + '"'

    value = f"{token()}/{token()}" if kind == "Content-Type" else token()
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(["charset", "Charset", "name", "filename", "boundary", "x-y", "a"])
        value += (";" + rng.choice(["", " ", "  ", "\t"]) + name + "="
                  + (token() if rng.random() < 0.5 else quoted()))
    return value


def _mutated(rng: random.Random, value: str) -> str:
    for _ in range(rng.randint(0, 2)):
        at = rng.randint(0, len(value))
        value = value[:at] + rng.choice(_NOISE) + value[at:]
    return value


def _generated(count: int = 8000) -> list[tuple[str, str]]:
    rng = random.Random(20240604)
    out = []
    for _ in range(count):
        name = rng.choice(_ADDRESS_FIELDS + _OTHER_FIELDS)
        if name == "Date":
            value = rng.choice(_DATES)
        elif name in _ADDRESS_FIELDS:
            value = _mailbox_list(rng)
        elif name in ("Content-Type", "Content-Disposition"):
            value = _parameterized(rng, name)
        elif name == "Message-ID":
            value = "<" + _mailbox_list(rng).split(",")[0].strip("<>").split(" <")[-1] + ">"
        else:
            value = "".join(rng.choice(list(_ATEXT) + [" ", ".", "@", "1.0"])
                            for _ in range(rng.randint(0, 12)))
        out.append((name, _mutated(rng, value)))
    return out


def _recorded() -> list[tuple[str, str]]:
    return recorded_header_fields()


def _check(name: str, value: str) -> bool:
    """Assert the simple path agrees with the stdlib; True if it answered."""
    fast = simple_value(STDLIB[name], value)
    boxes = simple_mailboxes(value) if name in _ADDRESS_FIELDS else None
    if fast is None and boxes is None:
        return False
    header = STDLIB(name, value)  # the simple path must not answer a value the stdlib rejects
    assert header.defects == (), (name, value)
    # (an unstructured header keeps its value's defects in its parse tree alone)
    assert header._parse_tree.all_defects == [], (name, value, header._parse_tree.all_defects)
    if fast is not None:
        assert fast == str(header), (name, value)
    if boxes is not None:
        assert boxes == [(a.display_name or "", a.addr_spec) for a in header.addresses], (name, value)
    return True


def test_generated_values_agree_with_the_stdlib():
    answered = sum(_check(name, value) for name, value in _generated())
    assert answered > 1000  # the subset is the common case, not a corner


def test_recorded_header_fields_agree_with_the_stdlib():
    values = _recorded()
    if not values:
        pytest.skip("no recorded messages in tests/data")
    assert sum(_check(name, value) for name, value in values) > 0


@pytest.mark.parametrize(("name", "value"), [
    ("From", "Alice <alice@example.test>"),
    ("To", "bob@example.test, <carol@example.test>,dave@example.test"),
    ("Message-ID", "<smtpsniff-0001@client.example.test>"),
    ("Date", "Tue, 4 Jun 2024 10:15:00 +0200"),
    ("Subject", "Lunch on Friday?"),
    ("Received", "from a (b [192.0.2.1]) by c with ESMTP id X; Tue, 4 Jun 2024 10:15:00 +0000"),
    ("MIME-Version", "1.0"),
    ("Content-Transfer-Encoding", "quoted-printable"),
    ("From", "=?utf-8?q?Ren=C3=A9?= <r@example.test>"),  # RFC 2047 encoded word
    ("Subject", "=?utf-8?q?caf=C3=A9?="),
    ("From", '"Smith, J." <j@example.test>'),  # quoted display name: the stdlib re-renders it
    ("Content-Disposition", "attachment; filename*=utf-8''Rechnung-3-M%C3%A4rz.pdf"),  # RFC 2231
    ("Content-Type", "application/pdf; name*0*=utf-8''M%C3%A4rz; name*1=.pdf"),
])
def test_common_values_take_the_simple_path(name, value):
    assert _check(name, value)


@pytest.mark.parametrize(("name", "value"), [
    ("From", '"Smith, J." <j@example.test> (work)'),  # a comment
    ("From", "=?utf-8?q?Ren=C3=A9?=<r@example.test>"),  # no white space after the encoded word
    ("To", "undisclosed-recipients:;"),  # group syntax
    ("To", "a@example.test (Alice)"),  # comment
    ("To", "J. Smith <j@example.test>"),  # obs-phrase
    ("Subject", "=?utf-8?q?caf=C3=A9?=s"),  # no white space after the encoded word
    ("Message-ID", "<a@b> trailing"),
    ("MIME-Version", "1.0 (produced by x)"),
    ("Date", "yesterday"),
    ("Content-Disposition", "attachment; filename*=utf-8''M%E4rz.pdf"),  # not UTF-8 (a defect)
    ("Content-Disposition", "attachment; filename*=utf-8''%22quoted%22.pdf"),  # escaped quotes
])
def test_other_values_are_left_to_the_stdlib(name, value):
    assert not _check(name, value)


def _getters(entity) -> tuple:
    """What the stdlib's getters read from an entity's Content-Type and Content-Disposition."""
    return (entity.get_content_type(), entity.get_params(), entity.get_param("name"),
            entity.get_filename(), entity.get_boundary(), entity.get_content_charset(),
            entity.get_content_disposition())


def _defects(entity) -> list[tuple[str, str]]:
    return [(type(defect).__name__, str(defect)) for defect in entity.defects]


def test_stdlib_getters_read_the_same_through_header_parses():
    """HeaderParses answers simple Content-Type / Content-Disposition values with plain strings:
    the stdlib's parser and getters must read every entity exactly as with its own headers."""
    rng = random.Random(2045)
    answered = 0
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 3)):
            content_type = _mutated(rng, _parameterized(rng, "Content-Type"))
            disposition = _mutated(rng, _parameterized(rng, "Content-Disposition"))
            answered += simple_value(STDLIB["Content-Type"], content_type) is not None
            parts.append(f"Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n"
                         "\r\nbody\r\n")
        top = f'multipart/mixed; boundary="b1"{rng.choice(["", "; charset=utf-8", "; x"])}'
        raw = ("From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: " + top + "\r\n\r\n"
               + "".join(f"--b1\r\n{part}" for part in parts) + "--b1--\r\n").encode("utf-8", "surrogatepass")
        ours = BytesParser(policy=MAIL_POLICY.clone(header_factory=HeaderParses())).parsebytes(raw)
        stdlib = BytesParser(policy=policy.default).parsebytes(raw)
        assert [_getters(e) for e in ours.walk()] == [_getters(e) for e in stdlib.walk()], raw
        assert [_defects(e) for e in ours.walk()] == [_defects(e) for e in stdlib.walk()], raw
    assert answered > 100


def test_simple_getters_read_what_the_stdlib_getters_read():
    """smtpsniff.mail.mime reads the five getters itself for entities whose Content-Type (and
    Content-Disposition, when there is one) HeaderParses answered with plain strings: each
    answer must equal the stdlib getter's on the stdlib's own tree."""
    rng = random.Random(2183)
    answered = 0
    for _ in range(1000):
        content_type = _mutated(rng, _parameterized(rng, "Content-Type"))
        disposition = _mutated(rng, _parameterized(rng, "Content-Disposition"))
        fields = f"Content-Type: {content_type}\r\n"
        if rng.random() < 0.7:
            fields += f"Content-Disposition: {disposition}\r\n"
        if rng.random() < 0.2:
            fields += f"Content-Type: {_parameterized(rng, 'Content-Type')}\r\n"
        raw = (fields + "\r\nbody\r\n").encode("utf-8", "surrogatepass")
        ours = BytesParser(policy=MAIL_POLICY.clone(header_factory=HeaderParses())).parsebytes(raw)
        found = _simple_getters(ours)
        if found is None:
            continue
        answered += 1
        stdlib = BytesParser(policy=policy.default).parsebytes(raw)
        name = stdlib.get_param("name")
        assert found == (stdlib.get_content_type(), stdlib.get_content_disposition(),
                         stdlib.get_filename(), name if isinstance(name, str) else None,
                         stdlib.get_content_charset()), raw
    assert answered > 100


def test_dates_read_once_per_message_read_as_before():
    """A Date value's decoded text and its parse_date result, with the message's HeaderParses
    (one date read for both) and without it: the same values and anomalies, read twice too."""
    for text in _DATES + ["Tue, 04 Jun 2024 10:15:00 +0000\udcff", "=?utf-8?q?x?=", "1 Jan 2024 x"]:
        logs = [AnomalyLog(DEFAULT_LIMITS.max_anomalies_per_kind) for _ in range(2)]
        parses = HeaderParses()
        with_parses = [(decode_value("Date", text, logs[0], parses),
                        parse_date(text, "Date header", logs[0], parses)) for _ in range(2)]
        without = [(decode_value("Date", text, logs[1]), parse_date(text, "Date header", logs[1]))
                   for _ in range(2)]
        assert with_parses == without, text
        assert logs[0].freeze() == logs[1].freeze(), text


def test_header_parses_simple_answers_as_simple_value():
    """HeaderParses.simple (which returns an unstructured ASCII value without ``=?`` itself)
    answers what simple_value answers, for generated and recorded values and for unstructured
    values with encoded words, 8-bit text and undecodable bytes (surrogate escapes)."""
    odd = ["", " ", "plain", "caf\u00e9", "caf\udce9", "=?utf-8?b?w6k=?=", "a =? b", "a ?= b",
           "=?utf-8?q?x?= y", "x\x00y", "\t", "a\r\n b"]
    values = _generated() + _recorded() + [(name, value) for name in ("Subject", "X-Mailer",
                                                                      "Received", "X-Other")
                                           for value in odd]
    plain = 0
    for name, value in values:
        expected = simple_value(STDLIB[name], value)
        assert HeaderParses().simple(name, value) == expected, (name, value)
        plain += expected == value
    assert plain > 500
