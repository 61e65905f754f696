"""The decoder's C feeding of recorded deliveries (``fastpath.ConversationFeed``, through
:func:`smtpsniff.smtp.conversation.chunk_feeder`) against the Python loop it stands in for:
``feed_client`` / ``feed_server`` called on each delivery in turn.

Every SMTP session of every capture is decoded both ways, from its deliveries as recorded and cut
again at random places (lines then start in one delivery and end in another, and the C code must
leave them to the Python splitter); the events, the conversation's state and the records must be
the same.
"""
from __future__ import annotations

import random
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from corpus import all_capture_params, session_jobs

from smtpsniff.limits import DEFAULT_LIMITS
from smtpsniff.net import native
from smtpsniff.pipeline import (
    _CHUNKS,
    _FEED_CLIENT,
    _FEED_SERVER,
    _replay_ops,
    new_session,
)
from smtpsniff.reassembly.events import Direction, StreamChunks
from smtpsniff.smtp.conversation import SmtpConversation, chunk_feeder

C_FEED = chunk_feeder(True)
pytestmark = pytest.mark.skipif(C_FEED is None or native.smtp_functions() is None,
                                reason="the C extension is not built")
SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"


def capture_jobs(path: Path) -> list:
    """The capture's session jobs, each delivery among their operations in a StreamChunks: the
    pipeline records a connection's deliveries as StreamData (operations of their own) until the C
    flows table takes it over, in chunks; all of them go through the feeding under test here."""
    return [replace(job, ops=tuple(as_chunks(job.opened.conn_id, job.ops))) for job in session_jobs(path)]


def as_chunks(conn_id: int, ops) -> list:
    """``ops`` with each run of StreamData deliveries made one StreamChunks operation."""
    out: list = []
    run: list = []

    def close_run() -> None:
        if run:
            out.append((_CHUNKS, StreamChunks(
                conn_id=conn_id, parts=tuple(data for _, data, _, _ in run),
                directions=bytes(0 if kind == _FEED_CLIENT else 1 for kind, _, _, _ in run),
                times=b"".join(struct.pack("=qqq", 0, ts, frame) for _, _, ts, frame in run),
                size=sum(len(data) for _, data, _, _ in run))))
            run.clear()

    for op in ops:
        if op[0] in (_FEED_CLIENT, _FEED_SERVER):
            run.append(op)
        else:
            close_run()
            out.append(op)
    close_run()
    return out


def recut(chunks: StreamChunks, rng: random.Random) -> StreamChunks:
    """The same deliveries, each cut into pieces at random places (each piece keeps its time and frame)."""
    parts, directions, times = [], bytearray(), []
    meta = struct.iter_unpack("=qqq", chunks.times)
    for direction, data, (offset, ts, frame) in zip(chunks.directions, chunks.parts, meta):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 4)))) if len(data) > 1 else []
        for a, b in zip([0, *cuts], [*cuts, len(data)]):
            parts.append(data[a:b])
            directions.append(direction)
            times.append(struct.pack("=qqq", offset + a, ts, frame))
    return StreamChunks(conn_id=chunks.conn_id, parts=tuple(parts), directions=bytes(directions),
                        times=b"".join(times), size=chunks.size)


def decoded(job, ops, feed, c_readers) -> tuple:
    """The events, end state and records of a session replayed with ``feed`` (None: the Python loop)."""
    session = new_session(job.opened, job.detected_by, DEFAULT_LIMITS, None, c_readers)
    session.chunks = feed
    events: list = []
    add = session.add

    def keep(builder, batch):
        events.extend(batch)
        add(builder, batch)

    session.add = keep
    try:
        _replay_ops(session, ops)
        records = session.finish(job.closed)
    except Exception as exc:  # noqa: BLE001 -- compared with the other way's
        return (type(exc), str(exc), events)
    c = session.conversation
    return events, (c.state, c.client_mode, c.server_mode, c.commands_sent), records


def assert_same(job, ops) -> None:
    readers = native.smtp_functions()
    expected = decoded(job, ops, None, readers)
    assert decoded(job, ops, C_FEED, readers) == expected
    # without the C line readers the C feeding hands every delivery to the Python methods
    assert decoded(job, ops, C_FEED, None) == decoded(job, ops, None, None)


@pytest.mark.parametrize("path", all_capture_params())
def test_every_session_decodes_the_same(path):
    jobs = capture_jobs(path)
    for job in jobs:
        assert_same(job, job.ops)
    assert not jobs or any(op[0] == _CHUNKS for job in jobs for op in job.ops)


