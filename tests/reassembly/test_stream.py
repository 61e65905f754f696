"""Per-direction semantics: ordering, overlaps, wrap-around, gaps and their causes, FIN/RST, TFO."""
from __future__ import annotations

from smtpsniff.limits import Limits
from smtpsniff.reassembly.events import CloseReason, ConnectionClosed, StreamData, StreamGap
from smtpsniff.reassembly.table import TcpReassembler

from .conftest import ACK, C2S, check_invariants, FIN, MOD, PSH, S2C, Talk, anomalies, flows, of_type, run


def test_in_order_data_is_delivered_at_once_with_its_frame() -> None:
    t = Talk()
    r = TcpReassembler()
    for seg in t.handshake():
        r.feed(seg)
    greet = t.s(b"220 mx ESMTP\r\n")
    out = r.feed(greet)
    assert len(out) == 1 and isinstance(out[0], StreamData)
    ev = out[0]
    assert (ev.direction, ev.offset, ev.data, ev.frame, ev.ts_ns, ev.frames) == (
        S2C, 0, b"220 mx ESMTP\r\n", greet.frame, greet.ts_ns, (greet.frame,))


def test_pure_ack_returns_the_shared_empty_result() -> None:
    t = Talk()
    r = TcpReassembler()
    for seg in t.handshake() + [t.s(b"220 x\r\n")]:
        r.feed(seg)
    a, b = r.feed(t.c_ack()), r.feed(t.c_ack())
    assert a == () and a is b


def test_out_of_order_held_until_the_hole_fills() -> None:
    t = Talk()
    segs = t.handshake()
    s1, s2, s3 = t.c(b"MAIL FROM:<a@b>\r\n"), t.c(b"RCPT TO:<c@d>\r\n"), t.c(b"DATA\r\n")
    r = TcpReassembler()
    for seg in segs:
        r.feed(seg)
    assert r.feed(s3) == ()
    assert r.feed(s2) == ()
    out = r.feed(s1)
    assert len(out) == 1
    assert out[0].data == b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
    assert out[0].frame == s1.frame and out[0].frames == (s1.frame, s2.frame, s3.frame)


def test_retransmission_is_delivered_once_and_counted() -> None:
    t = Talk()
    hs = t.handshake()
    s1 = t.c(b"EHLO client.example\r\n")
    segs = hs + [s1, s1._replace(frame=99), t.c(b"QUIT\r\n")]
    r = TcpReassembler()
    ev = run(segs, reassembler=r)
    assert flows(ev)[0, C2S].data == b"EHLO client.example\r\nQUIT\r\n"
    assert r.stats.retransmitted_bytes == len(s1.payload)
    assert not anomalies(ev)


def test_overlap_mismatch_first_copy_wins_against_delivered_data() -> None:
    t = Talk()
    hs = t.handshake()
    first = t.c(b"RCPT TO:<alice@example.org>\r\n")
    # a re-sent copy of the same range with different bytes (an IDS-evasion trick)
    evil = t.c(b"RCPT TO:<mallory@evil.org>\r\n"[:len(first.payload)].ljust(len(first.payload), b"x"),
               seq=first.seq)
    r = TcpReassembler()
    ev = run(hs + [first, evil], reassembler=r)
    assert flows(ev)[0, C2S].data == first.payload
    [a] = anomalies(ev, "overlap_mismatch")
    assert a.conn_id == 0 and a.frame == evil.frame
    diff = [i for i, (x, y) in enumerate(zip(first.payload, evil.payload)) if x != y]
    assert f"offset {diff[0]} length {diff[-1] - diff[0] + 1}" in a.message
    assert r.stats.overlap_mismatch_bytes == len(diff)


