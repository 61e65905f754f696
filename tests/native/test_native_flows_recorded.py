"""Recorded connections in the C flows table: their deliveries kept in C and handed out as StreamChunks.

A consumer that only keeps a connection's bytes for later (the pipeline's sessions decoded in a
worker) asks the reassembler to record it (``TcpReassembler.record``); while the C flows table
holds the connection it builds no StreamData per segment, but keeps the payloads and hands them out
together: in the batch once ``RECORDED_CHUNK_PARTS`` payloads or ``RECORDED_CHUNK_BYTES`` octets are
kept, and whenever the reassembler takes the connection back (a segment left to Python, an idle
sweep, a close, eviction, the end).

The oracle is the pure-Python path, which records nothing: once each StreamChunks is read back into
the StreamData it stands for, the events must be the same, in the same order, with the same
counters; and the SMTP records of sessions recorded and replayed must equal those of sessions
decoded as they come.  Each test also checks that chunks were really handed out, or it would prove
nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smtpsniff import streams
from smtpsniff.capture import files
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import DEFAULT_LIMITS, SECOND_NS, Limits
from smtpsniff.net import native
from smtpsniff.pipeline import SessionOffload, SmtpPipeline, replay
from smtpsniff.reassembly import table
from smtpsniff.reassembly.events import (
    ConnectionOpened,
    Direction,
    StreamChunks,
    StreamData,
)
from smtpsniff.streams import StreamPipeline, stream_events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "net"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import all_capture_params
from test_native_equivalence import classic_pcap, set_native
from test_native_flows import (
    PAUSE_LIMITS,
    SAMPLE,
    conversation,
    damaged_two_connections,
    interleave,
    run_streams,
    with_a_pause,
    with_anomalies,
    write,
)

pytestmark = pytest.mark.skipif(not native.available(), reason="the C extension smtpsniff._native.fastpath is not built")


def recorded_streams(path: Path, monkeypatch, limits: Limits = DEFAULT_LIMITS, *, at_event: int = 0) -> tuple:
    """The stream events of ``path`` with the C path on and every connection recorded at its
    ``at_event``-th event (0: when it opens), each StreamChunks read back into its StreamData; and
    how many chunks there were."""
    set_native(monkeypatch, True)
    pipeline = StreamPipeline(limits)
    seen: dict[int, int] = {}
    events: list = []
    chunks = 0
    with open_capture(path) as reader:
        for ev in stream_events(reader, pipeline):
            if type(ev) is StreamChunks:
                chunks += 1
                events.extend(ev.stream_data())
                continue
            events.append(ev)
            conn_id = getattr(ev, "conn_id", None)
            if conn_id is not None and type(ev) in (ConnectionOpened, StreamData):
                n = seen[conn_id] = seen.get(conn_id, -1) + 1
                if n == at_event:
                    pipeline.reassembler.record(conn_id)
    r = pipeline.reassembler
    return (events, pipeline.decoder.counts, pipeline.anomalies(), r.stats, pipeline.last_ts_ns), chunks


def by_connection(events: list) -> tuple[dict, list]:
    """Each connection's events in order, and the events of no connection in order."""
    per: dict[int, list] = {}
    other = []
    for ev in events:
        conn_id = getattr(ev, "conn_id", None)
        if conn_id is None:
            other.append(ev)
        else:
            per.setdefault(conn_id, []).append(ev)
    return per, other


def same_as_python(path: Path, monkeypatch, limits: Limits = DEFAULT_LIMITS, **options) -> int:
    """Compare the recorded C path with pure Python on ``path``; the number of chunks handed out.

    A connection's kept deliveries come out later than its StreamData would have, so the events of
    different connections interleave differently: each connection's own must be the same, in the
    same order, and so must the opening and closing order of the connections.
    """
    (py_events, *py_rest), _ = run_streams(path, monkeypatch, False, limits)
    (events, *rest), chunks = recorded_streams(path, monkeypatch, limits, **options)
    assert by_connection(events) == by_connection(py_events)
    assert [ev for ev in events if type(ev) is not StreamData] == \
        [ev for ev in py_events if type(ev) is not StreamData]
    assert rest == py_rest
    return chunks


