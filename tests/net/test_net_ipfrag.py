"""IP fragment reassembly: RFC 791 / RFC 815 for IPv4, RFC 8200 section 4.5 for IPv6."""
from __future__ import annotations

import random

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, fragment6

from smtpsniff.limits import SECOND_NS, Limits
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.ipfrag import FragmentReassembler, Outcome, Reassembled
from smtpsniff.net.segment import Skip, TcpSegment

from netcheck import decode_all, frame

BODY = bytes(range(256)) * 12  # 3072 bytes, every offset distinguishable


def datagram(ident: int = 0x1234, body: bytes = BODY) -> IP:
    return IP(src="192.0.2.10", dst="192.0.2.20", id=ident) / TCP(sport=2525, dport=40000, seq=77, flags="PA") / body


def frames_of(pkts, start: int = 1, linktype: int = 101, ts0: int = 0):
    return [frame(p, linktype, number=start + i, ts_ns=ts0 + i * 1000) for i, p in enumerate(pkts)]


@pytest.mark.parametrize("order", ["in-order", "reversed", "shuffled", "duplicated"])
def test_ipv4_fragments_reassembled_in_any_order(order):
    frags = fragment(datagram(), fragsize=496)
    assert len(frags) > 5
    if order == "reversed":
        frags = frags[::-1]
    elif order == "shuffled":
        random.Random(3).shuffle(frags)
    elif order == "duplicated":
        frags = frags[:3] + frags[1:3] + frags[3:]
    decoder, results = decode_all(frames_of(frags))
    *held, last = results
    assert all(r is Skip.FRAGMENT_HELD for r in held)
    assert isinstance(last, TcpSegment)
    assert last.payload == BODY and (last.sport, last.dport, last.seq) == (2525, 40000, 77)
    assert (last.src, last.dst) == ("192.0.2.10", "192.0.2.20")
    assert last.frame == len(frags) and last.ts_ns == (len(frags) - 1) * 1000  # the completing fragment's
    c = decoder.counts
    assert c.fragments == len(frags) and c.datagrams_reassembled == 1 and c.tcp == 1
    assert decoder.anomalies == [] and decoder.fragment_sets_held == 0


def test_interleaved_datagrams_keyed_by_id():
    a, b = fragment(datagram(1), fragsize=800), fragment(datagram(2, BODY[::-1]), fragsize=800)
    mixed = [p for pair in zip(a, b) for p in pair]
    _, results = decode_all(frames_of(mixed))
    segs = [r for r in results if isinstance(r, TcpSegment)]
    assert [s.payload for s in segs] == [BODY, BODY[::-1]]


def test_overlap_with_different_bytes_first_data_wins():
    frags = fragment(datagram(), fragsize=1000)
    first = frags[1][IP]
    # same offset and length, other content
    evil = IP(src=first.src, dst=first.dst, id=first.id, flags="MF", frag=first.frag, proto=6) / (b"EVIL" * 250)
    assert len(evil) == len(first)
    decoder, results = decode_all(frames_of([frags[0], frags[1], evil, *frags[2:]]))
    seg = results[-1]
    assert isinstance(seg, TcpSegment) and seg.payload == BODY
    (anomaly,) = decoder.anomalies
    assert anomaly.kind == "fragment_overlap_mismatch" and anomaly.frame == 3
    assert "192.0.2.10 -> 192.0.2.20" in anomaly.message


def test_overlap_with_same_bytes_is_quiet():
    frags = fragment(datagram(), fragsize=1000)
    decoder, results = decode_all(frames_of([frags[1], frags[1], *frags]))
    assert isinstance(results[-1], TcpSegment) and decoder.anomalies == []


def test_udp_fragments_are_counted_not_held():
    frags = fragment(IP(dst="10.0.0.1") / UDP() / BODY, fragsize=1000)
    decoder, results = decode_all(frames_of(frags))
    assert results == [Skip.NON_TCP] * len(frags)
    assert decoder.counts.fragments == len(frags) and decoder.fragment_sets_held == 0


def test_timeout_and_finish_report_incomplete_sets():
    frags = fragment(datagram(1), fragsize=1000)
    decoder = PacketDecoder(Limits(fragment_timeout_ns=5 * SECOND_NS))
    decode_all(frames_of(frags[:2]), decoder)
    decoder.expire(4 * SECOND_NS)
    assert decoder.fragment_sets_held == 1 and decoder.anomalies == []
    decoder.expire(6 * SECOND_NS)
    assert decoder.fragment_sets_held == 0
    (anomaly,) = decoder.anomalies
    assert anomaly.kind == "fragments_incomplete" and anomaly.frame == 1 and "2 fragment(s)" in anomaly.message
    # the rest arrive too late: a new set that never completes, reported at finish()
    decode_all(frames_of(frags[2:], start=10, ts0=7 * SECOND_NS), decoder)
    decoder.finish()
    assert [a.kind for a in decoder.anomalies] == ["fragments_incomplete"] * 2
    assert "capture ended" in decoder.anomalies[1].message


def test_stale_set_is_dropped_when_a_late_fragment_arrives():
    frags = fragment(datagram(), fragsize=1000)
    decoder = PacketDecoder(Limits(fragment_timeout_ns=SECOND_NS))
    decode_all(frames_of(frags[:1]) + frames_of(frags[1:], start=2, ts0=2 * SECOND_NS), decoder)
    assert decoder.counts.datagrams_reassembled == 0
    assert decoder.anomaly_counts == {"fragments_incomplete": 1}