def test_overlap_mismatch_first_copy_wins_against_held_data() -> None:
    t = Talk()
    hs = t.handshake()
    a = t.c(b"AAAA")
    b = t.c(b"BBBBBBBB")
    b_evil = b._replace(frame=50, payload=b"BBBBXXXX")
    r = TcpReassembler()
    ev = run(hs + [b, b_evil, a], reassembler=r)
    assert flows(ev)[0, C2S].data == b"AAAABBBBBBBB"
    [an] = anomalies(ev, "overlap_mismatch")
    assert "offset 8 length 4" in an.message
    # partly new, partly overlapping held bytes: only the uncovered part is taken from the newcomer
    t = Talk()
    hs = t.handshake()
    x, y = t.c(b"0123"), t.c(b"4567")
    z = t.c(b"89")
    wide = y._replace(frame=77, payload=b"456789AB")  # overlaps y and z (identical), adds "AB"
    ev = run(hs + [z, y, wide, x])
    assert flows(ev)[0, C2S].data == b"0123456789AB"
    assert not anomalies(ev)


def test_wrap_around_isn_near_the_top() -> None:
    t = Talk(cisn=MOD - 10, sisn=MOD - 3)
    hs = t.handshake()
    parts = [t.c(bytes([65 + i]) * 4) for i in range(8)]  # crosses 2**32 in the third segment
    greeting = t.s(b"220 wrap test\r\n", ack=parts[4].seq)  # acknowledges what it has seen so far
    assert any(p.seq < 10 for p in parts) and parts[0].seq > MOD - 20
    order = [parts[0], parts[3], parts[2], parts[1], greeting, parts[5], parts[4], parts[7], parts[6]]
    ev = run(hs + order + [t.c_fin(), t.s_fin(), t.c_ack()])
    f = flows(ev)
    assert f[0, C2S].data == b"".join(p.payload for p in parts) and not f[0, C2S].gaps
    assert f[0, S2C].data == b"220 wrap test\r\n"
    assert of_type(ev, ConnectionClosed)[0].reason is CloseReason.FIN


def test_long_stream_crosses_the_wrap_by_volume() -> None:
    t = Talk(cisn=3_000_000_000)
    r = TcpReassembler()
    for seg in t.handshake():
        r.feed(seg)
    chunk = bytes(range(256)) * 256  # 64 KiB
    total = MOD + 3 * len(chunk)  # more than 2**32 bytes: every sequence number is used again
    sent = delivered = 0
    while sent < total:
        s = t.c(chunk)
        for e in r.feed(s):
            assert isinstance(e, StreamData) and e.offset == delivered
            delivered += len(e.data)
        sent += len(chunk)
    # after the wrap (more than once over for the ISN), reorder two segments and drop one acked
    a, b, c = t.c(b"a" * 100), t.c(b"b" * 100), t.c(b"c" * 100)
    ev = list(r.feed(b)) + list(r.feed(a)) + list(r.feed(t.s_ack(ack=c.seq + 100))) + list(r.feed(t.s(b"250 ok\r\n")))
    assert [(type(e).__name__, e.offset) for e in ev] == [
        ("StreamData", total), ("StreamGap", total + 200), ("StreamData", 0)]
    assert ev[0].data == b"a" * 100 + b"b" * 100 and ev[1].cause == "ack" and ev[1].length == 100
    assert r.stats.bytes_delivered == total + 200 + len(b"250 ok\r\n")


def test_ack_beyond_a_hole_makes_a_gap() -> None:
    t = Talk()
    hs = t.handshake()
    t.s(b"220 lost greeting\r\n")  # never captured
    reply = t.s(b"250 ok\r\n")
    ehlo = t.c(b"EHLO x\r\n")  # acknowledges both replies
    ev = run(hs + [reply, ehlo])
    f = flows(ev)[0, S2C]
    assert f.gaps == [(0, 19, "ack")]
    assert f.data == b"250 ok\r\n"
    [gap] = of_type(ev, StreamGap)
    assert gap.frame == ehlo.frame and gap.ts_ns == ehlo.ts_ns
    assert ev.index(gap) < next(i for i, e in enumerate(ev) if isinstance(e, StreamData) and e.direction is S2C)