@pytest.mark.parametrize("path", all_capture_params())
def test_deliveries_cut_anywhere_decode_the_same(path):
    rng = random.Random(f"conversation-feed-{path}")
    for job in capture_jobs(path)[:80]:
        for _ in range(3):
            ops = [(_CHUNKS, recut(op[1], rng)) if op[0] == _CHUNKS else op for op in job.ops]
            assert_same(job, ops)


def test_byte_by_byte():
    for job in capture_jobs(SAMPLE):
        ops = []
        for op in job.ops:
            if op[0] != _CHUNKS:
                ops.append(op)
                continue
            c = op[1]
            meta = list(struct.iter_unpack("=qqq", c.times))
            parts, dirs, times = [], bytearray(), []
            for d, data, (offset, ts, frame) in zip(c.directions, c.parts, meta):
                for k in range(len(data)):
                    parts.append(data[k:k + 1])
                    dirs.append(d)
                    times.append(struct.pack("=qqq", offset + k, ts, frame))
            ops.append((_CHUNKS, StreamChunks(conn_id=c.conn_id, parts=tuple(parts), directions=bytes(dirs),
                                              times=b"".join(times), size=c.size)))
        assert_same(job, ops)


def test_hand_over_and_other_classes():
    """``hand_over`` is called once ``most`` events wait; a subclass is fed through its own methods."""
    job = next(j for j in capture_jobs(SAMPLE) if any(op[0] == _CHUNKS for op in j.ops))
    chunks = next(op[1] for op in job.ops if op[0] == _CHUNKS)
    out, calls = [], []
    conv = SmtpConversation()
    C_FEED(conv, chunks.directions, chunks.parts, chunks.times, out, 1, lambda: calls.append(len(out)))
    assert out and calls and all(n >= 1 for n in calls)

    fed = []

    class Watched(SmtpConversation):
        def feed_client(self, data, pos, ts_ns, frame, out):
            fed.append(pos)
            super().feed_client(data, pos, ts_ns, frame, out)

    mine, theirs = [], []
    C_FEED(Watched(), chunks.directions, chunks.parts, chunks.times, mine, 10**9, lambda: None)
    plain = SmtpConversation()
    for direction, data, ts, frame in chunks.deliveries():
        feed = plain.feed_client if direction is Direction.CLIENT_TO_SERVER else plain.feed_server
        feed(data, 0, ts, frame, theirs)
    assert fed and mine == theirs


def test_bad_arguments_raise():
    conv = SmtpConversation()
    with pytest.raises(TypeError):
        C_FEED(conv, b"", (), b"", [], 1)
    with pytest.raises(ValueError):
        C_FEED(conv, b"\x00", (), b"", [], 1, lambda: None)


#: Lines of random conversations, for the paths the C code takes or hands back: queued verbs sent
#: with and without PIPELINING announced, AUTH and its 334 challenges, multi-line and malformed
#: replies, lines cut anywhere, message content.
CLIENT_PIECES = [b"EHLO x\r\n", b"HELO y\r\n", b"NOOP\r\n", b"VRFY a\r\n", b"HELP\r\n", b"MAIL FROM:<a@b>\r\n",
                 b"RCPT TO:<c@d>\r\n", b"DATA\r\n", b"hello\r\n.\r\n", b"AUTH LOGIN\r\n", b"dXNlcg==\r\n",
                 b"AUTH PLAIN AGEAYg==\r\n", b"RSET\r\n", b"QUIT\r\n", b"STARTTLS\r\n", b"BDAT 2 LAST\r\nab",
                 b"noop\n", b"XYZZY 1\r\n", b"MAIL FROM:<x@y> SIZE=10\r\n", b"EHLO x\r", b"DATA x\r\n",
                 b"RCPT TO:<e@f>\r\nRCPT TO:<g@h>\r\n", b"\x16\x03\x01\x00\x05hello", b"\x17\x03\x03\x00\x01z"]
SERVER_PIECES = [b"220 mx ESMTP\r\n", b"250-mx\r\n250 PIPELINING\r\n", b"250-mx\r\n250 SIZE 100\r\n", b"250 ok\r\n",
                 b"250 2.1.0 ok\r\n", b"354 go\r\n", b"334 VXNlcm5hbWU6\r\n", b"235 2.7.0 ok\r\n", b"550 5.1.1 no\r\n",
                 b"421 4.3.2 bye\r\n", b"221 bye\r\n", b"250 4.0.0 odd\r\n", b"garbage\r\n", b"25", b"0 ok\r\n",
                 b"220 2.0.0 go ahead\r\n", b"\x16\x03\x03\x00\x02ab", b"\x17\x03\x03\x00\x01y"]


