"""Connection table: keys, roles, port reuse, linger, eviction, expiry, ignore(), anomaly caps."""
from __future__ import annotations

from smtpsniff.limits import SECOND_NS, Limits
from smtpsniff.net.segment import TcpSegment
from smtpsniff.reassembly.events import CloseReason, ConnectionClosed, ConnectionOpened, Endpoint, RoleBasis
from smtpsniff.reassembly.table import SMTP_PORTS, TcpReassembler

from .conftest import ACK, C2S, MOD, PSH, S2C, SYN, TS0, Talk, anomalies, check_invariants, flows, of_type, run


def opened(ev: list) -> list[ConnectionOpened]:
    return of_type(ev, ConnectionOpened)


def closed(ev: list) -> list[ConnectionClosed]:
    return of_type(ev, ConnectionClosed)


def test_both_directions_share_one_key_and_xor_colliding_tuples_do_not() -> None:
    # scapy-style XOR keys collide for these two: (A:1000 <-> B:25) and (A:25 <-> B:1000)
    t1 = Talk(("10.0.0.1", 1000), ("10.0.0.2", 25))
    t2 = Talk(("10.0.0.1", 25), ("10.0.0.2", 1000), ts0=TS0 + 1)
    ev = run(t1.handshake() + t2.handshake() + [t1.c(b"EHLO one\r\n"), t2.s(b"EHLO two\r\n")])
    assert [o.conn_id for o in opened(ev)] == [0, 1]
    f = flows(ev)
    assert f[0, C2S].data == b"EHLO one\r\n" and f[1, S2C].data == b"EHLO two\r\n"


def test_conn_ids_follow_first_packets_and_ipv6_endpoints() -> None:
    talks = [Talk(("2001:db8::1", 40000 + i), ("2001:db8::25", 25), ip_version=6) for i in range(3)]
    segs = [talks[2].syn(), talks[0].syn(), talks[1].syn()]
    ev = run(segs)
    assert [(o.conn_id, o.client.port) for o in opened(ev)] == [(0, 40002), (1, 40000), (2, 40001)]
    assert opened(ev)[0].ip_version == 6 and str(opened(ev)[0].server) == "[2001:db8::25]:25"


def test_role_from_syn() -> None:
    # SYN from the port-25 side to a high port: the SYN decides, not the port
    t = Talk(("10.0.0.9", 25), ("10.0.0.1", 50000))
    ev = run([t.syn()])
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.SYN and o.client == Endpoint(ip="10.0.0.9", port=25)
    assert o.handshake_seen


def test_syn_ack_only() -> None:
    t = Talk()
    t.syn()  # not captured
    ev = run([t.synack(), t.c_ack(), t.c(b"EHLO x\r\n"), t.s(b"250 hi\r\n")])
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.SYN_ACK and o.client == Endpoint(ip="10.0.0.1", port=40000)
    assert o.handshake_seen
    f = flows(ev)
    assert f[0, C2S].pieces == [("data", 0, b"EHLO x\r\n")]  # client offset 0 from the SYN+ACK's ack
    assert f[0, S2C].pieces == [("data", 0, b"250 hi\r\n")]


def test_mid_stream_role_from_port() -> None:
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 587))
    t.handshake()
    ev = run([t.c_ack(), t.s(b"250 ok\r\n")])  # first seen: the client's ACK
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.PORT and o.server.port == 587 and not o.handshake_seen
    assert flows(ev)[0, S2C].pieces == [("data", 0, b"250 ok\r\n")]


def test_mid_stream_role_from_reply_payload() -> None:
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 10025))  # neither port is an SMTP port
    t.handshake()
    ev = run([t.s(b"250-mx.example\r\n"), t.c(b"MAIL FROM:<a@b>\r\n")])
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.PAYLOAD and o.server == Endpoint(ip="10.0.0.2", port=10025)


def test_mid_stream_role_from_command_payload() -> None:
    # the client has the lower port here, so GUESS would get it wrong
    t = Talk(("10.0.0.1", 2000), ("10.0.0.2", 10025))
    t.handshake()
    ev = run([t.c(b"EHLO client\r\n")])
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.PAYLOAD and o.client.port == 2000


def test_mid_stream_role_guess_is_the_lower_port() -> None:
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 10025))
    t.handshake()
    ev = run([t.c(b"\x16\x03\x01\x00\x05hello")])  # TLS: no hint in the bytes
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.GUESS and o.server.port == 10025
    # a payload-less first packet with no port hint: GUESS too, decided at once
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 10025))
    t.handshake()
    ev = run([t.s_ack(), t.c(b"EHLO x\r\n")])
    assert opened(ev)[0].role_basis is RoleBasis.GUESS and opened(ev)[0].server.port == 10025


