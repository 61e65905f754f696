"""Throughput of TcpReassembler.feed on generated SMTP-like traffic (not collected by pytest).

    python -m tests.reassembly.bench_reassembly [--segments 500000] [--conns 200] [--scapy 50000]

Builds ~``--segments`` TcpSegment tuples of ``--conns`` interleaved connections (handshake, greeting,
EHLO, MAIL/RCPT/DATA, a message body in MSS-sized segments with an ACK every second segment, 0.5 %
reordered and 0.1 % of the body segments lost, FINs), then times feeding them.  With ``--scapy N``
the first N of them are also written as an Ethernet pcap and timed through scapy's
``sniff(offline=..., session=TCPSession)`` and through PacketDecoder + TcpReassembler.
"""
from __future__ import annotations

import argparse
import random
import struct
import tempfile
import time
from pathlib import Path

from smtpsniff.net.segment import ACK, FIN, PSH, SYN, TcpSegment
from smtpsniff.reassembly.table import TcpReassembler

MOD = 1 << 32
MSS = 1460


def conversation(rnd: random.Random, i: int, n_segments: int) -> list[tuple]:
    """One connection's segments as (from_client, seq, ack, flags, payload) in send order."""
    cseq, sseq = rnd.randrange(MOD), rnd.randrange(MOD)
    out: list[tuple] = []

    def c(flags: int, payload: bytes = b"") -> None:
        nonlocal cseq
        out.append((True, cseq, sseq, flags, payload))
        cseq = (cseq + len(payload) + (1 if flags & (SYN | FIN) else 0)) % MOD

    def s(flags: int, payload: bytes = b"") -> None:
        nonlocal sseq
        out.append((False, sseq, cseq, flags, payload))
        sseq = (sseq + len(payload) + (1 if flags & (SYN | FIN) else 0)) % MOD

    c(SYN)
    s(SYN | ACK)
    c(ACK)
    s(PSH | ACK, b"220 mx%d.example.net ESMTP Postfix\r\n" % i)
    c(PSH | ACK, b"EHLO client%d.example.org\r\n" % i)
    s(PSH | ACK, b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
    c(PSH | ACK, b"MAIL FROM:<alice@example.org>\r\n")
    s(PSH | ACK, b"250 2.1.0 Ok\r\n")
    c(PSH | ACK, b"RCPT TO:<bob@example.net>\r\n")
    s(PSH | ACK, b"250 2.1.5 Ok\r\n")
    c(PSH | ACK, b"DATA\r\n")
    s(PSH | ACK, b"354 End data with <CR><LF>.<CR><LF>\r\n")
    body = (b"Subject: test %d\r\n\r\n" % i) + (b"Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n" * 40)
    k = 0
    while len(out) < n_segments - 6:
        c(ACK, body[(k * 97) % 1000:][:MSS].ljust(MSS, b"x"))
        k += 1
        if k % 2 == 0:
            s(ACK)
    c(PSH | ACK, b"\r\n.\r\n")
    s(PSH | ACK, b"250 2.0.0 Ok: queued\r\n")
    c(PSH | ACK, b"QUIT\r\n")
    s(PSH | ACK, b"221 2.0.0 Bye\r\n")
    c(FIN | ACK)
    s(FIN | ACK)
    c(ACK)
    return out


def build(total: int, conns: int, seed: int = 1) -> list[TcpSegment]:
    rnd = random.Random(seed)
    per = total // conns
    convs = [conversation(rnd, i, per) for i in range(conns)]
    addrs = [(f"10.{i // 250}.{i % 250}.1", 30000 + i, "192.0.2.25", 25) for i in range(conns)]
    pos = [0] * conns
    live = list(range(conns))
    segs: list[TcpSegment] = []
    frame = 0
    ts = 1_700_000_000 * 1_000_000_000
    while live:
        j = rnd.randrange(len(live))
        ci = live[j]
        fc, seq, ack, flags, payload = convs[ci][pos[ci]]
        pos[ci] += 1
        if pos[ci] == len(convs[ci]):
            live[j] = live[-1]
            live.pop()
        cip, cport, sip, sport = addrs[ci]
        frame += 1
        ts += 20_000
        if len(payload) == MSS and rnd.random() < 0.001:
            continue  # lost to the capture
        src, sp, dst, dp = (cip, cport, sip, sport) if fc else (sip, sport, cip, cport)
        segs.append(TcpSegment(frame, ts, src, sp, dst, dp, seq, ack, flags, payload, 4, False, -1))
        if len(segs) > 2 and rnd.random() < 0.005:
            segs[-1], segs[-2] = segs[-2], segs[-1]
    return segs


def bench_feed(segs: list[TcpSegment]) -> tuple[float, TcpReassembler, int]:
    r = TcpReassembler()
    feed = r.feed
    n_events = 0
    t0 = time.perf_counter()
    for seg in segs:
        ev = feed(seg)
        if ev:
            n_events += len(ev)
    n_events += len(r.finish(segs[-1].ts_ns))
    return time.perf_counter() - t0, r, n_events


def write_pcap(segs: list[TcpSegment], path: Path) -> None:
    def ip4(a: str) -> bytes:
        return bytes(int(x) for x in a.split("."))

    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for s in segs:
            tcp = struct.pack("!HHIIBBHHH", s.sport, s.dport, s.seq, s.ack, 5 << 4, s.flags, 65535, 0, 0) + s.payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ip4(s.src), ip4(s.dst))
            frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp
            sec, ns = divmod(s.ts_ns, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, ns // 1000, len(frame), len(frame)) + frame)


def read_frames(path: Path):
    from smtpsniff.capture.frame import Frame

    data = path.read_bytes()
    off, n = 24, 0
    while off < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        off += 16
        n += 1
        yield Frame(n, sec * 1_000_000_000 + usec * 1000, 1, data[off:off + incl], orig)
        off += incl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=500_000)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--scapy", type=int, default=0, help="also time scapy TCPSession on the first N")
    args = ap.parse_args()
    segs = build(args.segments, args.conns)
    pure_acks = sum(1 for s in segs if not s.payload and s.flags == ACK)
    dt, r, n_events = bench_feed(segs)
    st = r.stats
    print(f"segments={len(segs)} (pure ACKs {pure_acks}) conns={st.connections} events={n_events}")
    print(f"TcpReassembler.feed: {dt:.2f} s, {len(segs) / dt:,.0f} segments/s, "
          f"{st.bytes_delivered / dt / 1e6:,.0f} MB/s delivered; gaps={st.gaps} retransmitted={st.retransmitted_bytes}")
    if args.scapy:
        from scapy.all import TCPSession, sniff

        sub = segs[: args.scapy]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.pcap"
            write_pcap(sub, path)
            from smtpsniff.net.decode import PacketDecoder

            dec, rr = PacketDecoder(), TcpReassembler()
            t0 = time.perf_counter()
            for fr in read_frames(path):
                seg = dec.decode(fr)
                if isinstance(seg, TcpSegment):
                    rr.feed(seg)
            rr.finish(0)
            ours = time.perf_counter() - t0
            print(f"smtpsniff read+decode+reassemble {len(sub)} frames: {ours:.2f} s, {len(sub) / ours:,.0f} frames/s")
            t0 = time.perf_counter()
            sniff(offline=str(path), store=False)
            plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            sniff(offline=str(path), session=TCPSession, store=False)
            sc = time.perf_counter() - t0
            print(f"scapy sniff(offline) dissect only: {plain:.2f} s, {len(sub) / plain:,.0f} frames/s")
            print(f"scapy sniff(offline, session=TCPSession): {sc:.2f} s, {len(sub) / sc:,.0f} frames/s")


if __name__ == "__main__":
    main()