# --- the corpus ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_recorded_with_sweeps_and_small_chunks(path, monkeypatch):
    """Short C calls, idle sweeps every 5 records, chunks of at most 2 payloads."""
    path = classic_pcap(path)
    monkeypatch.setattr(files, "CHUNK_BYTES", 700)
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 3)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 5)
    monkeypatch.setattr(table, "RECORDED_CHUNK_PARTS", 2)
    limits = Limits(connection_idle_timeout_ns=SECOND_NS // 10, closed_linger_ns=SECOND_NS // 20,
                    fragment_timeout_ns=SECOND_NS // 10)
    same_as_python(path, monkeypatch, limits)


class Replaying(SessionOffload):
    """Every session recorded, and decoded here at its close from its job, as a worker would."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.jobs = 0
        self.chunks = 0

    def active(self):
        return True

    def submit(self, job, deliver, size):
        self.jobs += 1
        self.chunks += sum(1 for op in job.ops if any(type(x) is StreamChunks for x in op))
        deliver(replay(job, self.limits, None, None))


def smtp_records(path: Path, monkeypatch, offload: SessionOffload | None, limits: Limits) -> tuple:
    set_native(monkeypatch, offload is not None)
    pipeline = SmtpPipeline(limits, offload=offload)
    with open_capture(path) as reader:
        result = pipeline.feed_all(reader)
    result.sessions.sort(key=lambda r: r.session.session_id)
    return result, pipeline.streams.decoder.counts, pipeline.streams.reassembler.stats


@pytest.mark.parametrize("path", all_capture_params())
def test_corpus_sessions_recorded_and_replayed(path, monkeypatch):
    """The SMTP records of recorded sessions equal those of sessions decoded as they come (pure
    Python), also when a session outgrows ``max_offload_bytes`` and is decoded here from then on."""
    path = classic_pcap(path)
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 4)
    monkeypatch.setattr(table, "RECORDED_CHUNK_PARTS", 3)
    for limits in (DEFAULT_LIMITS, Limits(max_offload_bytes=200)):
        expected = smtp_records(path, monkeypatch, None, limits)
        offload = Replaying(limits)
        assert smtp_records(path, monkeypatch, offload, limits) == expected


# --- connections built to take every hand-out path -----------------------------------------------

@pytest.mark.parametrize("parts", [1, 2, 256])
@pytest.mark.parametrize("records", [1, 5, 64])
def test_reordered_retransmitted_and_lost_segments(parts, records, tmp_path, monkeypatch):
    """A segment left to Python takes the connection back: the kept deliveries come first."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    monkeypatch.setattr(table, "RECORDED_CHUNK_PARTS", parts)
    path = write(tmp_path, with_anomalies())
    assert same_as_python(path, monkeypatch) > 0


@pytest.mark.parametrize("records", [1, 3, 16])
def test_half_closed_and_closed_in_c(records, tmp_path, monkeypatch):
    """FINs taken in C: the kept deliveries come out before the close."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    a = conversation(3, 40011, 25, first=b"EHLO f\r\n", half_close=12)
    b = conversation(3, 40012, 25, v6=True, first=b"EHLO g\r\n", half_close=5)
    path = write(tmp_path, interleave(a, b))
    assert same_as_python(path, monkeypatch) > 0


def test_idle_connection_expired_at_a_sweep(tmp_path, monkeypatch):
    """A recorded connection frozen as idle at a sweep: its kept deliveries come before its close."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 64)
    monkeypatch.setattr(streams, "EXPIRE_EVERY_FRAMES", 3)
    path = write(tmp_path, with_a_pause())
    assert same_as_python(path, monkeypatch, PAUSE_LIMITS) > 0
    (events, *_), _ = recorded_streams(path, monkeypatch, PAUSE_LIMITS)
    assert any(getattr(ev, "reason", None) is not None and ev.reason.value == "idle" for ev in events)


@pytest.mark.parametrize("records", [1, 2])
def test_connection_limit(records, tmp_path, monkeypatch):
    """Connections opening near Limits.max_connections: every connection is taken back from the
    table before a chunk, its kept deliveries given out first in the next batch (``flushed``)."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    given = []
    original = table.TcpReassembler.take_flushed

    def counting(self):
        out = original(self)
        given.extend(out)
        return out

    monkeypatch.setattr(table.TcpReassembler, "take_flushed", counting)
    early = interleave(*[conversation(8, 41000 + i, 25, first=b"EHLO x\r\n") for i in range(3)])
    late = interleave(*[conversation(4, 41010 + i, 25, first=b"EHLO y\r\n") for i in range(3)])
    path = write(tmp_path, early[:40] + late + early[40:])
    # three open and a call's records stay under the limit; a fourth connection reaches it
    assert same_as_python(path, monkeypatch, Limits(max_connections=4 + records)) > 0
    assert given, "connections with kept deliveries were taken back before a chunk"
    assert same_as_python(path, monkeypatch, Limits(max_connections=3)) >= 0  # evictions
    assert same_as_python(path, monkeypatch, Limits(max_connections=20)) > 0


@pytest.mark.parametrize("records", [2, 7])
def test_damaged_and_truncated_files(records, tmp_path, monkeypatch):
    """A recorded connection's kept deliveries come out when a damaged record or the file's end
    takes it back: each connection's events as the Python path gives them, in every variant."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", records)
    monkeypatch.setattr(table, "RECORDED_CHUNK_PARTS", 3)
    path = tmp_path / "damaged.pcap"
    chunks = 0
    for variant in damaged_two_connections():
        path.write_bytes(variant)
        chunks += same_as_python(path, monkeypatch)
    assert chunks > 0


@pytest.mark.parametrize("at_event", [1, 4, 9])
def test_recorded_while_the_table_holds_it(at_event, tmp_path, monkeypatch):
    """Recording asked for while C holds the connection (a probe found SMTP late): StreamData up
    to there, chunks from the next C call on, in order."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 4)
    a = conversation(12, 40031, 2526, first=b"EHLO late\r\n")
    b = conversation(12, 40032, 25, first=b"EHLO b\r\n")
    path = write(tmp_path, interleave(a, b))
    assert same_as_python(path, monkeypatch, at_event=at_event) > 0


def chunks_of(path: Path, monkeypatch) -> list[StreamChunks]:
    """The StreamChunks of ``path`` (C path on) with every connection recorded when it opens."""
    set_native(monkeypatch, True)
    pipeline = StreamPipeline()
    found = []
    with open_capture(path) as reader:
        for ev in stream_events(reader, pipeline):
            if type(ev) is ConnectionOpened:
                pipeline.reassembler.record(ev.conn_id)
            elif type(ev) is StreamChunks:
                found.append(ev)
    return found


def test_chunks_at_the_octet_bound(tmp_path, monkeypatch):
    """RECORDED_CHUNK_BYTES hands the deliveries out too: each chunk then holds about that much."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 64)
    monkeypatch.setattr(table, "RECORDED_CHUNK_BYTES", 40)
    path = write(tmp_path, conversation(30, 40041, 25, first=b"EHLO big\r\n"))
    found = chunks_of(path, monkeypatch)
    assert all(c.size == sum(map(len, c.parts)) and len(c.directions) == len(c.parts) for c in found)
    sizes = [c.size for c in found]
    assert len(sizes) > 3 and all(s - 40 < 25 for s in sizes), sizes  # a payload here is < 25 octets
    assert same_as_python(path, monkeypatch) > 0


def test_deliveries_and_stream_data_agree(monkeypatch):
    """``deliveries()`` gives the direction, bytes, time and frame of each StreamData of the chunk."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 8)
    found = chunks_of(SAMPLE, monkeypatch)
    assert found
    for chunks in found:
        data = chunks.stream_data()
        assert [(d.direction, d.data, d.ts_ns, d.frame) for d in data] == list(chunks.deliveries())
        assert {d.direction for d in data} <= set(Direction) and all(d.conn_id == chunks.conn_id for d in data)


def test_a_table_without_the_chunks_type_records_nothing():
    flows = native.flows_type()(StreamData, Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT, 0, 0, 1)
    with pytest.raises(ValueError, match="chunks_type"):
        flows.add(object(), 1, False, "192.0.2.1", 1025, "192.0.2.2", 25, 0, 1, None, False, 0, 1, None, False,
                  0, 0, True)
    with pytest.raises(ValueError):
        native.flows_type()(StreamData, Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT, 0, 0, 1, 0,
                            StreamChunks, 0)


def test_sample_sessions_arrive_in_chunks(monkeypatch):
    """On the bundled capture (cut into C calls of 8 records: it is smaller than one call) the
    recorded sessions' bytes really come as chunks."""
    monkeypatch.setattr(streams, "FAST_CHUNK_RECORDS", 8)
    offload = Replaying(DEFAULT_LIMITS)
    assert smtp_records(SAMPLE, monkeypatch, offload, DEFAULT_LIMITS) == \
        smtp_records(SAMPLE, monkeypatch, None, DEFAULT_LIMITS)
    assert offload.jobs > 0 and offload.chunks >= offload.jobs // 2, (offload.jobs, offload.chunks)