def test_ack_gap_stops_at_the_ack_when_nothing_is_held() -> None:
    t = Talk()
    hs = t.handshake()
    first = t.c(b"A" * 10)
    t.c(b"B" * 10)  # lost
    t.c(b"C" * 10)  # lost, and not yet acked
    part_ack = t.s_ack(ack=first.seq + 20)
    reply = t.s(b"250 ok\r\n", ack=first.seq + 20)
    r = TcpReassembler()
    ev = run(hs + [first, part_ack], reassembler=r, finish=False)
    assert not of_type(ev, StreamGap)  # pending: the bytes may still show up later in the capture
    ev = list(r.feed(reply))
    assert [(g.offset, g.length, g.cause, g.frame) for g in of_type(ev, StreamGap)] == [(10, 10, "ack", reply.frame)]
    assert isinstance(ev[0], StreamGap) and isinstance(ev[1], StreamData)  # the gap comes before the reply


def test_ack_captured_before_the_data_it_acknowledges_loses_nothing() -> None:
    # as in arkime's smtp-decrypted.pcap: the server's ACKs are captured before the last data segments
    t = Talk()
    hs = t.handshake()
    early = [t.c(b"a" * 100), t.c(b"b" * 100)]
    late = [t.c(b"c" * 100), t.c(b"d" * 100), t.c(b"e" * 50)]
    acks = [t.s_ack(ack=late[1].seq), t.s_ack()]
    ev = run(hs + early + acks + late + [t.s(b"250 queued\r\n"), t.c_rst()])
    assert flows(ev)[0, C2S].data == b"a" * 100 + b"b" * 100 + b"c" * 100 + b"d" * 100 + b"e" * 50
    assert not of_type(ev, StreamGap)


def test_ack_gap_when_the_sender_moves_on() -> None:
    t = Talk()
    hs = t.handshake()
    t.c(b"lost")
    ack = t.s_ack()
    nxt = t.c(b"next")
    ev = run(hs + [ack, nxt], finish=False)
    assert [(type(e).__name__, getattr(e, "cause", None)) for e in ev[1:]] == [
        ("StreamGap", "ack"), ("StreamData", None)]


def test_ack_of_an_unseen_fin_is_not_a_gap() -> None:
    t = Talk()
    hs = t.handshake()
    data = t.c(b"QUIT\r\n")
    t.c_fin()  # lost FIN: the server's ACK covers one more sequence number
    ev = run(hs + [data, t.s_ack()])
    assert not of_type(ev, StreamGap)


def test_buffer_limit_turns_the_hole_into_a_gap() -> None:
    limits = Limits(max_buffered_bytes_per_direction=100, max_buffered_segments_per_direction=1000)
    t = Talk()
    hs = t.handshake()
    t.c(b"x" * 30)  # lost
    later = [t.c(bytes([97 + i]) * 40) for i in range(4)]
    r = TcpReassembler(limits)
    ev = run(hs + later, reassembler=r)
    f = flows(ev)[0, C2S]
    assert f.gaps[0] == (0, 30, "buffer_limit")
    assert f.data == b"".join(s.payload for s in later)
    assert r.stats.buffer_limit_hits == 1 and len(anomalies(ev, "buffer_limit")) == 1
    # the gap came when the third held segment pushed past 100 bytes, not at the end of capture
    gap = next(e for e in ev if isinstance(e, StreamGap))
    assert gap.frame == later[2].frame


def test_buffer_limit_on_segment_count() -> None:
    limits = Limits(max_buffered_segments_per_direction=3)
    t = Talk()
    hs = t.handshake()
    t.c(b"??")  # lost
    later = [t.c(b"%d," % i) for i in range(10)]
    t.c(b"!!")  # lost
    tail = [t.c(b"z")]
    ev = run(hs + later + tail, limits)
    f = flows(ev)[0, C2S]
    assert f.data == b"".join(s.payload for s in later + tail)
    assert [(o, n) for o, n, _ in f.gaps] == [(0, 2), (2 + sum(len(s.payload) for s in later), 2)]
    assert f.gaps[0][2] == "buffer_limit" and f.gaps[1][2] == "end_of_capture"


