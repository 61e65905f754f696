"""The pieces of the live path without an interface: pcapng writing, the ring, wall-clock expiry,
the monitor's bounds and findings, and the JSON lines, each against an independent oracle
(tshark/capinfos, our own reader of real captures, offline analysis)."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import ROOT, own_captures  # noqa: E402

import smtpsniff  # noqa: E402
from smtpsniff.analysis.live import LiveMonitor  # noqa: E402
from smtpsniff.capture.files import open_capture  # noqa: E402
from smtpsniff.capture.frame import Frame  # noqa: E402
from smtpsniff.capture.live import bpf_for_ports  # noqa: E402
from smtpsniff.capture.pcapng_writer import InterfaceInfo, InterfaceStats, PcapngWriter  # noqa: E402
from smtpsniff.capture.ring import CaptureFileWriter  # noqa: E402
from smtpsniff.credentials import credentials  # noqa: E402
from smtpsniff.findings import find  # noqa: E402
from smtpsniff.limits import Limits  # noqa: E402
from smtpsniff.output.jsonl import finding_line, session_line, transaction_lines  # noqa: E402
from smtpsniff.pipeline import SmtpPipeline  # noqa: E402

SAMPLE = ROOT / "captures" / "smtp-sample.pcap"
BASIC = ROOT / "tests" / "data" / "smtp-basic.pcap"
#: Captures decoded on standard ports (smtpsniff.read's defaults) whose frames are re-written below.
CAPTURES = [p for p in own_captures() if p.suffix in (".pcap", ".pcapng")]


def _blocks(data: bytes):
    """(type, body) of each pcapng block, little-endian (as the writer writes on this host)."""
    off = 0
    while off < len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        yield btype, data[off + 8: off + blen - 4]
        off += blen


# --- pcapng writer ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [SAMPLE, BASIC, ROOT / "tests" / "data" / "smtp-any-sll2.pcap"],
                         ids=lambda p: p.name)
def test_pcapng_writer_roundtrip_and_tshark(tmp_path, path):
    frames = list(open_capture(path))
    out = tmp_path / "w.pcapng"
    with out.open("wb") as fh:
        writer = PcapngWriter(fh, [InterfaceInfo(frames[0].linktype, 262144, "eth9", "tcp port 25")],
                              application="test")
        for f in frames:
            writer.write(0, f.ts_ns + 123, f.data, f.wire_len)  # +123 ns: below a microsecond
        writer.write_statistics(0, InterfaceStats(received=len(frames) + 5, dropped=5, start_ns=frames[0].ts_ns,
                                                  end_ns=frames[-1].ts_ns))
    assert out.stat().st_size == writer.bytes_written
    again = list(open_capture(out))
    assert [(f.ts_ns + 123, f.linktype, f.data, f.wire_len) for f in frames] == \
           [(f.ts_ns, f.linktype, f.data, f.wire_len) for f in again]
    if shutil.which("tshark"):
        lines = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "frame.time_epoch", "-e",
                                "frame.len", "-e", "frame.cap_len"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        assert len(lines) == len(frames)
        for f, line in zip(again, lines):
            epoch, length, caplen = line.split("\t")
            sec, _, frac = epoch.partition(".")
            assert (int(sec) * 10**9 + int(frac.ljust(9, "0")), int(length), int(caplen)) == \
                   (f.ts_ns, f.wire_len, len(f.data))
    # the ISB: if_recv and if_drop options (codes 4 and 5), 64-bit
    isb = [body for btype, body in _blocks(out.read_bytes()) if btype == 5]
    assert len(isb) == 1
    options, pos = {}, 12
    while pos + 4 <= len(isb[0]):
        code, length = struct.unpack_from("<HH", isb[0], pos)
        if code == 0:
            break
        options[code] = isb[0][pos + 4: pos + 4 + length]
        pos += 4 + ((length + 3) & ~3)
    assert struct.unpack("<Q", options[4])[0] == len(frames) + 5
    assert struct.unpack("<Q", options[5])[0] == 5


# --- the ring ----------------------------------------------------------------------------------------
def _frames(n: int, size: int = 200) -> list[Frame]:
    return [Frame(i + 1, 1_700_000_000_000_000_000 + i * 500_000_000, 1, bytes([i % 256]) * size, size)
            for i in range(n)]


def test_ring_by_size_keeps_newest_files_and_every_frame_once(tmp_path):
    base = tmp_path / "cap.pcapng"
    keep = tmp_path / "cap_00001.pcapng.bak"
    keep.write_bytes(b"not ours")
    frames = _frames(100)
    ring = CaptureFileWriter(base, InterfaceInfo(1, 65535), max_bytes=2000, max_files=4)
    for f in frames:
        ring.write(f)
    ring.close()
    files = sorted(tmp_path.glob("cap_*.pcapng"))
    assert [p.name for p in files] == [p.name for p in ring.files] and len(files) == 4
    assert all(p.stat().st_size <= 2000 for p in files)
    read = [f for p in files for f in open_capture(p)]
    assert [f.data for f in read] == [f.data for f in frames[-len(read):]]  # the newest, in order
    assert ring.files_deleted > 0 and ring.packets == len(frames)
    assert keep.read_bytes() == b"not ours"


def test_ring_by_time(tmp_path):
    frames = _frames(20)  # 0.5 s apart: 10 s in all
    ring = CaptureFileWriter(tmp_path / "t.pcapng", InterfaceInfo(1, 65535), max_seconds=2.0)
    for f in frames:
        ring.write(f)
    ring.close()
    files = sorted(tmp_path.glob("t_*.pcapng"))
    assert [len(list(open_capture(p))) for p in files] == [4, 4, 4, 4, 4]


# --- pipeline.tick: wall-clock expiry ------------------------------------------------------------------
def test_tick_finishes_an_idle_session_without_more_frames():
    frames = list(open_capture(BASIC))
    finished = []
    pipeline = SmtpPipeline(on_session=finished.append, keep_sessions=False)
    cut = next(i for i, f in enumerate(frames) if b"quit\r\n" in f.data.lower())  # the session before QUIT
    for f in frames[:cut]:
        pipeline.feed(f)
    pipeline.tick(frames[cut - 1].ts_ns + 1_000_000_000)
    assert finished == [] and pipeline.open_sessions == 1
    pipeline.tick(frames[cut - 1].ts_ns + pipeline.limits.connection_idle_timeout_ns + 1)
    assert [r.session.close_reason for r in finished] == ["idle"]
    assert pipeline.open_sessions == 0 and pipeline.result.sessions == []
    offline = smtpsniff.read(BASIC)
    assert finished[0].session.commands == len(offline.commands[offline.commands["frame"] < frames[cut].number])


# --- the monitor: bounded, and its findings equal the offline ones ---------------------------------------
def test_monitor_memory_is_bounded():
    records = smtpsniff.read(SAMPLE).records
    limits = Limits(max_live_sessions_kept=50, live_recent_items=10)
    monitor = LiveMonitor(limits=limits, findings=False)
    n = 0
    for _ in range(200):
        for r in records:
            shifted = replace(r, session=replace(r.session, session_id=n))
            monitor.add(shifted)
            n += 1
    assert monitor.sessions == n
    assert len(monitor.kept) == 50 and monitor.not_kept == n - 50
    assert len(monitor.errors) <= 10 and len(monitor.recent_sessions) == 10
    assert len(monitor._per_second) <= 2 * 60 + 1
    assert monitor.reply_codes == _scaled(records, 200)  # totals stay exact past every bound


def _codes(r):
    from collections import Counter

    return Counter(x.code for x in r.replies)


def _scaled(records, k):
    from collections import Counter

    total = Counter()
    for r in records:
        for code, n in _codes(r).items():
            total[code] += n * k
    return total


def test_monitor_keeps_message_bytes_bounded():
    records = [r for r in smtpsniff.read(SAMPLE).records if r.messages]
    size = sum(len(m.content) for m in records[0].messages)
    monitor = LiveMonitor(limits=Limits(max_live_message_bytes_kept=size * 3), findings=False)
    for _ in range(10):
        monitor.add(records[0])
    assert len(monitor.kept) == 3 and monitor.not_kept == 7


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_monitor_findings_equal_offline(path):
    """Per-session detectors as sessions finish, cross-session ones on sweeps, the final state at the end:
    the union is what ``find`` says over the whole capture."""
    records = smtpsniff.read(path).records
    monitor = LiveMonitor()
    state: dict[tuple, dict] = {}
    for i, r in enumerate(records):
        found = monitor.add(r)
        if i % 3 == 2:
            found += monitor.sweep()
        for f in found:
            state[(f.kind, f.session_id, f.ts_ns)] = finding_line(f)
    for f in monitor.final():
        state[(f.kind, f.session_id, f.ts_ns)] = finding_line(f)
    offline = find(records, [c for r in records for c in credentials(r)])
    assert sorted(map(json.dumps, state.values())) == sorted(json.dumps(finding_line(f)) for f in offline)
    assert monitor.findings_total >= len(offline)


# --- JSON lines: the same rows as `analyze -o --format json` ---------------------------------------------
def test_jsonl_rows_equal_the_table_export(tmp_path):
    from smtpsniff.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", str(SAMPLE), "-o", str(tmp_path), "--format", "json"]) == 0
    tables = {p.stem: [json.loads(x) for x in p.read_text().splitlines()] for p in tmp_path.glob("*.jsonl")}
    cap = smtpsniff.read(SAMPLE)
    conn = {r.session.session_id: {k: getattr(r.session, k) for k in ("client_ip", "client_port", "server_ip",
                                                                     "server_port")} for r in cap.records}

    def untyped(rows):
        return [{k: v for k, v in row.items() if k != "type"} for row in rows]

    assert untyped(session_line(r, SAMPLE.name) for r in cap.records) == tables["sessions"]
    assert untyped(x for r in cap.records for x in transaction_lines(r)) == tables["transactions"]
    found = find(cap.records, [c for r in cap.records for c in credentials(r)])
    assert untyped(finding_line(f, conn) for f in found) == tables["findings"]


def test_bpf_for_ports():
    assert bpf_for_ports({587, 25, 2525}) == "tcp port 25 or tcp port 587 or tcp port 2525"


def test_writer_refuses_an_empty_section():
    with pytest.raises(ValueError):
        PcapngWriter(io.BytesIO(), [])
