"""SIZE values of an EHLO reply the decoder cannot read as a number (RFC 1870 4, RFC 5234 B.1
DIGIT): a digit that is not ASCII, or a number of thousands of digits (more than ``int()`` converts).
Neither may raise out of the decoder; the Capabilities event gives no size for them (the raw value
stays in its items), with the C EHLO reader (``smtp_ehlo``) and without it alike.
"""
from __future__ import annotations

import pytest
from smtp_transcript import C, S, _whole, feed
from test_smtp_native import both

from smtpsniff.net import native
from smtpsniff.smtp.capabilities import parse_ehlo_lines
from smtpsniff.smtp.events import Capabilities

pytestmark = pytest.mark.skipif(
    not native.available() or not hasattr(native._fastpath, "smtp_ehlo"),
    reason="the C extension smtpsniff._native.fastpath is not built, or predates smtp_ehlo")


def capabilities(monkeypatch, value: bytes) -> list[Capabilities]:
    items = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-SIZE " + value + b"\r\n250 DSN\r\n"),
             (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    py, nat = both(monkeypatch, lambda: feed(items, _whole)[0])
    assert nat == py
    return [e for e in py if isinstance(e, Capabilities)]


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0663", "9" * 5000, "0" * 5000, "1" + "0" * 640],
    ids=["superscript-two", "arabic-indic-three", "5000-nines", "5000-zeros", "641-digits"])
def test_a_size_value_that_is_no_number(value, monkeypatch):
    [caps] = capabilities(monkeypatch, value.encode())
    assert caps.size is None and caps.size_announced and caps.dsn
    assert dict(caps.items)["SIZE"] == (value,)


def test_leading_zeros_and_the_longest_number(monkeypatch):
    longest = "9" * 640
    for value in ("0" * 5000 + "12", "0012", longest):
        [caps] = capabilities(monkeypatch, value.encode())
        assert caps.size == int(value.lstrip("0")) == parse_ehlo_lines(("mx", "SIZE " + value)).size