def test_max_fragment_sets_evicts_the_oldest():
    decoder = PacketDecoder(Limits(max_fragment_sets=3))
    firsts = [fragment(datagram(i), fragsize=1000)[0] for i in range(5)]
    decode_all(frames_of(firsts), decoder)
    assert decoder.fragment_sets_held == 3
    assert decoder.anomaly_counts == {"fragments_evicted": 2}
    assert [a.frame for a in decoder.anomalies] == [1, 2]


def test_datagram_larger_than_limit_is_rejected():
    # offset 8184*8 = 65472, plus 100 bytes: past 65535 ("ping of death")
    pod = IP(src="10.0.0.1", dst="10.0.0.2", proto=6, frag=8184, flags=0) / (b"x" * 100)
    decoder, (result,) = decode_all(frames_of([pod]))
    assert result is Skip.MALFORMED
    assert decoder.anomaly_counts == {"fragment_too_large": 1} and decoder.fragment_sets_held == 0


def test_truncated_fragment_cannot_be_held():
    frags = fragment(datagram(), fragsize=1000)
    data = bytes(frags[0])
    decoder, (result,) = decode_all([frame(data[:200], 101, wire_len=len(data))])
    assert result is Skip.TRUNCATED and decoder.anomaly_counts == {"fragment_truncated": 1}
    assert decoder.counts.fragments == 1


@pytest.mark.parametrize("shuffle", [False, True])
def test_ipv6_fragments_reassembled(shuffle):
    pkt = IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(id=0xABCDEF) / TCP(sport=25, dport=3333, seq=5) / BODY
    frags = fragment6(pkt, 1000)
    assert len(frags) >= 4
    if shuffle:
        random.Random(1).shuffle(frags)
    decoder, results = decode_all(frames_of(frags, linktype=229))
    seg = results[-1]
    assert isinstance(seg, TcpSegment) and seg.payload == BODY and seg.ip_version == 6
    assert (seg.src, seg.dst, seg.sport, seg.seq) == ("2001:db8::1", "2001:db8::2", 25, 5)
    assert decoder.counts.fragments == len(frags) and decoder.counts.datagrams_reassembled == 1


def test_ipv6_fragments_with_extension_headers_on_both_sides():
    pkt = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrFragment(id=7)
        / IPv6ExtHdrDestOpt()
        / TCP(sport=1, dport=2)
        / BODY
    )
    frags = fragment6(pkt, 1200)
    _, results = decode_all(frames_of(frags, linktype=229))
    assert isinstance(results[-1], TcpSegment) and results[-1].payload == BODY


# --- the reassembler alone --------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def __call__(self, kind: str, message: str, frame: int, ts_ns: int) -> None:
        self.kinds.append(kind)


@pytest.mark.parametrize("seed", range(40))
def test_random_fragmentation_and_order(seed):
    rng = random.Random(seed)
    body = rng.randbytes(rng.randrange(1, 5000))
    cuts = sorted({0, len(body), *(rng.randrange(0, len(body)) // 8 * 8 for _ in range(rng.randrange(0, 12)))})
    pieces = [(a, body[a:b], b != len(body)) for a, b in zip(cuts, cuts[1:])]
    pieces += [p for p in pieces if rng.random() < 0.3]  # exact duplicates
    # overlapping re-sends with the same content
    for _ in range(rng.randrange(3)):
        a = rng.randrange(0, len(body)) // 8 * 8
        b = min(len(body), a + rng.randrange(8, 600))
        pieces.append((a, body[a:b], b != len(body)))
    rng.shuffle(pieces)
    report = Recorder()
    r = FragmentReassembler(report)
    results = [r.add("k", off, data, more, i, 0) for i, (off, data, more) in enumerate(pieces)]
    done = [x for x in results if isinstance(x, Reassembled)]
    assert done and done[0].payload == body and report.kinds == []
    first_done = next(i for i, x in enumerate(results) if isinstance(x, Reassembled))
    assert all(x is Outcome.HELD for x in results[:first_done])


def test_conflicting_last_fragments_reported():
    report = Recorder()
    r = FragmentReassembler(report)
    assert r.add("k", 16, b"B" * 8, False, 1, 0) is Outcome.HELD
    assert r.add("k", 8, b"A" * 8, False, 2, 0) is Outcome.HELD  # claims to end at 16, not 24
    res = r.add("k", 0, b"Z" * 8, True, 3, 0)
    assert isinstance(res, Reassembled) and res.payload == b"Z" * 8 + b"A" * 8 + b"B" * 8
    assert report.kinds == ["fragment_length_mismatch"]


def test_data_past_the_known_end_is_ignored():
    report = Recorder()
    r = FragmentReassembler(report)
    r.add("k", 8, b"E" * 8, False, 1, 0)
    res = r.add("k", 0, b"S" * 24, True, 2, 0)
    assert isinstance(res, Reassembled) and res.payload == b"S" * 8 + b"E" * 8
    assert report.kinds == ["fragment_length_mismatch", "fragment_overlap_mismatch"]
