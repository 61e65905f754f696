"""The decoder's shared strings: the C readers (``smtp_command``, ``smtp_reply`` in
smtpsniff/_native/fastpath.c) hand out the very str of ``grammar.SHARED_TEXT`` for a known verb and
an enhanced code it holds, and a new equal str for anything else -- values as the Python decoder
reads them (the oracle: the grammar's patterns on the same line).
"""
from __future__ import annotations

import pytest

from smtpsniff.net import native
from smtpsniff.smtp import grammar
from smtpsniff.smtp.grammar import KNOWN_VERBS, SHARED_TEXT

pytestmark = pytest.mark.skipif(
    not native.available() or not hasattr(native._fastpath, "smtp_content"),
    reason="the C extension smtpsniff._native.fastpath is not built, or predates the SMTP readers")


def _verb(line: bytes):
    parsed = native._fastpath.smtp_command(line, 0, 1000, 1000)
    return None if parsed is None else parsed[2]


def test_smtp_shared_text_known_verbs():
    for verb in KNOWN_VERBS:
        for written in (verb, verb.lower(), verb[:1] + verb[1:].lower()):
            line = f"  {written}\targ \r\n"
            if verb == "MAIL":
                line = f"{written} FROM:<a@b>\r\n"
            elif verb == "RCPT":
                line = f"{written} TO:<a@b>\r\n"
            got = _verb(line.encode())
            if verb in ("XCLIENT", "XFORWARD"):  # left to the Python decoder
                assert got is None
                continue
            assert got == verb and got is SHARED_TEXT[verb], line


@pytest.mark.parametrize("verb", [b"RCPTX", b"RCP", b"X-EXP", b"STARTTLSX", b"X-ANONYMOUSTLS2", b"R\xc3\xa9",
                                  b"NO-OP", b"Q"])
def test_smtp_shared_text_other_verbs(verb):
    got = _verb(verb + b" x\r\n")
    if got is None:  # non-ASCII: left to the Python decoder
        assert not verb.isascii()
        return
    assert got == verb.decode().upper() and got not in SHARED_TEXT


def test_smtp_shared_text_enhanced_codes():
    reply = native._fastpath.smtp_reply
    codes = [f"{c}.{s}.{d}" for c in "245" for s in range(10) for d in range(100)]
    others = ["2.1.05", "2.01.5", "2.10.0", "2.1.100", "5.999.999", "4.0.00", "2.0.000"]
    for code in codes + others:
        for reply_code in (b"250", b"451", b"550"):
            for tail in (" ok", "", "\tok"):
                parsed = reply(reply_code + b" " + f"{code}{tail}".encode() + b"\r\n", 0, 1000, 10)
                m = grammar.ENHANCED_CODE.match(parsed[2][0])
                assert parsed[5] == m.group("code") == code
                if code in SHARED_TEXT:
                    assert parsed[5] is SHARED_TEXT[code]
                else:
                    assert code in others
    assert reply(b"250 2.1.5x ok\r\n", 0, 1000, 10)[5] is None
