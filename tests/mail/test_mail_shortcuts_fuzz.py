"""``parse_message`` with its shortcuts past the stdlib tree against ``parse_message`` without them.

:func:`~smtpsniff.mail.mime.single_part` and :func:`~smtpsniff.mail.mime.leaf_parts` stand for the
walk of the stdlib tree on clean messages.  Here the whole :class:`ParsedMessage` (fields, every
MIME part, URLs, anomalies in order) must be the same with them and with both declining, the
general path, on the recorded clients' messages and on seeded mutations of them (structure
tokens inserted, bytes dropped or changed), under the default limits and under limits the
messages reach, complete or not.  The test also checks that both shortcuts are taken, so that it
keeps comparing something.
"""
from __future__ import annotations

import random

import pytest
from test_mail_stdlib_tree import _messages

from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.mail import parse

_TOKENS = [b"\r\n", b"\r\n\r\n", b"--", b";", b"=", b'"', b" ", b"\t", b"\r\n ", b"\xff",
           b"\xc3\xa9", b"=?utf-8?q?x?=", b"\x00", b"\n", b"\r", b"boundary=", b"text/html",
           b"message/rfc822", b"Content-Type: multipart/mixed; boundary=b\r\n",
           b"Content-Type: text/plain; charset=utf-8\r\n", b"Content-Transfer-Encoding: base64\r\n",
           b"Content-Disposition: attachment; filename=\"../x\"\r\n", b"\r\n--b\r\n",
           b"\r\n--b--\r\n"]
_LIMITS = [DEFAULT_LIMITS, Limits(max_mime_parts=2, max_mime_depth=1, max_mail_header_bytes=200)]
_CASES = 4000


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    out = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        roll = rng.random()
        if roll < 0.4 or not out:
            out[at:at] = rng.choice(_TOKENS)
        elif roll < 0.7:
            del out[at:at + rng.randint(1, 8)]
        else:
            out[min(at, len(out) - 1)] = rng.randrange(256)
    return bytes(out)


def _outcome(raw: bytes, limits: Limits, complete: bool) -> str:
    try:
        return repr(parse.parse_message(raw, limits=limits, complete=complete))
    except Exception as exc:  # the same failure on both paths is agreement too
        return f"raised {exc!r}"


def test_shortcuts_give_the_general_paths_message(monkeypatch: pytest.MonkeyPatch) -> None:
    single_part, leaf_parts = parse.single_part, parse.leaf_parts
    taken = {"single_part": 0, "leaf_parts": 0}

    def counting(name, shortcut):
        def call(*args, **kwargs):
            found = shortcut(*args, **kwargs)
            taken[name] += found is not None
            return found
        return call

    def declining(*args, **kwargs):
        return None

    rng = random.Random(2045)
    messages = _messages()
    for case in range(_CASES):
        raw = messages[case] if case < len(messages) else _mutate(rng.choice(messages), rng)
        limits, complete = rng.choice(_LIMITS), rng.random() < 0.8
        monkeypatch.setattr(parse, "single_part", counting("single_part", single_part))
        monkeypatch.setattr(parse, "leaf_parts", counting("leaf_parts", leaf_parts))
        fast = _outcome(raw, limits, complete)
        monkeypatch.setattr(parse, "single_part", declining)
        monkeypatch.setattr(parse, "leaf_parts", declining)
        general = _outcome(raw, limits, complete)
        assert fast == general, raw
    assert taken["single_part"] > _CASES // 20 and taken["leaf_parts"] > _CASES // 200, taken
