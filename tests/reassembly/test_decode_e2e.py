"""End to end from frame bytes: packets crafted with scapy, decoded by PacketDecoder, reassembled.

Checks that the net layer's segments (flags, sequence numbers, snaplen truncation, IPv6) mean to the
reassembler what the scripted TcpSegment tests assume.
"""
from __future__ import annotations

import pytest

from smtpsniff.capture.frame import Frame
from smtpsniff.net.segment import TcpSegment
from smtpsniff.reassembly.events import CloseReason, ConnectionClosed, ConnectionOpened, RoleBasis
from smtpsniff.reassembly.table import TcpReassembler

from .conftest import C2S, S2C, TS0, check_invariants, flows, of_type

decode = pytest.importorskip("smtpsniff.net.decode")
scapy_all = pytest.importorskip("scapy.all")
Ether, IP, IPv6, TCP = scapy_all.Ether, scapy_all.IP, scapy_all.IPv6, scapy_all.TCP


def conversation(ip_layer, snaplen: int | None = None) -> list[Frame]:
    c, s = ("client", 41000, 4_294_967_000), ("server", 25, 77)  # client ISN wraps within the session
    cseq, sseq = c[2], s[2]
    pkts = []

    def pkt(from_client: bool, flags: str, payload: bytes = b"", seq: int | None = None) -> None:
        nonlocal cseq, sseq
        sport, dport = (c[1], s[1]) if from_client else (s[1], c[1])
        my, their = (cseq, sseq) if from_client else (sseq, cseq)
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip_layer(from_client) / TCP(sport=sport, dport=dport, flags=flags,
                                                  seq=(my if seq is None else seq) % 2**32, ack=their % 2**32)
        if payload:
            p = p / payload
        pkts.append(p)
        n = len(payload) + (1 if "S" in flags or "F" in flags else 0)
        if seq is None:
            if from_client:
                cseq += n
            else:
                sseq += n

    pkt(True, "S")
    pkts[-1][TCP].ack = 0
    pkt(False, "SA")
    pkt(True, "A")
    pkt(False, "PA", b"220 mx.example ESMTP\r\n")
    pkt(True, "PA", b"EHLO client.example\r\n")
    pkt(False, "PA", b"250-mx.example\r\n250 8BITMIME\r\n")
    body = b"MAIL FROM:<a@example.org>\r\n"
    pkt(True, "PA", body + b"RCPT TO:<b@example.net>\r\n" + b"x" * 600)
    pkt(True, "FA")
    pkt(False, "FA")
    pkt(True, "A")
    frames = []
    for i, p in enumerate(pkts, 1):
        raw = bytes(p)
        data = raw if snaplen is None else raw[:snaplen]
        frames.append(Frame(i, TS0 + i * 1000, 1, data, len(raw)))
    return frames


def reassemble(frames: list[Frame]) -> list:
    dec = decode.PacketDecoder()
    r = TcpReassembler()
    ev: list = []
    for f in frames:
        seg = dec.decode(f)
        assert isinstance(seg, TcpSegment), seg
        ev += r.feed(seg)
    ev += r.finish(frames[-1].ts_ns)
    check_invariants(ev)
    return ev


def v4(from_client: bool):
    return IP(src="10.1.1.1", dst="10.2.2.2") if from_client else IP(src="10.2.2.2", dst="10.1.1.1")


def v6(from_client: bool):
    a, b = "2001:db8::1", "2001:db8::25"
    return IPv6(src=a, dst=b) if from_client else IPv6(src=b, dst=a)


@pytest.mark.parametrize("ip_layer", [v4, v6])
def test_scapy_crafted_session(ip_layer) -> None:
    ev = reassemble(conversation(ip_layer))
    [o] = of_type(ev, ConnectionOpened)
    assert o.role_basis is RoleBasis.SYN and o.client.port == 41000 and o.handshake_seen
    f = flows(ev)
    assert f[0, S2C].data == b"220 mx.example ESMTP\r\n250-mx.example\r\n250 8BITMIME\r\n"
    assert f[0, C2S].data.startswith(b"EHLO client.example\r\nMAIL FROM:") and not f[0, C2S].gaps
    [c] = of_type(ev, ConnectionClosed)
    assert c.reason is CloseReason.FIN


def test_snaplen_cut_becomes_a_truncated_gap() -> None:
    ev = reassemble(conversation(v4, snaplen=14 + 20 + 20 + 40))  # 40 payload bytes kept
    f = flows(ev)[0, C2S]
    [(off, n, cause)] = f.gaps
    assert cause == "truncated" and off == 21 + 40 and n == 27 + 25 + 600 - 40
