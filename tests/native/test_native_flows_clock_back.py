"""Tombs of the C flows table (``FastFlows``) when capture time goes back.

An idle sweep forgets the connections closed a linger time (``Limits.closed_linger_ns``) before it;
a later record whose capture time is earlier again may still fall within the linger time of such a
connection, and is then the first packet of a new connection, not a late one.  The C cutter runs
ahead of the reassembler's sweeps within one call, so it must not count that packet as late
itself.  The oracle is the pure-Python path (``SMTPSNIFF_NATIVE=0``).
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from smtpsniff import streams
from smtpsniff.limits import SECOND_NS, Limits
from smtpsniff.net import native

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_native_flows import both_streams, conversation, run_smtp, run_streams
from test_native_flows_fin import Calls

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")


def write_at(path: Path, frames: list[tuple[bytes, int]]) -> Path:
    """A classic pcap (Ethernet, microseconds) of ``(frame, seconds)`` records."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for data, sec in frames:
        out.append(struct.pack("<IIII", sec, 0, len(data), len(data)))
        out.append(data)
    path.write_bytes(b"".join(out))
    return path


@pytest.mark.parametrize("records", [2, 4, 8])
def test_a_sweep_past_the_linger_time_then_time_going_back(records, tmp_path, monkeypatch):
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 1)  # a sweep before every record
    conv = conversation(3, 40131, 25, first=b"EHLO j\r\n")
    other = conversation(3, 40132, 25, first=b"EHLO k\r\n")
    t = 1_700_000_000
    frames = [(f, t) for f in conv]
    frames.append((other[0], t + 20))  # the clock jumps past the linger time: the sweep forgets conv
    frames.append((conv[-1], t + 1))  # and back: conv's last ACK again, within its linger time
    path = write_at(tmp_path / "back.pcap", frames)
    limits = Limits(closed_linger_ns=10 * SECOND_NS, connection_idle_timeout_ns=3600 * SECOND_NS)
    fins = Calls(monkeypatch, "fast_fin")
    assert both_streams(path, monkeypatch, limits) > 0
    assert any(call[-1] for call in fins.calls), "C closed the connection"
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, False, limits)
    # conv's own last ACK is late; the one after the jump back opened a connection
    assert stats.connections == 3 and stats.late_packets == 1
    py, _ = run_smtp(path, monkeypatch, False, limits=limits)
    nat, _ = run_smtp(path, monkeypatch, True, limits=limits)
    assert nat == py