def test_both_ports_smtp_falls_through_to_payload() -> None:
    t = Talk(("10.0.0.1", 25), ("10.0.0.2", 587))
    ev = run([t.s(b"220 relay\r\n")])
    o = opened(ev)[0]
    assert o.role_basis is RoleBasis.PAYLOAD and o.server.port == 587
    assert SMTP_PORTS == {25, 465, 587, 2525}


def test_custom_server_ports() -> None:
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 10025))
    ev = run([t.c(b"\x00\x01")], server_ports=frozenset({10025}))
    assert opened(ev)[0].role_basis is RoleBasis.PORT and opened(ev)[0].server.port == 10025


def test_port_reuse_after_fin_starts_a_new_connection() -> None:
    t = Talk()
    first = t.handshake() + [t.c(b"QUIT\r\n"), t.c_fin(), t.s_fin(), t.c_ack()]
    t2 = Talk(cisn=9_999_999, ts0=t.ts + SECOND_NS)  # same 4-tuple, within the linger time
    second = t2.handshake() + [t2.c(b"EHLO again\r\n")]
    ev = run(first + second)
    assert [o.conn_id for o in opened(ev)] == [0, 1]
    assert [(c.conn_id, c.reason) for c in closed(ev)] == [(0, CloseReason.FIN), (1, CloseReason.END_OF_CAPTURE)]
    assert flows(ev)[1, C2S].data == b"EHLO again\r\n"


def test_port_reuse_of_an_open_connection() -> None:
    t = Talk(cisn=1000)
    first = t.handshake() + [t.c(b"EHLO x\r\n")]  # never closed: the host rebooted
    t2 = Talk(cisn=1000 + (1 << 31), ts0=t.ts + SECOND_NS)
    ev = run(first + t2.handshake() + [t2.c(b"EHLO y\r\n")])
    assert [(c.conn_id, c.reason) for c in closed(ev)] == [
        (0, CloseReason.PORT_REUSE), (1, CloseReason.END_OF_CAPTURE)]
    assert flows(ev)[1, C2S].data == b"EHLO y\r\n"


def test_retransmitted_syn_and_in_window_syn_are_not_new_connections() -> None:
    t = Talk()
    syn = t.syn()
    rest = [t.synack(), t.c_ack(), t.c(b"EHLO x\r\n")]
    in_window = t.seg(True, t.cseq + 100, 0, SYN)
    r = TcpReassembler()
    ev = run([syn, syn._replace(frame=50)] + rest + [in_window], reassembler=r)
    assert len(opened(ev)) == 1 and r.stats.syn_retransmissions == 1
    assert len(anomalies(ev, "syn_in_window")) == 1


def test_closed_connection_lingers_then_is_forgotten() -> None:
    limits = Limits(closed_linger_ns=5 * SECOND_NS)
    t = Talk()
    segs = t.handshake() + [t.c(b"QUIT\r\n"), t.c_fin(), t.s_fin()]
    last_ack = t.c_ack()
    late_retx = segs[3]._replace(frame=100, ts_ns=last_ack.ts_ns + SECOND_NS)
    r = TcpReassembler(limits)
    ev = run(segs + [last_ack, late_retx], reassembler=r, finish=False)
    assert len(opened(ev)) == 1 and len(closed(ev)) == 1
    assert r.stats.late_packets == 2 and r.open_connections == 0
    # after the linger time, a stray packet of that 4-tuple is a new (mid-stream) connection
    stray = last_ack._replace(frame=101, ts_ns=last_ack.ts_ns + 6 * SECOND_NS)
    ev += r.feed(stray)
    ev += r.finish(stray.ts_ns)
    check_invariants(ev)
    assert [o.handshake_seen for o in opened(ev)] == [True, False]


def test_expire_forgets_lingering_tombstones() -> None:
    limits = Limits(closed_linger_ns=5 * SECOND_NS)
    t = Talk()
    r = TcpReassembler(limits)
    run(t.handshake() + [t.c_rst()], reassembler=r, finish=False)
    assert r.expire(t.ts + SECOND_NS) == ()
    assert len(r._closed) == 1
    r.expire(t.ts + 10 * SECOND_NS)
    assert len(r._closed) == 0


