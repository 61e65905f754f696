"""smtpsniff.findings.headers.mailboxes against its oracle, :func:`email.utils.getaddresses`.

The spoofing detectors read each message's From value; :func:`mailboxes` answers the two simple
shapes itself and must give exactly what ``getaddresses`` gives (pairs with an address) for every
value: the From values of every capture, and values generated from the shapes' pieces and their
neighbours (quotes, comments, groups, folding, 8-bit, doubled separators), from a fixed seed.
"""
from __future__ import annotations

import random
from email.utils import getaddresses

import pytest
from corpus import own_captures, shared_captures

import smtpsniff
from smtpsniff.findings.headers import _SIMPLE_FROM, mailboxes

_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
#: What a display name's words may hold beside atext: letters of other scripts (as decoded RFC 2047
#: names have them), and characters beyond ASCII that other code takes for white space, line ends
#: or neither (no-break and ideographic spaces, NEL, line separator, a combining mark, a surrogate).
_BEYOND_ASCII = "éüßøЖ李\u00a0\u3000\u0085\u2028\u0301\ud800\U0001f600"
_NOISE = ['"', "(", ")", "\t", " ", "  ", "\r\n ", "\u00e9", "\x00", "\x7f", "[", "]", ":", ";", "\\", ",", ", ",
          ".", "..", "@", "@@", "<", ">", "<>", "=?utf-8?q?x?=", "\ud800", "\x0b", "IPv6:", "[1.2.3.4]", "a@b.c",
          "\u00a0", "\u3000", "\u0085", "\u2028", "Ж"]


def oracle(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, a) for n, a in getaddresses([text]) if a) if text else ()


def _atom(rng: random.Random, letters: str = _ATEXT) -> str:
    return "".join(rng.choice(letters) for _ in range(rng.randint(1, 6)))


def _dot_atom(rng: random.Random) -> str:
    return ".".join(_atom(rng) for _ in range(rng.randint(1, 3)))


def _simple(rng: random.Random) -> str:
    addr = f"{_dot_atom(rng)}@{_dot_atom(rng)}"
    if rng.random() < 0.5:
        return addr
    letters = _ATEXT if rng.random() < 0.5 else _ATEXT + _BEYOND_ASCII * 2
    return " ".join(_atom(rng, letters) for _ in range(rng.randint(1, 3))) + f" <{addr}>"


def _mutated(rng: random.Random) -> str:
    text = _simple(rng)
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(text))
        if rng.random() < 0.7:
            text = text[:at] + rng.choice(_NOISE) + text[at:]
        else:
            text = text[:at] + text[at + 1:]
    return text


def _from_values() -> list[str]:
    values = []
    for path in own_captures() + shared_captures():
        values += [v for v in smtpsniff.read(path).messages["from"].dropna().tolist()]
    return values


def test_every_captured_from_value():
    values = _from_values()
    assert any(_SIMPLE_FROM.fullmatch(v) for v in values)  # the fast path is taken on real mail
    for value in values:
        assert mailboxes(value) == oracle(value), value


@pytest.mark.parametrize("seed", range(4))
def test_generated_values(seed):
    rng = random.Random(seed)
    fast = 0
    for _ in range(5000):
        value = _simple(rng) if rng.random() < 0.3 else _mutated(rng)
        fast += _SIMPLE_FROM.fullmatch(value) is not None
        assert mailboxes(value) == oracle(value), value
    assert fast > 1000  # both paths were exercised


@pytest.mark.parametrize("value", [
    "", "a@b.c", "John Smith <a@b.c>", "John  Smith <a@b.c>", "John Smith<a@b.c>", " a@b.c", "a@b.c ",
    "a..b@c.d", ".a@b.c", "a@b.c.", "a@b..c", "J. Smith <a@b.c>", '"Smith, J" <a@b.c>', "a@b.c (J)",
    "x <a@@b>", "a@b.c <d@e.f>", "a <b@c.d> e", "a@b.c, d@e.f", "g: a@b.c;", "<@hop:a@b.c>", "Jé <a@b.c>",
    "a@[1.2.3.4]", "Name <a@b.c>>", "Name <<a@b.c>", "a@b@c.d", "=?utf-8?q?x?= <a@b.c>", "a\tb <c@d.e>",
    "José Müller <a@b.c>", "李小龙 <a@b.c>", "Jé\u00a0M <a@b.c>", "Jé\u3000M <a@b.c>", "\u2028 <a@b.c>",
    "é <a@é.c>", "é@b.c", "Jé <a@b.c> ", "Jé  M <a@b.c>",
])
def test_shapes_at_the_edge(value):
    assert mailboxes(value) == oracle(value)
