"""``mime.leaf_parts`` on multiparts within multiparts, against the walk of the stdlib tree.

:func:`~smtpsniff.mail.mime.leaf_parts` records a clean multipart message without building the
stdlib tree, nested multiparts (mixed holding alternative, related holding alternative, signed
...) and embedded messages included; the whole :class:`ParsedMessage` (fields, every MIME part
with its path, depth, parent, headers, getters, decoded body and hashes, the URLs, the anomalies
in order) must be what ``parse_message`` gives with its shortcuts declining -- the general path,
which builds the tree ``_stdlib_tree`` builds and walks it with :func:`~smtpsniff.mail.mime.walk`.

Inputs: mail written by the stdlib's own ``email`` package as mail clients write it (text and
HTML alternatives, related inline images, attachments with RFC 2231 file names, forwarded
messages), the messages and nested shapes of test_mail_stdlib_tree, and seeded random trees
(nesting depth 1 to 9, alternative/related/mixed/signed, empty parts, preambles, epilogues,
missing close delimiters, message/rfc822 parts deep down, damaged encodings) with and without
inserted noise, each under the default limits and under low ``max_mime_depth``,
``max_mime_parts``, decoded-size and header-size limits.  The test also checks that the shortcut
takes the nested messages, so that it keeps comparing something.
"""
from __future__ import annotations

import random
from email import policy as email_policy
from email.message import EmailMessage

import pytest
from test_mail_stdlib_tree import _NESTED, _NOISE, _messages

from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.mail import mime, parse

_LOW_LIMITS = [
    Limits(max_mime_depth=1), Limits(max_mime_depth=2), Limits(max_mime_depth=3),
    Limits(max_mime_parts=1), Limits(max_mime_parts=3), Limits(max_mime_parts=5),
    Limits(max_mime_depth=2, max_mime_parts=4),
    Limits(max_part_decoded_bytes=7, mail_preview_chars=5, max_mail_header_bytes=90,
           max_anomalies_per_kind=1, max_urls_per_message=2),
]


def _outcome(raw: bytes, limits: Limits, complete: bool = True) -> object:
    """The message (compared whole: each part's ``content`` too, which its repr leaves out)."""
    try:
        return parse.parse_message(raw, limits=limits, complete=complete)
    except Exception as exc:  # the same failure on both paths is agreement too
        return f"raised {exc!r}"


