"""The reassembler's C flows table (``FastFlows`` in smtpsniff/_native/fastpath.c) against pure Python.

With the flows table, established connections are handed to the C record cutter, which turns their
in-order segments and pure ACKs into events itself; their state comes back to Python at the first
segment it leaves alone, at idle sweeps, at closes and at the end.  The oracle is the pure-Python
path (``SMTPSNIFF_NATIVE=0``): on every capture of the corpus, cut into C calls of every size, with
idle sweeps inside the calls, and on connections built to take every hand-back path (reordering,
retransmission, a lost segment, a connection ignored while C runs ahead, the connection limit), the
events, counters and SMTP analysis must be the same; and the C side must really have handled
segments, or the comparison would prove nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from smtpsniff import streams
from smtpsniff.capture import files
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS, SECOND_NS, Limits
from smtpsniff.net import native
from smtpsniff.pipeline import SmtpPipeline
from smtpsniff.reassembly.table import TcpReassembler
from smtpsniff.streams import StreamPipeline, stream_events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import all_capture_params
from netcheck import eth
from test_native_equivalence import classic_pcap, pcap_file, set_native

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "captures" / "smtp-sample.pcap"


def run_streams(path: Path, monkeypatch, on: bool, limits: Limits = DEFAULT_LIMITS) -> tuple:
    set_native(monkeypatch, on)
    pipeline = StreamPipeline(limits)
    with open_capture(path) as reader:
        events = list(stream_events(reader, pipeline))
    r = pipeline.reassembler
    return (events, pipeline.decoder.counts, pipeline.anomalies(), r.stats, pipeline.last_ts_ns), r.flows_handled


def both_streams(path: Path, monkeypatch, limits: Limits = DEFAULT_LIMITS) -> int:
    """Compare both paths on ``path``; the number of segments the C flows table handled."""
    py, _ = run_streams(path, monkeypatch, False, limits)
    nat, handled = run_streams(path, monkeypatch, True, limits)
    assert nat == py
    return handled


def run_smtp(path: Path, monkeypatch, on: bool, **options) -> tuple:
    set_native(monkeypatch, on)
    pipeline = SmtpPipeline(**options)
    with open_capture(path) as reader:
        result = pipeline.feed_all(reader)
    r = pipeline.streams.reassembler
    return (result, pipeline.streams.decoder.counts, r.stats), r.flows_handled


# --- the corpus, cut into C calls of every size ------------------------------------------------------

CUTS = {
    "one-record-calls": (files.CHUNK_BYTES, 1),
    "three-record-calls": (files.CHUNK_BYTES, 3),
    "small-reads": (700, 512),
}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_with_sweeps_inside_calls(path, cut, monkeypatch):
    """Idle sweeps every 5 records with short timeouts: flows frozen as idle while C runs ahead."""
    path = classic_pcap(path)
    chunk, records = CUTS[cut]
    monkeypatch.setattr(files, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 5)
    limits = Limits(connection_idle_timeout_ns=SECOND_NS // 10, closed_linger_ns=SECOND_NS // 20,
                    fragment_timeout_ns=SECOND_NS // 10)
    both_streams(path, monkeypatch, limits)


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_smtp_analysis_with_short_calls(path, monkeypatch):
    path = classic_pcap(path)
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 4)
    py, _ = run_smtp(path, monkeypatch, False)
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py


def test_the_flows_table_does_the_work(monkeypatch):
    """On the bundled capture most segments are handled in C, and the result is still the same."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 1)
    handled = both_streams(SAMPLE, monkeypatch)
    set_native(monkeypatch, False)
    pipeline = StreamPipeline()
    with open_capture(SAMPLE) as reader:
        for _ in stream_events(reader, pipeline):
            pass
    segments = pipeline.reassembler.stats.segments
    assert handled > segments // 2, (handled, segments)


def test_switched_off_or_not_attached_handles_nothing(monkeypatch):
    _, handled = run_streams(SAMPLE, monkeypatch, False)
    assert handled == 0
    assert TcpReassembler().attach_flows(None) is False


# --- connections built to take every hand-back path ----------------------------------------------

CLIENT4, SERVER4 = "192.0.2.10", "198.51.100.25"
CLIENT6, SERVER6 = "2001:db8::10", "2001:db8::25"


