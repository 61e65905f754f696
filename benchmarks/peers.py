#!/usr/bin/env python3
"""The Python peers of the benchmarks, each run as its own process: ``python benchmarks/peers.py PEER FILE``.

Each peer does its whole job on the capture and prints one JSON line (what it found, and the seconds
spent in its main loop, imports excluded) for the benchmark to check against the ground truth.
Imports happen inside each peer so a child loads only what it measures.
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

# Measure the smtpsniff of this working tree, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Server ports make_capture gives SMTP sessions; a connection on one of them is counted as SMTP.
SMTP_SERVER_PORTS = frozenset((25, 587, 2525))


def smtpsniff_streams(path: str) -> dict:
    """smtpsniff read + decode + reassembly: ``StreamPipeline`` over ``open_capture``, every event consumed."""
    from smtpsniff.capture.files import open_capture
    from smtpsniff.reassembly.events import (
        ConnectionClosed,
        ConnectionOpened,
        Direction,
        StreamData,
        StreamGap,
    )
    from smtpsniff.streams import StreamPipeline, stream_events

    started = time.perf_counter()
    pipeline = StreamPipeline()
    smtp: set[int] = set()
    by_port: Counter = Counter()
    kinds: Counter = Counter()
    closes: Counter = Counter()
    c2s = Direction.CLIENT_TO_SERVER  # compared by identity: Enum.value is a Python-level property
    data_c2s = data_s2c = 0
    gaps = {"c2s": 0, "s2c": 0}
    other_tcp = 0
    with open_capture(path) as reader:
        for ev in stream_events(reader, pipeline):
            t = type(ev)
            kinds[t] += 1  # by type object: no attribute lookup per event (names at the end)
            if t is StreamData:
                if ev.conn_id in smtp:
                    if ev.direction is c2s:
                        data_c2s += len(ev.data)
                    else:
                        data_s2c += len(ev.data)
            elif t is ConnectionOpened:
                if ev.server.port in SMTP_SERVER_PORTS:
                    smtp.add(ev.conn_id)
                    by_port[str(ev.server.port)] += 1
                else:
                    other_tcp += 1
            elif t is StreamGap:
                if ev.conn_id in smtp:
                    gaps[ev.direction.value] += ev.length
            elif t is ConnectionClosed and ev.conn_id in smtp:
                closes[ev.reason.value] += 1
        reader_anomalies = len(getattr(reader, "anomalies", ()))
    elapsed = time.perf_counter() - started
    counts = pipeline.decoder.counts
    return {
        "loop_s": round(elapsed, 3),
        "frames": counts.frames,
        "tcp_segments": counts.tcp,
        "smtp_connections": len(smtp),
        "smtp_connections_by_server_port": dict(by_port),
        "smtp_bytes_c2s": data_c2s,
        "smtp_bytes_s2c": data_s2c,
        "smtp_gap_bytes_c2s": gaps["c2s"],
        "smtp_gap_bytes_s2c": gaps["s2c"],
        "smtp_closes": dict(closes),
        "other_tcp_connections": other_tcp,
        "events": {t.__name__: n for t, n in kinds.items()},
        "net_anomalies": len(pipeline.anomalies()),
        "reader_anomalies": reader_anomalies,
    }


def _analysis_counts(cap) -> dict:
    """What a full analysis found: table sizes and the totals the benchmark checks."""
    sessions = cap.sessions
    by_port = Counter(str(int(p)) for p in sessions["server_port"])
    return {
        "tables": {name: len(frame) for name, frame in sorted(cap.tables.items())},
        "sessions": len(sessions),
        "transactions": len(cap.transactions),
        "messages": len(cap.messages),
        "messages_complete": int(cap.messages["complete"].sum()),
        "commands": len(cap.commands),
        "replies": len(cap.replies),
        "sessions_by_server_port": dict(by_port),
        "session_bytes_c2s": int(sessions["bytes_c2s"].sum()),
        "session_bytes_s2c": int(sessions["bytes_s2c"].sum()),
        "gap_bytes": int(sessions["gap_bytes"].sum()),
        "reassembly_gaps": cap.stats.reassembly.get("gaps", 0),
        "frames": cap.stats.packets.get("frames", 0),
        "tcp_connections": cap.stats.tcp_connections,
    }


def smtpsniff_analyze(path: str, workers: int | None = None) -> dict:
    """The full analysis as users run it: ``smtpsniff.read(FILE)`` building every table (with its
    default worker processes unless ``workers`` says how many)."""
    import smtpsniff
    from smtpsniff.net import native

    started, cpu = time.perf_counter(), time.process_time()
    cap = smtpsniff.read(path, workers=workers)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"loop_s": round(elapsed, 3), "loop_cpu_s": round(cpu, 3), "native": native.enabled(),
            "workers": cap.stats.workers, "sessions_decoded_by_workers": cap.stats.sessions_decoded_by_workers,
            "messages_parsed_by_workers": cap.stats.messages_parsed_by_workers,
            **_peaks(cap.stats.workers_peak_rss_kib), **_analysis_counts(cap)}


def _peaks(children_kib: int) -> dict:
    """The peak resident set of this process and ``children_kib``, its children's: the benchmark
    counts their sum as the peer's peak, since the peak the operating system reports for a process
    tree is only its largest member's.  ``smtpsniff.read`` gives its workers' own peaks
    (``stats.workers_peak_rss_kib``); the CLI peer, whose statistics are not at hand, gives the
    largest child's rusage peak, which over-counts (a child's peak includes the parent's pages it
    shared until ``exec``), so that peer's peak is an upper bound."""
    import resource

    return {"self_max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_max_rss_kib": children_kib}


