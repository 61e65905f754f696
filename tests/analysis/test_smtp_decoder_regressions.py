"""Regressions the SMTP-layer cross-checks found in the decoder, each pinned on a tiny transcript.

Every test feeds :class:`~smtpsniff.smtp.conversation.SmtpConversation` bytes with their own time and
frame, so what is checked is which time and frame (and which command) each event is given.
"""
from __future__ import annotations

from smtpsniff.anomaly import Anomaly
from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp.conversation import SmtpConversation
from smtpsniff.smtp.events import Command, MessageComplete, MessageStart

C2S = Direction.CLIENT_TO_SERVER


def _client_only(chunks: list[bytes]) -> tuple[list, int]:
    """A capture with the client's side only (Zeek's smtp-one-side-only shape): chunk i is frame i+1
    at i+1 seconds; the connection closes at 100 s."""
    conv = SmtpConversation()
    events = []
    for i, chunk in enumerate(chunks):
        events += conv.receive(C2S, chunk, (i + 1) * 1_000_000_000, i + 1)
    close_ns = 100_000_000_000
    events += conv.close(close_ns)
    return events, close_ns


ONE_SIDED = [
    b"EHLO client.example\r\n",
    b"MAIL FROM:<a@example.org>\r\n",
    b"RCPT TO:<b@example.org>\r\n",
    b"DATA\r\n",
    b"Subject: one\r\n\r\nfirst\r\n.\r\n",  # frame 5
    b"MAIL FROM:<a@example.org>\r\n",
    b"RCPT TO:<c@example.org>\r\n",
    b"DATA\r\n",  # frame 8: command #6
    b"Subject: two\r\n\r\nsecond\r\n",  # frame 9
    b".\r\n",  # frame 10
    b"QUIT\r\n",
]


def test_unanswered_second_data_message_belongs_to_its_own_data_command():
    """With no replies at all, each message read from held bytes at close is the content of the DATA
    that preceded it, not of the first DATA still waiting for its 354."""
    events, _ = _client_only(ONE_SIDED)
    data_commands = [e.index for e in events if isinstance(e, Command) and e.verb == "DATA"]
    assert data_commands == [3, 6]
    messages = [e for e in events if isinstance(e, MessageComplete)]
    assert [m.content for m in messages] == [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n"]
    assert [m.command_index for m in messages] == data_commands
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [s.command_index for s in starts] == data_commands


def test_unanswered_end_of_data_is_reported_at_the_terminator():
    """"end of message got no reply" carries the time and frame of the chunk with CRLF.CRLF."""
    events, _ = _client_only(ONE_SIDED)
    unanswered = [e for e in events if isinstance(e, Anomaly) and e.kind == "unmatched_command"
                  and e.message.startswith("end of message")]
    assert [(a.frame, a.ts_ns) for a in unanswered] == [(5, 5_000_000_000), (10, 10_000_000_000)]
    assert [a.message.split("#")[1].split(")")[0] for a in unanswered] == ["3", "6"]


def test_message_read_from_held_bytes_starts_at_the_first_held_chunk():
    """A message read from bytes held after DATA (no 354 ever came) starts where those bytes start:
    time and frame of the same chunk, never the close time with the chunk's frame."""
    events, close_ns = _client_only(ONE_SIDED)
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [(s.frame, s.ts_ns) for s in starts] == [(5, 5_000_000_000), (9, 9_000_000_000)]
    assert all(s.ts_ns != close_ns for s in starts)
