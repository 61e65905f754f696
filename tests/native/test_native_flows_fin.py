"""FINs and late packets in the C flows table (``FastFlows``) against the pure-Python reassembler.

The flows table takes an in-order FIN of a connection it holds (``TcpReassembler.fast_fin`` then
closes the connection at the second one), and keeps a connection it closed as a tomb while the
reassembler lingers it, counting its late packets itself.  The oracle is the pure-Python path
(``SMTPSNIFF_NATIVE=0``): connections built to end every way (late ACKs and FINs, a re-sent SYN,
the 4-tuple reused within the linger time, a packet exactly at the end of the linger time with and
without an idle sweep before it, more closed connections than ``Limits.max_connections``, a
connection ignored while C runs ahead to its FINs) must give the same events, counters and SMTP
analysis; and each test checks that C really took the path it is about.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smtpsniff import streams
from smtpsniff.limits import SECOND_NS, Limits
from smtpsniff.net import native
from smtpsniff.reassembly.table import TcpReassembler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_native_flows import both_streams, conversation, interleave, run_smtp, run_streams, write

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")


def record_ts(i: int) -> int:
    """``ts_ns`` of record ``i`` in the files ``write`` makes (test_native_equivalence.pcap_file)."""
    return (1_700_000_000 + i) * SECOND_NS + (i * 7919) % 1_000_000 * 1000


class Calls:
    """Count calls of a TcpReassembler method (the wrapped method still runs)."""

    def __init__(self, monkeypatch, name: str) -> None:
        self.calls: list[tuple] = []
        original = getattr(TcpReassembler, name)

        def wrapper(reassembler, *args):
            self.calls.append(args)
            return original(reassembler, *args)

        monkeypatch.setattr(TcpReassembler, name, wrapper)


def late_tail(conv: list[bytes]) -> list[bytes]:
    """Packets of a closed ``conversation``: its last ACK, both FINs and a data segment again."""
    return [conv[-1], conv[-2], conv[-4], conv[-6]]


@pytest.mark.parametrize("records", [1, 3, 8])
def test_fins_and_late_packets_are_taken_in_c(records, tmp_path, monkeypatch):
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    a = conversation(6, 40101, 25, first=b"EHLO a\r\n")
    b = conversation(6, 40102, 25, v6=True, first=b"EHLO b\r\n", half_close=4)
    path = write(tmp_path, interleave(a, b) + late_tail(a) + late_tail(b))
    limits = Limits(closed_linger_ns=3600 * SECOND_NS)
    fins = Calls(monkeypatch, "fast_fin")
    first = Calls(monkeypatch, "_first_packet")
    assert both_streams(path, monkeypatch, limits) > 0
    assert len(fins.calls) >= 2, "C took FINs"
    assert any(call[-1] for call in fins.calls), "C closed a connection"
    # the pure-Python run counts each late packet in _first_packet; C took some of them
    first.calls.clear()
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True, limits)
    assert stats.late_packets == 10 and stats.connections == 2  # the conversations' last ACKs too
    native_first = len(first.calls)
    first.calls.clear()
    run_streams(path, monkeypatch, False, limits)
    assert native_first < len(first.calls) == 12
    py, _ = run_smtp(path, monkeypatch, False)
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py


@pytest.mark.parametrize("records", [1, 4, 64])
def test_port_reuse_and_syn_within_the_linger_time(records, tmp_path, monkeypatch):
    """A re-sent SYN (late) and a new connection on the same 4-tuple (its packets are no longer
    late: the tomb C kept is dead from the SYN on)."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    first = conversation(4, 40111, 25, first=b"EHLO c\r\n")
    again = conversation(4, 40111, 25, first=b"EHLO d\r\n", isn=(900_000, 7_000))
    other = conversation(10, 40112, 25, first=b"EHLO e\r\n")
    frames = interleave(first, other[:12]) + [first[0], first[-1]] + again + late_tail(again) + other[12:]
    path = write(tmp_path, frames)
    assert both_streams(path, monkeypatch) > 0
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True)
    assert stats.connections == 3 and stats.closed == {"fin": 3}
    assert stats.late_packets > 0 and stats.syn_retransmissions == 0
    py, _ = run_smtp(path, monkeypatch, False)
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py


@pytest.mark.parametrize("shift", [-1, 0, 1])
@pytest.mark.parametrize("every", [1, 1000])
def test_a_packet_at_the_end_of_the_linger_time(shift, every, tmp_path, monkeypatch):
    """The linger time ends exactly at a late ACK (or 1 ns before or after it), with an idle sweep
    (which forgets the closed connection) before every record, or none."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 4)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", every)
    conv = conversation(3, 40121, 25, first=b"EHLO f\r\n")
    filler = conversation(8, 40122, 25, first=b"EHLO g\r\n")
    frames = conv + filler + [conv[-1]]
    closed_at = len(conv) - 2  # the server's FIN closes it
    linger = record_ts(len(frames) - 1) - record_ts(closed_at) + shift
    limits = Limits(closed_linger_ns=linger, connection_idle_timeout_ns=3600 * SECOND_NS)
    path = write(tmp_path, frames)
    assert both_streams(path, monkeypatch, limits) > 0


@pytest.mark.parametrize(("records", "limit"), [(1, 3), (1, 6), (4, 6), (4, 8)])
def test_more_closed_connections_than_the_limit(records, limit, tmp_path, monkeypatch):
    """Past Limits.max_connections lingering connections the oldest is forgotten: C, running ahead,
    must not count a late packet of one forgotten meanwhile (it starts a connection instead).  Each
    connection's closing FIN is followed by a late ACK of the one its close makes the oldest forgotten."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    convs = [conversation(2, 40200 + i, 25, first=b"EHLO h\r\n") for i in range(12)]
    frames = []
    for i, conv in enumerate(convs):
        frames += conv[:-1]
        if i >= limit:
            frames.append(convs[i - limit][-1])
        frames.append(conv[-1])
    path = write(tmp_path, frames)
    limits = Limits(max_connections=limit, closed_linger_ns=3600 * SECOND_NS,
                    connection_idle_timeout_ns=3600 * SECOND_NS)
    assert both_streams(path, monkeypatch, limits) > 0
    (_, _, _, stats, _), _ = run_streams(path, monkeypatch, True, limits)
    assert stats.connections == 12 + 12 - limit  # each forgotten one's late ACK starts a connection


@pytest.mark.parametrize("half_close", [0, 3])
def test_connection_ignored_before_its_fins_in_the_same_call(half_close, tmp_path, monkeypatch):
    """Not SMTP: the analysis ignores the connection at its first request, in the C call that also
    took its FINs; fast_fin then counts them as an ignored connection's and closes it the same."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 16)
    http = conversation(1, 40301, 8080, half_close=half_close)
    smtp = conversation(8, 40302, 25, first=b"EHLO i\r\n")
    frames = http[:3] + smtp[:13] + http[3:] + smtp[13:]  # the first call ends after smtp[12]
    path = write(tmp_path, frames)
    fins = Calls(monkeypatch, "fast_fin")
    py, _ = run_smtp(path, monkeypatch, False)
    assert py[2].ignored_packets > 0
    fins.calls.clear()
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py
    assert any(call[0].ignored for call in fins.calls), "a FIN of the ignored connection went through fast_fin"