class _Paths:
    """``parse_message`` with its shortcuts (counting how often :func:`leaf_parts` answers)
    and without them (the general path: the stdlib tree and its walk)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.taken = 0

        def counting(*args, **kwargs):
            found = mime.leaf_parts(*args, **kwargs)
            self.taken += found is not None
            return found
        self._counting = counting

    def compare(self, raw: bytes, limits: Limits = DEFAULT_LIMITS, complete: bool = True
                ) -> bool:
        """Assert both paths give the same message; True when :func:`leaf_parts` answered."""
        before = self.taken
        self._monkeypatch.setattr(parse, "single_part", mime.single_part)
        self._monkeypatch.setattr(parse, "leaf_parts", self._counting)
        fast = _outcome(raw, limits, complete)
        self._monkeypatch.setattr(parse, "single_part", _declining)
        self._monkeypatch.setattr(parse, "leaf_parts", _declining)
        general = _outcome(raw, limits, complete)
        assert fast == general, (raw, limits)
        return self.taken > before


def _declining(*args, **kwargs) -> None:
    return None


# --- mail as the stdlib's email package writes it -------------------------------------------

_NAMES = ["Rechnung-März.pdf", "report.pdf", "Überweisung bestätigt.docx", "李小龙.png",
          "a b;c.txt", "x" * 90 + ".bin"]
_TEXT = "Bonjour,\n\nVoici le document demandé: https://example.test/d?id={n}. Café.\n"


def _client_message(rng: random.Random, n: int) -> bytes:
    """A message shaped as mail clients send it: text (and HTML, maybe with inline images)
    alternatives, attachments, maybe a forwarded message, written by ``email.message``."""
    message = EmailMessage(policy=email_policy.SMTP)
    message["From"] = "José Müller <sender@example.test>"
    message["To"] = "rcpt@example.test"
    message["Subject"] = f"Réunion {n}"
    message["MIME-Version"] = "1.0"
    text = _TEXT.format(n=n) * rng.randint(1, 6)
    message.set_content(text, cte=rng.choice(["quoted-printable", "base64", "8bit", "7bit"])
                        if text.isascii() else rng.choice(["quoted-printable", "base64", "8bit"]))
    if rng.random() < 0.85:
        html = f"<html><body><p>{text}</p><a href='https://example.test/{n}'>x</a></body></html>"
        message.add_alternative(html, subtype="html")
        if rng.random() < 0.4:  # related: the HTML and its inline images
            html_part = message.get_payload()[1]
            html_part.add_related(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))),
                                  maintype="image", subtype="png", cid=f"<img{n}@example.test>")
    for _ in range(rng.choice([0, 1, 1, 2])):
        message.add_attachment(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 900))),
                               maintype="application", subtype="pdf",
                               filename=rng.choice(_NAMES))
    if rng.random() < 0.25:
        forwarded = EmailMessage(policy=email_policy.SMTP)
        forwarded["Subject"] = "Fwd: Überweisung"
        forwarded["From"] = "a@example.test"
        forwarded.set_content("inner https://example.test/inner\n")
        message.add_attachment(forwarded)
    return message.as_bytes(policy=email_policy.SMTP)


def test_client_mail_takes_the_shortcut_and_records_what_the_walk_records(monkeypatch):
    paths = _Paths(monkeypatch)
    rng = random.Random(2046)
    nested = taken = 0
    for n in range(160):
        raw = _client_message(rng, n)
        limits = DEFAULT_LIMITS if n % 4 else rng.choice(_LOW_LIMITS)
        answered = paths.compare(raw, limits)
        if limits is DEFAULT_LIMITS and raw.count(b"Content-Type: multipart/") > 1:
            nested += 1
            taken += answered
    assert nested > 60
    assert taken > nested * 0.95, (taken, nested)  # the shortcut reads nested client mail


def test_nested_shapes_and_recorded_messages(monkeypatch):
    paths = _Paths(monkeypatch)
    taken = sum(paths.compare(raw) for raw in _NESTED)
    # mixed holding alternative (with epilogues, preambles, blank lines, two of them, a
    # message/rfc822 two levels down): the rest are left to the parser
    assert taken >= 6, taken
    rng = random.Random(2047)
    for raw in _messages():
        paths.compare(raw, rng.choice([DEFAULT_LIMITS] * 3 + _LOW_LIMITS), rng.random() < 0.9)


# --- seeded random trees --------------------------------------------------------------------

_SUBTYPES = ["alternative", "related", "mixed", "signed", "report"]
_LEAVES = [
    b"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable"
    b"\r\n\r\nsee https://example.test/q=3D1 caf=C3=A9=\r\n more\r\n",
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p><a href=\"http://example.test/h\">h</a>\r\n",
    b"Content-Type: text/plain\r\n\r\n",
    b"\r\nno headers at all, http://example.test/n",
    b"\r\n",
    b"",
    b"Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"r.pdf\"\r\n\r\nJVBERi0xLjQK\r\nJVBERi0=",
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment;\r\n filename*=utf-8''Rechnung-M%C3%A4rz.pdf\r\n\r\nAAEC",
    b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <i@x>\r\n"
    b"Content-Disposition: inline; filename*0*=utf-8''a%C3; filename*1=\".png\"\r\n\r\n!!bad=",
    b"Content-Type: text/plain\r\nContent-Disposition: inline; filename*=base64''YQ==\r\n\r\nx",
    b"Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n-----BEGIN PGP",
    b"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-uue\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n\xe9\xff",
    b"Content-Type: text/plain; name=\"=?utf-8?b?w6k=?=.txt\"\r\nContent-Disposition: "
    b"attachment; filename=\"=?utf-8?b?w6k=?=.txt\"\r\n\r\nx",
    b"Content-Type: message/rfc822\r\n\r\nFrom: x <y@example.test>\r\nSubject: inner\r\n\r\n"
    b"inner http://example.test/i\r\n",
    b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\nSubject: "
    b"=?x-no?q?a?=\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"PGEgaHJlZj0naHR0cDovL2V4YW1wbGUudGVzdC8nPg==\r\n",
    b"Content-Type: message/global\r\n\r\nTo: a@example.test, b@\r\n\r\nbody",
    b"Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\ntwo types",
]
# parts that leave the message to the parser (or its walk), met now and then
_RARE_LEAVES = [
    b"Content-Type: message/partial; id=x\r\n\r\nSubject: p\r\n\r\nbody",
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nAction: failed",
    b"Content-Type: ((((\r\n\r\nunreadable type",
    b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=idna''%ff\r\n"
    b"\r\nfile name the stdlib getters fail on",
]
_BOUNDARIES = ["b{}", "=_Part_{}_1.2", "----=_NextPart_000_00{}", "000000000000{}abcdef",
               "Apple-Mail={}-X", "a: (b){}*+?"]


def _random_multipart(rng: random.Random, level: int, deepest: int, ids: list[int]) -> bytes:
    """A multipart entity (its header fields, the empty line, its body) ``level`` multiparts
    down, with multiparts in it down to ``deepest``."""
    ids[0] += 1
    separator = rng.choice(_BOUNDARIES).format(ids[0]).encode()
    subtype = rng.choice(_SUBTYPES).encode()
    head = b"Content-Type: multipart/" + subtype + b"; boundary=\"" + separator + b"\"\r\n"
    if rng.random() < 0.1:
        head = head.replace(b"Content-Type", b"content-type").replace(b"; b", b";\r\n\tb")
    if rng.random() < 0.05:
        head += b"Content-Transfer-Encoding: " + rng.choice([b"7bit", b"8bit", b"base64"]) + b"\r\n"
    if rng.random() < 0.1:
        head += b"Content-Disposition: inline\r\n"
    parts = []
    for number in range(rng.choice([1, 1, 2, 2, 3, 4])):
        go_deeper = level < deepest and (number == 0 or rng.random() < 0.12)
        parts.append(_random_multipart(rng, level + 1, deepest, ids) if go_deeper
                     else rng.choice(_RARE_LEAVES if rng.random() < 0.03 else _LEAVES))
    body = b""
    if rng.random() < 0.3:
        body += rng.choice([b"This is a multi-part message in MIME format.\r\n", b"\r\n",
                            b"pre\r\n\r\namble\r\n"])
    body += b"".join(b"--" + separator + b"\r\n" + part + b"\r\n" for part in parts)
    if rng.random() < 0.98:  # else the close delimiter is missing
        body += b"--" + separator + b"--"
        body += rng.choice([b"", b"", b"\r\n", b"\r\n\r\n", b"\r\nepilogue\r\n", b"  \r\n"])
    return head + b"\r\n" + body


def _random_message(rng: random.Random) -> bytes:
    ids = [0]
    head = b"From: a@example.test\r\nSubject: =?utf-8?q?r=C3=A9union?=\r\nMIME-Version: 1.0\r\n"
    raw = head + _random_multipart(rng, 0, rng.randint(1, 9), ids)
    if rng.random() < 0.25:
        for _ in range(rng.randint(1, 2)):
            at = rng.randint(len(head), len(raw))
            raw = raw[:at] + rng.choice(_NOISE) + raw[at:]
    return raw


def test_random_trees_record_what_the_walk_records(monkeypatch):
    paths = _Paths(monkeypatch)
    rng = random.Random(2049)
    cases = taken = deep = 0
    for _ in range(2400):
        raw = _random_message(rng)
        limits = DEFAULT_LIMITS if rng.random() < 0.6 else rng.choice(_LOW_LIMITS)
        answered = paths.compare(raw, limits, rng.random() < 0.95)
        cases += 1
        taken += answered
        deep += answered and raw.count(b"multipart/") >= 4
    assert taken > cases // 4, (taken, cases)
    assert taken < cases * 0.9, (taken, cases)  # declines are compared too
    assert deep > 50, deep  # three levels below the root and more


def test_limits_met_exactly_or_missed_by_one(monkeypatch):
    """Every ``max_mime_parts`` and ``max_mime_depth`` around what a message needs: the shortcut
    answers when the walk lists everything, and the message is the walk's either way."""
    paths = _Paths(monkeypatch)
    rng = random.Random(2050)
    messages = [_client_message(rng, n) for n in range(12)] + _NESTED[:5] + [
        _NESTED[0].replace(b"--c\r\n\r\nx\r\n", b"--c\r\nContent-Type: message/rfc822\r\n\r\n"
                           b"Subject: in\r\n\r\nx\r\n--c\r\n\r\ny\r\n")]
    exact = 0
    for raw in messages:
        if not paths.compare(raw):  # single parts, and what the shortcut leaves to the tree
            continue
        parsed = parse.parse_message(raw)
        count, deepest = len(parsed.parts), max(part.depth for part in parsed.parts)
        for parts in range(count + 2):
            for depth in range(deepest + 2):
                answered = paths.compare(raw, Limits(max_mime_parts=parts, max_mime_depth=depth))
                if parts >= count and depth >= deepest:
                    exact += 1
                    assert answered, (raw, parts, depth)
    assert exact > 60


