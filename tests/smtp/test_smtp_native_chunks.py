"""The SMTP decoder's C readers against the pure-Python decoder (``SMTPSNIFF_NATIVE=0``, the oracle)
when chunk boundaries fall inside lines: message content, commands, replies and EHLO replies cut
byte by byte and at random, each chunk its own frame and time, so that every event's frames and
times are compared too (a line whose first chunk the C copier left to the line splitter, completed
by the next chunk, is copied in C when it is a plain one: it must give what the Python path gives).
"""
from __future__ import annotations

import random

import pytest
from smtp_transcript import C, S, feed
from test_smtp_native import ODD_CONTENT, PLAIN, SESSIONS, both

from smtpsniff.limits import Limits
from smtpsniff.net import native

pytestmark = pytest.mark.skipif(
    not native.available() or not hasattr(native._fastpath, "smtp_content"),
    reason="the C extension smtpsniff._native.fastpath is not built, or predates the SMTP readers")

HEAD = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"),
        (S, b"250-mx\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n")]


def _bytewise(data: bytes, rng: random.Random) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def _random(data: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice((1, 2, 3, 5, 7, 13, 40, 64, 500))
        out.append(data[pos : pos + n])
        pos += n
    return out


def same_both_ways(monkeypatch, items, chunker, seed=0, **kwargs):
    """Both ways, each run cut the same way (``feed`` seeds the chunker's generator with ``seed``)."""
    py, nat = both(monkeypatch, lambda: feed(items, chunker, seed=seed, distinct_frames=True, **kwargs)[0])
    assert nat == py


def data_session(content: bytes) -> list[tuple]:
    return HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"), (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
                   (C, content), (S, b"250 queued\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]


@pytest.mark.parametrize("odd", ODD_CONTENT, ids=lambda b: repr(b[:30]))
def test_smtp_native_chunks_data_content(odd, monkeypatch):
    for seed, content in enumerate((PLAIN + odd + PLAIN + b".\r\n", odd + b".\r\n", PLAIN[:50] + odd + b"\r\n.\r\n")):
        items = data_session(content)
        same_both_ways(monkeypatch, items, _random, seed=seed)
        if len(content) < 400:
            same_both_ways(monkeypatch, items, _bytewise)
    for limits in (Limits(max_message_bytes=100), Limits(max_text_line=30), Limits(max_buffered_line=20)):
        same_both_ways(monkeypatch, data_session(PLAIN + odd + PLAIN + b".\r\n"), _random, limits=limits)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_smtp_native_chunks_sessions(name, monkeypatch):
    same_both_ways(monkeypatch, SESSIONS[name], _bytewise)
    for seed in range(3):
        same_both_ways(monkeypatch, SESSIONS[name], _random, seed=seed)


@pytest.mark.parametrize("seed", range(12))
def test_smtp_native_chunks_fuzzed_content(seed, monkeypatch):
    """Content built of plain lines and odd pieces (dots, bare CR/LF, NUL, long lines), cut at random."""
    rng = random.Random(seed)
    pieces = [b"plain line\r\n", b".\r\n", b"..x\r\n", b".", b"\r", b"\n", b"\r\n", b"\x00", b"x" * 1000,
              b"\r.\r\n", b"\n.\n", b"abc", b"\xc3\xa9"]
    content = b"".join(rng.choices(pieces, weights=[30] + [2] * (len(pieces) - 1), k=80)) + b"\r\n.\r\n"
    same_both_ways(monkeypatch, data_session(content), _random, seed=seed)