#: The first line of ``smtpsniff analyze``'s summary (see smtpsniff/output/summary.py).
_HEADLINE = re.compile(r"(\d+) frames \((\d+) TCP, (\d+) in SMTP sessions\), (\d+) TCP connections, (\d+) SMTP sessions, "
                       r"(\d+) transactions \((\d+) accepted\), (\d+) commands, (\d+) replies, (\d+) anomalies")


def smtpsniff_cli(path: str) -> dict:
    """``smtpsniff analyze FILE`` as the program runs: ``smtpsniff.cli.run``, the console script's
    own function (which ends the process without freeing the capture), with its summary written
    into a buffer to read its counts back.  The report is printed by an exit handler, which the
    program runs before it ends; this function does not return, and this process's exit status
    is the program's."""
    import atexit
    import io
    import resource

    from smtpsniff import cli

    out = io.StringIO()
    started, cpu = time.perf_counter(), time.process_time()

    def report() -> None:
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        sys.stdout = sys.__stdout__
        text = " ".join(out.getvalue().split())
        m = _HEADLINE.search(text)
        found = {"loop_s": round(elapsed, 3), "loop_cpu_s": round(used, 3), "summary_chars": len(out.getvalue()),
                 **_peaks(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)}
        if m:
            keys = ("frames", "tcp_segments", "smtp_packets", "tcp_connections", "sessions", "transactions",
                    "accepted", "commands", "replies", "anomalies")
            found.update(zip(keys, map(int, m.groups())))
        print(json.dumps(found), flush=True)

    atexit.register(report)
    sys.argv = ["smtpsniff", "analyze", path]
    sys.stdout = out
    cli.run()


def scapy_read(path: str) -> dict:
    """scapy's ``PcapReader``: read and dissect every packet (Ether/IP/TCP/... layers), nothing more."""
    # scapy.all, not scapy.utils alone: without the layer modules loaded PcapReader knows no link
    # type and yields undissected Raw packets (it warns "unknown LL type [1]").
    from scapy.all import TCP, PcapReader

    started = time.perf_counter()
    n = tcp = 0
    with PcapReader(path) as reader:
        for pkt in reader:
            n += 1
            tcp += TCP in pkt  # proves the packets were dissected
    return {"loop_s": round(time.perf_counter() - started, 3), "frames": n, "tcp_packets": tcp}


PEERS: dict[str, Callable[[str], dict]] = {
    "smtpsniff-streams": smtpsniff_streams,
    "scapy-read": scapy_read,
    "smtpsniff-analyze": smtpsniff_analyze,
    "smtpsniff-cli": smtpsniff_cli,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in PEERS:
        print(f"usage: peers.py {{{','.join(PEERS)}}} CAPTURE", file=sys.stderr)
        return 2
    print(json.dumps(PEERS[argv[0]](argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
