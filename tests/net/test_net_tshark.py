"""tshark as the oracle: the same pcap files decoded by both, compared segment by segment.

One file per link type (classic pcap holds one link type), each mixing TCP, noise, VLAN and QinQ
tags, IPv6 extension headers and IPv4/IPv6 fragments (tshark reassembles both by default), plus a
real ``tcpdump -i any`` capture of a loopback exchange (LINUX_SLL2).
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, fragment6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Loopback
from scapy.utils import wrpcap

from smtpsniff.net.segment import TcpSegment

from netcheck import DATA, decode_all, eth, needs_tshark, pcap_bytes, read_frames, tshark_rows

pytestmark = [needs_tshark, pytest.mark.tshark]

FIELDS = [
    "frame.number", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.len", "tcp.payload",
]  # fmt: skip


def ip_packets(rng: random.Random) -> list:
    """IP-layer packets: SMTP-ish TCP both ways, noise, extension headers, fragments."""
    out: list = []
    lines = [b"EHLO a.example\r\n", b"250-b.example\r\n250 8BITMIME\r\n", b"", b"DATA\r\n", bytes(range(256)) * 3]
    for i in range(12):
        v4 = IP(src=f"192.0.2.{i + 1}", dst="198.51.100.25", options=b"\x01\x01\x01\x00" if i % 4 == 0 else b"")
        out.append(v4 / TCP(sport=40000 + i, dport=25, seq=rng.randrange(2**32), ack=rng.randrange(2**32), flags="PA") / rng.choice(lines))
        v6 = IPv6(src=f"2001:db8::{i + 1:x}", dst="2001:db8:0:1::25")
        out.append(v6 / TCP(sport=587, dport=50000 + i, seq=rng.randrange(2**32), flags="SA", options=[("MSS", 1440)]))
    out.append(IP(dst="192.0.2.53") / UDP(sport=5353, dport=53) / DNS(qd=DNSQR(qname="example.com")))
    out.append(IP(dst="192.0.2.1") / ICMP())
    out.append(IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=25, dport=1234, flags="A") / b"250 ok\r\n")
    big = IP(src="203.0.113.1", dst="203.0.113.2", id=0x4242) / TCP(sport=25, dport=4444, seq=1000, flags="PA") / (bytes(range(256)) * 8)
    frags = fragment(big, fragsize=600)
    out += frags[::-1]  # out of order, completed by the first fragment
    big6 = IPv6(src="2001:db8::a", dst="2001:db8::b") / IPv6ExtHdrFragment(id=99) / TCP(sport=25, dport=5555, seq=9) / (b"z" * 2500)
    out += fragment6(big6, 900)
    return out


def link_frames(linktype: int, rng: random.Random) -> list[bytes]:
    pkts = ip_packets(rng)
    if linktype == 1:
        tags = [[], [Dot1Q(vlan=10)], [Dot1AD(vlan=20), Dot1Q(vlan=30)]]
        out = []
        for i, p in enumerate(pkts):
            frame = eth()
            for tag in tags[i % 3]:
                frame = frame / tag
            out.append(bytes(frame / p))
        return out + [bytes(eth() / ARP(pdst="192.0.2.1"))]
    if linktype == 113:
        return [bytes(CookedLinux(pkttype=4) / p) for p in pkts]
    if linktype == 276:
        return [bytes(CookedLinuxV2(ifindex=2) / p) for p in pkts]
    if linktype == 0:
        # scapy's Loopback writes AF_INET6 as 10 (Linux), which tshark does not take for NULL (we do:
        # see test_net_linktypes); give IPv6 the BSD values tshark knows, in both byte orders.
        return [
            bytes(Loopback() / p) if p.version == 4 else struct.pack("<I" if i % 2 else ">I", (24, 28, 30)[i % 3]) + bytes(p)
            for i, p in enumerate(pkts)
        ]
    if linktype == 108:
        return [struct.pack("!I", 2 if p.version == 4 else 24) + bytes(p) for p in pkts]
    if linktype == 101:
        return [bytes(p) for p in pkts]
    raise AssertionError(linktype)


def expected_from_tshark(path: Path) -> dict[int, tuple]:
    rows = {}
    for row in tshark_rows(path, FIELDS):
        number, ip_src, ip_dst, ip6_src, ip6_dst, sport, dport, seq, ack, flags, length, payload = row
        if not sport:
            continue
        rows[int(number)] = (
            ip_src or ip6_src, sport and int(sport), ip_dst or ip6_dst, int(dport), int(seq), int(ack),
            int(flags, 16), bytes.fromhex(payload.replace(":", "")), int(length),
        )  # fmt: skip
    return rows


def ours(path: Path) -> dict[int, tuple]:
    decoder, results = decode_all(read_frames(path))
    decoder.finish()
    assert decoder.anomalies == []
    return {
        s.frame: (s.src, s.sport, s.dst, s.dport, s.seq, s.ack, s.flags, s.payload, s.wire_payload_len)
        for s in results
        if isinstance(s, TcpSegment)
    }


@pytest.mark.parametrize("linktype", [1, 113, 276, 0, 108, 101], ids=["ether", "sll", "sll2", "null", "loop", "raw"])
def test_mixed_file_matches_tshark(tmp_path, linktype):
    path = tmp_path / f"mixed-{linktype}.pcap"
    frames = link_frames(linktype, random.Random(linktype))
    if linktype == 0:  # scapy's wrpcap takes linktype=0 for "not given" and writes Ethernet
        path.write_bytes(pcap_bytes(0, frames))
    else:
        wrpcap(str(path), frames, linktype=linktype)
    expected = expected_from_tshark(path)
    assert len(expected) == 12 * 2 + 1 + 2  # TCP frames, including the two reassembled datagrams
    assert ours(path) == expected


def test_real_tcpdump_any_capture_matches_tshark():
    path = DATA / "any-sll2.pcap"
    frames = read_frames(path)
    assert frames and {f.linktype for f in frames} == {276}
    expected = expected_from_tshark(path)
    got = ours(path)
    assert len(got) == len(frames) == len(expected)
    assert got == expected
    payloads = b"".join(v[7] for v in got.values())
    assert b"EHLO client.example\r\n" in payloads and b"221 bye\r\n" in payloads
