"""IPv4 (RFC 791), IPv6 extension headers (RFC 8200) and TCP headers (RFC 9293), valid and not."""
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_RR
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    MIP6MH_BRR,
)
from scapy.layers.ipsec import AH, ESP

from smtpsniff.limits import Limits
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.segment import ACK, FIN, PSH, SYN, Skip, TcpSegment

from netcheck import assert_matches_scapy, decode_all, decode_one, eth, frame

PAYLOAD = b"MAIL FROM:<alice@example.org>\r\n"


def v4(**ip: object) -> IP:
    return IP(src="203.0.113.9", dst="10.1.2.3", **ip)


# --- valid ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tcp",
    [
        TCP(sport=1, dport=2, flags="S", seq=0),
        TCP(sport=65535, dport=25, flags="FPAU", seq=2**32 - 1, ack=7, urgptr=3),
        TCP(flags="SEC", options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)), ("WScale", 7)]),
        TCP(flags=0x1FF),  # every control bit, and AE (RFC 3168's NS bit)
    ],
)
def test_tcp_header_fields_and_options(tcp):
    pkt = eth() / v4() / tcp / PAYLOAD
    assert_matches_scapy(decode_one(pkt), pkt)


def test_flags_constants_match_the_header_bits():
    seg = decode_one(eth() / v4() / TCP(flags="SA"))
    assert seg.flags == SYN | ACK
    seg = decode_one(eth() / v4() / TCP(flags="FPA"))
    assert seg.flags == FIN | PSH | ACK


def test_ipv4_options_ihl():
    pkt = eth() / v4(options=[IPOption_RR(routers=["1.1.1.1", "2.2.2.2"]), IPOption_NOP()]) / TCP() / PAYLOAD
    data = bytes(pkt)
    assert data[14] & 15 > 5
    assert_matches_scapy(decode_one(data), pkt)


@pytest.mark.parametrize(
    "ext",
    [
        IPv6ExtHdrHopByHop(),
        IPv6ExtHdrRouting(addresses=["2001:db8::99", "2001:db8::98"]),
        IPv6ExtHdrDestOpt(),
        IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt(),
        IPv6ExtHdrFragment(offset=0, m=0, id=5),  # atomic fragment (RFC 6946)
        AH(nh=6, payloadlen=4, spi=1, seq=1, icv=b"\x00" * 12),
    ],
    ids=["hbh", "routing", "dstopt", "chain", "atomic-fragment", "ah"],
)
def test_ipv6_extension_headers(ext):
    pkt = eth() / IPv6(src="2001:db8::a", dst="fe80::1") / ext / TCP(sport=587, dport=50000) / PAYLOAD
    data = bytes(pkt)
    parsed = eth().__class__(data)
    # scapy's dissector does not walk AH inside IPv6; compare with the packet as built then
    assert_matches_scapy(decode_one(data), parsed if TCP in parsed else pkt)


def test_ipv6_mobility_header_is_walked():
    # Mobility (135) uses the generic length; a TCP after it is unusual but the walk must get there.
    mh = bytes(MIP6MH_BRR())
    assert mh[1] == 0 and len(mh) == 8
    mh = bytes([6]) + mh[1:]  # next header TCP (its Payload Proto field)
    pkt = IPv6(src="::1", dst="::2", nh=135) / (mh + bytes(TCP(sport=1, dport=2) / PAYLOAD))
    seg = decode_one(pkt, 229)
    assert isinstance(seg, TcpSegment) and seg.payload == PAYLOAD and seg.src == "::1"


@pytest.mark.parametrize(
    "pkt",
    [
        IPv6(nh=59) / b"",
        IPv6() / ESP(spi=1, seq=1, data=b"x" * 16),
        IPv6() / IPv6ExtHdrHopByHop() / UDP(),
        IPv6() / IPv6ExtHdrFragment(m=0, offset=0) / UDP(),
        IP() / ICMP(),
        IP() / UDP() / b"x",
    ],
    ids=["no-next", "esp", "hbh-udp", "atomic-udp", "icmp", "udp"],
)
def test_not_tcp(pkt):
    assert decode_one(pkt, 101) is Skip.NON_TCP


def test_ipv6_addresses_compressed_like_wireshark():
    pkt = IPv6(src="2001:0db8:0000:0000:0000:ff00:0042:8329", dst="::ffff:192.0.2.1") / TCP()
    seg = decode_one(pkt, 229)
    assert (seg.src, seg.dst) == ("2001:db8::ff00:42:8329", "::ffff:192.0.2.1")


def test_segment_carries_frame_number_and_timestamp():
    seg = decode_one(eth() / v4() / TCP() / PAYLOAD, number=42, ts_ns=1_700_000_000_123_456_789)
    assert (seg.frame, seg.ts_ns) == (42, 1_700_000_000_123_456_789)


# --- snaplen -------------------------------------------------------------------------------------------
def test_snaplen_cut_payload_gives_truncated_segment():
    data = bytes(eth() / v4() / TCP() / (b"x" * 1000))
    seg = decode_one(data[:100], wire_len=len(data))
    assert isinstance(seg, TcpSegment)
    assert seg.truncated and seg.payload == b"x" * (100 - 54) and seg.wire_payload_len == 1000
    assert seg.payload_len == 1000


