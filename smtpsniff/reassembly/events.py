"""Events the TCP reassembler emits: connections, in-order bytes per direction, gaps, closes.

Frozen, slotted, keyword-only dataclasses: the SMTP layer consumes them and never sees segments.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum


class Direction(str, Enum):
    CLIENT_TO_SERVER = "c2s"
    SERVER_TO_CLIENT = "s2c"

    @property
    def opposite(self) -> "Direction":
        return Direction.SERVER_TO_CLIENT if self is Direction.CLIENT_TO_SERVER else Direction.CLIENT_TO_SERVER


class RoleBasis(str, Enum):
    """How the reassembler decided which endpoint is the client."""

    SYN = "syn"  # saw the client's SYN
    SYN_ACK = "syn_ack"  # saw only the server's SYN+ACK
    PORT = "port"  # capture started mid-connection; a known server port decided
    PAYLOAD = "payload"  # mid-connection; the first bytes looked like a reply or a command
    GUESS = "guess"  # mid-connection, nothing to go on: the lower port is taken as the server


class CloseReason(str, Enum):
    FIN = "fin"  # both directions finished
    RST = "rst"
    IDLE = "idle"  # no packet for Limits.connection_idle_timeout_ns
    EVICTED = "evicted"  # Limits.max_connections reached: least recently active dropped
    END_OF_CAPTURE = "end_of_capture"
    PORT_REUSE = "port_reuse"  # a new SYN on the same 4-tuple began another connection


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened:
    conn_id: int  # 0-based, in order of first packet, never reused within a run
    ts_ns: int
    frame: int
    client: Endpoint
    server: Endpoint
    role_basis: RoleBasis
    ip_version: int
    #: True when the three-way handshake was seen (the streams start at their first byte).
    handshake_seen: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamData:
    """Bytes of one direction, in order, never seen before, never invented."""

    conn_id: int
    direction: Direction
    #: Stream offset of ``data[0]``: bytes since the first byte of this direction (gaps included).
    offset: int
    data: bytes
    ts_ns: int  # capture time of the segment that carried the first of these bytes
    frame: int  # frame number of that segment
    #: Frame numbers of every segment that contributed bytes, in order (length >= 1).
    frames: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamChunks:
    """Several deliveries of one connection at once, in order: the StreamData events they stand for.

    Only a connection the consumer asked to have recorded (``TcpReassembler.record``) gets them,
    from the C flows table, which keeps such a connection's bytes instead of building an event for
    each segment; a consumer that only keeps the bytes for later (a session decoded in a worker
    process) then handles, and pickles, one object for many segments.  :meth:`deliveries` gives
    back what each StreamData would hold.
    """

    conn_id: int
    parts: tuple[bytes, ...]  # each delivery's bytes
    directions: bytes  # per part: 0 client to server, 1 server to client
    #: per part, three native-endian signed 64-bit integers: stream offset, ts_ns, frame
    times: bytes
    size: int  # octets in all the parts

    def deliveries(self) -> Iterator[tuple[Direction, bytes, int, int]]:
        """``(direction, data, ts_ns, frame)`` of each part, in order."""
        t = memoryview(self.times).cast("q")
        return zip(map(_DIRECTIONS.__getitem__, self.directions), self.parts, t[1::3], t[2::3])

    def stream_data(self) -> list[StreamData]:
        """The StreamData events the parts stand for."""
        t = memoryview(self.times).cast("q")
        return [StreamData(conn_id=self.conn_id, direction=_DIRECTIONS[d], offset=offset, data=data, ts_ns=ts,
                           frame=frame, frames=(frame,))
                for d, data, offset, ts, frame in zip(self.directions, self.parts, t[0::3], t[1::3], t[2::3])]


_DIRECTIONS = (Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamGap:
    """Bytes of one direction that were never captured: ``length`` bytes starting at ``offset``."""

    conn_id: int
    direction: Direction
    offset: int
    length: int
    ts_ns: int
    frame: int  # the frame whose arrival made the gap certain
    #: "ack" (the peer acknowledged unseen bytes), "buffer_limit", "close", "end_of_capture",
    #: "truncated" (the snaplen cut these bytes from a captured segment)
    cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    conn_id: int
    ts_ns: int
    frame: int | None
    reason: CloseReason
    bytes_c2s: int  # bytes delivered as StreamData
    bytes_s2c: int
    gap_bytes_c2s: int
    gap_bytes_s2c: int
    packets: int


StreamEvent = ConnectionOpened | StreamData | StreamChunks | StreamGap | ConnectionClosed
