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
from .net.decode import PacketDecoder
from .net.segment import TcpSegment
from .reassembly.events import StreamEvent
from .reassembly.table import SMTP_PORTS, TcpReassembler

#: Frames between two idle-connection sweeps (capture time decides what is idle).
EXPIRE_EVERY_FRAMES = 4096

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

    def finish(self) -> list[StreamEvent | Anomaly]:
        """End of input: report incomplete fragments, flush held data as gaps, close everything."""
        self.decoder.finish()
        return list(self.reassembler.finish(self.last_ts_ns))

    def anomalies(self) -> list[Anomaly]:
        """Net-layer anomalies (the reassembler's come through the event stream)."""
        return list(self.decoder.anomalies)


def stream_events(frames: Iterable[Frame], pipeline: StreamPipeline) -> Iterator[StreamEvent | Anomaly]:
    """Every stream event of ``frames`` in capture order, then the end-of-input flush."""
    feed = pipeline.feed
    for frame in frames:
        events = feed(frame)
        if events:
            yield from events
    yield from pipeline.finish()
