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
from functools import lru_cache
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


@lru_cache(maxsize=None)
def transfer(seed: int, *, resend_every: int = 7, changed: bool = False) -> list[bytes]:
    """A client sending segments of 1..250 bytes (the server acknowledging each); every
    ``resend_every``-th segment is followed by a copy of itself or of one 1, 2 or 11 segments before it
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
    for i in range(200):
        n = rng.choice([1, 2, 30, 60, 99, 100, 101, 150, 199, 200, 201, 250])
        payload = bytes(rng.randrange(256) for _ in range(n))
        out.append(pkt(True, "PA", c_seq, s_seq, payload))
        sent.append((c_seq, payload))
        c_seq += n
        out.append(pkt(False, "A", s_seq, c_seq))
        if i % resend_every == resend_every - 1:
            seq, old = sent[max(0, len(sent) - rng.choice([1, 1, 2, 3, 12]))]
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
    limits = Limits(max_retained_bytes_per_direction=RETAIN)
    assert both_streams(path, monkeypatch, limits) > 0
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True, limits)
    assert stats.unverified_retransmitted_bytes > 0
    if changed:
        assert stats.overlap_mismatch_bytes > 0
    else:
        assert stats.retransmitted_bytes > 0
