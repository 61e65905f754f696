"""Frames to reassembled TCP streams: the net layer and the reassembler wired together.

``StreamPipeline`` is the one object both the offline path (capture files) and the live path
(an interface) feed frames into; it returns stream events in capture order.  It does no I/O:
callers bring frames from a :mod:`smtpsniff.capture` source.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from .anomaly import Anomaly
from .capture.frame import Frame
from .limits import DEFAULT_LIMITS, Limits
from .net import native
from .net.decode import PacketDecoder
from .net.segment import TcpSegment
from .reassembly.events import StreamChunks, StreamData, StreamEvent
from .reassembly.table import SMTP_PORTS, ConnectionState, TcpReassembler

#: Frames between two idle-connection sweeps (capture time decides what is idle).
EXPIRE_EVERY_FRAMES = 4096

#: Records per call of the C cutter while the reassembler's flows table is in use: connections the
#: reassembler hands over between calls are handled in C from the next call on.
FAST_CHUNK_RECORDS = 512

_NOTHING: tuple = ()


class StreamPipeline:
    """Decode frames to TCP segments and reassemble them into per-direction byte streams."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, server_ports: frozenset[int] = SMTP_PORTS) -> None:
        self.limits = limits
        self.decoder = PacketDecoder(limits)
        self.reassembler = TcpReassembler(limits, server_ports=server_ports)
        self.last_ts_ns = 0
        self._until_expire = EXPIRE_EVERY_FRAMES

    def feed(self, frame: Frame) -> list[StreamEvent | Anomaly] | tuple:
        """One frame in, the stream events it completes out (often none)."""
        self.last_ts_ns = frame.ts_ns
        self._until_expire -= 1
        expired: list[StreamEvent | Anomaly] | tuple = _NOTHING
        if self._until_expire <= 0:
            self._until_expire = EXPIRE_EVERY_FRAMES
            self.decoder.expire(frame.ts_ns)
            expired = self.reassembler.expire(frame.ts_ns)
        seg = self.decoder.decode(frame)
        if type(seg) is not TcpSegment:
            return expired
        events = self.reassembler.feed(seg)
        if expired:
            return [*expired, *events]
        return events

    def decoded_batches(self, frames: Iterable[Frame]) -> Iterator[native.DecodedBatch] | None:
        """When ``frames`` is a classic pcap reader not yet iterated and the C fast path is enabled,
        its records as batches of segments decoded in C (for :meth:`feed_batch`); else ``None``."""
        cut_batches = getattr(frames, "cut_batches", None)
        if cut_batches is None:
            return None
        fast = self._fast_args if self.reassembler.attach_flows(native.flows_type()) else None
        make_cut = native.pcap_cutter(self.decoder, fast)
        if make_cut is None:
            return None
        return cut_batches(make_cut)

    def _fast_args(self, max_records: int) -> tuple | None:
        """For the C cutter, before each chunk: the reassembler's flows table and the sweep schedule."""
        records = min(max_records, FAST_CHUNK_RECORDS)
        flows = self.reassembler.flows_for_chunk(records)
        if flows is None:
            return None
        return flows, self._until_expire, EXPIRE_EVERY_FRAMES, records

    def feed_batch(self, batch: native.DecodedBatch) -> Iterator[StreamEvent | Anomaly]:
        """The records of one batch in, their events out one by one, in order (as ``feed`` gives them).

        Same events, expiry points and counts as feeding each record's frame to :meth:`feed`; frames
        the C code left undecoded go through this pipeline's :class:`PacketDecoder`, and what the
        reassembler's C flows table handled arrives as its StreamData already.  A record is fed only
        when the last event of the record before it has been taken (a consumer may tell the
        reassembler to ignore a connection on an event, and the next record sees it).  Consume the
        iterator fully before feeding anything else.  A connection the consumer had recorded
        (``TcpReassembler.record``) may deliver through StreamChunks, each standing for several
        StreamData of it.
        """
        items, tss, sweeps = batch
        n = len(items)
        reassembler = self.reassembler
        if reassembler.flushed:  # recorded deliveries taken back before this chunk was cut
            yield from reassembler.take_flushed()
        decode = self.decoder.decode
        reassemble = reassembler.feed
        ignored = reassembler.ignored_in_flows
        fast_fin = reassembler.fast_fin
        segment, frame_type, data_type, conn_type = TcpSegment, Frame, StreamData, ConnectionState
        chunks_type = StreamChunks
        idle_at = dict(sweeps) if sweeps else {}
        # The records run in parts between the idle sweeps; ``last_ts_ns`` is only read once the
        # batch is consumed (finish), so it is set at the sweeps and at the end, not per record.
        start = 0
        while True:
            sweep = start + self._until_expire - 1  # the record before which idle state is swept
            stop = min(sweep, n)
            for item in items[start:stop] if start or stop < n else items:
                t = type(item)
                if t is data_type:  # built by the flows table
                    if ignored and item.conn_id in ignored:
                        reassembler.drop_ignored_data(item)  # its connection was ignored since
                        continue
                    yield item  # most records: one StreamData, as is
                    continue
                if t is conn_type:  # a pure ACK the flows table took (the next commonest record)
                    if item.ignored:
                        reassembler.stats.ignored_packets += 1  # its connection was ignored since
                    continue
                if t is segment:
                    events = reassemble(item)
                elif t is tuple:  # a FIN the flows table took
                    events = fast_fin(*item)
                elif t is frame_type:
                    seg = decode(item)
                    if type(seg) is not segment:
                        continue
                    events = reassemble(seg)
                elif t is chunks_type:  # a recorded connection's deliveries the flows table handed out
                    yield item
                    continue
                else:  # a Skip (already counted), an ignored or late packet, or a recorded delivery kept
                    continue
                if events:
                    yield from events
            if sweep >= n:
                self._until_expire -= n - start
                break
            # the sweep, then the record at ``sweep`` opens the next part (counted in its period)
            self._until_expire = EXPIRE_EVERY_FRAMES + 1
            ts = self.last_ts_ns = tss[sweep]
            self.decoder.expire(ts)
            expired = reassembler.expire(ts, idle_at.get(sweep, ()))
            if expired:
                yield from expired
            start = sweep
        if n:
            self.last_ts_ns = tss[n - 1]
        reassembler.flush_flows()

    def finish(self) -> list[StreamEvent | Anomaly]:
        """End of input: report incomplete fragments, flush held data as gaps, close everything."""
        self.decoder.finish()
        return list(self.reassembler.finish(self.last_ts_ns))

    def anomalies(self) -> list[Anomaly]:
        """Net-layer anomalies (the reassembler's come through the event stream)."""
        return list(self.decoder.anomalies)


def stream_events(frames: Iterable[Frame], pipeline: StreamPipeline) -> Iterator[StreamEvent | Anomaly]:
    """Every stream event of ``frames`` in capture order, then the end-of-input flush."""
    batches = pipeline.decoded_batches(frames)
    if batches is None:
        feed = pipeline.feed
        for frame in frames:
            events = feed(frame)
            if events:
                yield from events
    else:
        feed_batch = pipeline.feed_batch
        for batch in batches:
            yield from feed_batch(batch)
    yield from pipeline.finish()
