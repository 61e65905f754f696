"""Throughput of PacketDecoder.decode on ~200k mixed frames, against scapy's own Ether(bytes) parse.

Run: python tests/net/bench_decode.py [frames]   (not collected by pytest: no test_ prefix)
Half the frames are SMTP over TCP (IPv4, some IPv6 and VLAN-tagged), half noise: HTTPS over TCP,
DNS over UDP, ICMP, ARP.
"""
from __future__ import annotations

import random
import sys
import time

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from smtpsniff.capture.frame import Frame
from smtpsniff.net.decode import PacketDecoder

SMTP_LINES = [b"EHLO client.example\r\n", b"250-mail.example\r\n250 SIZE 1000000\r\n", b"MAIL FROM:<a@b.example>\r\n",
              b"RCPT TO:<c@d.example>\r\n", b"DATA\r\n", b"Subject: hi\r\n\r\n" + b"x" * 1200, b".\r\n", b""]


def templates(rng: random.Random, n: int = 2000) -> list[bytes]:
    out: list[bytes] = []
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    for i in range(n):
        kind = i % 10
        sport = 1024 + rng.randrange(60000)
        if kind < 4:
            pkt = eth / IP(src="10.0.0.1", dst=f"10.0.{i % 250}.2") / TCP(sport=sport, dport=25, seq=rng.randrange(2**32), flags="PA", options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / rng.choice(SMTP_LINES)
        elif kind == 4:
            pkt = eth / (Dot1Q(vlan=7) / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=25, dport=sport, flags="A") / rng.choice(SMTP_LINES))
        elif kind < 7:
            pkt = eth / IP(src="192.168.1.5", dst="93.184.216.34") / TCP(sport=sport, dport=443, flags="A") / (b"\x17\x03\x03" + bytes(rng.randrange(1400)))
        elif kind < 9:
            pkt = eth / IP(src="192.168.1.5", dst="192.168.1.1") / UDP(sport=sport, dport=53) / DNS(qd=DNSQR(qname=f"h{i}.example.com"))
        elif i % 20 == 9:
            pkt = eth / IP(src="192.168.1.5", dst="192.168.1.1") / ICMP() / (b"ping" * 8)
        else:
            pkt = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="192.168.1.1")
        out.append(bytes(pkt))
    return out


def main(total: int = 200_000) -> None:
    rng = random.Random(1)
    tmpl = templates(rng)
    frames = [Frame(i + 1, i * 1000, 1, data, len(data)) for i, data in enumerate(rng.choice(tmpl) for _ in range(total))]
    decoder = PacketDecoder()
    decode = decoder.decode
    t0 = time.perf_counter()
    for frame in frames:
        decode(frame)
    ours = time.perf_counter() - t0
    assert decoder.counts.balanced
    sample = frames[: max(1, total // 10)]
    t0 = time.perf_counter()
    for frame in sample:
        Ether(frame.data)
    theirs = (time.perf_counter() - t0) / len(sample) * total
    c = decoder.counts
    print(f"{total} frames: tcp={c.tcp} skipped={c.skipped}")
    print(f"PacketDecoder.decode: {ours:.3f} s, {total / ours:,.0f} frames/s, {ours / total * 1e9:.0f} ns/frame")
    print(f"scapy Ether(bytes):   {theirs:.3f} s (measured on {len(sample)}), {total / theirs:,.0f} frames/s, "
          f"{theirs / total * 1e6:.0f} us/frame; ratio {theirs / ours:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