def test_snaplen_cut_tcp_header_is_truncated():
    data = bytes(eth() / v4() / TCP(options=[("Timestamp", (1, 2))]) / PAYLOAD)
    for cut in range(14, 54 + 12):
        assert decode_one(data[:cut], wire_len=len(data)) is Skip.TRUNCATED


def test_truncated_counter():
    data = bytes(eth() / IPv6() / TCP() / (b"x" * 100))
    decoder, results = decode_all([frame(data[:80], wire_len=len(data)), frame(data)])
    assert [r.truncated for r in results] == [True, False]
    assert decoder.counts.tcp == 2 and decoder.counts.tcp_truncated == 1


def test_tso_total_length_zero_runs_to_end_of_frame():
    data = bytearray(bytes(eth() / v4() / TCP() / PAYLOAD))
    data[16:18] = b"\x00\x00"
    seg = decode_one(bytes(data))
    assert isinstance(seg, TcpSegment) and seg.payload == PAYLOAD


# --- malformed -----------------------------------------------------------------------------------------
def malformed(data: bytes, linktype: int = 1, wire_len: int | None = None) -> str:
    decoder, (result,) = decode_all([frame(data, linktype, number=7, ts_ns=99, wire_len=wire_len)])
    assert result is Skip.MALFORMED
    (anomaly,) = decoder.anomalies
    assert (anomaly.frame, anomaly.ts_ns, anomaly.layer.value) == (7, 99, "net")
    return anomaly.message


def test_ipv4_total_length_below_header():
    data = bytearray(bytes(v4() / TCP()))
    data[2:4] = struct.pack("!H", 12)
    assert malformed(bytes(data), 101).startswith("malformed_ipv4: total length 12 < header 20")


def test_ipv4_total_length_beyond_frame_not_cut_by_snaplen():
    data = bytearray(bytes(v4() / TCP() / PAYLOAD))
    data[2:4] = struct.pack("!H", 1500)
    assert "total length 1500" in malformed(bytes(data), 101)


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_ipv4_ihl_below_5(ihl):
    data = bytearray(bytes(v4() / TCP()))
    data[0] = 0x40 | ihl
    assert "header length" in malformed(bytes(data), 101)


def test_ipv4_ihl_past_total_length():
    data = bytearray(bytes(v4() / TCP()))
    data[0] = 0x4F  # 60-byte header in a 40-byte datagram
    assert "total length 40 < header 60" in malformed(bytes(data), 101)


def test_ip_version_mismatch():
    data = bytearray(bytes(eth() / v4() / TCP()))
    data[14] = 0x55
    assert "version 5" in malformed(bytes(data))
    data = bytearray(bytes(eth() / IPv6() / TCP()))
    data[14] = 0x45
    assert "version 4" in malformed(bytes(data))


@pytest.mark.parametrize("offset", [0, 1, 4])
def test_tcp_data_offset_below_5(offset):
    data = bytearray(bytes(v4() / TCP() / PAYLOAD))
    data[32] = offset << 4
    assert f"data offset {offset} < 5" in malformed(bytes(data), 101)


def test_tcp_header_longer_than_segment():
    data = bytearray(bytes(v4() / TCP()))
    data[32] = 15 << 4  # 60-byte header in a 20-byte segment
    assert "header length 60 > segment length 20" in malformed(bytes(data), 101)


def test_segment_shorter_than_tcp_header():
    pkt = IPv6() / (bytes(TCP())[:12])
    pkt.nh = 6
    assert "< TCP header" in malformed(bytes(pkt), 229)


@pytest.mark.parametrize("ext", [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(), AH(nh=6)])
def test_absurd_ipv6_extension_header_length(ext):
    data = bytearray(bytes(IPv6() / ext / TCP()))
    data[41] = 255  # 2048 bytes (or 1028 for AH) in a packet of a few dozen
    assert "runs past the payload end" in malformed(bytes(data), 229)


def test_ipv6_payload_length_beyond_frame():
    data = bytearray(bytes(IPv6() / TCP()))
    data[4:6] = struct.pack("!H", 9000)
    assert "payload length 9000" in malformed(bytes(data), 229)


def test_anomaly_records_capped_per_kind_but_counted_exactly():
    bad = bytearray(bytes(v4() / TCP()))
    bad[0] = 0x44
    decoder = PacketDecoder(Limits(max_anomalies_per_kind=3))
    frames = [frame(bytes(bad), 101, number=i) for i in range(10)]
    frames += [frame(b"\x00" * 20, 99)]
    decode_all(frames, decoder)
    assert decoder.anomaly_counts == {"malformed_ipv4": 10, "unsupported_linktype": 1}
    assert [a.kind for a in decoder.anomalies] == ["malformed_ipv4"] * 3 + ["unsupported_linktype"]
    assert decoder.counts.skipped["malformed"] == 10


def test_counts_as_dict_is_flat():
    decoder, _ = decode_all([frame(eth() / v4() / TCP()), frame(eth() / v4() / UDP()), frame(b"x", 55)])
    flat = decoder.counts.as_dict()
    assert flat["frames"] == 3 and flat["tcp"] == 1 and flat["ipv4"] == 2
    assert flat["skipped_non_tcp"] == 1 and flat["skipped_unsupported_linktype"] == 1
    assert flat["linktype_1"] == 2 and flat["linktype_55"] == 1
    assert all(isinstance(v, int) for v in flat.values())
