"""``smtpsniff streams``: every reassembled TCP direction written to its own file, plus an index.

Like tcpflow, or Wireshark's "Follow TCP Stream" saved as raw: a file holds exactly the bytes the
capture carried for one direction, in stream order.  Gaps are not filled (no byte is invented);
the index lists each gap's stream offset and length.  This module consumes stream events and
writes files; it knows nothing of SMTP.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..anomaly import Anomaly
from ..reassembly.events import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    StreamData,
    StreamGap,
)
from .safe import csv_safe, safe_filename

INDEX_NAME = "index.csv"
INDEX_COLUMNS = (
    "conn_id", "direction", "file", "bytes", "gaps", "gap_bytes", "gap_list",
    "client_ip", "client_port", "server_ip", "server_port", "ip_version", "role_basis",
    "handshake_seen", "first_frame", "first_ts_ns", "last_ts_ns", "close_reason", "packets",
)


@dataclass(slots=True)
class _DirectionFile:
    path: Path
    bytes: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    last_ts_ns: int | None = None


@dataclass(slots=True)
class StreamsSummary:
    connections: int = 0
    files: int = 0
    bytes: int = 0
    gap_bytes: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)


def stream_file_name(opened: ConnectionOpened, direction: Direction) -> str:
    """``00007_10.0.0.1.1470-10.0.0.2.25_c2s.bin`` (IPv6 colons become dashes)."""
    def ep(ip: str, port: int) -> str:
        return f"{ip.replace(':', '-')}.{port}"
    src, dst = (opened.client, opened.server) if direction is Direction.CLIENT_TO_SERVER else (opened.server, opened.client)
    return safe_filename(f"{opened.conn_id:05d}_{ep(src.ip, src.port)}-{ep(dst.ip, dst.port)}_{direction.value}.bin")


def write_streams(events: Iterable[object], out_dir: Path) -> StreamsSummary:
    """Consume stream events, append each direction's bytes to its file, write ``index.csv``.

    A direction with no byte and no gap gets no file (the index still lists it, with no file name).
    Files are appended as data arrives, so memory does not depend on stream sizes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = StreamsSummary()
    opened: dict[int, ConnectionOpened] = {}
    files: dict[tuple[int, Direction], _DirectionFile] = {}
    rows: list[dict[str, object]] = []

    def direction_file(conn_id: int, direction: Direction) -> _DirectionFile:
        key = (conn_id, direction)
        entry = files.get(key)
        if entry is None:
            entry = files[key] = _DirectionFile(out_dir / stream_file_name(opened[conn_id], direction))
            entry.path.write_bytes(b"")  # a fresh file: earlier runs' contents never mix in
            summary.files += 1
        return entry

    for event in events:
        if isinstance(event, StreamData):
            entry = direction_file(event.conn_id, event.direction)
            with entry.path.open("ab") as fh:
                fh.write(event.data)
            entry.bytes += len(event.data)
            entry.last_ts_ns = event.ts_ns
            summary.bytes += len(event.data)
        elif isinstance(event, StreamGap):
            entry = direction_file(event.conn_id, event.direction)
            entry.gaps.append((event.offset, event.length))
            summary.gap_bytes += event.length
        elif isinstance(event, ConnectionOpened):
            opened[event.conn_id] = event
            summary.connections += 1
        elif isinstance(event, ConnectionClosed):
            conn = opened.pop(event.conn_id, None)
            if conn is None:
                continue
            for direction in Direction:
                entry = files.pop((event.conn_id, direction), None)
                rows.append(_index_row(conn, direction, entry, event))
        elif isinstance(event, Anomaly):
            summary.anomalies.append(event)

    rows.sort(key=lambda r: (r["conn_id"], r["direction"]))
    with (out_dir / INDEX_NAME).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_safe(v) for k, v in row.items()})
    return summary


def _index_row(conn: ConnectionOpened, direction: Direction, entry: _DirectionFile | None,
               closed: ConnectionClosed) -> dict[str, object]:
    gaps = entry.gaps if entry else []
    return {
        "conn_id": conn.conn_id,
        "direction": direction.value,
        "file": entry.path.name if entry else "",
        "bytes": entry.bytes if entry else 0,
        "gaps": len(gaps),
        "gap_bytes": sum(length for _, length in gaps),
        "gap_list": " ".join(f"{offset}+{length}" for offset, length in gaps),
        "client_ip": conn.client.ip,
        "client_port": conn.client.port,
        "server_ip": conn.server.ip,
        "server_port": conn.server.port,
        "ip_version": conn.ip_version,
        "role_basis": conn.role_basis.value,
        "handshake_seen": conn.handshake_seen,
        "first_frame": conn.frame,
        "first_ts_ns": conn.ts_ns,
        "last_ts_ns": entry.last_ts_ns if entry and entry.last_ts_ns is not None else "",
        "close_reason": closed.reason.value,
        "packets": closed.packets,
    }
