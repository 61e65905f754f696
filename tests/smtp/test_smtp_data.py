"""DATA content (dot-stuffing, end marker, smuggling shapes, held early content) and BDAT chunks."""
from __future__ import annotations

from smtp_transcript import C, S, decode

from smtpsniff.limits import Limits
from smtpsniff.smtp.events import Command, MessageComplete, MessageStart, Reply, ReplyStage
from smtpsniff.smtp.states import ClientMode, SmtpState

HEAD = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        (C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n"), (C, b"RCPT TO:<b@y>\r\n"), (S, b"250 ok\r\n")]


def data_session(content: bytes, *, tail: list | None = None, **kw):
    items = HEAD + [(C, b"DATA\r\n"), (S, b"354 go ahead\r\n"), (C, content)]
    items += tail if tail is not None else [(S, b"250 2.0.0 queued\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    return decode(items, **kw)


def test_dot_unstuffing_and_end_marker():
    ev = data_session(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n")
    msg = ev.first(MessageComplete)
    assert msg.content == b"Subject: x\r\n\r\n.leading dot\r\n"
    assert msg.size == len(msg.content) and msg.complete and msg.end_marker == b"\r\n.\r\n"
    assert msg.wire_bytes == len(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n")
    assert msg.via == "DATA" and msg.command_index == 3 and msg.chunks == 1
    assert ev.first(MessageStart).command_index == 3
    assert ev.kinds() == []
    assert [c.verb for c in ev.of(Command)][-1] == "QUIT"


def test_empty_message():
    msg = data_session(b".\r\n").first(MessageComplete)
    assert msg.content == b"" and msg.end_marker == b".\r\n" and msg.complete


def test_end_marker_split_everywhere_and_following_command():
    # the decode helper feeds byte by byte and in random chunks too
    ev = data_session(b"a\r\n.\r\nQUIT\r\n", tail=[(S, b"250 ok\r\n221 bye\r\n")])
    assert ev.first(MessageComplete).content == b"a\r\n"
    assert ev.of(Command)[-1].verb == "QUIT" and ev.of(Command)[-1].pipelined


def test_smuggling_shapes_are_recorded_not_honoured():
    body = (b"Subject: s\r\n\r\nA\n.\nMAIL FROM:<evil@x>\r\n"  # \n.\n
            b"B\n.\r\nC\r\n.\nD\r.\r\nE\r\n.\r\n")  # \n.\r\n, \r\n.\n, \r.\r\n
    ev = data_session(body)
    msg = ev.first(MessageComplete)
    # nothing ended early: one message, no MAIL command from inside it
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    shapes = dict((s, o) for o, s in msg.smuggling_candidates)
    assert set(shapes) == {b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"}
    c = msg.content
    assert c[shapes[b"\n.\n"] : shapes[b"\n.\n"] + 3] == b"\n.\n"
    assert c[shapes[b"\n.\r\n"] : shapes[b"\n.\r\n"] + 4] == b"\n.\r\n"
    assert c[shapes[b"\r.\r\n"] : shapes[b"\r.\r\n"] + 4] == b"\r.\r\n"
    # "\r\n.\n": the dot starts a CRLF line with more on it, so RFC 5321 4.5.2 removes it
    assert c[shapes[b"\r\n.\n"] : shapes[b"\r\n.\n"] + 3] == b"\r\n\n"
    assert msg.bare_lf_count == 4 and msg.bare_cr_count == 1
    assert all(c[o : o + 1] == b"\n" for o in msg.bare_lf_offsets)
    assert all(c[o : o + 1] == b"\r" for o in msg.bare_cr_offsets)
    assert {"bare_lf", "bare_cr", "smuggling_candidate"} <= set(ev.kinds())


def test_offsets_are_capped_counts_exact():
    body = b"x\ny\n" * 200 + b"\r\n.\r\n"
    msg = data_session(body, limits=Limits(max_recorded_offsets=5)).first(MessageComplete)
    assert msg.bare_lf_count == 400 and len(msg.bare_lf_offsets) == 5


def test_long_lines_and_nul_in_content_and_truncation():
    body = b"A" * 1200 + b"\r\nB\x00\r\n.\r\n"
    ev = data_session(body, limits=Limits(max_message_bytes=100, max_buffered_line=256))
    msg = ev.first(MessageComplete)
    assert msg.long_line_count == 1 and msg.nul_count == 1
    assert msg.size == 1200 + 2 + 4 and len(msg.content) == 100 and msg.truncated_content
    assert {"text_line_too_long", "nul_byte"} <= set(ev.kinds())


def test_data_rejected_keeps_command_mode():
    items = HEAD[:5] + [(C, b"RCPT TO:<nobody@y>\r\n"), (S, b"550 5.1.1 unknown\r\n"),
                        (C, b"DATA\r\n"), (S, b"554 5.5.1 Error: no valid recipients\r\n"),
                        (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    ev = decode(items)
    assert ev.of(MessageStart) == [] and ev.of(MessageComplete) == []
    r = [r for r in ev.of(Reply) if r.verb == "DATA"]
    assert [(x.code, x.stage) for x in r] == [(554, ReplyStage.DATA_START)]
    assert ev.of(Command)[-1].verb == "QUIT" and ev.kinds() == []


def test_content_sent_before_354_is_held_then_content():
    items = HEAD + [(C, b"DATA\r\nSubject: early\r\n\r\nbody\r\n.\r\n"), (S, b"354 go\r\n250 queued\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert msg.content == b"Subject: early\r\n\r\nbody\r\n"
    assert "content_before_354" in ev.kinds()
    order = [type(e).__name__ for e in ev if type(e).__name__ in ("Reply", "MessageStart", "MessageComplete")]
    assert order[-4:] == ["Reply", "MessageStart", "MessageComplete", "Reply"]


def test_bytes_after_rejected_data_are_commands():
    # A blind client pipelines content after DATA; the server refuses DATA: the server reads it as
    # commands, and so must we.
    items = HEAD + [(C, b"DATA\r\nRSET\r\nQUIT\r\n"), (S, b"503 5.5.1 no\r\n250 ok\r\n221 bye\r\n")]
    ev = decode(items)
    assert ev.of(MessageComplete) == []
    assert [c.verb for c in ev.of(Command)][-2:] == ["RSET", "QUIT"]
    assert [r.verb for r in ev.of(Reply)][-2:] == ["RSET", "QUIT"]


def test_data_hold_overflow_reads_as_content():
    items = HEAD + [(C, b"DATA\r\n" + b"x" * 100 + b"\r\n.\r\n")]
    ev = decode(items, limits=Limits(max_buffered_line=64))
    assert "held_without_reply" in ev.kinds()
    msg = ev.first(MessageComplete)
    assert msg.content == b"x" * 100 + b"\r\n" and msg.complete


def test_two_transactions():
    one = [(C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n"), (C, b"RCPT TO:<b@y>\r\n"), (S, b"250 ok\r\n"),
           (C, b"DATA\r\n"), (S, b"354 go\r\n")]
    items = HEAD[:3] + one + [(C, b"first\r\n.\r\n"), (S, b"250 ok\r\n")] + one + [(C, b"second\r\n.\r\n"),
                                                                               (S, b"451 try later\r\n")]
    ev = decode(items)
    assert [m.content for m in ev.of(MessageComplete)] == [b"first\r\n", b"second\r\n"]
    ends = [r for r in ev.of(Reply) if r.stage is ReplyStage.DATA_END]
    assert [(r.code, r.command_index) for r in ends] == [(250, 3), (451, 6)]


def test_bdat_chunks():
    items = HEAD + [
        (C, b"BDAT 10\r\n0123456789BDAT 5\r\n\r\n.\r\n"), (S, b"250 2.0.0 10 octets\r\n"),
        (S, b"250 2.0.0 5 octets\r\n"),
        (C, b"BDAT 3 LAST\r\nxyz"), (S, b"250 2.0.0 queued\r\n"),
        (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 0 LAST\r\n"), (S, b"250 ok\r\n250 ok\r\n250 queued\r\n"),
    ]
    ev = decode(items)
    msgs = ev.of(MessageComplete)
    assert [m.content for m in msgs] == [b"0123456789\r\n.\r\nxyz", b""]
    assert [m.chunks for m in msgs] == [3, 1] and all(m.complete and m.via == "BDAT" for m in msgs)
    assert msgs[0].end_marker == b""
    stages = [(r.verb, r.stage) for r in ev.of(Reply) if r.verb == "BDAT"]
    assert stages == [("BDAT", ReplyStage.BDAT_CHUNK), ("BDAT", ReplyStage.BDAT_CHUNK),
                      ("BDAT", ReplyStage.DATA_END), ("BDAT", ReplyStage.DATA_END)]
    assert len(ev.of(MessageStart)) == 2
    assert ev.kinds() == []


def test_bdat_invalid_size_resyncs():
    items = HEAD + [(C, b"BDAT abc\r\nsome chunk bytes\r\nRSET\r\n"), (S, b"501 bad\r\n250 ok\r\n"),
                    (C, b"BDAT -5 LAST\r\nQUIT\r\n"), (S, b"501 bad\r\n221 bye\r\n")]
    ev = decode(items)
    assert ev.kinds().count("bdat_size_invalid") == 2
    assert [c.verb for c in ev.of(Command)][-4:] == ["BDAT", "RSET", "BDAT", "QUIT"]
    assert ev.of(MessageComplete) == []


def test_bdat_without_last_then_rset():
    items = HEAD + [(C, b"BDAT 2\r\nab"), (S, b"250 ok\r\n"), (C, b"RSET\r\n"), (S, b"250 ok\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert msg.content == b"ab" and not msg.complete
    assert "bdat_without_last" in ev.kinds()


def test_message_cut_by_close():
    ev = data_session(b"partial content\r\nno end", tail=[])
    msg = ev.first(MessageComplete)
    assert not msg.complete and msg.content == b"partial content\r\nno end"
    assert "message_incomplete" in ev.kinds()
    assert ev.conv.state is SmtpState.CLOSED and ev.conv.client_mode is ClientMode.CLOSED


def test_long_content_lines_split_at_cr_regardless_of_chunking():
    # regression (fuzz seed 1215): a piece boundary on the CR of a CRLF must not depend on chunking
    body = b"1234567\r\n12345678\r\n123456789\r\nab\rcd\r\n.\r\n"
    ev = data_session(body, limits=Limits(max_buffered_line=8))
    msg = ev.first(MessageComplete)
    assert msg.content == body[:-3] and msg.bare_cr_count == 1 and msg.bare_lf_count == 0