_FAILING_GETTERS = [
    b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=idna''%ff\r\n",
    b"Content-Type: text/plain\r\nContent-Disposition: inline;\r\n filename*=punycode''%ff\r\n",
]


def test_a_getter_that_raises_is_an_anomaly(monkeypatch):
    """A part whose file name the stdlib's getters cannot read (they raise, as
    ``email.message_from_bytes`` shows) is recorded with a ``mime_header_error`` anomaly, as a
    single part and deep in a tree, and the rest of the message is still read."""
    from email import message_from_bytes
    paths = _Paths(monkeypatch)
    for fields in _FAILING_GETTERS:
        single = b"From: a@example.test\r\n" + fields + b"\r\nbody http://example.test/s\r\n"
        nested = (b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                  b"--b\r\n" + _C_ALTERNATIVE + b"--c\r\n\r\ntext http://example.test/t\r\n--c\r\n"
                  + fields + b"\r\nx\r\n--c--\r\n--b--\r\n")
        for raw in (single, nested):
            stdlib = message_from_bytes(raw, policy=email_policy.default)
            entity = list(stdlib.walk())[-1]
            with pytest.raises(UnicodeError):
                entity.get_filename()
            paths.compare(raw)
            parsed = parse.parse_message(raw)
            assert "mime_header_error" in {a.kind for a in parsed.anomalies}
            assert len(parsed.parts) == len(list(stdlib.walk()))
        assert "http://example.test/t" in parsed.urls  # the other parts of the tree


_C_ALTERNATIVE = b"Content-Type: multipart/alternative; boundary=c\r\n\r\n"
