"""Every supported link type, built with scapy and compared with scapy's own parse of the same bytes."""
from __future__ import annotations

import struct

import pytest
from scapy.config import conf
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Raw

from smtpsniff.net import linktypes as lt
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.segment import Skip, TcpSegment

from netcheck import assert_matches_scapy, eth, decode_all, decode_one, frame

V4 = IP(src="192.0.2.1", dst="198.51.100.7") / TCP(sport=40000, dport=25, seq=123456789, ack=987654321, flags="PA") / b"EHLO x\r\n"
V6 = IPv6(src="2001:db8::1", dst="2001:db8:0:0:1::2") / TCP(sport=25, dport=40001, seq=2**32 - 1, flags="SA") / b"220 hi\r\n"


def scapy_parse(linktype: int, data: bytes):
    cls = conf.l2types.num2layer.get(linktype) or conf.l2types.num2layer[101]
    return cls(data)


@pytest.mark.parametrize("ip", [V4, V6], ids=["v4", "v6"])
@pytest.mark.parametrize(
    "linktype, link",
    [
        (lt.LINKTYPE_ETHERNET, lambda: Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")),
        (lt.LINKTYPE_LINUX_SLL, lambda: CookedLinux(pkttype=0, lladdrtype=772, lladdrlen=6)),
        (lt.LINKTYPE_LINUX_SLL2, lambda: CookedLinuxV2(ifindex=1, lladdrtype=772, lladdrlen=6)),
        (lt.LINKTYPE_NULL, lambda: Loopback()),
        (lt.LINKTYPE_RAW, None),
        (lt.DLT_RAW_12, None),
        (lt.DLT_RAW_14, None),
    ],
    ids=["ethernet", "sll", "sll2", "null", "raw", "raw12", "raw14"],
)
def test_link_types_match_scapy(linktype, link, ip):
    pkt = ip.copy() if link is None else link() / ip.copy()
    data = bytes(pkt)
    seg = decode_one(data, linktype)
    assert_matches_scapy(seg, scapy_parse(linktype, data))


@pytest.mark.parametrize("linktype, ip", [(lt.LINKTYPE_IPV4, V4), (lt.LINKTYPE_IPV6, V6)])
def test_ipv4_and_ipv6_linktypes(linktype, ip):
    data = bytes(ip)
    assert_matches_scapy(decode_one(data, linktype), scapy_parse(linktype, data))


def test_linktype_ipv4_carrying_ipv6_is_malformed():
    assert decode_one(bytes(V6), lt.LINKTYPE_IPV4) is Skip.MALFORMED
    assert decode_one(bytes(V4), lt.LINKTYPE_IPV6) is Skip.MALFORMED


@pytest.mark.parametrize("order", ["<I", ">I"])
@pytest.mark.parametrize("af, ip", [(2, V4), (10, V6), (24, V6), (28, V6), (30, V6)])
def test_null_either_byte_order_and_every_af_inet6(order, af, ip):
    data = struct.pack(order, af) + bytes(ip)
    seg = decode_one(data, lt.LINKTYPE_NULL)
    assert_matches_scapy(seg, ip.__class__(bytes(ip)))


@pytest.mark.parametrize("af, ip", [(2, V4), (24, V6), (28, V6), (30, V6)])
def test_loop_is_network_order(af, ip):
    data = struct.pack(">I", af) + bytes(ip)
    # scapy's LoopbackOpenBSD binds only one AF_INET6 value: parse the IP part directly
    assert_matches_scapy(decode_one(data, lt.LINKTYPE_LOOP), ip.__class__(data[4:]))
    # the same value little-endian is not an address family LOOP knows
    assert decode_one(struct.pack("<I", af) + bytes(ip), lt.LINKTYPE_LOOP) is Skip.NON_IP


def test_null_unknown_family_is_non_ip():
    assert decode_one(struct.pack("<I", 7) + bytes(V4), lt.LINKTYPE_NULL) is Skip.NON_IP


@pytest.mark.parametrize(
    "tags",
    [
        [],
        [Dot1Q(vlan=10)],
        [Dot1AD(vlan=100), Dot1Q(vlan=10)],
        [Dot1Q(vlan=1), Dot1Q(vlan=2), Dot1Q(vlan=3)],
    ],
    ids=["untagged", "802.1Q", "QinQ-88a8", "triple"],
)
@pytest.mark.parametrize("ip", [V4, V6], ids=["v4", "v6"])
def test_vlan_tags_any_depth(tags, ip):
    pkt = eth()
    for tag in tags:
        pkt = pkt / tag
    pkt = pkt / ip.copy()
    data = bytes(pkt)
    assert_matches_scapy(decode_one(data), Ether(data))


def test_qinq_9100_tag():
    # 0x9100 pre-standard S-tag, then an 802.1Q C-tag
    inner = bytes(Dot1Q(vlan=10) / V4)
    data = bytes(eth(type=0x9100))[:14] + struct.pack("!H", 200) + struct.pack("!H", 0x8100) + inner
    seg = decode_one(data)
    assert isinstance(seg, TcpSegment) and seg.payload == b"EHLO x\r\n"


def test_ethernet_padding_and_trailer_excluded():
    small = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="A")  # 40 bytes: padded to 60 on the wire
    data = bytes(eth() / small) + b"\x00" * 6 + b"\xde\xad\xbe\xef"  # padding + an FCS-like trailer
    seg = decode_one(data)
    assert isinstance(seg, TcpSegment) and seg.payload == b"" and seg.wire_payload_len == 0
    data = bytes(eth() / V4) + b"TRAILER!"
    seg = decode_one(data)
    assert seg.payload == b"EHLO x\r\n"


