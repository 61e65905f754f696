"""The TCP connection table: which connection a segment belongs to, who is the client, when it ends.

:class:`TcpReassembler` takes :class:`~smtpsniff.net.segment.TcpSegment` tuples in capture order and
returns, per connection, ``ConnectionOpened`` (once, first), ``StreamData``/``StreamGap`` of each
direction in stream order (from :mod:`smtpsniff.reassembly.stream`), then ``ConnectionClosed``
(exactly once); plus :class:`~smtpsniff.anomaly.Anomaly` records.

* Key: the exact 4-tuple, its two endpoints put in order by tuple comparison.  No hashing of
  addresses into one number (scapy's XOR keys collide), no reuse of ``conn_id``.
* Roles: the SYN's sender is the client (RFC 9293 section 3.5); only a SYN+ACK seen: its receiver.
  Mid-connection starts use a port hint, then the first payload (an RFC 5321 section 4.2 reply code
  or a command word), then the lower port as the server.  Decided once, at the first packet.
* Lifecycle: RST closes at once; FINs from both sides close once both directions are complete up to
  their FINs (holes are filled by retransmissions or become gaps through the peer's ACKs); idle
  connections are closed by :meth:`TcpReassembler.expire` in capture time; at most
  ``Limits.max_connections`` are open, the least recently active is evicted.  A SYN on a 4-tuple
  whose connection is over, or whose ISN is far from the current window, starts a new connection
  (port reuse, RFC 9293 section 3.4 "knowing when to keep quiet").  Closed connections linger
  ``Limits.closed_linger_ns`` so late retransmissions and ACKs are dropped rather than taken for new
  connections.

C fast path: with a flows table attached (:meth:`TcpReassembler.attach_flows`, used by
:meth:`StreamPipeline.feed_batch <smtpsniff.streams.StreamPipeline.feed_batch>` on classic pcap
files), connections that are established with nothing pending are handed to the C record cutter,
which turns their in-order segments, pure ACKs and in-order FINs into the events ``feed`` would
return (a FIN through :meth:`TcpReassembler.fast_fin`); the state comes back here ("pull") at the
first segment it leaves to Python, at an idle sweep, a close or the end.  A connection the C code
closed with a FIN stays there as a tomb while it lingers here, so that its late packets are counted
there too; every tomb forgotten here is dropped there (``_forget_tomb``).  Events, counters and
statistics are the same either way (tests/native prove it).  A connection the consumer asked to
have recorded (:meth:`TcpReassembler.record`) gets its deliveries from the table as
:class:`~smtpsniff.reassembly.events.StreamChunks`, many segments' worth each, instead of one
StreamData per segment; the chunks come before any event Python makes of it afterwards.

The only SMTP knowledge here is the role hint (ports and the shape of a first payload); nothing of
files, link layers or clocks: time is the capture's ``ts_ns``.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter

from smtpsniff.anomaly import Anomaly
from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.net.segment import ACK, FIN, RST, SYN, TcpSegment
from smtpsniff.reassembly.events import (
    CloseReason,
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    Endpoint,
    RoleBasis,
    StreamChunks,
    StreamData,
    StreamEvent,
)
from smtpsniff.reassembly.seq import SEQ_HALF, SEQ_MASK, seq_diff
from smtpsniff.reassembly.stream import ReassemblyStats, Stream, StreamContext, new_stream_data

__all__ = ["SMTP_PORTS", "PORT_REUSE_WINDOW", "ConnectionState", "ReassemblyStats", "TcpReassembler"]

#: A recorded connection's deliveries the C flows table keeps before it hands them out as one
#: StreamChunks (it also does when the reassembler takes the connection back): at most this many
#: segments' payloads ...
RECORDED_CHUNK_PARTS = 256
#: ... and this many octets (so a recorded connection holds at most about this much in C).
RECORDED_CHUNK_BYTES = 256 << 10

#: smtp (RFC 5321), submissions (RFC 8314), submission (RFC 6409), and the common alternative 2525.
SMTP_PORTS = frozenset({25, 465, 587, 2525})

#: A SYN whose sequence number is within this distance of the sender's next byte on an open
#: connection is taken as an in-window SYN (RFC 9293 section 3.10.7.4 / RFC 5961 section 4: answered
#: with a challenge ACK, not a new connection); further away it is port reuse.  1 GiB is the largest
#: window RFC 7323 allows.
PORT_REUSE_WINDOW = 1 << 30

# First payload of a mid-connection start.  RFC 5321 section 4.2: Reply-line = *( Reply-code "-"
# [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF, Reply-code = %x32-35 %x30-35 %x30-39
# (any 3 digits accepted here).  Section 4.1.1: a command is a verb of ASCII letters then SP or CRLF.
_REPLY = re.compile(rb"[0-9]{3}[ \-\r]")
_COMMAND = re.compile(rb"[A-Za-z]+(?:[ \r\n]|\Z)")

_NOTHING: tuple = ()  # the shared empty result
# One of each per connection: built by writing their slots (smtpsniff.fastinit), same objects.
new_endpoint = slot_builder(Endpoint)
new_opened = slot_builder(ConnectionOpened)
new_closed = slot_builder(ConnectionClosed)
_FLAGS_SLOW = SYN | FIN | RST
_C2S = Direction.CLIENT_TO_SERVER
_S2C = Direction.SERVER_TO_CLIENT

Key = tuple[str, int, str, int]
Result = Sequence[StreamEvent | Anomaly]


class _Conn:
    """One open connection (or, once ``ignored``, a tombstone that only watches for its end)."""

    __slots__ = (
        "conn_id", "key", "lo_is_client", "c2s", "s2c", "last_ts", "last_frame", "packets", "ignored",
        "fins", "fast", "recorded",
    )

    def __init__(self, conn_id: int, key: Key, lo_is_client: bool, ctx: StreamContext, ts: int, frame: int):
        self.conn_id = conn_id
        self.key = key
        self.lo_is_client = lo_is_client
        self.c2s = Stream(conn_id, _C2S, ctx)
        self.s2c = Stream(conn_id, _S2C, ctx)
        self.last_ts = ts
        self.last_frame = frame
        self.packets = 0
        self.ignored = False
        #: For ignored connections: bit 1 = client FIN seen, bit 2 = server FIN seen.
        self.fins = 0
        #: Handle in the C flows table while it holds this connection's state, else None.
        self.fast: int | None = None
        #: The consumer keeps this connection's bytes for later (see TcpReassembler.record).
        self.recorded = False


class TcpReassembler:
    """Segments in, connection and stream events out; bounded by :class:`~smtpsniff.limits.Limits`.

    ``feed``, ``expire`` and ``finish`` return a sequence of events in order; when nothing happened
    it is a shared empty tuple (no allocation on the pure-ACK path).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, server_ports: frozenset[int] = SMTP_PORTS) -> None:
        self.limits = limits
        self.server_ports = frozenset(server_ports)
        self.stats = ReassemblyStats()
        self._ctx = StreamContext(limits, self.stats)
        self._retain = self._ctx.retain
        self._retain_trim = self._ctx.retain_trim
        #: open connections, least recently active first
        self._open: OrderedDict[Key, _Conn] = OrderedDict()
        #: both orders of each open connection's 4-tuple -> (connection, sent by the lower endpoint,
        #: the sender's stream, the receiver's stream)
        self._route: dict[Key, tuple[_Conn, bool, Stream, Stream]] = {}
        #: conn_id -> key, for ignore()
        self._ids: dict[int, Key] = {}
        #: closed connections still lingering: key -> (closed ts, ISNs seen), oldest first
        self._closed: OrderedDict[Key, tuple[int, tuple[int | None, int | None]]] = OrderedDict()
        self._next_id = 0
        #: The C flows table (see attach_flows), or None.
        self._flows = None
        #: Open connections whose state the flows table holds (kept out of ``_open``, whose order
        #: is then exact for the rest; the table keeps theirs).
        self._fast_open: dict[Key, _Conn] = {}
        #: Connections Python handled since the last chunk: to hand over if they qualify.
        self._candidates: list[_Conn] = []
        #: conn_ids ignored while the flows table held them (see drop_ignored_data).
        self.ignored_in_flows: set[int] = set()
        #: Keys of ``_closed`` whose tomb the flows table also holds -> its handle there.
        self._fast_tombs: dict[Key, int] = {}
        #: Recorded deliveries the flows table handed back outside any event list (``_pull_all``
        #: before a chunk): the next events to give out (see take_flushed).
        self.flushed: list[StreamChunks] = []

    @property
    def open_connections(self) -> int:
        return len(self._open) + len(self._fast_open)

    @property
    def flows_handled(self) -> int:
        """Segments the C flows table handled (0 without one)."""
        return 0 if self._flows is None else self._flows.handled

    # --- hot path ------------------------------------------------------------------------------

    def feed(self, seg: TcpSegment) -> Result:
        """Take one segment; return the events it caused, in order."""
        self.stats.segments += 1
        # seg[2:6] is (src, sport, dst, dport): an open connection is found under either order
        # without comparing addresses; only a miss puts the endpoints in order.
        hit = self._route.get(seg[2:6])
        if hit is None:
            _f, _t, src, sport, dst, dport = seg[:6]
            if src < dst or (src == dst and sport <= dport):
                key = (src, sport, dst, dport)
                from_lo = True
            else:
                key = (dst, dport, src, sport)
                from_lo = False
            out: list = []
            self._first_packet(key, from_lo, seg, out)
            if self._flows is not None:
                opened = self._open.get(key)
                if opened is not None:
                    self._candidates.append(opened)
            return out or _NOTHING
        conn, from_lo, s, peer = hit
        if self._flows is not None:
            if conn.fast is not None:
                chunks = self._pull(conn)
                if chunks is not None:  # recorded deliveries the table kept come before this segment's events
                    self.stats.segments -= 1  # (counted again)
                    return [chunks, *self.feed(seg)]
            self._candidates.append(conn)
        frame, ts, _s, _sp, _d, _dp, seq, ack, flags, payload, _v, truncated, _w = seg
        conn.last_ts = ts
        conn.last_frame = frame
        conn.packets += 1
        self._open.move_to_end(conn.key)
        if conn.ignored:
            return self._ignored_packet(conn, from_lo, seg)
        if flags & _FLAGS_SLOW or truncated or s.base is None or s.ack_hole is not None or peer.ack_hole is not None:
            out = []
            self._slow(conn, from_lo, s, peer, seg, out)
            return out or _NOTHING
        res: Result = _NOTHING
        if payload:
            if seq == s.nxt_seq and not s.held and s.fin_off is None:
                # In order, nothing held: deliver at once (Stream._deliver, inlined).
                n = len(payload)
                res = [new_stream_data(s.conn_id, s.direction, s.nxt, payload, ts, frame, (frame,))]
                s.nxt += n
                s.nxt_seq = (seq + n) & SEQ_MASK
                s.delivered += n
                self.stats.bytes_delivered += n
                r = s.recent
                if r is not None:
                    r += payload
                    if len(r) > self._retain_trim:
                        del r[: len(r) - self._retain]
            else:
                res = []
                s.segment(seq, payload, len(payload), False, frame, ts, res)  # type: ignore[arg-type]
        if flags & ACK and peer.base is not None:
            d = (ack - peer.nxt_seq) & SEQ_MASK
            if d and d < SEQ_HALF:
                if not res:
                    res = []
                peer.ack(ack, frame, ts, res)  # type: ignore[arg-type]
                if peer.ack_hole is not None and payload:
                    peer.resolve_ack(frame, ts, res)  # type: ignore[arg-type]
        if res and s.fin_off is not None and peer.fin_off is not None and s.done and peer.done:
            self._close(conn, CloseReason.FIN, "close", frame, ts, res, linger=True)  # type: ignore[arg-type]
        return res or _NOTHING

    # --- the rest of the segment paths ------------------------------------------------------------

    def _slow(
        self, conn: _Conn, from_lo: bool, s: Stream, peer: Stream, seg: TcpSegment, out: list, first: bool = False
    ) -> None:
        frame, ts, seq, ack, flags, payload = seg.frame, seg.ts_ns, seg.seq, seg.ack, seg.flags, seg.payload
        if flags & RST:
            # RFC 9293 section 3.10.7: RST ends the connection.  (No RFC 5961 window check: a capture
            # sees what the endpoints saw, and an injected RST is reported by whoever reads the close.)
            self._close(conn, CloseReason.RST, "close", frame, ts, out, linger=True)
            return
        if flags & SYN:
            if not flags & ACK and not first:
                if s.isn is not None and seq == s.isn:
                    self.stats.syn_retransmissions += 1
                elif (
                    s.base is None
                    or (s.fin_off is not None and peer.fin_off is not None)
                    or abs(seq_diff((seq + 1) & SEQ_MASK, s.nxt_seq)) > PORT_REUSE_WINDOW
                ):
                    self._close(conn, CloseReason.PORT_REUSE, "close", frame, ts, out, linger=False)
                    self._first_packet(conn.key, from_lo, seg, out)
                    return
                else:
                    self._ctx.anomaly(
                        out, "syn_in_window",
                        f"SYN with sequence number {seq} inside the open connection's window: ignored",
                        conn.conn_id, frame, ts,
                    )
                    return
            if s.base is None:
                s.start(seq + 1, isn=seq)
            if flags & ACK and peer.base is None:
                peer.start(ack)  # SYN+ACK acknowledges exactly the client's ISN + 1
            seq = (seq + 1) & SEQ_MASK  # the SYN occupies one sequence number (RFC 9293 section 3.4)
        elif s.base is None:
            s.start(seq)  # mid-connection: the first sequence number seen is offset 0
        wire = seg.wire_payload_len
        if wire < 0:
            wire = len(payload)
        fin = bool(flags & FIN)
        sends = payload or wire or fin
        if sends and peer.ack_hole is not None:
            peer.resolve_ack(frame, ts, out)  # the receiver speaks: what it acknowledged is settled
        if sends:
            moved_on = s.ack_hole is not None and s.offset(seq) >= s.ack_hole
            s.segment(seq, payload, wire, fin, frame, ts, out)
            if moved_on or fin:
                s.resolve_ack(frame, ts, out)  # the sender went past the hole: it will not be re-sent
            elif s.ack_hole is not None and s.nxt >= s.ack_hole:
                s.ack_hole = None  # filled by late-captured bytes
        if flags & ACK and peer.base is not None:
            peer.ack(ack, frame, ts, out)
        if s.fin_off is not None and peer.fin_off is not None and s.done and peer.done:
            self._close(conn, CloseReason.FIN, "close", frame, ts, out, linger=True)

    def _first_packet(self, key: Key, from_lo: bool, seg: TcpSegment, out: list) -> None:
        flags, ts_ns, frame = seg.flags, seg.ts_ns, seg.frame
        tomb = self._closed.get(key)
        if tomb is not None:
            closed_ts, isns = tomb
            if ts_ns - closed_ts <= self.limits.closed_linger_ns:
                if not (flags & (SYN | ACK) == SYN and seg.seq not in isns):
                    self.stats.late_packets += 1
                    return
            del self._closed[key]
            if self._fast_tombs:
                self._forget_tomb(key)
        if len(self._open) + len(self._fast_open) >= self.limits.max_connections:
            self._evict(seg, out)  # (may rebuild self._open: read it after)
        lo_is_client, basis = self._roles(from_lo, seg)
        conn_id = self._next_id
        self._next_id = conn_id + 1
        conn = _Conn(conn_id, key, lo_is_client, self._ctx, ts_ns, frame)
        conn.packets = 1
        self._open[key] = conn
        route = self._route
        c2s, s2c = conn.c2s, conn.s2c
        lo_ip, lo_port, hi_ip, hi_port = key
        lo_s, hi_s = (c2s, s2c) if lo_is_client else (s2c, c2s)
        route[(hi_ip, hi_port, lo_ip, lo_port)] = (conn, False, hi_s, lo_s)
        route[key] = (conn, True, lo_s, hi_s)  # after the reverse: a connection from an endpoint to itself is "from lo"
        self._ids[conn_id] = key
        self.stats.connections += 1
        lo = new_endpoint(lo_ip, lo_port)  # Endpoint(ip, port): its fields in order
        hi = new_endpoint(hi_ip, hi_port)
        # ConnectionOpened(conn_id, ts_ns, frame, client, server, role_basis, ip_version, handshake_seen)
        out.append(new_opened(conn_id, ts_ns, frame, lo if lo_is_client else hi, hi if lo_is_client else lo,
                              basis, seg.ip_version, bool(flags & SYN)))
        if from_lo == lo_is_client:
            self._slow(conn, from_lo, c2s, s2c, seg, out, True)
        else:
            self._slow(conn, from_lo, s2c, c2s, seg, out, True)

    def _roles(self, from_lo: bool, seg: TcpSegment) -> tuple[bool, RoleBasis]:
        """``(lo endpoint is the client, why)``, decided from the connection's first packet."""
        flags = seg.flags
        if flags & SYN:
            if flags & ACK:
                return (not from_lo), RoleBasis.SYN_ACK
            return from_lo, RoleBasis.SYN
        sport_srv = seg.sport in self.server_ports
        dport_srv = seg.dport in self.server_ports
        if sport_srv != dport_srv:
            # the sender is the server when its port is the server port
            return (from_lo != sport_srv), RoleBasis.PORT
        payload = seg.payload
        if payload:
            if _REPLY.match(payload):
                return (not from_lo), RoleBasis.PAYLOAD
            if _COMMAND.match(payload):
                return from_lo, RoleBasis.PAYLOAD
        if seg.sport != seg.dport:
            sender_is_server = seg.sport < seg.dport
            return (from_lo != sender_is_server), RoleBasis.GUESS
        return False, RoleBasis.GUESS  # equal ports: the lower endpoint is taken as the server

    def _ignored_packet(self, conn: _Conn, from_lo: bool, seg: TcpSegment) -> Result:
        self.stats.ignored_packets += 1
        flags = seg.flags
        if not flags & _FLAGS_SLOW:
            return _NOTHING
        out: list = []
        if flags & RST:
            self._close(conn, CloseReason.RST, "close", seg.frame, seg.ts_ns, out, linger=True)
        elif flags & SYN and not flags & ACK:
            if seg.seq not in (conn.c2s.isn, conn.s2c.isn):
                self._close(conn, CloseReason.PORT_REUSE, "close", seg.frame, seg.ts_ns, out, linger=False)
                self._first_packet(conn.key, from_lo, seg, out)
        elif flags & FIN:
            conn.fins |= 1 if from_lo == conn.lo_is_client else 2
            if conn.fins == 3:
                self._close(conn, CloseReason.FIN, "close", seg.frame, seg.ts_ns, out, linger=True)
        return out or _NOTHING

    # --- lifecycle ---------------------------------------------------------------------------------

    def _evict(self, seg: TcpSegment, out: list) -> None:
        self._pull_all()  # (the flows table is not used this close to the limit: a no-op)
        out.extend(self.take_flushed())
        victim = next(iter(self._open.values()))
        self.stats.evicted += 1
        anomalies = self.stats.anomalies
        n = anomalies.get("connection_table_full", 0)
        if n == 0:
            self._ctx.anomaly(
                out, "connection_table_full",
                f"{self.limits.max_connections} connections open: the least recently active are evicted "
                f"(see ReassemblyStats.evicted for the count)",
                None, seg.frame, seg.ts_ns,
            )
        else:
            anomalies["connection_table_full"] = n + 1
        self._close(victim, CloseReason.EVICTED, "close", seg.frame, seg.ts_ns, out, linger=False)

    def _close(
        self, conn: _Conn, reason: CloseReason, cause: str, frame: int | None, ts: int, out: list, *, linger: bool
    ) -> None:
        if conn.fast is not None:
            chunks = self._pull(conn, closing=True)
            if chunks is not None:
                out.append(chunks)
            if not linger:
                self._forget_tomb(conn.key)
        key = conn.key
        if self._open.pop(key, None) is conn:
            route = self._route
            route.pop(key, None)
            route.pop((key[2], key[3], key[0], key[1]), None)
        self._ids.pop(conn.conn_id, None)
        c2s, s2c = conn.c2s, conn.s2c
        if not conn.ignored:
            gap_frame = conn.last_frame if frame is None else frame
            c2s.close(cause, gap_frame, ts, out)
            s2c.close(cause, gap_frame, ts, out)
        # ConnectionClosed(conn_id, ts_ns, frame, reason, bytes_c2s, bytes_s2c, gap_bytes_c2s, gap_bytes_s2c, packets)
        out.append(new_closed(conn.conn_id, ts, frame, reason, c2s.delivered, s2c.delivered, c2s.gap_bytes,
                              s2c.gap_bytes, conn.packets))
        closed = self.stats.closed
        name = _REASON_NAMES[reason]
        closed[name] = closed.get(name, 0) + 1
        if linger:
            self._closed[key] = (ts, (c2s.isn, s2c.isn))
            self._closed.move_to_end(key)
            if len(self._closed) > self.limits.max_connections:
                old, _ = self._closed.popitem(last=False)
                if self._fast_tombs:
                    self._forget_tomb(old)

    def record(self, conn_id: int) -> None:
        """The consumer only keeps ``conn_id``'s bytes for later: while the C flows table holds the
        connection, its deliveries may come as :class:`StreamChunks` (many segments each) rather
        than one StreamData per segment.  Events are otherwise the same, in the same order for the
        connection; a recorded connection is not to be ignored later.
        """
        conn = self._open_conn(conn_id)
        if conn is None or conn.ignored:
            return
        conn.recorded = True
        if conn.fast is not None:
            self._flows.record(conn.fast)  # type: ignore[union-attr]

    def _open_conn(self, conn_id: int) -> _Conn | None:
        """The open connection ``conn_id`` (held here or by the flows table), or None."""
        key = self._ids.get(conn_id)
        if key is None:
            return None
        return self._open.get(key) or self._fast_open[key]

    def take_flushed(self) -> list[StreamChunks]:
        """The recorded deliveries handed back outside an event list (see ``flushed``), now given out."""
        flushed = self.flushed
        if not flushed:
            return []
        self.flushed = []
        return flushed

    def ignore(self, conn_id: int) -> None:
        """Stop buffering and delivering for ``conn_id``; its ``ConnectionClosed`` still comes, once.

        Its buffers are freed at once without events; later packets only cost a lookup, until a
        RST, FINs both ways, a new SYN, expiry, eviction or the end of the capture closes it.
        """
        conn = self._open_conn(conn_id)
        if conn is None or conn.ignored:
            return
        conn.ignored = True
        conn.fins = (1 if conn.c2s.fin_off is not None else 0) | (2 if conn.s2c.fin_off is not None else 0)
        conn.c2s.release()
        conn.s2c.release()
        if conn.fast is not None:
            # The C cutter may already have built events of later records of this chunk for it:
            # the batch loop drops them (drop_ignored_data); later chunks only count its packets.
            self._flows.ignore(conn.fast)  # type: ignore[union-attr]
            self.ignored_in_flows.add(conn_id)

    def expire(self, now_ns: int, idle_flows: Sequence[_Conn] = ()) -> Result:
        """Close connections idle for ``Limits.connection_idle_timeout_ns`` of capture time.

        Connections are kept least recently active first (by arrival), so this costs O(expired).
        Lingering closed connections older than ``Limits.closed_linger_ns`` are forgotten too.
        ``idle_flows``: the connections the C flows table found idle at this sweep (its own order).
        """
        out: list = []
        cutoff = now_ns - self.limits.connection_idle_timeout_ns
        open_ = self._open
        if idle_flows:
            idle = []
            for conn in open_.values():
                if conn.last_ts > cutoff:
                    break
                idle.append(conn)
            for conn in idle_flows:
                chunks = self._pull(conn, closing=True)  # closed below
                if chunks is not None:
                    out.append(chunks)
            idle.extend(idle_flows)
            idle.sort(key=_last_frame)  # the order of last activity, as one list would have kept it
            for conn in idle:
                self._close(conn, CloseReason.IDLE, "close", None, now_ns, out, linger=False)
        while open_:
            conn = next(iter(open_.values()))
            if conn.last_ts > cutoff:
                break
            self._close(conn, CloseReason.IDLE, "close", None, now_ns, out, linger=False)
        linger_cutoff = now_ns - self.limits.closed_linger_ns
        closed = self._closed
        fast_tombs = self._fast_tombs
        while closed:
            key, (closed_ts, _) = next(iter(closed.items()))
            if closed_ts > linger_cutoff:
                break
            del closed[key]
            if fast_tombs:
                handle = fast_tombs.pop(key, None)
                if handle is not None:  # as _forget_tomb
                    self._flows.drop_tomb(handle)  # type: ignore[union-attr]
        return out or _NOTHING

    def finish(self, ts_ns: int) -> Result:
        """End of capture: held data after holes is delivered behind gaps; every connection closes."""
        out: list = self.take_flushed()
        for conn in sorted([*self._open.values(), *self._fast_open.values()], key=lambda c: c.conn_id):
            self._close(conn, CloseReason.END_OF_CAPTURE, "end_of_capture", None, ts_ns, out, linger=False)
        self._closed.clear()
        for key in list(self._fast_tombs):
            self._forget_tomb(key)
        self.flush_flows()
        return out or _NOTHING

    # --- the C fast path -----------------------------------------------------------------------------

    def attach_flows(self, flows_type: type | None) -> bool:
        """Build a C flows table (``smtpsniff.net.native.flows_type()``) for the record cutter.

        False (and nothing attached) without one, or when StreamData is no longer the plain slotted
        class the C code fills in.
        """
        if self._flows is not None:
            return True
        if flows_type is None or hasattr(StreamData, "__post_init__"):
            return False
        if [f.name for f in fields(StreamData)] != list(_DATA_FIELDS):
            return False
        try:
            self._flows = flows_type(
                StreamData, _C2S, _S2C, self._ctx.retain, self._ctx.retain_trim,
                self.limits.connection_idle_timeout_ns, self.limits.closed_linger_ns,
                StreamChunks, RECORDED_CHUNK_PARTS, RECORDED_CHUNK_BYTES,
            )
        except TypeError:
            return False
        return True

    def flows_for_chunk(self, max_records: int):  # type: ignore[no-untyped-def]
        """Before the cutter's next chunk (of at most ``max_records`` records): hand over the
        connections that qualify; the flows table, or None when it is not to be used.

        Close to ``Limits.max_connections`` the table is emptied and unused: evicting the least
        recently active connection needs every connection's activity here.  Tombs are made and used
        only in chunks that cannot fill the lingering closed connections up to that limit: one closes
        at most per record, and past the limit the oldest is forgotten here, which C, running ahead,
        would not know.
        """
        flows = self._flows
        if flows is None:
            return None
        candidates = self._candidates
        if len(self._open) + len(self._fast_open) + max_records >= self.limits.max_connections:
            candidates.clear()
            self._pull_all()
            return None
        open_ = self._open
        for conn in candidates:
            if conn.fast is None and open_.get(conn.key) is conn and _qualifies(conn):
                self._hand_over(conn)
        candidates.clear()
        flows.tombs_enabled = len(self._closed) + max_records <= self.limits.max_connections
        return flows

    def flush_flows(self) -> None:
        """Add what the flows table counted to ``stats``."""
        if self._flows is not None:
            segments, delivered, ignored, late = self._flows.counters()
            stats = self.stats
            stats.segments += segments
            stats.bytes_delivered += delivered
            stats.ignored_packets += ignored
            stats.late_packets += late

    def drop_ignored_data(self, data: StreamData) -> None:
        """``data`` was built in C for a record after its connection was ignored: undo its counts."""
        conn = self._fast_open[self._ids[data.conn_id]]
        n = len(data.data)
        (conn.c2s if data.direction is _C2S else conn.s2c).delivered -= n
        self.stats.bytes_delivered -= n
        self.stats.ignored_packets += 1

    def fast_fin(self, conn: _Conn, side: int, offset: int, frame: int, ts: int, closes: bool) -> Result:
        """A FIN the flows table took for ``conn`` (``side`` 0: the client's), what ``feed`` does with it.

        The table takes a FIN without data at the next expected byte of a direction without one, with
        an ACK that acknowledges nothing unseen: ``_slow`` would set that direction's FIN at ``offset``
        (every byte before it delivered) and, when the other direction's FIN is done too
        (``closes``), close the connection.  If the connection was ignored since the table took the
        FIN, it is counted as ``_ignored_packet`` counts one (the table closes only when the other
        side's FIN came first, which is then in ``conn.fins`` too).
        """
        if conn.ignored:
            self.stats.ignored_packets += 1
            conn.fins |= 1 if side == 0 else 2
            if conn.fins != 3:
                return _NOTHING
        elif side == 0:
            conn.c2s.fin_off = offset
        else:
            conn.s2c.fin_off = offset
        if not closes and not conn.ignored:
            return _NOTHING
        out: list = []
        self._close(conn, CloseReason.FIN, "close", frame, ts, out, linger=True)
        return out

    def _forget_tomb(self, key: Key) -> None:
        """``key`` is no longer a lingering closed connection here: nor in the flows table."""
        handle = self._fast_tombs.pop(key, None)
        if handle is not None:
            self._flows.drop_tomb(handle)  # type: ignore[union-attr]

    def _hand_over(self, conn: _Conn) -> None:
        key = conn.key
        if conn.lo_is_client:
            cip, cport, sip, sport = key
        else:
            sip, sport, cip, cport = key
        c, s = conn.c2s, conn.s2c
        try:
            conn.fast = self._flows.add(  # type: ignore[union-attr]
                conn, conn.conn_id, conn.ignored, cip, cport, sip, sport,
                c.nxt, c.nxt_seq, c.recent, c.fin_off is not None, s.nxt, s.nxt_seq, s.recent, s.fin_off is not None,
                conn.last_ts, conn.last_frame, conn.recorded,
            )
        except ValueError:  # an address the C code cannot parse: stays here
            return
        del self._open[key]
        self._fast_open[key] = conn

    def _pull(self, conn: _Conn, closing: bool = False) -> StreamChunks | None:
        """Take ``conn``'s state back from the flows table; it becomes the most recent in ``_open``.

        ``closing``: it is about to be closed, which drops its streams' windows of recent bytes
        unread: the table does not write them (they may have been emptied since the hand-over).
        Returns the recorded deliveries the table still kept (see :meth:`record`), the caller's to
        give out before any later event of the connection, or None.
        """
        handle = conn.fast
        last_ts, last_frame, packets, c_nxt, c_seq, c_delivered, s_nxt, s_seq, s_delivered, tomb, chunks = (
            self._flows.pull(handle, closing)  # type: ignore[union-attr]
        )
        if tomb:  # closed in C at a FIN (fast_fin): its tomb stays there while it lingers here
            self._fast_tombs[conn.key] = handle  # type: ignore[assignment]
        conn.fast = None
        conn.last_ts = last_ts
        conn.last_frame = last_frame
        conn.packets += packets
        c, s = conn.c2s, conn.s2c
        c.nxt, c.nxt_seq = c_nxt, c_seq
        c.delivered += c_delivered
        s.nxt, s.nxt_seq = s_nxt, s_seq
        s.delivered += s_delivered
        self.ignored_in_flows.discard(conn.conn_id)
        key = conn.key
        del self._fast_open[key]
        self._open[key] = conn
        return chunks

    def _pull_all(self) -> None:
        """Take every connection back from the flows table (their recorded deliveries to ``flushed``)."""
        if not self._fast_open:
            return
        for conn in list(self._fast_open.values()):
            chunks = self._pull(conn)
            if chunks is not None:
                self.flushed.append(chunks)
        self._open = OrderedDict(sorted(self._open.items(), key=lambda item: item[1].last_frame))


#: StreamData's fields in the order the C code fills them (new_stream_data's order).
_DATA_FIELDS = ("conn_id", "direction", "offset", "data", "ts_ns", "frame", "frames")


_last_frame = attrgetter("last_frame")

#: ``reason.value`` of each CloseReason (the keys of ReassemblyStats.closed), without the Enum property.
_REASON_NAMES = {reason: reason.value for reason in CloseReason}

#: What the C flows table puts in a batch in place of a pure ACK it took: the connection's state
#: object (the batch loop only reads its ``ignored`` flag).
ConnectionState = _Conn


def _qualifies(conn: _Conn) -> bool:
    """Established with nothing pending (or ignored): what the C flows table can carry on with.

    One direction may have ended with a FIN, every byte before it delivered (a half-close: the
    other side may still send, and ACKs of that FIN change nothing).
    """
    if conn.ignored:
        return True
    c, s = conn.c2s, conn.s2c
    if c.base is None or s.base is None or c.held or s.held or c.ack_hole is not None or s.ack_hole is not None:
        return False
    c_fin, s_fin = c.fin_off, s.fin_off
    if c_fin is None:
        return s_fin is None or s.nxt >= s_fin
    return s_fin is None and c.nxt >= c_fin
