"""Damaged input never raises: every header cut at every byte, garbage, and flipped bytes."""
from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.ipsec import AH
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Loopback

from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.linktypes import LINK_DECODERS
from smtpsniff.net.segment import Skip, TcpSegment

from netcheck import check_invariant, eth, frame

TCP_OPTS = TCP(sport=25, dport=1025, flags="PA", options=[("MSS", 1460), ("Timestamp", (1, 2)), ("NOP", None)])
BODY = b"250 OK\r\n"
V4 = IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / TCP_OPTS / BODY
V6 = IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / AH(nh=60, payloadlen=4, icv=b"\x00" * 12) / IPv6ExtHdrDestOpt() / TCP_OPTS / BODY

VALID = {
    "ether-v4": (1, eth() / V4),
    "qinq-v6": (1, eth() / Dot1AD(vlan=5) / Dot1Q(vlan=6) / V6),
    "sll-v4": (113, CookedLinux() / V4),
    "sll2-v6": (276, CookedLinuxV2() / V6),
    "null-v4": (0, Loopback() / V4),
    "loop-v6": (108, struct.pack("!I", 24) + bytes(V6)),
    "raw-v6": (101, V6),
    "ipv4": (228, V4),
}


@pytest.mark.parametrize("name", VALID)
def test_every_cut_of_a_valid_frame(name):
    """A frame cut at every byte by the snaplen: a truncated segment, or Skip.TRUNCATED."""
    linktype, pkt = VALID[name]
    data = bytes(pkt)
    decoder = PacketDecoder()
    whole = decoder.decode(frame(data, linktype))
    assert isinstance(whole, TcpSegment) and whole.payload == BODY
    payload_at = len(data) - len(BODY)
    for cut in range(len(data)):
        result = decoder.decode(frame(data[:cut], linktype, number=cut, wire_len=len(data)))
        if cut >= payload_at:
            assert isinstance(result, TcpSegment) and result.truncated, (cut, result)
            assert result.payload == BODY[: cut - payload_at] and result.wire_payload_len == len(BODY)
            assert result[1:9] == whole[1:9]  # all but the frame number
        else:
            assert result is Skip.TRUNCATED, (cut, result)
    assert decoder.anomalies == []
    check_invariant(decoder)


@pytest.mark.parametrize("name", VALID)
def test_every_cut_claiming_to_be_whole(name):
    """The same cuts, but the record says nothing was cut: headers lie, so malformed (or truncated
    where the link header itself is missing), never an exception."""
    linktype, pkt = VALID[name]
    data = bytes(pkt)
    decoder = PacketDecoder()
    for cut in range(len(data)):
        result = decoder.decode(frame(data[:cut], linktype, number=cut))
        assert result in (Skip.MALFORMED, Skip.TRUNCATED), (cut, result)
    check_invariant(decoder)


@pytest.mark.parametrize("name", VALID)
def test_every_byte_flipped(name):
    linktype, pkt = VALID[name]
    data = bytes(pkt)
    decoder = PacketDecoder()
    for i in range(len(data)):
        for value in (0x00, 0xFF, data[i] ^ 0x40):
            mutated = data[:i] + bytes([value]) + data[i + 1 :]
            decoder.decode(frame(mutated, linktype, number=i))
    check_invariant(decoder)


@pytest.mark.parametrize("linktype", sorted(LINK_DECODERS))
def test_garbage(linktype):
    rng = random.Random(linktype)
    decoder = PacketDecoder()
    for i in range(1500):
        data = rng.randbytes(rng.randrange(0, 120))
        if i % 3 == 0 and linktype == 1:
            data = data[:12] + rng.choice([b"\x08\x00", b"\x86\xdd", b"\x81\x00"]) + data[14:]
        elif i % 3 == 0:
            data = bytes([rng.choice([0x45, 0x4F, 0x60, 0x41])]) + data[1:]
        result = decoder.decode(frame(data, linktype, number=i, wire_len=len(data) + rng.choice([0, 0, 50])))
        assert isinstance(result, (TcpSegment, Skip))
    check_invariant(decoder)


def test_garbage_fragments_never_raise(decoder):
    rng = random.Random(7)
    base = fragment(IP(src="1.1.1.1", dst="2.2.2.2") / TCP() / (b"x" * 3000), fragsize=400)
    base6 = [bytes(p) for p in (IPv6() / IPv6ExtHdrFragment(id=1, m=1, offset=rng.randrange(8000)) / (b"y" * 64) for _ in range(5))]
    pool = [bytes(p) for p in base] + base6
    for i in range(3000):
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randrange(3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        decoder.decode(frame(bytes(data), 101, number=i, ts_ns=i))
    decoder.expire(10**18)
    decoder.finish()
    assert decoder.fragment_sets_held == 0


def test_udp_is_not_parsed_further(decoder):
    # a UDP header claiming absurd lengths is no concern of a TCP decoder
    data = bytes(IP() / UDP(len=9999) / b"x")
    assert decoder.decode(frame(data, 101)) is Skip.NON_TCP and decoder.anomalies == []