def random_deliveries(rng: random.Random, n: int) -> list[tuple[int, bytes | int]]:
    """``(side, bytes)`` deliveries, and ``(side, length)`` gaps (0 client, 1 server)."""
    out: list[tuple[int, bytes | int]] = []
    for _ in range(n):
        side = rng.random() < 0.5
        if rng.random() < 0.08:
            out.append((int(side), rng.randint(1, 30)))
            continue
        pieces = SERVER_PIECES if side else CLIENT_PIECES
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            cut = rng.randrange(1, len(data)) if len(data) > 1 else 1
            out.append((int(side), data[:cut]))
            data = data[cut:]
        if data:
            out.append((int(side), data))
    return out


def feed_each(conv: SmtpConversation, deliveries, use_c: bool) -> list:
    """Each delivery fed alone, the conversation's state after each one with the events so far."""
    out: list = []
    trace = []
    for i, (side, data) in enumerate(deliveries):
        ts, frame = 1000 * (i + 1), i + 1
        if isinstance(data, int):
            out.extend(conv.gap(Direction.SERVER_TO_CLIENT if side else Direction.CLIENT_TO_SERVER, data, ts, frame))
        elif use_c:
            C_FEED(conv, bytes([side]), (data,), struct.pack("=qqq", 0, ts, frame), out, 10**9, lambda: None)
        else:
            (conv.feed_server if side else conv.feed_client)(data, 0, ts, frame, out)
        trace.append((conv.state, conv.client_mode, conv.server_mode, conv.commands_sent, len(out)))
    return [*out, *conv.close(10**12)], trace


@pytest.mark.parametrize("seed", range(60))
def test_random_conversations(seed):
    rng = random.Random(f"conversation-feed-random-{seed}")
    deliveries = random_deliveries(rng, 40)
    kwargs = {"midstream": seed % 7 == 0}
    if seed % 3 == 0:
        kwargs["limits"] = replace(DEFAULT_LIMITS, max_buffered_line=24, max_reply_lines=2, max_recipients=2)
    assert feed_each(SmtpConversation(**kwargs), deliveries, True) == \
        feed_each(SmtpConversation(**kwargs), deliveries, False)
    # many deliveries in one call, as a recorded session gives them (a gap between calls)
    whole: list = []
    conv = SmtpConversation(**kwargs)
    run: list = []

    def flush() -> None:
        if run:
            C_FEED(conv, bytes(side for _, side, _ in run), tuple(data for _, _, data in run),
                   b"".join(struct.pack("=qqq", 0, 1000 * (i + 1), i + 1) for i, _, _ in run), whole, 10**9,
                   lambda: None)
            run.clear()

    for i, (side, data) in enumerate(deliveries):
        if isinstance(data, int):
            flush()
            whole.extend(conv.gap(Direction.SERVER_TO_CLIENT if side else Direction.CLIENT_TO_SERVER, data,
                                  1000 * (i + 1), i + 1))
        else:
            run.append((i, side, data))
    flush()
    assert [*whole, *conv.close(10**12)] == feed_each(SmtpConversation(**kwargs), deliveries, False)[0]


#: Conversations that reach what _command_sent reports: the recipient past max_recipients (2 here),
#: a BDAT message abandoned by MAIL or RSET, DATA with an argument, and a recipient count that a
#: later MAIL starts again.
SCRIPTED = [
    [(1, b"220 mx ESMTP\r\n"), (0, b"EHLO a\r\n"), (1, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
     (0, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nRCPT TO:<g@h>\r\n"),
     (1, b"250 ok\r\n250 ok\r\n250 ok\r\n452 too many\r\n"),
     (0, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA x\r\n"),
     (1, b"250 ok\r\n250 ok\r\n250 ok\r\n501 no argument\r\n"),
     (0, b"BDAT 3\r\nabc"), (1, b"250 3 octets\r\n"), (0, b"MAIL FROM:<x@y>\r\n"), (1, b"250 ok\r\n"),
     (0, b"RCPT TO:<c@d>\r\nBDAT 2\r\nxy"), (1, b"250 ok\r\n250 2 octets\r\n"), (0, b"RSET\r\n"),
     (1, b"250 reset\r\n"), (0, b"RCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nRCPT TO:<g@h>\r\n"),
     (1, b"250 ok\r\n250 ok\r\n452 too many\r\n"), (0, b"QUIT\r\n"), (1, b"221 bye\r\n")],
]


@pytest.mark.parametrize("script", SCRIPTED)
def test_scripted_conversations(script):
    limits = replace(DEFAULT_LIMITS, max_recipients=2)
    python_events, python_trace = feed_each(SmtpConversation(limits=limits), script, False)
    assert {"too_many_recipients", "bdat_without_last", "data_with_argument"} <= \
        {e.kind for e in python_events if type(e).__name__ == "Anomaly"}
    assert feed_each(SmtpConversation(limits=limits), script, True) == (python_events, python_trace)
