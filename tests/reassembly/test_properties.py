"""Property tests over random segmentations, reorderings, duplicates, overlapping re-sends and drops.

Hand-rolled with ``random.Random(seed)`` over many seeds (no extra dependency).  The model: one client
stream of random bytes cut into random segments; some segments are lost to the capture (the receiver
still got them); some are captured twice, some re-sent re-cut over already captured ranges; capture
order is shuffled; optionally the server's cumulative ACKs are interleaved as the receiver would send
them.  Whatever happens, delivered bytes + gap lengths rebuild the stream exactly, gaps lie exactly on
the lost ranges, and whole versus byte-by-byte segmentation gives the same result.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from smtpsniff.net.segment import ACK, FIN, PSH, SYN, TcpSegment
from smtpsniff.reassembly.table import TcpReassembler

from .conftest import C2S, MOD, TS0, anomalies, flows, run

CLIENT, SERVER = ("192.0.2.1", 50123), ("198.51.100.7", 25)


@dataclass
class Piece:
    off: int
    end: int


@dataclass
class Scenario:
    data: bytes
    isn: int
    sisn: int
    captured: list[Piece]  # in capture order
    lost: list[Piece]
    #: (index in capture order after which, cumulative ack offset) pairs
    acks: list[tuple[int, int]]


def make_scenario(rnd: random.Random, *, with_acks: bool) -> Scenario:
    n = rnd.randrange(1, 3000)
    data = rnd.randbytes(n)
    isn = rnd.choice([rnd.randrange(MOD), MOD - rnd.randrange(1, 2000), 0])
    cuts, pos = [], 0
    max_seg = rnd.choice([1, 7, 100, 536, 1460])
    while pos < n:
        step = rnd.randrange(1, max_seg + 1)
        cuts.append(Piece(pos, min(n, pos + step)))
        pos += step
    lost_p = rnd.choice([0.0, 0.05, 0.2, 0.5])
    lost_flags = [rnd.random() < lost_p for _ in cuts]
    # the receiver's arrival order: every segment, lost to the capture or not, locally or fully shuffled
    order = list(range(len(cuts)))
    mode = rnd.choice(["none", "local", "full"])
    if mode == "full":
        rnd.shuffle(order)
    elif mode == "local":
        for i in range(len(order) - 1):
            if rnd.random() < 0.3:
                order[i], order[i + 1] = order[i + 1], order[i]
    arrivals: list[tuple[Piece, bool]] = [(cuts[i], lost_flags[i]) for i in order]
    # captured duplicates and re-cut re-sends of ranges made only of captured segments
    extra: list[Piece] = []
    for _ in range(rnd.randrange(0, 6)):
        i = rnd.randrange(len(cuts))
        if lost_flags[i]:
            continue
        j = i
        while j + 1 < len(cuts) and not lost_flags[j + 1] and rnd.random() < 0.6:
            j += 1
        lo, hi = cuts[i].off, cuts[j].end
        a = rnd.randrange(lo, hi)
        b = rnd.randrange(a + 1, hi + 1)
        extra.append(Piece(a, b) if rnd.random() < 0.5 else Piece(cuts[i].off, cuts[i].end))
    for p in extra:
        arrivals.insert(rnd.randrange(len(arrivals) + 1), (p, False))
    captured: list[Piece] = []
    acks: list[tuple[int, int]] = []
    have = [False] * (n + 1)
    prefix = 0
    for p, lost in arrivals:
        for k in range(p.off, p.end):
            have[k] = True
        if not lost:
            captured.append(p)
        if with_acks:
            while prefix < n and have[prefix]:
                prefix += 1
            if rnd.random() < 0.4 and captured:
                acks.append((len(captured) - 1, prefix))
    lost_ranges = [cuts[i] for i in range(len(cuts)) if lost_flags[i]]
    return Scenario(data, isn, rnd.randrange(MOD), captured, lost_ranges, acks)


def segments(sc: Scenario, *, byte_by_byte: bool) -> list[TcpSegment]:
    out: list[TcpSegment] = []
    frame = 0

    def add(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        nonlocal frame
        frame += 1
        out.append(TcpSegment(frame, TS0 + frame * 1000, src[0], src[1], dst[0], dst[1], seq % MOD, ack % MOD,
                              flags, payload, 4))

    c0, s0 = sc.isn + 1, sc.sisn + 1  # offset 0 of each direction
    add(CLIENT, SERVER, sc.isn, 0, SYN)
    add(SERVER, CLIENT, sc.sisn, c0, SYN | ACK)
    add(CLIENT, SERVER, c0, s0, ACK)
    acks = dict(sc.acks)
    for i, p in enumerate(sc.captured):
        if byte_by_byte:
            for k in range(p.off, p.end):
                add(CLIENT, SERVER, c0 + k, s0, PSH | ACK, sc.data[k:k + 1])
        else:
            add(CLIENT, SERVER, c0 + p.off, s0, PSH | ACK, sc.data[p.off:p.end])
        if i in acks:
            add(SERVER, CLIENT, s0, c0 + acks[i], ACK)
    add(CLIENT, SERVER, c0 + len(sc.data), s0, FIN | ACK)
    return out


def merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and out[-1][1] >= a:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def expected_gaps(sc: Scenario) -> list[tuple[int, int]]:
    covered = [False] * len(sc.data)
    for p in sc.captured:
        for k in range(p.off, p.end):
            covered[k] = True
    runs: list[tuple[int, int]] = []
    k = 0
    while k < len(covered):
        if not covered[k]:
            j = k
            while j < len(covered) and not covered[j]:
                j += 1
            runs.append((k, j))
            k = j
        else:
            k += 1
    return runs


def check(sc: Scenario, *, byte_by_byte: bool) -> tuple[bytes, list[tuple[int, int]]]:
    r = TcpReassembler()
    ev = run(segments(sc, byte_by_byte=byte_by_byte), reassembler=r)
    f = flows(ev)[0, C2S]
    assert len(f) == len(sc.data)
    for piece in f.pieces:
        if piece[0] == "data":
            assert piece[2] == sc.data[piece[1]:piece[1] + len(piece[2])]
    gaps = merged([(o, o + n) for o, n, _ in f.gaps])
    assert gaps == expected_gaps(sc)
    assert not anomalies(ev, "overlap_mismatch")
    assert r.stats.overlap_mismatch_bytes == 0
    return f.data, gaps


@pytest.mark.parametrize("with_acks", [False, True])
def test_random_streams_rebuild_exactly(with_acks: bool) -> None:
    for seed in range(400):
        rnd = random.Random(seed * 2 + with_acks)
        sc = make_scenario(rnd, with_acks=with_acks)
        whole = check(sc, byte_by_byte=False)
        if len(sc.data) <= 600:
            assert check(sc, byte_by_byte=True) == whole, seed
        expected_data = bytearray()
        gaps = expected_gaps(sc)
        pos = 0
        for a, b in gaps:
            expected_data += sc.data[pos:a]
            pos = b
        expected_data += sc.data[pos:]
        assert whole[0] == bytes(expected_data), seed


def test_identical_resends_are_all_counted_as_retransmissions() -> None:
    for seed in range(50):
        rnd = random.Random(10_000 + seed)
        data = rnd.randbytes(rnd.randrange(10, 500))
        cut = sorted(rnd.sample(range(1, len(data)), min(5, len(data) - 1)))
        bounds = list(zip([0] + cut, cut + [len(data)]))
        sc = Scenario(data, rnd.randrange(MOD), 7, [Piece(a, b) for a, b in bounds + bounds], [], [])
        r = TcpReassembler()
        ev = run(segments(sc, byte_by_byte=False), reassembler=r)
        assert flows(ev)[0, C2S].data == data
        assert r.stats.retransmitted_bytes == len(data) and r.stats.bytes_delivered == len(data)
