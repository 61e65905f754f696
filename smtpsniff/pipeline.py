"""The one place that wires a frame source to SMTP records.

frames -> :class:`~smtpsniff.streams.StreamPipeline` (net + TCP reassembly) -> which connections
speak SMTP -> one :class:`~smtpsniff.smtp.conversation.SmtpConversation` and one
:class:`~smtpsniff.records.builder.SessionBuilder` per SMTP connection -> :class:`AnalysisResult`.

The offline path (capture files) and the live path (an interface) both feed ``SmtpPipeline.feed``;
finished sessions can be handed to a callback the moment their connection closes.  No I/O here.
"""
from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import chain

from .anomaly import Anomaly, Layer
from .capture.frame import Frame
from .limits import DEFAULT_LIMITS, Limits
from .net import native
from .proxy import NEED_MORE, Preamble, parse_preamble
from .reassembly.events import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    StreamChunks,
    StreamData,
    StreamGap,
)
from .reassembly.table import SMTP_PORTS
from .records.builder import SessionBuilder, SessionRecords, SharedValues, add_events
from .smtp.conversation import SmtpConversation, chunk_feeder
from .streams import StreamPipeline

#: Port of SMTP over implicit TLS ("submissions", RFC 8314 section 7.3).
IMPLICIT_TLS_PORTS = frozenset({465})

# RFC 5321 4.2: a greeting is "220" then SP, "-" or the end of the line.
_GREETING = re.compile(rb"220(?:[ -]|\r?\n)")
# RFC 5321 4.1.1.1: the client opens with EHLO or HELO (case-insensitive, 2.4).
_HELLO = re.compile(rb"(?i:EHLO|HELO)[ \r\n]")


@contextmanager
def collector_paused(*, kept: bool = False) -> Iterator[None]:
    """Hold CPython's cyclic garbage collector while a whole capture is turned into records.

    An offline run allocates millions of container objects and keeps most of them (events, rows,
    parsed messages).  The collector starts a pass every few hundred allocations and, as the kept
    heap grows, full passes over all of it: a third of the CPU time of a large capture, for almost
    no garbage -- records are freed by reference counting, cycles are rare (a few thousand objects
    on a million packets).  Mercurial holds the collector the same way around its bulk parsers
    (``util.nogc``).  Nested use is harmless; a collector the caller disabled stays disabled, and
    it is enabled again however the block ends.  The live path's frame-by-frame ``feed`` does not
    hold it (only its table builds do).

    ``kept=True`` (what ``smtpsniff.read`` returns is kept by its caller): on the way out,
    everything the block allocated goes straight to the collector's oldest generation, where the
    young generations' passes no longer walk it -- without this, the first young pass after the
    block walks every object allocated in it (a second or so on a million packets) and the next
    one again, to find next to nothing.  Those objects stay tracked: the collector's next full
    pass, due by its own rule, still finds any cycle among them.  This goes through
    ``gc.freeze()`` then ``gc.unfreeze()`` (each moves whole generation lists, without walking
    them), so it is skipped when someone else froze objects (``gc.get_freeze_count()``), whose
    freeze must hold.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if kept and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


#: Events an open SMTP session gathers before they go to its builder (see :class:`_Session`): few
#: enough that a long live session does not hold every event beside every row built from them,
#: many enough that the builder is called once for thousands of them.
PENDING_EVENTS = 4096


class _Session:
    """One SMTP connection's decoder and record builder (with the two methods every data event calls).

    The decoder's events wait in ``pending`` and go to the builder in one
    :meth:`SessionBuilder.add_all <smtpsniff.records.builder.SessionBuilder.add_all>` (``add``: what
    :func:`~smtpsniff.records.builder.add_events` gave, which may be its C version) when
    :data:`PENDING_EVENTS` have gathered (:meth:`hand_over`) and when the connection closes: the
    builder's state is read only by its ``finish``, so it builds the same records from the same
    events in the same order, for one call per batch instead of one per data event.  A long session
    thus holds at most about :data:`PENDING_EVENTS` events beside the rows built from the earlier
    ones, instead of all its events next to all its rows at close.

    ``client`` and ``server`` are the decoder's ``feed_client`` and ``feed_server``: a data event's
    events go straight into ``pending`` (the connection is open while it is in the pipeline's table).
    ``chunks``, when set, feeds them a StreamChunks' deliveries at once (see
    :func:`~smtpsniff.smtp.conversation.chunk_feeder`).
    """

    __slots__ = ("conversation", "builder", "add", "chunks", "client", "server", "pending", "queue")

    def __init__(self, conversation: SmtpConversation, builder: SessionBuilder,
                 add: Callable[[SessionBuilder, list], None], chunks: Callable[..., None] | None = None) -> None:
        self.conversation = conversation
        self.builder = builder
        self.add = add
        self.chunks = chunks
        self.client = conversation.feed_client
        self.server = conversation.feed_server
        self.pending: list = []
        self.queue = self.pending.extend  # events wait here for hand_over

    def hand_over(self) -> None:
        """Give the waiting events to the builder."""
        self.add(self.builder, self.pending)
        self.pending.clear()

    def finish(self, closed: ConnectionClosed) -> SessionRecords:
        """The session's records once its connection closed."""
        conversation = self.conversation
        self.pending.extend(conversation.close(closed.ts_ns))
        self.hand_over()
        return self.builder.finish(closed, tls_bytes_c2s=conversation.tls_bytes_c2s,
                                   tls_bytes_s2c=conversation.tls_bytes_s2c)


