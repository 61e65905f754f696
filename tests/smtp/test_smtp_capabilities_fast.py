"""parse_ehlo_lines' shortcut for the usual ehlo-line ("KEYWORD" or "KEYWORD SP params") against the
grammar pattern alone (grammar.EHLO_LINE, the oracle), on real-looking and fuzzed lines."""
from __future__ import annotations

import random

import pytest

from smtpsniff.smtp.capabilities import parse_ehlo_lines
from smtpsniff.smtp.grammar import EHLO_LINE


def by_pattern(lines: tuple[str, ...]) -> tuple:
    """(items, invalid lines) as EHLO_LINE alone reads the lines after the first."""
    items, invalid = [], []
    for line in lines[1:]:
        m = EHLO_LINE.match(line)
        if m is None:
            invalid.append(line)
            continue
        keyword = m.group("keyword").upper()
        if m.group("eq"):
            if keyword != "AUTH":
                invalid.append(line)
                continue
            items.append(("AUTH=", tuple((m.group("eqparams") or "").split())))
        else:
            items.append((keyword, tuple((m.group("params") or "").split())))
    return tuple(items), tuple(invalid)


LINES = ["PIPELINING", "SIZE 10240000", "SIZE", "8BITMIME", "AUTH PLAIN LOGIN", "AUTH=LOGIN PLAIN", "auth login",
         "X-EXPS GSSAPI NTLM", "-BAD", "BAD_LINE", "X-FOO=1", "SIZE  10 ", "SIZE\t10", "SIZE 10\t", "ÄUTH PLAIN",
         "AUTH PLAIN\u00a0LOGIN", "AUTH PLAIN\x1cLOGIN", "", " ", "STARTTLS ", "A-", "9", "DSN\r", "AUTH=", "A B=C"]


@pytest.mark.parametrize("line", LINES)
def test_smtp_capabilities_line(line):
    caps = parse_ehlo_lines(("mx.example hi", line))
    assert (caps.items, caps.invalid_lines) == by_pattern(("mx.example hi", line))


@pytest.mark.parametrize("seed", range(20))
def test_smtp_capabilities_fuzz(seed):
    rng = random.Random(seed)
    alphabet = ["A", "z", "9", "-", "=", " ", "\t", "_", "é", "\u00a0", "\x0b", "\r", "SIZE", "AUTH", "PLAIN", "1"]
    lines = ("mx",) + tuple("".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(200))
    caps = parse_ehlo_lines(lines)
    assert (caps.items, caps.invalid_lines) == by_pattern(lines)