def test_eviction_at_max_connections() -> None:
    limits = Limits(max_connections=3)
    talks = [Talk(("10.0.0.1", 40000 + i)) for i in range(5)]
    segs = []
    for t in talks[:3]:
        segs += t.handshake()
    t0 = talks[0]
    t0.ts = talks[2].ts
    segs.append(t0.c(b"EHLO zero\r\n"))  # conn 0 becomes the most recently active
    talks[3].ts = talks[4].ts = t0.ts
    segs += talks[3].handshake() + talks[4].handshake()
    r = TcpReassembler(limits)
    ev = run(segs, reassembler=r, finish=False)
    assert r.open_connections == 3
    assert [(c.conn_id, c.reason) for c in closed(ev)] == [(1, CloseReason.EVICTED), (2, CloseReason.EVICTED)]
    assert len(anomalies(ev, "connection_table_full")) == 1
    assert r.stats.evicted == 2 and r.stats.anomalies["connection_table_full"] == 2
    ev += r.finish(talks[4].ts)
    check_invariants(ev)


def test_idle_expiry_in_capture_time() -> None:
    limits = Limits(connection_idle_timeout_ns=60 * SECOND_NS)
    a, b = Talk(("10.0.0.1", 1111)), Talk(("10.0.0.1", 2222), ts0=TS0 + 50 * SECOND_NS)
    r = TcpReassembler(limits)
    lost_first = a.handshake()
    a.c(b"lost")
    held = a.c(b"held")
    ev = run(lost_first + [held] + b.handshake(), reassembler=r, finish=False)
    assert r.expire(TS0 + 30 * SECOND_NS) == ()
    out = r.expire(TS0 + 61 * SECOND_NS)
    assert [(c.conn_id, c.reason, c.frame) for c in closed(out)] == [(0, CloseReason.IDLE, None)]
    assert flows(out)[0, C2S].pieces == [("gap", 0, 4, "close"), ("data", 4, b"held")]
    assert r.open_connections == 1
    ev += out
    ev += r.finish(TS0 + 62 * SECOND_NS)
    check_invariants(ev)
    assert r.stats.closed == {"idle": 1, "end_of_capture": 1}


def test_ignore_frees_buffers_and_still_closes_once() -> None:
    t = Talk(("10.0.0.1", 40000), ("10.0.0.2", 8080))
    hs = t.handshake()
    t.c(b"lost")
    held = t.c(b"GET / HTTP/1.1\r\n")
    r = TcpReassembler()
    ev = run(hs + [held], reassembler=r, finish=False)
    conn = r._open[next(iter(r._open))]
    assert conn.c2s.held_bytes > 0
    r.ignore(0)
    assert conn.c2s.held == [] and conn.c2s.recent is None and conn.s2c.held_bytes == 0
    more = [t.s(b"HTTP/1.1 200 OK\r\n" * 10), t.c(b"x" * 100), t.c_fin(), t.s_fin()]
    for seg in more:
        ev += r.feed(seg)
    assert r.stats.ignored_packets == 4
    assert len(closed(ev)) == 1 and closed(ev)[0].reason is CloseReason.FIN
    assert r.open_connections == 0
    ev += r.finish(t.ts)
    check_invariants(ev)
    assert not [e for e in ev if getattr(e, "direction", None) is not None]  # nothing delivered at all


def test_anomalies_are_capped_per_kind_and_counted_exactly() -> None:
    limits = Limits(max_anomalies_per_kind=3)
    t = Talk()
    hs = t.handshake()
    d = t.c(b"abcd")
    evil = [t.c(b"abc" + bytes([i]), seq=d.seq, advance=False) for i in range(10)]
    r = TcpReassembler(limits)
    ev = run(hs + [d] + evil, reassembler=r)
    assert len(anomalies(ev, "overlap_mismatch")) == 3
    assert r.stats.anomalies["overlap_mismatch"] == 10


def test_stats_count_segments_connections_and_bytes() -> None:
    t = Talk()
    segs = t.handshake() + [t.s(b"220 x\r\n"), t.c(b"QUIT\r\n"), t.s(b"221 y\r\n"), t.c_fin(), t.s_fin(), t.c_ack()]
    r = TcpReassembler()
    run(segs, reassembler=r)
    st = r.stats
    assert (st.segments, st.connections, st.bytes_delivered, st.closed) == (len(segs), 1, 20, {"fin": 1})


def test_rst_as_first_packet_opens_and_closes() -> None:
    seg = TcpSegment(1, TS0, "10.0.0.1", 40000, "10.0.0.2", 25, 5, 0, 0x04 | ACK, b"", 4)
    ev = run([seg])
    assert [type(e).__name__ for e in ev] == ["ConnectionOpened", "ConnectionClosed"]
    assert closed(ev)[0].reason is CloseReason.RST


def test_wrap_with_mid_stream_start() -> None:
    t = Talk(cisn=MOD - 5, sisn=MOD - 2)
    t.handshake()
    segs = [t.c(b"0123456789"), t.s(b"250 ok\r\n"), t.c(b"abcdef", flags=PSH | ACK)]
    ev = run(segs)
    assert flows(ev)[0, C2S].data == b"0123456789abcdef"