def new_session(opened: ConnectionOpened, detected_by: str, limits: Limits, shared: SharedValues | None,
                c_readers) -> _Session:
    """The decoder and record builder of an SMTP connection that just opened.

    ``c_readers``: what :func:`smtpsniff.net.native.smtp_functions` gave (None: the C fast path is
    off), for the decoder; the recorded deliveries (:func:`chunk_feeder`) and the builder's events
    (:func:`add_events`) then go through C too."""
    implicit = opened.server.port in IMPLICIT_TLS_PORTS
    conversation = SmtpConversation(limits=limits, implicit_tls=implicit, midstream=not opened.handshake_seen,
                                    c_readers=c_readers)
    builder = SessionBuilder(opened, detected_by=detected_by, implicit_tls=implicit, shared=shared)
    native = c_readers is not None
    return _Session(conversation, builder, add_events(native), chunk_feeder(native))


_C2S = Direction.CLIENT_TO_SERVER

# The operations a recorded session keeps, replayed in order by replay().
_FEED_CLIENT, _FEED_SERVER, _RECEIVE, _GAP, _ANOMALY, _CHUNKS = range(6)


class _RecordedSession:
    """An SMTP connection whose decoding is left to another process (see :class:`SessionOffload`).

    It keeps, in order, every call the pipeline would make on a :class:`_Session` -- a data event
    fed in the usual way (``client``/``server``), a data event of another path, a gap, an
    anomaly -- and at close hands them as a :class:`SessionJob` to the offload; :func:`replay`
    makes the same calls on a real :class:`_Session`, so the records are the same.  ``pending``
    stays empty: the pipeline's loop hands nothing over for it.  Past ``most`` octets of data
    (:attr:`~smtpsniff.limits.Limits.max_offload_bytes`) it calls ``overflow``: the pipeline then
    decodes the session itself.
    """

    __slots__ = ("opened", "detected_by", "ops", "size", "most", "pending", "overflow")

    def __init__(self, opened: ConnectionOpened, detected_by: str, most: int,
                 overflow: Callable[[_RecordedSession], None]) -> None:
        self.opened = opened
        self.detected_by = detected_by
        self.ops: list[tuple] = []
        self.size = 0
        self.most = most
        self.pending: list = []
        self.overflow = overflow

    def record(self, op: tuple, size: int = 0) -> None:
        self.ops.append(op)
        if size:
            self.size += size
            if self.size > self.most:
                self.overflow(self)

    # record() of a data event, inline: the calls every data event makes.
    def client(self, data: bytes, pos: int, ts_ns: int, frame: int, out: list) -> None:
        self.ops.append((_FEED_CLIENT, data, ts_ns, frame))
        self.size += len(data)
        if self.size > self.most:
            self.overflow(self)

    def server(self, data: bytes, pos: int, ts_ns: int, frame: int, out: list) -> None:
        self.ops.append((_FEED_SERVER, data, ts_ns, frame))
        self.size += len(data)
        if self.size > self.most:
            self.overflow(self)