def test_truncated_segment_gives_data_then_a_truncated_gap() -> None:
    t = Talk()
    hs = t.handshake()
    big = t.c(b"Subject: hi\r\n", wire=1400)  # the snaplen kept 13 of 1400 bytes
    nxt = t.c(b".\r\n")
    ev = run(hs + [big, nxt])
    f = flows(ev)[0, C2S]
    assert f.pieces == [("data", 0, b"Subject: hi\r\n"), ("gap", 13, 1387, "truncated"), ("data", 1400, b".\r\n")]
    # out of order: the cut part is held as a gap-to-be and delivered in place
    t = Talk()
    hs = t.handshake()
    a = t.c(b"AAAA")
    big = t.c(b"BB", wire=10)
    c = t.c(b"CC")
    ev = run(hs + [c, big, a])
    assert flows(ev)[0, C2S].pieces == [
        ("data", 0, b"AAAABB"), ("gap", 6, 8, "truncated"), ("data", 14, b"CC")]


def test_rst_closes_and_flushes_holes_as_close_gaps() -> None:
    t = Talk()
    hs = t.handshake()
    t.c(b"lost")
    held = t.c(b"held")
    ev = run(hs + [held, t.c_rst(), t.s(b"late")])
    f = flows(ev)[0, C2S]
    assert f.pieces == [("gap", 0, 4, "close"), ("data", 4, b"held")]
    closed = of_type(ev, ConnectionClosed)
    assert len(closed) == 1 and closed[0].reason is CloseReason.RST
    assert closed[0].gap_bytes_c2s == 4 and closed[0].bytes_c2s == 4


def test_fin_both_ways_closes_after_the_last_data() -> None:
    t = Talk()
    hs = t.handshake()
    q = t.c(b"QUIT\r\n")
    bye = t.s(b"221 bye\r\n")
    cfin = t.c_fin(ack=bye.seq)
    sfin = t.s_fin(ack=q.seq)
    # the client's FIN arrives before its QUIT, the server's FIN before its reply
    ev = run(hs + [cfin, sfin, q, bye, t.c_ack()])
    kinds = [type(e).__name__ for e in ev]
    assert kinds[-1] == "ConnectionClosed" and of_type(ev, ConnectionClosed)[0].reason is CloseReason.FIN
    assert flows(ev)[0, C2S].data == b"QUIT\r\n" and flows(ev)[0, S2C].data == b"221 bye\r\n"
    assert not of_type(ev, StreamGap)


def test_fin_both_ways_with_a_hole_waits_for_the_ack() -> None:
    t = Talk()
    hs = t.handshake()
    t.s(b"221 bye\r\n")  # lost
    cfin = t.c_fin()  # acks the reply it got
    sfin = t.s_fin()
    r = TcpReassembler()
    ev = run(hs + [sfin], reassembler=r, finish=False)
    assert r.open_connections == 1  # the server's reply is still a hole, not yet certain to be lost
    ev += list(r.feed(cfin)) + list(r.finish(cfin.ts_ns))
    check_invariants(ev)
    assert flows(ev)[0, S2C].gaps == [(0, 9, "ack")]
    assert of_type(ev, ConnectionClosed)[0].reason is CloseReason.FIN


def test_data_past_the_fin_is_an_anomaly() -> None:
    t = Talk()
    hs = t.handshake()
    fin = t.c_fin(b"QUIT\r\n")
    after = t.c(b"MORE", seq=fin.seq + 6)
    r = TcpReassembler()
    ev = run(hs + [fin, after], reassembler=r)
    assert flows(ev)[0, C2S].data == b"QUIT\r\n"
    assert len(anomalies(ev, "data_after_fin")) == 1 and r.stats.dropped_bytes == 4


