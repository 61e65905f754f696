"""The reader of unstructured values with RFC 2047 encoded words against the stdlib.

:func:`smtpsniff.mail.simple.simple_value` of an unstructured field (Subject, ...) answers values
made of printable ASCII words and whole "B" or "Q" encoded words without the stdlib's parser.
Every answer must equal ``str()`` of the stdlib header ``email.policy.default`` builds, and the
stdlib must record no defect for that value; this is checked on generated values (encoded words
of random UTF-8 text, mixed with plain words), on seeded mutations of them (spaces doubled,
padding cut, bytes that are not base64 or not UTF-8, other charsets and encodings, control
characters), and on every unstructured field of the recorded clients' messages.
"""
from __future__ import annotations

import base64
import random

from mail_oracles import captures_with_sidecars, recorded_header_fields

from smtpsniff.mail import parse_message
from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import MAIL_POLICY, HeaderParses, decode_value
from smtpsniff.mail.simple import simple_value

STDLIB = MAIL_POLICY.header_factory
_TEXTS = ["–", "résumé", "Rapport", "café", "naïve", "x", "Zoë", "Ελλάδα", "à", "–", "résumé", "pièces", "日本語", "Grüße", " ", "a b", "x\ty", "\u00a0", "\x00", "\x7f",
          "\u2028", "=?", "?=", "😀", "", "Ω", "über alles", "\r\n", "\ufeff", "ß"]
_NOISE = [" ", "  ", "\t", "=", "?", "==", "=?", "?=", "\x01", "é", "A", "!", "_", "*en"]


def _encoded(rng: random.Random) -> str:
    text = "".join(rng.choice(_TEXTS) for _ in range(rng.randint(0, 3)))
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        data += bytes([rng.randrange(128, 256)])  # not UTF-8
    encoded = base64.b64encode(data).decode("ascii")
    roll = rng.random()
    if roll < 0.1:
        encoded = encoded.rstrip("=")  # padding the stdlib repairs, with a defect
    elif roll < 0.15:
        encoded = encoded + "="
    charset = rng.choice(["utf-8", "UTF-8", "utf-8", "utf-8", "Utf-8", "iso-8859-1", "utf-8*fr",
                          "bogus"])
    cte = rng.choice(["b", "B", "b", "b", "q"])
    return f"=?{charset}?{cte}?{encoded}?="


def _value(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.5:
            words.append(_encoded(rng))
        else:
            words.append(rng.choice(["Rapport", "trimestriel", "jointes", "Re:", "[x]", "a=b",
                                     "q?", "é", "(c)", "x\x01"]))
    value = " ".join(words)
    for _ in range(rng.randint(0, 2) if rng.random() < 0.4 else 0):
        at = rng.randint(0, len(value))
        value = value[:at] + rng.choice(_NOISE) + value[at:]
    return value


def _check(name: str, value: str) -> bool:
    """Assert the reader agrees with the stdlib (and decode_value with both); True if it
    answered."""
    fast = simple_value(STDLIB[name], value)
    header = STDLIB(name, value)
    log = AnomalyLog(100)
    assert decode_value(name, value, log, HeaderParses()) == str(header), (name, value)
    defects = header._parse_tree.all_defects  # (an unstructured header keeps none of its own)
    if defects:  # what the stdlib finds wrong in the value is recorded ...
        assert log.freeze(), (name, value, defects)
    elif "=?" not in value:  # ... and nothing else (but a charset a word seems to name, checked apart)
        assert not log.freeze(), (name, value)
    if fast is None:
        return False
    assert header.defects == () and defects == [], (name, value)
    assert fast == str(header), (name, value)
    assert not log.freeze(), (name, value)
    return True


def test_generated_values_agree_with_the_stdlib():
    rng = random.Random(20261129)
    values = [_value(rng) for _ in range(6000)]
    answered = sum(_check(rng.choice(["Subject", "Comments", "X-Note"]), v) for v in values)
    encoded_answered = sum("=?" in v and simple_value(STDLIB["Subject"], v) is not None
                           for v in values)
    assert encoded_answered > 150  # the reader takes encoded words, not only plain values
    assert answered < len(values)  # and leaves others to the stdlib


def test_recorded_unstructured_fields_agree_with_the_stdlib():
    checked = 0
    for name, value in recorded_header_fields(("subject", "comments", "x-mailer", "thread-topic")):
        _check(name, value)
        checked += 1
    assert checked or not captures_with_sidecars()


def test_the_common_shapes_are_answered():
    for value in ("Rapport trimestriel =?utf-8?b?4oCTIHLDqXN1bcOpIGV0IHBpw6hjZXM=?= jointes",
                  "=?UTF-8?B?w6k=?= =?utf-8?b?w6k=?=",  # the space between two is dropped
                  "=?utf-8?b?w6k=?=",
                  "a  =?utf-8?b?w6k=?=",  # two spaces, kept
                  "=?iso-8859-1?b?6Q==?=",
                  "=?utf-8?q?caf=C3=A9?=\t=?UTF-8?Q?_au_lait?="):  # the tab between two is dropped
        assert _check("Subject", value), value
    for value in ("=?utf-8?b?w6k?=",  # padding repaired by the stdlib, with a defect
                  "=?utf-8?b?AA==?=",  # a NUL: a defect
                  "=?utf-8?b?/w==?=",  # not UTF-8
                  "=?bogus?b?6Q==?=",  # unknown charset
                  "x=?utf-8?b?w6k=?="):
        assert not _check("Subject", value), value


def _subject_of(value: bytes):
    return parse_message(b"From: a@example.test\r\nDate: Tue, 04 Jun 2024 10:15:00 +0000\r\n"
                         b"Subject: " + value + b"\r\n\r\nbody\r\n")


def test_what_the_stdlib_finds_wrong_in_a_subject_is_recorded():
    """RFC 2047 section 6.3 has a reader show what it cannot decode; the analyst learns that it
    was there.  The stdlib's unstructured header finds these and does not keep them."""
    for value, subject, kinds in (
            (b"=?utf-8?B?###?=", "", ["bad_base64"]),  # nothing left of it to show
            (b"=?utf-8?B?SGVsbG8?=", "Hello", ["bad_base64"]),  # padding repaired
            (b"=?utf-8?Q?caf=E9?=", "caf\ufffd", ["undecodable_bytes", "undecodable_bytes"]),
            (b"pre=?utf-8?B?SGVsbG8=?=", "preHello", ["header_invalid"]),  # glued to a word (section 5)
            (b"hello\x01world", "hello\x01world", ["header_nonprintable"]),
            (b"=?no-such-charset?Q?a?=", "a", ["undecodable_charset"]),  # once, not twice
            (b"=?utf-8?B?SGVsbG8=?= world", "Hello world", []),
            (b"a\tb", "a\tb", [])):
        parsed = _subject_of(value)
        assert parsed.subject == subject, value
        assert [a.kind for a in parsed.anomalies] == kinds, (value, parsed.anomalies)
        assert all(a.message.startswith("Subject header: ") for a in parsed.anomalies)
    message = _subject_of(b"=?utf-8?B?###?=").anomalies[0].message
    assert message == "Subject header: InvalidBase64CharactersDefect"  # the class said once
    glued = _subject_of(b"a=?utf-8?B?SGk=?=b=?utf-8?B?SGk=?=c")  # each defect once, counted
    assert glued.subject == "aHibHic"
    assert [a.message for a in glued.anomalies] == [
        "Subject header: missing whitespace before encoded word (InvalidHeaderDefect), 2 times",
        "Subject header: missing trailing whitespace after encoded-word (InvalidHeaderDefect), 2 times"]