@pytest.mark.parametrize(
    "pkt, expected",
    [
        (eth() / ARP(), Skip.NON_IP),
        (eth(type=0x88CC) / Raw(b"\x02\x07" * 20), Skip.NON_IP),  # LLDP
        (eth() / Dot1Q() / ARP(), Skip.NON_IP),
        (eth() / IP() / UDP() / b"dns", Skip.NON_TCP),
        (eth() / Dot1Q() / IPv6() / UDP(), Skip.NON_TCP),
        (CookedLinuxV2(proto=0x0806) / ARP(), Skip.NON_IP),
    ],
)
def test_non_ip_and_non_tcp(pkt, expected):
    linktype = lt.LINKTYPE_LINUX_SLL2 if isinstance(pkt, CookedLinuxV2) else lt.LINKTYPE_ETHERNET
    assert decode_one(pkt, linktype) is expected


def test_unsupported_linktype_counted_per_type_one_anomaly_each():
    frames = [frame(b"\x00" * 40, linktype=147, number=i) for i in range(1, 6)]
    frames += [frame(b"\x00" * 40, linktype=9, number=i) for i in range(6, 9)]
    decoder, results = decode_all(frames)
    assert all(r is Skip.UNSUPPORTED_LINKTYPE for r in results)
    assert decoder.counts.skipped["unsupported_linktype"] == 8
    assert decoder.counts.by_linktype == {147: 5, 9: 3}
    kinds = [a for a in decoder.anomalies if a.kind == "unsupported_linktype"]
    assert [a.frame for a in kinds] == [1, 6]
    assert "147" in kinds[0].message


def test_link_header_cut_is_truncated():
    for linktype, size in [(1, 13), (113, 15), (276, 19), (0, 3), (108, 3), (101, 0)]:
        assert decode_one(b"\x08" * size, linktype, wire_len=100) is Skip.TRUNCATED
    assert decode_one(bytes(eth() / Dot1Q())[:16], 1, wire_len=100) is Skip.TRUNCATED


def test_link_decoders_table_is_complete():
    assert set(lt.LINK_DECODERS) == {0, 1, 12, 14, 101, 108, 113, 228, 229, 276}
    assert set(lt.LINKTYPE_NAMES) == set(lt.LINK_DECODERS)
    assert PacketDecoder().counts.by_linktype == {}
