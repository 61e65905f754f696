"""tls._extensions, which reads the extension list without a _Reader call per field, against the same
reading done with _Reader's u16/vec16 (the oracle), on real hellos from Python's ssl module and on
truncated, mutated and random extension blocks: the same list, or Malformed for both."""
from __future__ import annotations

import random

import pytest
from test_smtp_tls import client_hello

from smtpsniff.smtp.tls import (
    Malformed,
    _extensions,
    _Reader,
    first_handshake,
    parse_hello,
)


def by_reader(r: _Reader) -> list[tuple[int, bytes]]:
    if r.done():
        return []
    ext = _Reader(r.vec16())
    out = []
    while not ext.done():
        etype = ext.u16()
        out.append((etype, ext.vec16()))
    return out


def outcome(read, block: bytes):
    r = _Reader(block)
    try:
        return read(r), r.p
    except Malformed:
        return "malformed"


def extension_block(hello: bytes) -> bytes:
    """The bytes of a ClientHello from its extensions' length on."""
    _, _, body = first_handshake(hello)
    r = _Reader(body)
    r.u16()
    r.take(32)
    r.vec8()
    r.vec16()
    r.vec8()
    return body[r.p :]


@pytest.fixture(scope="module")
def blocks() -> list[bytes]:
    return [extension_block(client_hello(sni, tls13=tls13)[0])
            for sni in ("mail.example.org", None) for tls13 in (True, False)]


def test_smtp_tls_extensions_real(blocks):
    for block in blocks:
        got = outcome(_extensions, block)
        assert got == outcome(by_reader, block) and got != "malformed" and len(got[0]) > 3


def test_smtp_tls_extensions_damaged(blocks):
    rng = random.Random(7)
    for block in blocks:
        for cut in range(len(block) + 1):  # every truncation
            assert outcome(_extensions, block[:cut]) == outcome(by_reader, block[:cut])
        for _ in range(300):  # bytes changed (lengths among them)
            b = bytearray(block)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            assert outcome(_extensions, bytes(b)) == outcome(by_reader, bytes(b))


def test_smtp_tls_extensions_random():
    rng = random.Random(11)
    for _ in range(3000):
        n = rng.randint(0, 12)
        block = bytes(rng.choice((0, 1, 2, 3, 4, 255)) for _ in range(n))
        assert outcome(_extensions, block) == outcome(by_reader, block)


def test_smtp_tls_extensions_in_hello():
    hello, *_ = client_hello("mx.example.net")
    assert parse_hello(hello).sni == "mx.example.net"
