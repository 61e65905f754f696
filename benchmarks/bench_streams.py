#!/usr/bin/env python3
"""Read + TCP reassembly throughput and peak memory: smtpsniff against tshark and scapy.

Peers, each in its own process on the same capture, interleaved, ``--repeat`` times (medians):

* ``smtpsniff``: ``StreamPipeline`` over ``open_capture``, every stream event consumed; its answer
  (SMTP connections, bytes per direction, gaps) is checked against make_capture's ground truth.
* ``tshark``: ``tshark -r FILE -Y smtp -T fields -e tcp.stream`` to /dev/null - full dissection with
  TCP reassembly for SMTP, the C baseline.
* ``scapy``: ``PcapReader`` reading and dissecting every packet - the Python peer (no reassembly).

    python benchmarks/make_capture.py && python benchmarks/bench_streams.py

Writes a Markdown table to stdout and ``benchmarks/work/results-streams.json``; exits 1 when
smtpsniff's answer is wrong (a fast wrong answer must not look good), 2 on a usage error.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import REPO, WORK, Peer, Run, parse_bench_args, run_benchmark

PEERS_PY = str(Path(__file__).resolve().parent / "peers.py")

PEERS = {
    "smtpsniff": Peer("smtpsniff", "smtpsniff read + decode + TCP reassembly (StreamPipeline over open_capture)",
                      (sys.executable, PEERS_PY, "smtpsniff-streams", "{capture}"), reports=True),
    "tshark": Peer("tshark", "tshark: dissect every packet, reassemble and dissect SMTP, print tcp.stream",
                   ("tshark", "-r", "{capture}", "-Y", "smtp", "-T", "fields", "-e", "tcp.stream")),
    "scapy": Peer("scapy", "scapy PcapReader: read and dissect every packet (no reassembly)",
                  (sys.executable, PEERS_PY, "scapy-read", "{capture}"), reports=True),
}


def check(peer: str, run: Run, truth: dict) -> str:
    """"ok", or what the peer got wrong against the ground truth."""
    if peer == "tshark":
        return "ok"  # output discarded by design; exit status 0 is all there is to check
    rep = run.report
    if rep is None:
        return "no report"
    wrong = []
    if rep.get("frames") != truth["packets"]:
        wrong.append(f"frames {rep.get('frames')} != {truth['packets']}")
    tcp_packets = truth["smtp"]["packets"] + truth["noise"]["classes"]["http"]["packets"]
    if peer == "scapy" and rep.get("tcp_packets") != tcp_packets:
        wrong.append(f"TCP packets {rep.get('tcp_packets')} != {tcp_packets} (not dissected?)")
    if peer == "smtpsniff" and rep.get("tcp_segments") != tcp_packets:
        wrong.append(f"TCP segments {rep.get('tcp_segments')} != {tcp_packets}")
    if peer == "smtpsniff":
        smtp = truth["smtp"]
        for got, want in (("smtp_connections", "connections"), ("smtp_bytes_c2s", "bytes_c2s"),
                          ("smtp_bytes_s2c", "bytes_s2c")):
            if rep.get(got) != smtp[want]:
                wrong.append(f"{got} {rep.get(got)} != {smtp[want]}")
        if rep.get("smtp_connections_by_server_port") != {k: v for k, v in smtp["connections_by_server_port"].items() if v}:
            wrong.append(f"connections by port {rep.get('smtp_connections_by_server_port')} "
                         f"!= {smtp['connections_by_server_port']}")
        gaps = rep.get("smtp_gap_bytes_c2s", 0) + rep.get("smtp_gap_bytes_s2c", 0)
        if gaps:
            wrong.append(f"{gaps} gap bytes in SMTP streams (the capture has none)")
    return "ok" if not wrong else "WRONG: " + "; ".join(wrong)


def main(argv: Sequence[str] | None = None) -> int:
    args, names = parse_bench_args(__doc__.split("\n\n")[0], PEERS, WORK / "results-streams.json", argv)
    _, ok = run_benchmark("streams", args.capture.resolve(), [PEERS[n] for n in names], subject="smtpsniff",
                          repeat=args.repeat, check=check, out_json=args.out, timeout_s=args.timeout,
                          sources=[REPO / "smtpsniff"])
    return 0 if ok or "smtpsniff" not in names else 1


if __name__ == "__main__":
    sys.exit(main())