def conversation(n: int, cport: int, sport: int, *, v6: bool = False, first: bytes = b"GET / HTTP/1.1\r\n",
                 isn: tuple[int, int] = (1000, 5000), half_close: int = 0) -> list[bytes]:
    """A TCP connection's frames: handshake, ``n`` request/response exchanges (each answered and
    acknowledged), FIN from both sides.  ``first`` is the client's first payload; with
    ``half_close`` the client's FIN comes first and the server sends that many more segments."""
    if v6:
        def ip(src_is_client: bool):
            return IPv6(src=CLIENT6, dst=SERVER6) if src_is_client else IPv6(src=SERVER6, dst=CLIENT6)
    else:
        def ip(src_is_client: bool):
            return IP(src=CLIENT4, dst=SERVER4) if src_is_client else IP(src=SERVER4, dst=CLIENT4)
    c_seq, s_seq = isn
    out = []

    def send(from_client: bool, flags: str, payload: bytes = b"") -> None:
        nonlocal c_seq, s_seq
        seq, ack = (c_seq, s_seq) if from_client else (s_seq, c_seq)
        sp, dp = (cport, sport) if from_client else (sport, cport)
        tcp = TCP(sport=sp, dport=dp, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, flags=flags)
        out.append(bytes(eth() / ip(from_client) / tcp / payload))
        step = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        if from_client:
            c_seq += step
        else:
            s_seq += step

    send(True, "S")
    send(False, "SA")
    send(True, "A")
    for i in range(n):
        send(True, "PA", first if i == 0 else b"request %d\r\n" % i)
        send(False, "PA", b"response %d: " % i + b"x" * (i % 7) + b"\r\n")
        send(True, "A")
    send(True, "FA")
    send(False, "A")
    for i in range(half_close):
        send(False, "PA", b"still sending %d\r\n" % i)
        send(True, "A")
    send(False, "FA")
    send(True, "A")
    return out


def interleave(*convs: list[bytes]) -> list[bytes]:
    out = []
    for i in range(max(map(len, convs))):
        for conv in convs:
            if i < len(conv):
                out.append(conv[i])
    return out