def test_tfo_payload_on_syn_is_data_at_offset_zero() -> None:
    t = Talk()
    syn = t.syn(b"EHLO fast\r\n")
    ev = run([syn, t.synack(), t.c_ack(), t.c(b"QUIT\r\n")])
    assert flows(ev)[0, C2S].pieces == [("data", 0, b"EHLO fast\r\n"), ("data", 11, b"QUIT\r\n")]
    assert of_type(ev, StreamData)[0].frame == syn.frame


def test_mid_stream_start_and_data_before_it() -> None:
    t = Talk()
    t.handshake()
    t.c(b"EHLO x\r\n")
    second = t.c(b"MAIL FROM:<>\r\n")
    ev = run([second, t.c(b"EHLO x\r\n"[:4], seq=second.seq - 8), t.c(b"RCPT TO:<a@b>\r\n")])
    opened = ev[0]
    assert opened.handshake_seen is False
    assert flows(ev)[0, C2S].data == b"MAIL FROM:<>\r\nRCPT TO:<a@b>\r\n"
    assert len(anomalies(ev, "data_before_stream_start")) == 1


def test_end_of_capture_gap_then_held_data() -> None:
    t = Talk()
    hs = t.handshake()
    t.c(b"lost")
    held = t.c(b"held")
    ev = run(hs + [held])
    assert flows(ev)[0, C2S].pieces == [("gap", 0, 4, "end_of_capture"), ("data", 4, b"held")]
    assert of_type(ev, ConnectionClosed)[0].reason is CloseReason.END_OF_CAPTURE


def test_whole_and_byte_by_byte_give_the_same_stream() -> None:
    text = b"EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    t1 = Talk()
    whole = run(t1.handshake() + [t1.c(text), t1.c_fin(), t1.s_fin(), t1.c_ack()])
    t2 = Talk()
    byte = run(t2.handshake() + [t2.c(text[i:i + 1]) for i in range(len(text))] + [t2.c_fin(), t2.s_fin()])
    assert flows(whole)[0, C2S].data == flows(byte)[0, C2S].data == text
    # and reversed, byte by byte: held, then delivered in one piece when the first byte comes
    t3 = Talk()
    hs = t3.handshake()
    bytes_ = [t3.c(text[i:i + 1]) for i in range(len(text))]
    ev = run(hs + bytes_[::-1])
    [data] = of_type(ev, StreamData)
    assert data.data == text and data.frames == tuple(s.frame for s in bytes_)


def test_syn_and_fin_consume_a_sequence_number_each() -> None:
    t = Talk(cisn=0)
    hs = t.handshake()
    d = t.c(b"x")
    assert d.seq == 1  # ISN + 1 is offset 0
    fin = t.c_fin()
    assert fin.seq == 2
    ev = run(hs + [d, fin, t.s_fin(), t.c_ack()])
    assert flows(ev)[0, C2S].pieces == [("data", 0, b"x")]


def test_flags_unused() -> None:
    # PSH and ACK are the usual flags; a data segment without ACK is still data
    t = Talk()
    hs = t.handshake()
    ev = run(hs + [t.c(b"abc", flags=PSH), t.c(b"def", flags=ACK), t.c(b"g", flags=ACK | FIN)])
    assert flows(ev)[0, C2S].data == b"abcdefg"


def test_hot_path_builder_makes_the_same_stream_data() -> None:
    from smtpsniff.reassembly.stream import new_stream_data

    a = new_stream_data(3, C2S, 10, b"abc", 99, 7, (7,))
    b = StreamData(conn_id=3, direction=C2S, offset=10, data=b"abc", ts_ns=99, frame=7, frames=(7,))
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b) and type(a) is StreamData


def test_ack_gap_stops_at_held_data_then_continues_past_it() -> None:
    t = Talk()
    hs = t.handshake()
    t.c(b"1111")  # lost
    held = t.c(b"2222")
    t.c(b"3333")  # lost
    ack_all = t.s_ack()
    ev = run(hs + [held, ack_all])
    assert flows(ev)[0, C2S].pieces == [
        ("gap", 0, 4, "ack"), ("data", 4, b"2222"), ("gap", 8, 4, "ack")]
