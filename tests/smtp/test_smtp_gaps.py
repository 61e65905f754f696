"""Capture gaps (Zeek's AFTER_GAP / GAP_RECOVERY): resynchronisation and what is marked incomplete."""
from __future__ import annotations

from smtp_transcript import C, S, decode

from smtpsniff.smtp.events import Command, GapEvent, MessageComplete, Reply, ReplyStage, Resynced
from smtpsniff.smtp.states import ClientMode, SmtpState

HEAD = [(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n")]


def test_gap_in_command_stream_resyncs_on_known_verb():
    items = HEAD + [(C, b"MAIL FR"), ("gap", C, 40), (C, b"tail of something\r\nxyz\r\nRCPT TO:<b@y>\r\n"),
                    (S, b"250 ok\r\n250 ok\r\n")]
    ev = decode(items)
    gap = ev.first(GapEvent)
    assert gap.direction is C and gap.length == 40
    rs = ev.first(Resynced)
    assert rs.direction is C and rs.skipped_bytes == 7 + 40 + len(b"tail of something\r\nxyz\r\n")
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "RCPT"]
    # the reply to the lost MAIL finds no command: it is reported, not mismatched silently
    r = ev.of(Reply)
    assert r[-2].stage is ReplyStage.COMMAND and r[-2].after_gap and r[-2].verb == "RCPT"
    assert "unexpected_reply" in ev.kinds()


def test_gap_in_reply_stream_resyncs_on_reply_line():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 2.1"), ("gap", S, 10), (S, b"junk\r\n"),
                    (C, b"RCPT TO:<b@y>\r\n"), (S, b"250 2.1.5 Ok\r\n")]
    ev = decode(items)
    replies = ev.of(Reply)
    # the cut reply is kept, marked incomplete, and answers MAIL
    cut = replies[2]
    assert (cut.code, cut.verb, cut.complete, cut.lines) == (250, "MAIL", False, ("2.1",))
    assert ev.first(Resynced).direction is S and ev.first(Resynced).skipped_bytes == 10 + len(b"junk\r\n")
    assert replies[-1].verb == "RCPT"
    assert ev.conv.state is SmtpState.CLOSED


def test_gap_inside_data_content_stays_in_content():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"), (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
                    (C, b"Subject: x\r\n\r\nline one\r\nli"), ("gap", C, 500),
                    (C, b"ne after gap\r\nRCPT TO:<not-a-command@x>\r\n.\r\nQUIT\r\n"),
                    (S, b"250 queued\r\n221 bye\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert not msg.complete and msg.gap_bytes == 500
    assert msg.content == b"Subject: x\r\n\r\nline one\r\nline after gap\r\nRCPT TO:<not-a-command@x>\r\n"
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert ev.of(Resynced) == []


def test_gap_swallowing_the_end_of_data():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"), (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
                    (C, b"Subject: x\r\n"), ("gap", C, 100), (S, b"250 2.0.0 queued\r\n"),
                    (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert not msg.complete and msg.content == b"Subject: x\r\n"
    end = [r for r in ev.of(Reply) if r.stage is ReplyStage.DATA_END]
    assert [(r.code, r.command_index) for r in end] == [(250, 3)]
    assert ev.of(Command)[-1].verb == "QUIT" and ev.first(Resynced).direction is C


def test_gap_inside_bdat_chunk():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 20 LAST\r\n0123"), ("gap", C, 10),
                    (C, b"456789QUIT\r\n"), (S, b"250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert msg.content == b"0123456789" and msg.gap_bytes == 10 and not msg.complete and msg.chunks == 1
    assert ev.of(Command)[-1].verb == "QUIT" and ev.of(Resynced) == []


def test_gap_past_the_end_of_a_bdat_chunk():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 5 LAST\r\n01"), ("gap", C, 10),
                    (C, b"AIL\r\nQUIT\r\n"), (S, b"250 ok\r\n250 ok\r\n250 queued\r\n221 bye\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert msg.content == b"01" and msg.gap_bytes == 3 and not msg.complete
    rs = ev.first(Resynced)
    assert rs.skipped_bytes == 7 + len(b"AIL\r\n")
    assert ev.of(Command)[-1].verb == "QUIT"


def test_gap_while_data_bytes_are_held():
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nab"), ("gap", C, 3), (C, b"cd\r\n.\r\n"),
                    (S, b"250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n")]
    ev = decode(items)
    msg = ev.first(MessageComplete)
    assert msg.content == b"abcd\r\n" and msg.gap_bytes == 3 and not msg.complete


def test_midstream_start_inside_data():
    # the capture starts inside message content: the client stays lost until a command verb line
    ev = decode([(C, b"rest of a message\r\n.\r\nQUIT\r\n"), (S, b"250 queued\r\n221 bye\r\n")], midstream=True)
    assert [c.verb for c in ev.of(Command)] == ["QUIT"]
    assert ev.first(Resynced).skipped_bytes == len(b"rest of a message\r\n.\r\n")
    assert ev.conv.client_mode is ClientMode.CLOSED
