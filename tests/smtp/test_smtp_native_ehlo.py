"""The C reader of the usual EHLO reply (``smtp_ehlo`` in smtpsniff/_native/fastpath.c) against the
Python one (:func:`smtpsniff.smtp.capabilities.parse_ehlo_lines` and :class:`ParsedCapabilities`, the
oracle): on real-looking, odd and fuzzed reply lines, every Capabilities field it gives must be the
Python one, it must take the usual replies (not decline everything), and decline every reply with a
line the Python code reads with its pattern or reports.  The decoder-level comparison over every
capture, C on and off, is tests/smtp/test_smtp_native.py's.
"""
from __future__ import annotations

import random

import pytest

from smtpsniff.smtp.capabilities import parse_ehlo_lines

fastpath = pytest.importorskip("smtpsniff._native.fastpath")
if not hasattr(fastpath, "smtp_ehlo"):
    pytest.skip("the C extension predates smtp_ehlo (rebuild it: python setup.py build_ext --inplace)",
                allow_module_level=True)
smtp_ehlo = fastpath.smtp_ehlo


def oracle(lines: tuple[str, ...]) -> tuple:
    """The Capabilities fields (after command_index, before ts_ns) as conversation._capabilities
    builds them from parse_ehlo_lines, and the lines it finds invalid."""
    caps = parse_ehlo_lines(lines)
    has = {k for k, _ in caps.items}
    return (caps.domain, caps.greeting, caps.items, "PIPELINING" in has, caps.size, "SIZE" in has,
            "STARTTLS" in has, caps.auth_mechanisms, "CHUNKING" in has, "BINARYMIME" in has, "8BITMIME" in has,
            "SMTPUTF8" in has, "DSN" in has, "ENHANCEDSTATUSCODES" in has, "REQUIRETLS" in has), caps.invalid_lines


def check(lines: tuple[str, ...]) -> bool:
    """Compare C and Python on ``lines``; True when C took them."""
    fields, invalid = oracle(lines)
    got = smtp_ehlo(lines)
    if got is None:
        return False
    assert not invalid, f"C took a reply with invalid lines: {lines!r}"
    assert got == fields, lines
    assert [type(v) for v in got] == [type(v) for v in fields], lines  # bool stays bool, int stays int
    return True


POSTFIX = ("mail.example.test", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
           "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING")
USUAL = [
    ("mail.example.test", "PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "STARTTLS",
     "AUTH CRAM-MD5 LOGIN PLAIN", "HELP"),
    ("relay.example.test", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES",
     "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"),
    ("mx.example Hello [127.0.0.1]", "SIZE 33554432", "8BITMIME", "SMTPUTF8", "HELP"),
    ("mx.example",),
    ("  mx.example   greets  you  ", "size 0", "Size 12", "auth login Plain LOGIN", "AUTH xoauth2", "requiretls",
     "BINARYMIME", "X-EXPS GSSAPI NTLM", "9", "A-", "A--B", "SIZE", "SIZE abc", "SIZE 0012", "DSN   "),
    ("", "PIPELINING"),
    ("\t\x0b", "SIZE 99999999999999999999999999"),
]
ODD = [
    POSTFIX,  # AUTH= form: the pattern's
    ("mx", "-BAD"), ("mx", "BAD_LINE"), ("mx", "X-FOO=1"), ("mx", ""), ("mx", " "), ("mx", " SIZE 10"),
    ("mx", "SIZE\t10"), ("mx", "ÄUTH PLAIN"), ("mx", "AUTH PLAIN\u00a0LOGIN"), ("mx", "DSN\r"), ("mx", "-"),
    ("mx", "--"), ("mx", "AUTH="), ("mx", "ETRN\t"), ("mxé", "SIZE 10"), ("mx", "SIZE \udcff"), (),
]


@pytest.mark.parametrize("lines", USUAL, ids=range(len(USUAL)))
def test_smtp_native_ehlo_usual(lines):
    assert check(lines), f"C declined a usual reply: {lines!r}"


@pytest.mark.parametrize("lines", ODD, ids=range(len(ODD)))
def test_smtp_native_ehlo_odd(lines):
    check(lines)


@pytest.mark.parametrize("seed", range(30))
def test_smtp_native_ehlo_fuzz(seed):
    rng = random.Random(seed)
    alphabet = ["A", "z", "9", "-", "=", " ", "  ", "\t", "_", "é", "\u00a0", "\x0b", "\x1c", "\r", "SIZE ", "AUTH ",
                "PLAIN", "login", "1", "0", "PIPELINING", "STARTTLS", "CHUNKING", "DSN", "8BITMIME"]
    taken = 0
    for _ in range(200):
        lines = tuple("".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(rng.randint(1, 6)))
        taken += check(lines)
        plain = ("mx " + rng.choice(["", "hi", " x  y ", "\t"]),) + tuple(
            rng.choice(["SIZE", "AUTH", "DSN", "PIPELINING", "X-A", "a9"]) + rng.choice(["", " "]) + " ".join(
                rng.choices(["1", "0", "10", "login", "PLAIN", "x-y", "007"], k=rng.randint(0, 3)))
            for _ in range(rng.randint(0, 6)))
        assert check(plain), plain
    assert taken  # some fuzzed replies are plain enough for C


def test_smtp_native_ehlo_arguments():
    with pytest.raises(TypeError):
        smtp_ehlo(["mx", "SIZE"])
    with pytest.raises(TypeError):
        smtp_ehlo()  # type: ignore[call-arg]
    assert smtp_ehlo(("mx", b"SIZE")) is None  # not text: left to Python
    assert smtp_ehlo(("mx", 1)) is None
