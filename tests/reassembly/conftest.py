"""Helpers for the reassembly tests: scripted conversations as TcpSegment tuples, and checks.

``Talk`` plays both ends of one TCP connection, keeping each side's next sequence number, so a test
reads like the conversation it scripts.  ``run`` feeds segments to a reassembler, checks the event
invariants every test relies on, and returns the events.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from smtpsniff.anomaly import Anomaly
from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.net.segment import ACK, FIN, PSH, RST, SYN, TcpSegment
from smtpsniff.reassembly.events import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    StreamData,
    StreamGap,
)
from smtpsniff.reassembly.table import TcpReassembler

C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT
MOD = 1 << 32
TS0 = 1_700_000_000 * 1_000_000_000
MS = 1_000_000


class Talk:
    """Both ends of one connection; ``c(...)``/``s(...)`` build the client's/server's next segment."""

    def __init__(
        self,
        client: tuple[str, int] = ("10.0.0.1", 40000),
        server: tuple[str, int] = ("10.0.0.2", 25),
        *,
        cisn: int = 1000,
        sisn: int = 500_000,
        ts0: int = TS0,
        ip_version: int = 4,
        frame0: int = 0,
    ) -> None:
        self.client, self.server = client, server
        self.cisn, self.sisn = cisn % MOD, sisn % MOD
        self.cseq, self.sseq = self.cisn, self.sisn  # next sequence number each side sends
        self.frame = frame0
        self.ts = ts0
        self.ip_version = ip_version

    def seg(
        self, from_client: bool, seq: int, ack: int, flags: int, payload: bytes = b"", *,
        wire: int = -1, dt: int = MS,
    ) -> TcpSegment:
        self.frame += 1
        self.ts += dt
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        truncated = wire >= 0 and wire > len(payload)
        return TcpSegment(
            self.frame, self.ts, src[0], src[1], dst[0], dst[1], seq % MOD, ack % MOD, flags, payload,
            self.ip_version, truncated, wire,
        )

    # handshake
    def syn(self, payload: bytes = b"") -> TcpSegment:
        s = self.seg(True, self.cisn, 0, SYN, payload)
        self.cseq = (self.cisn + 1 + len(payload)) % MOD
        return s

    def synack(self) -> TcpSegment:
        s = self.seg(False, self.sisn, self.cseq, SYN | ACK)
        self.sseq = (self.sisn + 1) % MOD
        return s

    def handshake(self) -> list[TcpSegment]:
        return [self.syn(), self.synack(), self.c_ack()]

    # data
    def _send(self, client: bool, data: bytes, seq: int | None, flags: int, ack: int | None, advance: bool,
              wire: int) -> TcpSegment:
        mine = self.cseq if client else self.sseq
        theirs = self.sseq if client else self.cseq
        s = self.seg(client, mine if seq is None else seq, theirs if ack is None else ack, flags, data, wire=wire)
        if advance and seq is None:
            n = (wire if wire >= 0 else len(data)) + (1 if flags & FIN else 0)
            if client:
                self.cseq = (self.cseq + n) % MOD
            else:
                self.sseq = (self.sseq + n) % MOD
        return s

    def c(self, data: bytes = b"", *, seq: int | None = None, flags: int = PSH | ACK, ack: int | None = None,
          advance: bool = True, wire: int = -1) -> TcpSegment:
        return self._send(True, data, seq, flags, ack, advance, wire)

    def s(self, data: bytes = b"", *, seq: int | None = None, flags: int = PSH | ACK, ack: int | None = None,
          advance: bool = True, wire: int = -1) -> TcpSegment:
        return self._send(False, data, seq, flags, ack, advance, wire)

    def c_ack(self, ack: int | None = None) -> TcpSegment:
        return self.c(b"", flags=ACK, ack=ack)

    def s_ack(self, ack: int | None = None) -> TcpSegment:
        return self.s(b"", flags=ACK, ack=ack)

    def c_fin(self, data: bytes = b"", *, ack: int | None = None) -> TcpSegment:
        return self.c(data, flags=FIN | ACK, ack=ack)

    def s_fin(self, data: bytes = b"", *, ack: int | None = None) -> TcpSegment:
        return self.s(data, flags=FIN | ACK, ack=ack)

    def c_rst(self) -> TcpSegment:
        return self.c(b"", flags=RST | ACK, advance=False)


def check_invariants(events: list) -> None:
    """Per connection: Opened first, Closed once and last; per direction offsets contiguous from 0."""
    opened: set[int] = set()
    closed: set[int] = set()
    pos: dict[tuple[int, Direction], int] = defaultdict(int)
    for e in events:
        if isinstance(e, Anomaly):
            continue
        cid = e.conn_id
        if isinstance(e, ConnectionOpened):
            assert cid not in opened, f"conn {cid} opened twice"
            opened.add(cid)
            continue
        assert cid in opened, f"event before ConnectionOpened: {e}"
        assert cid not in closed, f"event after ConnectionClosed: {e}"
        if isinstance(e, ConnectionClosed):
            closed.add(cid)
        elif isinstance(e, StreamData):
            assert e.data, e
            assert e.offset == pos[cid, e.direction], (e.offset, pos[cid, e.direction], e)
            assert e.frames and e.frames[0] == e.frame
            pos[cid, e.direction] += len(e.data)
        elif isinstance(e, StreamGap):
            assert e.length > 0, e
            assert e.offset == pos[cid, e.direction], (e.offset, pos[cid, e.direction], e)
            pos[cid, e.direction] += e.length


def run(
    segs, limits: Limits = DEFAULT_LIMITS, *, finish: bool = True, reassembler: TcpReassembler | None = None,
    **kw,
) -> list:
    r = reassembler if reassembler is not None else TcpReassembler(limits, **kw)
    events: list = []
    last_ts = TS0
    for seg in segs:
        events.extend(r.feed(seg))
        last_ts = seg.ts_ns
    if finish:
        events.extend(r.finish(last_ts + 1))
        check_invariants(events)
        assert r.open_connections == 0
    return events


@dataclass
class Flow:
    """What one direction of one connection delivered: data bytes (gaps as None) and gaps."""

    pieces: list  # ("data", offset, bytes) | ("gap", offset, length, cause)

    @property
    def data(self) -> bytes:
        return b"".join(p[2] for p in self.pieces if p[0] == "data")

    @property
    def gaps(self) -> list[tuple[int, int, str]]:
        return [(p[1], p[2], p[3]) for p in self.pieces if p[0] == "gap"]

    def merged_gaps(self) -> list[tuple[int, int]]:
        out: list[list[int]] = []
        for off, n, _ in self.gaps:
            if out and out[-1][1] == off:
                out[-1][1] = off + n
            else:
                out.append([off, off + n])
        return [(a, b) for a, b in out]

    def filled(self, fill: int = 0) -> bytes:
        """Data with each gap replaced by ``fill`` bytes (only for comparing in tests)."""
        return b"".join(p[2] if p[0] == "data" else bytes([fill]) * p[2] for p in self.pieces)

    def __len__(self) -> int:
        return sum(len(p[2]) if p[0] == "data" else p[2] for p in self.pieces)


def flows(events: list) -> dict[tuple[int, Direction], Flow]:
    out: dict[tuple[int, Direction], Flow] = defaultdict(lambda: Flow([]))
    for e in events:
        if isinstance(e, StreamData):
            out[e.conn_id, e.direction].pieces.append(("data", e.offset, e.data))
        elif isinstance(e, StreamGap):
            out[e.conn_id, e.direction].pieces.append(("gap", e.offset, e.length, e.cause))
    return out


def of_type(events: list, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


def anomalies(events: list, kind: str | None = None) -> list[Anomaly]:
    return [e for e in events if isinstance(e, Anomaly) and (kind is None or e.kind == kind)]


__all__ = [
    "ACK", "C2S", "FIN", "MOD", "MS", "PSH", "RST", "S2C", "SYN", "TS0", "Flow", "Talk", "anomalies",
    "check_invariants", "flows", "of_type", "run",
]
