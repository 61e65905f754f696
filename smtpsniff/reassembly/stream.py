"""One direction of one TCP connection: sequence numbers in, ordered bytes and gaps out.

A :class:`Stream` turns the segments one endpoint sent into :class:`StreamData` (bytes in stream
order, each delivered once) and :class:`StreamGap` (bytes the capture never held, by length only;
never filled with invented bytes).  Offsets are 64-bit counts from the first byte of the direction,
so sequence-number wrap-around (RFC 9293 section 3.4, RFC 1982) is invisible above this module.

Policies, each a deliberate choice:

* Overlaps: the first copy of a byte wins (Wireshark's and Zeek's policy; Linux keeps the first
  copy too).  Identical re-sent bytes count as ``retransmitted_bytes``; different ones raise an
  ``overlap_mismatch`` anomaly naming their offset and length, a classic IDS-evasion sign
  (Ptacek & Newsham 1998).  Delivered bytes are compared against a bounded window of the most recent
  delivered bytes (``Limits.max_retained_bytes_per_direction``); older re-sent bytes cannot be checked
  and count as ``unverified_retransmitted_bytes``.
* Holes become gaps when the peer acknowledges beyond them (the receiver had bytes the capture
  missed; cause ``"ack"``; declared at the next sign the bytes are not just late in the capture:
  see :meth:`Stream.ack`), when held bytes or segments pass their limits (``"buffer_limit"``),
  when the connection ends (``"close"``/``"end_of_capture"``), or for bytes the snaplen cut from a
  captured segment (``"truncated"``).  Held data after a gap is delivered as usual.
* An acknowledgement exactly one past the delivered bytes, with nothing held and no FIN seen, is not
  taken as a 1-byte gap: it is what acknowledging an unseen FIN looks like.

This module knows nothing of connections tables, roles, SMTP, files or link layers; the table
(:mod:`smtpsniff.reassembly.table`) tells it where its stream starts and what arrived.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import compress, count
from operator import itemgetter, ne

from smtpsniff.anomaly import Anomaly, Layer
from smtpsniff.fastinit import slot_builder
from smtpsniff.limits import Limits
from smtpsniff.reassembly.events import Direction, StreamData, StreamGap
from smtpsniff.reassembly.seq import SEQ_HALF, SEQ_MASK

#: An acknowledgement further than this ahead of the delivered bytes is not believed: RFC 7323
#: caps the window at 2**30 bytes, so no receiver can have accepted more than that unseen.
MAX_ACK_AHEAD = 1 << 30

_OFF = itemgetter(0)


#: ``new_stream_data(conn_id, direction, offset, data, ts_ns, frame, frames) -> StreamData``
#: (the hot path builds one per data segment: slots written directly, see smtpsniff.fastinit)
new_stream_data = slot_builder(StreamData)
#: ``new_stream_gap(conn_id, direction, offset, length, ts_ns, frame, cause) -> StreamGap`` (the same way)
new_stream_gap = slot_builder(StreamGap)


@dataclass(slots=True)
class ReassemblyStats:
    """Counters of one :class:`~smtpsniff.reassembly.table.TcpReassembler` run; exact, never capped."""

    connections: int = 0
    #: CloseReason value -> connections closed for it
    closed: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    bytes_delivered: int = 0
    #: Re-sent bytes identical to the first copy.
    retransmitted_bytes: int = 0
    #: Re-sent bytes older than the retained window, or cut by the snaplen: not comparable.
    unverified_retransmitted_bytes: int = 0
    #: Re-sent bytes that differed from the first copy (which was kept).
    overlap_mismatch_bytes: int = 0
    gaps: int = 0
    gap_bytes: int = 0
    #: gap cause -> number of gaps
    gaps_by_cause: dict[str, int] = field(default_factory=dict)
    evicted: int = 0
    buffer_limit_hits: int = 0
    #: Packets of a closed connection within Limits.closed_linger_ns: dropped.
    late_packets: int = 0
    #: Packets of connections handed to TcpReassembler.ignore().
    ignored_packets: int = 0
    syn_retransmissions: int = 0
    #: Payload bytes dropped because they lay before offset 0 or past the FIN.
    dropped_bytes: int = 0
    #: anomaly kind -> occurrences (records past Limits.max_anomalies_per_kind are only counted)
    anomalies: dict[str, int] = field(default_factory=dict)


class StreamContext:
    """What every stream of one reassembler shares: limits (as plain ints), counters, anomaly cap."""

    __slots__ = ("stats", "max_bytes", "max_segments", "retain", "retain_trim", "anomaly_cap")

    def __init__(self, limits: Limits, stats: ReassemblyStats) -> None:
        self.stats = stats
        self.max_bytes = limits.max_buffered_bytes_per_direction
        self.max_segments = limits.max_buffered_segments_per_direction
        self.retain = limits.max_retained_bytes_per_direction
        # Trim the retained window only when it has doubled: one memmove per `retain` bytes.
        self.retain_trim = 2 * self.retain
        self.anomaly_cap = limits.max_anomalies_per_kind

    def anomaly(
        self, out: list, kind: str, message: str, conn_id: int | None, frame: int | None, ts_ns: int | None
    ) -> None:
        """Count an anomaly; append its record to ``out`` unless the per-kind cap is reached."""
        anomalies = self.stats.anomalies
        n = anomalies.get(kind, 0) + 1
        anomalies[kind] = n
        if n <= self.anomaly_cap:
            out.append(
                Anomaly(layer=Layer.TCP, kind=kind, message=message, ts_ns=ts_ns, frame=frame, conn_id=conn_id)
            )


def diff_span(a: bytes | bytearray, b: bytes | bytearray) -> tuple[int, int, int]:
    """``(first, last, count)`` of the indexes where equal-length ``a`` and ``b`` differ (C-speed loops)."""
    n = sum(map(ne, a, b))
    first = next(compress(count(), map(ne, a, b)))
    last = len(a) - 1 - next(compress(count(), map(ne, reversed(a), reversed(b))))
    return first, last, n


class Stream:
    """Reassembly state of one direction.

    ``held`` is a list of non-overlapping pieces ``(offset, end, data, frame, ts_ns)`` sorted by
    offset, all at or past ``nxt``; ``data`` is ``None`` for bytes a snaplen cut (a gap-to-be).
    ``recent`` holds the last delivered bytes (ending at ``nxt``) for checking retransmissions.
    """

    __slots__ = (
        "conn_id",
        "direction",
        "isn",
        "base",
        "nxt",
        "nxt_seq",
        "held",
        "held_bytes",
        "fin_off",
        "delivered",
        "gap_bytes",
        "recent",
        "ack_hole",
        "ctx",
    )

    def __init__(self, conn_id: int, direction: Direction, ctx: StreamContext) -> None:
        self.conn_id = conn_id
        self.direction = direction
        self.ctx = ctx
        #: Sequence number of the SYN, when seen.
        self.isn: int | None = None
        #: Sequence number of offset 0; None until the first packet of this direction (or the SYN).
        self.base: int | None = None
        #: Offset of the next byte to deliver: everything before it is delivered or a gap.
        self.nxt = 0
        #: ``(base + nxt) mod 2**32``, kept so the hot path compares 32-bit numbers directly.
        self.nxt_seq = 0
        self.held: list[tuple[int, int, bytes | None, int, int]] = []
        self.held_bytes = 0
        #: Offset of the FIN (== length of the stream), once seen.
        self.fin_off: int | None = None
        self.delivered = 0
        self.gap_bytes = 0
        self.recent: bytearray | None = bytearray() if ctx.retain > 0 else None
        #: Offset the peer has acknowledged past a hole, not yet declared a gap (see ``ack``).
        self.ack_hole: int | None = None

    # --- setup ---------------------------------------------------------------------------------

    def start(self, seq0: int, isn: int | None = None) -> None:
        """Offset 0 is sequence number ``seq0`` (ISN + 1 when the SYN was seen, RFC 9293 3.4)."""
        self.base = seq0 & SEQ_MASK
        self.nxt_seq = self.base
        if isn is not None:
            self.isn = isn

    @property
    def done(self) -> bool:
        """The FIN was seen and every byte before it was delivered or reported as a gap."""
        return self.fin_off is not None and self.nxt >= self.fin_off

    def offset(self, seq: int) -> int:
        """64-bit stream offset of 32-bit ``seq``: the one nearest the next expected byte (RFC 1982)."""
        return self.nxt + (((seq - self.nxt_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)

    def release(self) -> None:
        """Drop every buffer (for ignored connections); counters stay."""
        self.held = []
        self.held_bytes = 0
        self.recent = None

    # --- input ---------------------------------------------------------------------------------

    def segment(
        self, seq: int, payload: bytes, wire_len: int, fin: bool, frame: int, ts: int, out: list
    ) -> None:
        """A segment of this direction: ``payload`` (captured bytes of ``wire_len``) at ``seq``."""
        ctx = self.ctx
        off = self.offset(seq)
        n = len(payload)
        end = off + wire_len
        if fin:
            if self.fin_off is None:
                self.fin_off = end
            elif end != self.fin_off:
                ctx.anomaly(
                    out, "fin_moved",
                    f"{self.direction.value}: FIN at offset {end}, first FIN at {self.fin_off} kept",
                    self.conn_id, frame, ts,
                )
        lo, hi = off, end
        fo = self.fin_off
        if fo is not None and hi > fo:
            extra = hi - max(lo, fo)
            ctx.stats.dropped_bytes += extra
            ctx.anomaly(
                out, "data_after_fin",
                f"{self.direction.value}: {extra} bytes at offset {max(lo, fo)} past the FIN (offset {fo})",
                self.conn_id, frame, ts,
            )
            hi = fo
        if lo < 0:
            early = min(hi, 0) - lo
            if early > 0:
                ctx.stats.dropped_bytes += early
                ctx.anomaly(
                    out, "data_before_stream_start",
                    f"{self.direction.value}: {early} bytes before the first byte of the stream",
                    self.conn_id, frame, ts,
                )
            lo = 0
        if hi <= lo:
            return
        data_end = off + n
        if lo < data_end:
            d_hi = min(data_end, hi)
            if lo < d_hi:
                data = payload if (lo == off and d_hi == data_end) else payload[lo - off : d_hi - off]
                self._piece(lo, d_hi, data, frame, ts, out)
        m_lo = max(data_end, lo)
        if m_lo < hi:
            self._piece(m_lo, hi, None, frame, ts, out)

    def ack(self, ack_seq: int, frame: int, ts: int, out: list) -> None:
        """The peer acknowledged up to ``ack_seq``: bytes before it that we never saw will be a gap.

        The gap is declared by :meth:`resolve_ack`, which the table calls at the next sign that the
        missing bytes are not merely late in the capture: data from the peer, data of this direction
        at or past the acknowledged offset, a FIN/RST, or the end of the connection.  Captures do show
        an ACK before the data it acknowledges (merged interfaces, offloads); declaring the gap at the
        ACK would throw those captured bytes away.
        """
        if self.base is None:
            return
        d = ((ack_seq - self.nxt_seq + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
        if d <= 0:
            return
        stop = self.nxt + d
        fo = self.fin_off
        if fo is not None:
            if stop > fo:
                stop = fo  # the FIN takes one sequence number but is no data
            if stop <= self.nxt:
                return
        elif d == 1 and not self.held:
            return  # what acknowledging an unseen FIN looks like: not a 1-byte gap
        if d > MAX_ACK_AHEAD:
            self.ctx.anomaly(
                out, "ack_beyond_window",
                f"{self.direction.value}: acknowledgement {d} bytes past the data seen",
                self.conn_id, frame, ts,
            )
            return
        if self.ack_hole is None or stop > self.ack_hole:
            self.ack_hole = stop
        if fo is not None and stop >= fo:
            self.resolve_ack(frame, ts, out)  # everything up to the FIN acknowledged: nothing more to wait for

    def resolve_ack(self, frame: int, ts: int, out: list) -> None:
        """Declare the holes below the acknowledged offset as gaps (cause ``"ack"``)."""
        stop = self.ack_hole
        self.ack_hole = None
        if stop is not None and stop > self.nxt:
            self._fill_to(stop, "ack", frame, ts, out)

    def close(self, cause: str, frame: int, ts: int, out: list) -> None:
        """The connection ends: every hole before held data or before the FIN becomes a gap."""
        if self.ack_hole is not None:
            self.resolve_ack(frame, ts, out)
        if self.held:
            self._fill_to(self.held[-1][1], cause, frame, ts, out)
        fo = self.fin_off
        if fo is not None and self.nxt < fo:
            self._gap(fo - self.nxt, cause, frame, ts, out)
        self.release()

    # --- internals -----------------------------------------------------------------------------

    def _piece(self, off: int, end: int, data: bytes | None, frame: int, ts: int, out: list) -> None:
        nxt = self.nxt
        if off < nxt:
            old_end = end if end < nxt else nxt
            self._old(off, old_end, None if data is None else data[: old_end - off], frame, ts, out)
            if end <= nxt:
                return
            if data is not None:
                data = data[nxt - off :]
            off = nxt
        if off == nxt and not self.held:
            if data is None:
                self._gap(end - off, "truncated", frame, ts, out)
            else:
                self._deliver(data, frame, ts, (frame,), out)
            return
        self._hold(off, end, data, frame, ts, out)
        self._drain(out)
        ctx = self.ctx
        if self.held_bytes > ctx.max_bytes or len(self.held) > ctx.max_segments:
            self._enforce_limits(frame, ts, out)

    def _old(self, off: int, end: int, data: bytes | None, frame: int, ts: int, out: list) -> None:
        """Bytes ``[off, end)`` were already delivered (or gapped): compare with what we kept."""
        stats = self.ctx.stats
        r = self.recent
        if data is None or r is None:
            stats.unverified_retransmitted_bytes += end - off
            return
        r_start = self.nxt - len(r)
        a = off if off > r_start else r_start
        if a > off:
            stats.unverified_retransmitted_bytes += min(a, end) - off
        if a >= end:
            return
        kept = r[a - r_start : end - r_start]
        new = data[a - off :]
        if kept == new:
            stats.retransmitted_bytes += end - a
        else:
            self._mismatch(a, kept, new, frame, ts, out)

    def _mismatch(self, at: int, kept: bytes | bytearray, new: bytes, frame: int, ts: int, out: list) -> None:
        first, last, n = diff_span(kept, new)
        stats = self.ctx.stats
        stats.overlap_mismatch_bytes += n
        stats.retransmitted_bytes += len(kept) - n
        self.ctx.anomaly(
            out, "overlap_mismatch",
            f"{self.direction.value}: offset {at + first} length {last - first + 1}: re-sent bytes differ "
            f"from the first copy ({n} bytes differ; first copy kept)",
            self.conn_id, frame, ts,
        )

    def _hold(self, off: int, end: int, data: bytes | None, frame: int, ts: int, out: list) -> None:
        """Insert ``[off, end)`` among the held pieces, filling only what no earlier piece covers."""
        held = self.held
        i = bisect_right(held, off, key=_OFF)
        if i and held[i - 1][1] > off:
            i -= 1
        j = i
        cur = off
        merged: list[tuple[int, int, bytes | None, int, int]] = []
        added = 0
        n_held = len(held)
        while j < n_held:
            h = held[j]
            h_off, h_end = h[0], h[1]
            if h_off >= end:
                break
            if h_off > cur:
                piece = None if data is None else data[cur - off : h_off - off]
                merged.append((cur, h_off, piece, frame, ts))
                if piece is not None:
                    added += len(piece)
            a = cur if cur > h_off else h_off
            b = end if end < h_end else h_end
            if a < b:
                self._compare_held(a, b, h, data, off, frame, ts, out)
            merged.append(h)
            if h_end > cur:
                cur = h_end
            j += 1
        if cur < end:
            piece = None if data is None else (data if cur == off else data[cur - off :])
            merged.append((cur, end, piece, frame, ts))
            if piece is not None:
                added += len(piece)
        held[i:j] = merged
        self.held_bytes += added

    def _compare_held(
        self, a: int, b: int, h: tuple, data: bytes | None, off: int, frame: int, ts: int, out: list
    ) -> None:
        stats = self.ctx.stats
        kept_all = h[2]
        if kept_all is None or data is None:
            stats.unverified_retransmitted_bytes += b - a
            return
        kept = kept_all[a - h[0] : b - h[0]]
        new = data[a - off : b - off]
        if kept == new:
            stats.retransmitted_bytes += b - a
        else:
            self._mismatch(a, kept, new, frame, ts, out)

    def _drain(self, out: list) -> None:
        """Deliver the held pieces that now start at ``nxt``, coalescing contiguous data pieces."""
        held = self.held
        n_held = len(held)
        k = 0
        while k < n_held and held[k][0] == self.nxt:
            first = held[k]
            if first[2] is None:
                self._gap(first[1] - first[0], "truncated", first[3], first[4], out)
                k += 1
                continue
            start = k
            pos = first[1]
            k += 1
            while k < n_held and held[k][0] == pos and held[k][2] is not None:
                pos = held[k][1]
                k += 1
            if k - start == 1:
                data = first[2]
                frames: tuple[int, ...] = (first[3],)
            else:
                run = held[start:k]
                data = b"".join([p[2] for p in run])  # type: ignore[misc]
                frames = tuple(dict.fromkeys([p[3] for p in run]))
            self.held_bytes -= len(data)
            self._deliver(data, first[3], first[4], frames, out)
        if k:
            del held[:k]

    def _fill_to(self, stop: int, cause: str, frame: int, ts: int, out: list) -> None:
        """Gap every hole before ``stop``, delivering the held data between the holes."""
        while self.nxt < stop:
            held = self.held
            s = stop if not held or held[0][0] > stop else held[0][0]
            if s > self.nxt:
                self._gap(s - self.nxt, cause, frame, ts, out)
            self._drain(out)

    def _enforce_limits(self, frame: int, ts: int, out: list) -> None:
        ctx = self.ctx
        ctx.stats.buffer_limit_hits += 1
        ctx.anomaly(
            out, "buffer_limit",
            f"{self.direction.value}: {self.held_bytes} bytes in {len(self.held)} segments held behind a hole "
            f"at offset {self.nxt} (limits {ctx.max_bytes} bytes, {ctx.max_segments} segments)",
            self.conn_id, frame, ts,
        )
        held = self.held
        while held and (self.held_bytes > ctx.max_bytes or len(held) > ctx.max_segments):
            self._fill_to(held[0][0], "buffer_limit", frame, ts, out)

    def _deliver(self, data: bytes, frame: int, ts: int, frames: tuple[int, ...], out: list) -> None:
        n = len(data)
        out.append(new_stream_data(self.conn_id, self.direction, self.nxt, data, ts, frame, frames))
        self.nxt += n
        self.nxt_seq = (self.nxt_seq + n) & SEQ_MASK
        self.delivered += n
        self.ctx.stats.bytes_delivered += n
        r = self.recent
        if r is not None:
            r += data
            if len(r) > self.ctx.retain_trim:
                del r[: len(r) - self.ctx.retain]

    def _gap(self, length: int, cause: str, frame: int, ts: int, out: list) -> None:
        out.append(
            new_stream_gap(
                conn_id=self.conn_id, direction=self.direction, offset=self.nxt, length=length,
                ts_ns=ts, frame=frame, cause=cause,
            )
        )
        self.nxt += length
        self.nxt_seq = (self.nxt_seq + length) & SEQ_MASK
        self.gap_bytes += length
        stats = self.ctx.stats
        stats.gaps += 1
        stats.gap_bytes += length
        stats.gaps_by_cause[cause] = stats.gaps_by_cause.get(cause, 0) + 1
        if self.recent is not None:
            self.recent.clear()  # retained bytes must end at nxt and be real bytes
