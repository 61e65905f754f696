"""tshark as the independent oracle for TCP reassembly: ``-z follow,tcp,raw,N`` parsed."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_NODE = re.compile(r"^Node ([01]): (.*):(\d+)$")


@dataclass
class FollowedStream:
    index: int
    node0: tuple[str, int]
    node1: tuple[str, int]
    #: bytes sent by node 0 and by node 1, each concatenated in tshark's order
    data: dict[int, bytearray] = field(default_factory=lambda: {0: bytearray(), 1: bytearray()})


def _endpoint(host: str, port: str) -> tuple[str, int]:
    return host.strip("[]"), int(port)


def tcp_stream_count(path: Path) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True, check=False).stdout
    indices = [int(x) for x in out.split() if x.strip().isdigit()]
    return max(indices) + 1 if indices else 0


def follow_all(path: Path) -> list[FollowedStream]:
    """Every TCP stream of ``path`` as tshark's Follow TCP Stream (raw) shows it."""
    count = tcp_stream_count(path)
    if count == 0:
        return []
    args = ["tshark", "-n", "-r", str(path), "-q"]
    for i in range(count):
        args += ["-z", f"follow,tcp,raw,{i}"]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    streams: list[FollowedStream] = []
    current: FollowedStream | None = None
    nodes: dict[int, tuple[str, int]] = {}
    for line in out.splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            index = int(line.rsplit(" ", 1)[1])
            nodes = {}
            current = None
            continue
        m = _NODE.match(line)
        if m:
            nodes[int(m.group(1))] = _endpoint(m.group(2), m.group(3))
            if len(nodes) == 2:
                current = FollowedStream(index, nodes[0], nodes[1])
                streams.append(current)
            continue
        if current is None or not line.strip() or line.startswith("===") or line.startswith("Follow:"):
            continue
        node = 1 if line.startswith("\t") else 0
        current.data[node] += bytes.fromhex(line.strip())
    return sorted((s for s in streams if s.node0[1] != 0), key=lambda s: s.index)


def captured_coverage(path: Path) -> dict[tuple[int, tuple[str, int]], tuple[int, int]]:
    """Per (tcp.stream, sending endpoint): (bytes covered by captured segments, holes between them).

    Computed from tshark's per-packet relative sequence numbers and lengths alone, independently of
    any reassembly: the union of ``[seq, seq + len)`` over every segment that carried payload, and
    the bytes inside that span that no segment covered.
    """
    fields = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq", "tcp.len"]
    args = ["tshark", "-n", "-r", str(path), "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    ranges: dict[tuple[int, tuple[str, int]], list[tuple[int, int]]] = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 6 or not parts[0]:
            continue
        stream, ip4, ip6, port, seq, length = parts
        src = ((ip4 or ip6).split(",")[-1], int(port.split(",")[0]))
        start = int(seq.split(",")[0])
        ranges.setdefault((int(stream.split(",")[0]), src), []).append((start, start + int(length.split(",")[0])))
    coverage = {}
    for key, spans in ranges.items():
        spans.sort()
        covered = holes = 0
        end = spans[0][0]
        for s, e in spans:
            if s > end:
                holes += s - end
            if e > end:
                covered += e - max(s, end)
                end = e
        coverage[key] = (covered, holes)
    return coverage
