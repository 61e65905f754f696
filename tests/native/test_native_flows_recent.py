"""The window of recent bytes the C flows table keeps for each direction, against pure Python.

Re-sent bytes are checked against the last delivered bytes (``Stream.recent``, trimmed to
``Limits.max_retained_bytes_per_direction`` once twice as long): which re-sent bytes count as
verified, unverified or mismatched depends on the window's exact length and content when the
connection comes back to Python.  With a small window, segments of every size (some longer than
the window) and re-sent segments at every distance behind the stream, both paths must count the
same and raise the same anomalies.
"""
from __future__ import annotations

import random
import sys
from functools import cache
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP

from smtpsniff import streams
from smtpsniff.limits import Limits
from smtpsniff.net import native

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from netcheck import eth
from test_native_flows import both_streams, run_streams, write

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")

RETAIN = 100


@cache
def transfer(seed: int, *, resend_every: int = 7, changed: bool = False, tiny: bool = False) -> list[bytes]:
    """A client sending segments of 1..250 bytes (1..2 when ``tiny``; the server acknowledging each); every
    ``resend_every``-th segment is followed by a copy of itself or of one up to 11 segments before it
    (when ``tiny``: of the last 1 to 280 segments, as one)
    (with one byte changed when ``changed``)."""
    rng = random.Random(seed)
    c_seq, s_seq = 1000, 5000
    out = []

    def pkt(from_client: bool, flags: str, seq: int, ack: int, payload: bytes = b"") -> bytes:
        ip = IP(src="192.0.2.1", dst="192.0.2.2") if from_client else IP(src="192.0.2.2", dst="192.0.2.1")
        sport, dport = (41000, 25) if from_client else (25, 41000)
        return bytes(eth() / ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags) / payload)

    out.append(pkt(True, "S", c_seq, 0))
    out.append(pkt(False, "SA", s_seq, c_seq + 1))
    c_seq += 1
    s_seq += 1
    out.append(pkt(True, "A", c_seq, s_seq))
    sent: list[tuple[int, bytes]] = []
    back = [1, 1, 2, 3, 12, 100, 200, 280] if tiny else [1, 1, 2, 3, 12]
    for i in range(700 if tiny else 200):
        n = rng.choice([1, 2] if tiny else [1, 2, 30, 60, 99, 100, 101, 150, 199, 200, 201, 250])
        payload = bytes(rng.randrange(256) for _ in range(n))
        out.append(pkt(True, "PA", c_seq, s_seq, payload))
        sent.append((c_seq, payload))
        c_seq += n
        out.append(pkt(False, "A", s_seq, c_seq))
        if i % resend_every == resend_every - 1:
            first = max(0, len(sent) - rng.choice(back))
            seq, old = sent[first]
            if tiny:  # the segments since then, re-sent as one
                old = b"".join(p for _, p in sent[first:])
            if changed:
                old = bytes([old[0] ^ 1]) + old[1:]
            out.append(pkt(True, "PA", seq, s_seq, old))
    out.append(pkt(True, "FA", c_seq, s_seq))
    out.append(pkt(False, "FA", s_seq, c_seq + 1))
    out.append(pkt(True, "A", c_seq + 1, s_seq + 1))
    return out


@pytest.mark.parametrize("changed", [False, True])
@pytest.mark.parametrize("records", [1, 5, 64])
@pytest.mark.parametrize("seed", [1, 2])
def test_resent_bytes_against_the_window(seed, records, changed, tmp_path, monkeypatch):
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    path = write(tmp_path, list(transfer(seed, changed=changed)))
    check(path, monkeypatch, RETAIN, changed)


@pytest.mark.parametrize("records", [5, 600])
def test_many_tiny_segments(records, monkeypatch, tmp_path):
    """Hundreds of 1-2 byte segments in a window of 400 bytes: the C table writes the window while
    the direction is still its own (a bound on the payloads it waits with), then at the re-sends."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    path = write(tmp_path, list(transfer(3, resend_every=330, tiny=True)))
    check(path, monkeypatch, 400, False)


def check(path: Path, monkeypatch, retain: int, changed: bool) -> None:
    limits = Limits(max_retained_bytes_per_direction=retain)
    assert both_streams(path, monkeypatch, limits) > 0
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True, limits)
    assert stats.bytes_delivered > 2 * retain  # the window was trimmed
    if changed:
        assert stats.overlap_mismatch_bytes > 0
    else:
        assert stats.retransmitted_bytes > 0


@pytest.mark.parametrize("changed_at", [None, 0, 39, 40, 99])
def test_window_across_a_trim_in_c(changed_at, tmp_path, monkeypatch):
    """The window comes back to C with 150 bytes; 60 more trim it to its last 100 (40 of them from
    before the hand-back); those 100 bytes re-sent (one of them changed) are compared with it."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 1)
    c_seq, s_seq = 7000, 9000

    def pkt(from_client: bool, flags: str, seq: int, ack: int, payload: bytes = b"") -> bytes:
        ip = IP(src="192.0.2.1", dst="192.0.2.2") if from_client else IP(src="192.0.2.2", dst="192.0.2.1")
        sport, dport = (41001, 25) if from_client else (25, 41001)
        return bytes(eth() / ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags) / payload)

    first, second = bytes(range(100, 250)), bytes(range(60))
    last = (first + second)[-100:]
    if changed_at is not None:
        last = last[:changed_at] + bytes([last[changed_at] ^ 0xFF]) + last[changed_at + 1:]
    frames = [
        pkt(True, "S", c_seq, 0), pkt(False, "SA", s_seq, c_seq + 1), pkt(True, "A", c_seq + 1, s_seq + 1),
        pkt(True, "PA", c_seq + 1, s_seq + 1, first), pkt(False, "A", s_seq + 1, c_seq + 151),
        pkt(True, "PA", c_seq + 1, s_seq + 1, first),  # re-sent: back to Python, then handed back
        pkt(False, "A", s_seq + 1, c_seq + 151), pkt(False, "A", s_seq + 1, c_seq + 151),
        pkt(True, "PA", c_seq + 151, s_seq + 1, second), pkt(False, "A", s_seq + 1, c_seq + 211),
        pkt(True, "PA", c_seq + 111, s_seq + 1, last),
    ]
    path = write(tmp_path, frames)
    limits = Limits(max_retained_bytes_per_direction=100)
    assert both_streams(path, monkeypatch, limits) > 0
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True, limits)
    assert stats.retransmitted_bytes + stats.overlap_mismatch_bytes == 150 + 100
    assert stats.overlap_mismatch_bytes == (0 if changed_at is None else 1)
