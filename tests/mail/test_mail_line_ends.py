"""The C counter of line ends (``mail_line_ends`` in smtpsniff/_native/fastpath.c, used by
:func:`smtpsniff.mail.parse._scan_line_ends`) against :func:`smtpsniff.mail.parse._line_ends`,
the oracle: the same ``(bare_lf, bare_cr, nul)`` for every input.

Inputs: every byte value at every position of short buffers (the C code reads eight octets at a
time, then the rest one by one: CR and LF on each side of a word's and of a 255-word block's
edge), seeded random buffers rich in CR, LF and NUL, and the recorded clients' messages with
their seeded mutations (test_mail_stdlib_tree's).
"""
from __future__ import annotations

import random

import pytest
from test_mail_stdlib_tree import _messages

from smtpsniff.mail import parse
from smtpsniff.mail.anomalies import AnomalyLog

fastpath = pytest.importorskip("smtpsniff._native.fastpath")
if not hasattr(fastpath, "mail_line_ends"):
    pytest.skip("the C extension was built before mail_line_ends", allow_module_level=True)
c_line_ends = fastpath.mail_line_ends


def _same(raw: bytes) -> None:
    assert c_line_ends(raw) == parse._line_ends(raw), raw


def test_mail_line_ends_every_byte_at_every_position():
    _same(b"")
    for length in range(1, 20):
        for at in range(length):
            for value in range(256):
                filler = b"\r" if value == 10 else b"x"
                _same(filler * at + bytes([value]) + b"\n" * (length - at - 1))
                _same(b"\r" * at + bytes([value]) + filler * (length - at - 1))


def test_mail_line_ends_word_and_block_edges():
    for length in (7, 8, 9, 15, 16, 17, 2039, 2040, 2041, 2048, 2049, 4089, 4096, 4097):
        for at in (0, 1, 6, 7, 8, 9, length - 9, length - 8, length - 2, length - 1):
            if not 0 <= at < length - 1:
                continue
            for pair in (b"\r\n", b"\n\r", b"\r\r", b"\n\n", b"\0\r", b"\n\0"):
                raw = bytearray(b"a" * length)
                raw[at:at + 2] = pair
                _same(bytes(raw))
        _same(b"\r\n" * (length // 2))
        _same(b"\r" * length)
        _same(b"\n" * length)
        _same(b"\0" * length)


def test_mail_line_ends_random_buffers():
    rng = random.Random(2045)
    for _ in range(1500):
        length = rng.choice((rng.randint(0, 40), rng.randint(0, 5000)))
        raw = bytes(rng.choice((rng.randrange(256), 13, 10, 0, 13, 10)) for _ in range(length))
        _same(raw)


def test_mail_line_ends_recorded_messages():
    for raw in _messages():
        _same(raw)


def test_mail_line_ends_declines_other_types():
    assert c_line_ends(bytearray(b"a\n")) is None
    assert c_line_ends("a\n") is None
    assert c_line_ends(memoryview(b"a\n")) is None


def test_mail_scan_line_ends_same_anomalies(monkeypatch):
    """_scan_line_ends with the C counter and without it: same verdict, same anomalies."""
    rng = random.Random(5321)
    raws = [b"", b"a\r\nb\nc\rd\0\r\n", b"\r", b"\n", b"\0"] + [
        bytes(rng.choice((97, 13, 10, 0)) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    for raw in raws:
        got = []
        for counter in (c_line_ends, None):
            monkeypatch.setattr(parse, "_C_LINE_ENDS", counter)
            log = AnomalyLog(10)
            got.append((parse._scan_line_ends(raw, log), log.freeze()))
        assert got[0] == got[1], raw
