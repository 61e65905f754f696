"""The decoder's whole-chunk shortcuts (plain DATA lines copied in one go, a well-formed reply taken
at once) at their edges: every transcript is also decoded byte by byte, where only the
line-by-line path runs, and both must give the same events (see smtp_transcript.decode)."""
from __future__ import annotations

import pytest
from smtp_transcript import C, S, decode

from smtpsniff.limits import Limits
from smtpsniff.smtp.events import Capabilities, Command, MessageComplete, Reply

HEAD = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        (C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n"), (C, b"RCPT TO:<b@y>\r\n"), (S, b"250 ok\r\n")]
PLAIN = b"".join(b"line %d of plain text\r\n" % i for i in range(40))


def data_session(content: bytes, **kw):
    items = HEAD + [(C, b"DATA\r\n"), (S, b"354 go ahead\r\n"), (C, content),
                    (S, b"250 2.0.0 queued\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    return decode(items, **kw)


def unstuffed(wire: bytes) -> bytes:
    """RFC 5321 4.5.2 applied to CRLF lines: the content before CRLF.CRLF, leading dots removed."""
    body = wire[: wire.index(b"\r\n.\r\n") + 2] if not wire.startswith(b".\r\n") else b""
    return b"".join(line[1:] if line.startswith(b".") else line for line in body.splitlines(keepends=True))


@pytest.mark.parametrize("odd", [
    b"..stuffed dot\r\n", b"bare LF\n", b"bare\rCR\r\n", b"NUL\x00here\r\n", b"x" * 998 + b"\r\n",
    b"x" * 999 + b"\r\n", b"\r.\r\n", b"\n.\n", b".\n", b"CR at end\r",
])
def test_plain_lines_around_each_irregular_line(odd):
    wire = PLAIN + odd + PLAIN + b".\r\n"
    msg = data_session(wire).first(MessageComplete)
    assert msg.wire_bytes == len(wire)
    if b"\n" not in odd.replace(b"\r\n", b"") and b"\r" not in odd.replace(b"\r\n", b""):
        assert msg.content == unstuffed(wire)


def test_plain_lines_content_cut_at_the_message_limit():
    limits = Limits(max_message_bytes=len(PLAIN) + 7)
    msg = data_session(PLAIN * 3 + b".\r\n", limits=limits).first(MessageComplete)
    assert msg.size == 3 * len(PLAIN) and msg.truncated_content
    assert msg.content == (PLAIN * 3)[: len(PLAIN) + 7]


def test_plain_lines_longer_than_the_line_buffer():
    limits = Limits(max_buffered_line=64, max_text_line=1000)
    msg = data_session(PLAIN + b"y" * 200 + b"\r\n" + PLAIN + b".\r\n", limits=limits).first(MessageComplete)
    assert msg.content == PLAIN + b"y" * 200 + b"\r\n" + PLAIN


EHLO = [b"250-mx.example", b"250-PIPELINING", b"250-SIZE 1000", b"250-8BITMIME", b"250 CHUNKING"]


@pytest.mark.parametrize("reply", [
    b"\r\n".join(EHLO) + b"\r\n",
    b"250-mx\r\n250\r\n",  # a bare code ends a reply (RFC 5321 4.2)
    b"250-mx\r\n251 other code\r\n",
    b"250-mx\r\n250-\x00\r\n250 x\r\n",
    b"250-mx\r\n250-a\rb\r\n250 x\r\n",
    b"250-mx\n250 x\r\n",
    b"260-out of range\r\n260 x\r\n",
    b"250 " + b"t" * 506 + b"\r\n",  # 512 octets: at max_reply_line
    b"250 " + b"t" * 507 + b"\r\n",  # 513 octets: over it
    b"250-a\r\n" * 3 + b"250 b\r\n",
    b"250-caf\xc3\r\n250-\xa9t\xc3\xa9\r\n250 \xff\xfe\r\n",  # UTF-8 cut at line ends, invalid octets
    b"250 caf\xc3\r\n",
])
def test_ehlo_replies_at_the_edges(reply):
    items = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, reply), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    ev = decode(items)
    replies = ev.of(Reply)
    assert [r.verb for r in replies] == ["<greeting>", "EHLO", "QUIT"]
    assert replies[1].raw == reply


def test_reply_line_count_limit():
    reply = b"250-a\r\n" * 4 + b"250 b\r\n"
    items = [(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, reply)]
    at_limit = decode(items, limits=Limits(max_reply_lines=5))
    over = decode(items, limits=Limits(max_reply_lines=4))
    assert at_limit.of(Reply)[1].lines == ("a",) * 4 + ("b",) and "reply_too_many_lines" not in at_limit.kinds()
    assert over.of(Reply)[1].lines == ("a",) * 4 and "reply_too_many_lines" in over.kinds()
    assert over.first(Capabilities).items == at_limit.first(Capabilities).items[:3]


def test_several_replies_in_one_chunk():
    items = HEAD[:3] + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\n"),
                        (S, b"250 ok\r\n550 5.1.1 no\r\n250-part\r\n250 ok\r\n")]
    replies = decode(items).of(Reply)
    assert [(r.code, r.verb, r.lines, r.enhanced_code) for r in replies[2:]] == [
        (250, "MAIL", ("ok",), None), (550, "RCPT", ("5.1.1 no",), "5.1.1"), (250, "RCPT", ("part", "ok"), None)]


@pytest.mark.parametrize("reply", [b"250\r\n", b"250 ok\r\n", b"250-a\r\n250 b\r\n"])
def test_reply_with_no_line_kept(reply):
    items = [(S, b"220 mx\r\n"), (C, b"NOOP\r\n"), (S, reply)]
    ev = decode(items, limits=Limits(max_reply_lines=0))
    assert [r.lines for r in ev.of(Reply)] == [(), ()] and "reply_too_many_lines" in ev.kinds()


def test_undecodable_octets_in_reply_lines_kept_as_surrogates():
    reply = b"550-caf\xc3\r\n550 \xa9 no\r\n"
    items = [(S, b"220 mx\r\n"), (C, b"VRFY x\r\n"), (S, reply)]
    r = decode(items).of(Reply)[1]
    assert r.lines == ("caf\udcc3", "\udca9 no") and r.raw == reply


@pytest.mark.parametrize(("line", "kinds"), [
    (b"MAIL FROM:<a@x>\r\n", set()), (b"  mail   FROM:<a@x>  \r\n", set()), (b"X\r\n", {"unknown_command"}),
    (b"MAIL FROM:<a@x>\n", {"bare_lf_line_ending"}), (b"MAIL FROM:<a\r@x>\r\n", {"bare_cr"}),
    (b"RCPT TO:<\x00>\r\n", {"nul_byte"}), (b"HELO " + b"h" * 600 + b"\r\n", {"command_line_too_long"}),
    (b"AUTH PLAIN " + b"A" * 600 + b"\r\n", set()),  # AUTH lines may reach 12288 octets (RFC 4954 4)
])
def test_command_line_checks(line, kinds):
    items = [(S, b"220 mx\r\n"), (C, line), (S, b"250 ok\r\n")]
    ev = decode(items)
    (cmd,) = ev.of(Command)
    assert cmd.raw == line and cmd.line_ending == (b"\r\n" if line.endswith(b"\r\n") else b"\n")
    assert set(ev.kinds()) - {"pipelining_not_offered"} == kinds