def write(tmp_path: Path, frames: list[bytes], name: str = "built.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(pcap_file(1, [(f, len(f)) for f in frames]))
    return path


def with_anomalies() -> list[bytes]:
    """Two interleaved connections, one reordered and retransmitted, the other losing a segment
    (its peer's ACK then acknowledges unseen bytes) and wrapping its sequence numbers."""
    a = conversation(20, 40001, 25, first=b"EHLO a\r\n")
    b = conversation(20, 40002, 25, v6=True, first=b"EHLO b\r\n", isn=(0xFFFFFF00, 0xFFFFFFF0))
    a[10], a[11] = a[11], a[10]
    a.insert(20, a[19])
    del b[16]
    return interleave(a, b)


@pytest.mark.parametrize("records", [1, 2, 5, 64])
def test_reordered_retransmitted_and_lost_segments(records, tmp_path, monkeypatch):
    """Each anomaly freezes the flow at that segment; Python takes over, then hands it back."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    path = write(tmp_path, with_anomalies())
    assert both_streams(path, monkeypatch) > 0
    py, _ = run_smtp(path, monkeypatch, False)
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py


@pytest.mark.parametrize("records", [1, 3, 64])
def test_half_closed_connections(records, tmp_path, monkeypatch):
    """After one side's FIN the other may still send: handed back to C with that FIN done."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    a = conversation(3, 40011, 25, first=b"EHLO f\r\n", half_close=12)
    b = conversation(3, 40012, 25, v6=True, first=b"EHLO g\r\n", half_close=5)
    b.insert(len(b) - 6, b[len(b) - 8])  # a segment after the FIN re-sent
    path = write(tmp_path, interleave(a, b))
    assert both_streams(path, monkeypatch) > 0
    py, _ = run_smtp(path, monkeypatch, False)
    nat, _ = run_smtp(path, monkeypatch, True)
    assert nat == py


@pytest.mark.parametrize("records", [2, 5, 64])
def test_connection_ignored_while_c_runs_ahead(records, tmp_path, monkeypatch):
    """Not SMTP: the analysis ignores the connection at its first client bytes, which C may already
    have passed; what C built for it after that point is dropped, and counted as ignored."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    dropped = []
    original = TcpReassembler.drop_ignored_data

    def counting(self, data):
        dropped.append(data)
        return original(self, data)

    monkeypatch.setattr(TcpReassembler, "drop_ignored_data", counting)
    http = conversation(30, 40003, 8080)
    smtp = conversation(10, 40004, 25, first=b"EHLO c\r\n")
    path = write(tmp_path, interleave(http, smtp))
    py, _ = run_smtp(path, monkeypatch, False)
    nat, handled = run_smtp(path, monkeypatch, True)
    assert nat == py
    assert handled > 0
    assert py[2].ignored_packets > 0
    if records == 5:
        # the handshake fills the first call; the next one holds the first request (the ignore)
        # and the response C built before Python got there
        assert dropped, "C ran ahead of the ignore: its events must have been dropped"


def test_connections_ignored_from_the_start(tmp_path, monkeypatch):
    """detect_other_ports off: other ports are ignored at once and C only counts their packets."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 3)
    path = write(tmp_path, interleave(conversation(30, 40005, 8080), conversation(5, 40006, 25)))
    py, _ = run_smtp(path, monkeypatch, False, detect_other_ports=False)
    nat, handled = run_smtp(path, monkeypatch, True, detect_other_ports=False)
    assert nat == py
    assert handled > 0
    assert py[2].ignored_packets > 0


@pytest.mark.parametrize("records", [1, 4])
def test_connection_limit(records, tmp_path, monkeypatch):
    """Near Limits.max_connections the table is emptied: evictions pick the same victims."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    convs = [conversation(6, 41000 + i, 25, first=b"EHLO x\r\n") for i in range(5)]
    path = write(tmp_path, interleave(*convs))
    both_streams(path, monkeypatch, Limits(max_connections=3))
    assert both_streams(path, monkeypatch, Limits(max_connections=20)) > 0


def with_a_pause() -> list[bytes]:
    """Two connections, records one second apart, the quiet one pausing for 12 records in the middle."""
    busy = conversation(30, 40007, 25, first=b"EHLO d\r\n")
    quiet = conversation(30, 40008, 25, first=b"EHLO e\r\n")
    return busy[:6] + quiet[:10] + busy[6:18] + quiet[10:] + busy[18:]


#: Limits that close the quiet connection of with_a_pause at its pause.
PAUSE_LIMITS = Limits(connection_idle_timeout_ns=5 * SECOND_NS)


def test_idle_flows_expire_at_the_same_record(tmp_path, monkeypatch):
    """A connection idle past the timeout is closed at the same sweep, then starts again mid-stream."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 64)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 3)
    path = write(tmp_path, with_a_pause())
    limits = PAUSE_LIMITS
    assert both_streams(path, monkeypatch, limits) > 0
    events, *_ = run_streams(path, monkeypatch, True, limits)[0]
    assert any(getattr(ev, "reason", None) is not None and ev.reason.value == "idle" for ev in events)


def damaged_two_connections() -> list[bytes]:
    """A classic pcap of two connections cut at many points of its second half, and with a byte
    flipped in each of the link, IP and TCP headers and payload of mid-stream records."""
    frames = interleave(conversation(8, 40021, 25, first=b"EHLO h\r\n"),
                        conversation(8, 40022, 25, v6=True, first=b"EHLO i\r\n"))
    data = pcap_file(1, [(f, len(f)) for f in frames])
    middle = len(data) // 2
    variants = [data[:cut] for cut in range(middle, len(data), 37)]
    for at in range(middle, middle + 140, 3):
        variants.append(data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:])
    return variants


@pytest.mark.parametrize("records", [2, 7])
def test_damaged_and_truncated_files(records, tmp_path, monkeypatch):
    """Bytes flipped in segments C would take, and the file cut anywhere: the same anomalies, events
    and counts on both paths, and everything before the damage still analysed."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    path = tmp_path / "damaged.pcap"
    for variant in damaged_two_connections():
        path.write_bytes(variant)
        py, _ = run_streams(path, monkeypatch, False)
        nat, _ = run_streams(path, monkeypatch, True)
        assert nat == py
        assert py[0], "events before the damage are still delivered"