@dataclass(frozen=True, slots=True)
class SessionJob:
    """Everything that decides a session's records: what :func:`replay` needs, and nothing else."""

    opened: ConnectionOpened
    detected_by: str
    ops: tuple[tuple, ...]
    closed: ConnectionClosed


def replay(job: SessionJob, limits: Limits, shared: SharedValues | None, c_readers) -> SessionRecords:
    """The records of a recorded session: its calls made again, in order, on a new session."""
    session = new_session(job.opened, job.detected_by, limits, shared, c_readers)
    _replay_ops(session, job.ops)
    return session.finish(job.closed)


def _replay_ops(session: _Session, ops: Iterable[tuple]) -> None:
    conversation, pending = session.conversation, session.pending
    for op in ops:
        kind = op[0]
        if kind == _FEED_CLIENT:
            session.client(op[1], 0, op[2], op[3], pending)
        elif kind == _FEED_SERVER:
            session.server(op[1], 0, op[2], op[3], pending)
        elif kind == _RECEIVE:
            pending.extend(conversation.receive(op[1], op[2], op[3], op[4]))
        elif kind == _GAP:
            pending.extend(conversation.gap(op[1], op[2], op[3], op[4]))
        elif kind == _CHUNKS:
            _feed_chunks(session, op[1])
            continue
        else:
            pending.append(op[1])
        if len(pending) >= PENDING_EVENTS:
            session.hand_over()


def _feed_chunks(session: _Session, chunks: StreamChunks) -> None:
    """Each delivery of ``chunks`` fed as the pipeline's loop feeds a StreamData."""
    if session.chunks is not None:
        session.chunks(session.conversation, chunks.directions, chunks.parts, chunks.times, session.pending,
                       PENDING_EVENTS, session.hand_over)
        return
    client, server, pending = session.client, session.server, session.pending
    for direction, data, ts_ns, frame in chunks.deliveries():
        if direction is _C2S:
            client(data, 0, ts_ns, frame, pending)
        else:
            server(data, 0, ts_ns, frame, pending)
        if len(pending) >= PENDING_EVENTS:
            session.hand_over()


class SessionOffload:
    """Where a pipeline sends the sessions it records (see :class:`_RecordedSession`).

    ``active()`` says whether a session opening now should be recorded; ``submit(job, deliver,
    size)`` takes a closed session's job (``size``: the octets of data it holds) and calls
    ``deliver(records)`` with its records, later or at once; ``drain()`` returns when every job
    submitted has been delivered.  The pipeline knows nothing else of it:
    :class:`smtpsniff.analysis.workers.Workers` is the one ``smtpsniff.read`` uses.
    """

    def active(self) -> bool:
        return False

    def submit(self, job: SessionJob, deliver: Callable[[SessionRecords], None], size: int) -> None:
        raise NotImplementedError

    def drain(self) -> None:
        pass


@dataclass(slots=True)
class _Probe:
    """A connection on another port, held until its first bytes show whether it speaks SMTP."""

    opened: ConnectionOpened
    events: list = field(default_factory=list)
    first: dict = field(default_factory=dict)  # Direction -> first bytes (up to max_probe_bytes)
    held: int = 0
    tunnel: Preamble | None = None  # an HTTP CONNECT or SOCKS handshake the SMTP comes after


@dataclass(slots=True)
class AnalysisResult:
    sessions: list[SessionRecords] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)  # not tied to an SMTP session
    smtp_packets: int = 0
    tcp_connections: int = 0


class SmtpPipeline:
    """Frames in, SMTP session records out."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, smtp_ports: frozenset[int] = SMTP_PORTS,
                 detect_other_ports: bool = True,
                 on_session: Callable[[SessionRecords], None] | None = None, keep_sessions: bool = True,
                 offload: SessionOffload | None = None) -> None:
        self.limits = limits
        #: False: finished sessions go only to ``on_session`` (a live run must not hold them all).
        self.keep_sessions = keep_sessions
        self.smtp_ports = smtp_ports
        self.detect_other_ports = detect_other_ports
        self.streams = StreamPipeline(limits, server_ports=smtp_ports)
        self.result = AnalysisResult()
        self._sessions: dict[int, _Session] = {}
        self._probes: dict[int, _Probe] = {}
        self._on_session = on_session
        #: The SMTP decoder's C readers, asked once for every conversation of this pipeline.
        self._c_readers = native.smtp_functions()
        #: The values the builders of kept sessions share; None when sessions are not kept, as it
        #: would hold each distinct reply text and capability list of a live run.
        self._shared = SharedValues() if keep_sessions else None
        #: Where sessions are decoded when it is active (the records come back through _finished).
        self._offload = offload

    # -- input ----------------------------------------------------------------------------------
    def feed(self, frame: Frame) -> None:
        events = self.streams.feed(frame)
        if events:
            self._dispatch(events)

    def feed_all(self, frames: Iterable[Frame]) -> AnalysisResult:
        """Every frame of an offline source, then :meth:`finish` (the collector held meanwhile)."""
        with collector_paused():
            return self._feed_all(frames)

    def _feed_all(self, frames: Iterable[Frame]) -> AnalysisResult:
        # One dispatch call for many frames: the stream layer gives an event list per frame (mostly
        # one event, often none), and chain pulls each list only once every event before it has been
        # dispatched -- so a frame is fed only after the previous frame's events took effect (a probe
        # that tells the reassembler to ignore its connection), as a loop over the frames would;
        # feed_batch gives its events one by one under the same rule.
        dispatch = self._dispatch
        batches = self.streams.decoded_batches(frames)  # classic pcap with the C fast path
        if batches is not None:
            feed_batch = self.streams.feed_batch
            for batch in batches:
                dispatch(feed_batch(batch))
            return self.finish()
        dispatch(chain.from_iterable(map(self.streams.feed, frames)))
        return self.finish()

    def tick(self, now_ns: int) -> None:
        """Expire what has been idle too long at ``now_ns``, a wall-clock time for a live capture.

        Capture time expires idle connections every few thousand frames; on a quiet interface no
        frame comes, so the live path calls this on a timer and idle sessions still finish.
        """
        self.streams.decoder.expire(now_ns)
        events = self.streams.reassembler.expire(now_ns)
        if events:
            self._dispatch(events)

    @property
    def open_sessions(self) -> int:
        """SMTP sessions whose connection is still open."""
        return len(self._sessions)

    def finish(self) -> AnalysisResult:
        self._dispatch(self.streams.finish())
        if self._offload is not None:
            self._offload.drain()
        self.result.anomalies.extend(self.streams.anomalies())
        return self.result

    # -- stream events --------------------------------------------------------------------------
    def _dispatch(self, events: Iterable[object]) -> None:
        sessions, probes, data_type, c2s = self._sessions, self._probes, StreamData, Direction.CLIENT_TO_SERVER
        for ev in events:
            if type(ev) is data_type:  # most events: _to_session's first case, inline
                conn_id = ev.conn_id
                session = sessions.get(conn_id)
                if session is not None:
                    # conversation.receive, its events appended to pending (see _Session)
                    data = ev.data
                    if type(data) is not bytes:
                        data = bytes(data)
                    pending = session.pending
                    if ev.direction is c2s:
                        session.client(data, 0, ev.ts_ns, ev.frame, pending)
                    else:
                        session.server(data, 0, ev.ts_ns, ev.frame, pending)
                    if len(pending) >= PENDING_EVENTS:
                        session.hand_over()
                    continue
            else:
                conn_id = getattr(ev, "conn_id", None)
                session = sessions.get(conn_id)
                if session is not None:
                    self._to_session(session, ev)
                    continue
            probe = probes.get(conn_id)
            if probe is not None:
                if type(ev) is StreamChunks:  # (only recorded connections deliver these; as their events)
                    self._dispatch(ev.stream_data())
                else:
                    self._to_probe(probe, ev)
            elif type(ev) is ConnectionOpened:
                self._opened(ev)
            elif type(ev) is Anomaly:
                self.result.anomalies.append(ev)
            elif type(ev) is ConnectionClosed:
                self.result.tcp_connections += 1

    def _opened(self, opened: ConnectionOpened) -> None:
        if opened.server.port in self.smtp_ports:
            self._start_session(opened, "port")
        elif self.detect_other_ports:
            self._probes[opened.conn_id] = _Probe(opened)
        else:
            self.streams.reassembler.ignore(opened.conn_id)

    def _start_session(self, opened: ConnectionOpened, detected_by: str) -> _Session | _RecordedSession:
        offload = self._offload
        if offload is not None and offload.active():
            session: _Session | _RecordedSession = _RecordedSession(opened, detected_by,
                                                                     self.limits.max_offload_bytes, self._decode_here)
            self.streams.reassembler.record(opened.conn_id)  # its bytes may come many segments at once
        else:
            session = new_session(opened, detected_by, self.limits, self._shared, self._c_readers)
        self._sessions[opened.conn_id] = session
        return session

    def _to_session(self, session: _Session | _RecordedSession, ev: object) -> None:
        if type(session) is _RecordedSession:
            return self._to_recorded(session, ev)
        conversation, queue = session.conversation, session.queue
        kind = type(ev)
        if kind is StreamData:
            queue(conversation.receive(ev.direction, ev.data, ev.ts_ns, ev.frame))
        elif kind is StreamChunks:  # recorded before the session was decoded here (_decode_here)
            _feed_chunks(session, ev)
        elif kind is StreamGap:
            queue(conversation.gap(ev.direction, ev.length, ev.ts_ns, ev.frame))
        elif kind is ConnectionClosed:
            del self._sessions[ev.conn_id]
            self._closed(ev)
            self._finished(session.finish(ev))
        elif kind is Anomaly:
            session.pending.append(ev)
        if len(session.pending) >= PENDING_EVENTS:  # empty after a close's hand_over
            session.hand_over()

    def _to_recorded(self, session: _RecordedSession, ev: object) -> None:
        kind = type(ev)
        if kind is ConnectionClosed:
            del self._sessions[ev.conn_id]
            self._closed(ev)
            assert self._offload is not None
            self._offload.submit(SessionJob(session.opened, session.detected_by, tuple(session.ops), ev),
                                 self._finished, session.size)
            return
        if kind is StreamChunks:
            session.record((_CHUNKS, ev), ev.size)
        elif kind is StreamData:
            data = ev.data if type(ev.data) is bytes else bytes(ev.data)  # kept: no view of a reused buffer
            session.record((_RECEIVE, ev.direction, data, ev.ts_ns, ev.frame), len(data))
        elif kind is StreamGap:
            session.record((_GAP, ev.direction, ev.length, ev.ts_ns, ev.frame))
        elif kind is Anomaly:
            session.record((_ANOMALY, ev))

    def _decode_here(self, recorded: _RecordedSession) -> None:
        """A recorded session grown past ``max_offload_bytes``: decoded here from now on, its calls
        so far made on a new session (its bytes are then not held twice)."""
        session = new_session(recorded.opened, recorded.detected_by, self.limits, self._shared, self._c_readers)
        _replay_ops(session, recorded.ops)
        recorded.ops.clear()
        self._sessions[recorded.opened.conn_id] = session

    def _closed(self, ev: ConnectionClosed) -> None:
        self.result.smtp_packets += ev.packets
        self.result.tcp_connections += 1

    def _finished(self, records: SessionRecords) -> None:
        if self.keep_sessions:
            self.result.sessions.append(records)
        if self._on_session is not None:
            self._on_session(records)

    # -- SMTP on other ports: a 220 greeting answered by EHLO or HELO -----------------------------
    def _to_probe(self, probe: _Probe, ev: object) -> None:
        kind = type(ev)
        if kind is ConnectionClosed:
            del self._probes[ev.conn_id]
            self.result.tcp_connections += 1
            return
        probe.events.append(ev)
        if kind is StreamGap:
            return self._not_smtp(probe)
        if kind is not StreamData:
            return
        probe.held += len(ev.data)
        first = probe.first.get(ev.direction, b"") + ev.data
        probe.first[ev.direction] = first[: self.limits.max_probe_bytes]
        verdict = self._probe_verdict(probe)
        if verdict is True:
            del self._probes[probe.opened.conn_id]
            tunnel = probe.tunnel
            conn_id = probe.opened.conn_id
            self._start_session(probe.opened, tunnel.kind.value if tunnel else "greeting")
            if tunnel is not None:
                self._to_session(self._sessions[conn_id], self._tunnel_anomaly(probe))
            skip = {Direction.CLIENT_TO_SERVER: tunnel.client_bytes if tunnel else 0,
                    Direction.SERVER_TO_CLIENT: tunnel.server_bytes if tunnel else 0}
            for held in probe.events:
                if type(held) is StreamData and skip[held.direction]:
                    n = skip[held.direction]
                    skip[held.direction] = max(0, n - len(held.data))
                    if n >= len(held.data):
                        continue  # all of it is the proxy handshake
                    held = replace(held, offset=held.offset + n, data=held.data[n:])
                self._to_session(self._sessions[conn_id], held)  # looked up anew: see _decode_here
        elif verdict is False or probe.held > self.limits.max_probe_bytes:
            self._not_smtp(probe)

    @staticmethod
    def _probe_verdict(probe: _Probe) -> bool | None:
        server = probe.first.get(Direction.SERVER_TO_CLIENT)
        client = probe.first.get(Direction.CLIENT_TO_SERVER)
        if probe.tunnel is None:  # SMTP through an open proxy starts after the proxy's handshake
            preamble = parse_preamble(client or b"", server or b"")
            if preamble is NEED_MORE:
                return None
            probe.tunnel = preamble
        if probe.tunnel is not None:
            server = (server or b"")[probe.tunnel.server_bytes:] or None
            client = (client or b"")[probe.tunnel.client_bytes:] or None
        if server is not None and len(server) >= 4 and not _GREETING.match(server):
            return False
        if client is not None and len(client) >= 5 and not _HELLO.match(client):
            return False
        if server is not None and client is not None and len(server) >= 4 and len(client) >= 5:
            return True
        return None

    @staticmethod
    def _tunnel_anomaly(probe: _Probe) -> Anomaly:
        t = probe.tunnel
        first = next(ev for ev in probe.events if type(ev) is StreamData)
        return Anomaly(layer=Layer.SMTP, kind="smtp_through_proxy",
                       message=f"SMTP through a proxy tunnel ({t.kind.label}) to {t.target} (the handshake took "
                               f"{t.client_bytes} client and {t.server_bytes} proxy octets)",
                       ts_ns=first.ts_ns, frame=first.frame, conn_id=probe.opened.conn_id)

    def _not_smtp(self, probe: _Probe) -> None:
        del self._probes[probe.opened.conn_id]
        self.streams.reassembler.ignore(probe.opened.conn_id)  # its ConnectionClosed still comes, counted then
        self.result.anomalies.extend(ev for ev in probe.events if type(ev) is Anomaly)


class _KeptJobs(SessionOffload):
    """Every session recorded, its job kept and never decoded (see :func:`session_jobs`)."""

    def __init__(self) -> None:
        self.jobs: list[SessionJob] = []

    def active(self) -> bool:
        return True

    def submit(self, job: SessionJob, deliver: Callable[[SessionRecords], None], size: int) -> None:
        self.jobs.append(job)


def session_jobs(frames: Iterable[Frame], limits: Limits = DEFAULT_LIMITS) -> list[SessionJob]:
    """The job of every SMTP session of an offline source of ``frames``, as ``smtpsniff.read``
    records it for a worker process, in the order the sessions close: what a worker is given,
    for the tests and benchmarks that replay it (:func:`replay`)."""
    offload = _KeptJobs()
    SmtpPipeline(limits, offload=offload).feed_all(frames)
    return offload.jobs
