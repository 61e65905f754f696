"""Decode a capture's SMTP sessions and parse its messages in other processes, as it is read.

After reading and TCP reassembly, an SMTP session is independent of every other: its decoder,
its records and the parse of its messages depend on its own bytes alone.  :class:`Workers` takes
the sessions a :class:`~smtpsniff.pipeline.SmtpPipeline` records (as a
:class:`~smtpsniff.pipeline.SessionOffload`) and the messages of those it decodes itself, hands them
in batches to worker processes (:mod:`smtpsniff.worker`, see :func:`worker_command`) while the
reading goes on, and gives the records back to the pipeline and the parses to the mail tables
(:func:`smtpsniff.analysis.mail_tables.parse_all`).

Sessions go first: every one must be in before any table is built, while the parses are needed
only by the mail tables.  A worker is given a batch of messages when no batch of sessions waits,
and once the sessions are in, :meth:`Workers.hand_off` lets the workers parse the waiting
messages while this process builds the session tables.  Each parse is then given as soon as it is
in (:meth:`Workers.parse`): this process makes the mail tables' rows of the first messages while
the workers parse the next.

The results are those this process would compute, object for object equal: the workers run the
same code with the same limits (:func:`smtpsniff.pipeline.replay`, :func:`smtpsniff.mail.parse_message`).
Nothing is lost when a worker cannot start, stops, falls silent or writes anything but its
answers: it is given up, and what it has not answered is done here.
Small captures never start one (:data:`START_AFTER_SESSIONS`, :data:`START_AFTER_MESSAGES`).

While the capture is read, the pipes are driven without threads: writes and reads are
non-blocking and happen when a batch is ready and, at the end, until every batch is answered.
Each worker holds at most :data:`IN_FLIGHT` batches; the rest wait here, and at the end this
process takes waiting batches itself while the workers finish theirs, so neither side idles long.
After :meth:`Workers.hand_off`, while this process does not pump, two threads per worker feed it
and collect its answers in blocking system calls (which release the interpreter lock); the
answers are unpickled in the calling thread.
"""
from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self

from ..limits import Limits
from ..mail import ParsedMessage, parse_message
from ..net import native
from ..pipeline import SessionJob, SessionOffload, replay
from ..records.builder import MessageData, SessionRecords
from ..transfer import dumps, loads
from ..worker import FRAME, MESSAGES, SESSIONS, frame

#: SMTP sessions seen before any worker starts (the earlier ones are decoded here) ...
START_AFTER_SESSIONS = 500
#: ... or messages: a capture with fewer of both is done in this process alone.  A worker costs
#: about 0.15 s before its first answer and 25 MB; on the benchmark capture's sessions it pays from
#: about a thousand sessions on (a 268-session capture took 0.59 s with one, 0.53 s without; the
#: first 1,135 sessions of mixed.pcap 0.77 s against 0.81 s, its first 2,231 1.15 s against 1.33 s).
START_AFTER_MESSAGES = 1000
#: Capture files adding up to this many bytes start the workers before their first session
#: (:meth:`Workers.start`, called by ``smtpsniff.read``): so large a capture pays for them
#: whatever it holds.  A worker is ready about 0.1 s after it is started, while the first 500
#: sessions of the benchmark capture take 0.13 s to come: started at once, it is ready as they come
#: and decodes them too.  A large file with little SMTP in it costs a worker that waits (25 MB).
START_AT_ONCE_BYTES = 64 << 20
#: A batch of messages closes at this many messages ...
BATCH_MESSAGES = 64
#: ... a batch of sessions at this many sessions ...
BATCH_SESSIONS = 32
#: ... and either at this many bytes of content, whichever comes first: a request then fits in
#: one pipe buffer of :data:`PIPE_BYTES`, and goes in one write.
BATCH_BYTES = 512 << 10
#: The size asked for each pipe to a worker (Linux ``F_SETPIPE_SZ``; 1 MiB is what an
#: unprivileged process may ask for by default).  The default 64 KiB would take a batch's request
#: and answer in many pieces, each at a later pump, and leave the worker waiting.
PIPE_BYTES = 1 << 20
#: Batches a worker holds at once (one being worked on, one waiting in its pipe).
IN_FLIGHT = 2
#: Batches a worker holds at once after :meth:`Workers.hand_off`: its feeding thread needs the
#: interpreter lock for each batch, which the tables being built hold most of the time, so it
#: keeps more in hand (eight: on the benchmark capture the worker then waits for batches about
#: half as long as with four, some 0.1 s in all).
IN_FLIGHT_HANDED_OFF = 8
#: Workers at most, whatever the CPU count.
MAX_WORKERS = 8
#: A frame longer than this is no answer (a real one is at most a few times a batch's bytes): the
#: worker's output is taken as corrupted (something in it wrote text there) and the worker given
#: up at once, rather than its output buffered until it falls silent.
MAX_ANSWER_BYTES = 1 << 34
#: The class of each result of an answer to a batch of each kind.
_RESULTS = {MESSAGES: ParsedMessage, SESSIONS: SessionRecords}
#: Seconds a worker holding work may stay silent before it is stopped and its work done here (a
#: batch takes milliseconds; a stopped or wedged process must not stop the analysis).
WORKER_TIMEOUT_S = 120.0


def default_workers() -> int:
    """One worker per CPU this process may run on, less the one it runs on, at most :data:`MAX_WORKERS`;
    none where pipes cannot be waited on as sockets are (not POSIX: Windows)."""
    if os.name != "posix":
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(cpus - 1, MAX_WORKERS))


def worker_command() -> list[str]:
    """This Python, isolated (``-I``: no current directory, user site or ``PYTHON*`` variables on
    its path), running :mod:`smtpsniff.worker` from this very ``smtpsniff`` package, loaded from
    its directory without adding anything to ``sys.path``: the worker runs the parent's code
    whatever else is installed, and nothing beside the package can shadow the standard library."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bootstrap = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('smtpsniff', {os.path.join(package, '__init__.py')!r}, "
        f"submodule_search_locations=[{package!r}])\n"
        "module = sys.modules['smtpsniff'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from smtpsniff.worker import main\n"
        "main()\n")
    return [sys.executable, "-I", "-c", bootstrap]


def _widen(fd: int) -> None:
    """Ask for a pipe buffer of :data:`PIPE_BYTES` (where the system has no such call, or refuses,
    the pipe stays as it is: slower, not wrong)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _whole_frames(buffer: bytearray) -> tuple[list[bytes], bool]:
    """The payloads of the whole frames at the front of a worker's output ``buffer``, taken out of
    it, and whether the frame after them announces more than :data:`MAX_ANSWER_BYTES` (corrupted
    output: the worker is to be given up)."""
    payloads = []
    start = 0
    while len(buffer) - start >= FRAME.size:
        (size,) = FRAME.unpack_from(buffer, start)
        if size > MAX_ANSWER_BYTES:
            del buffer[:start]
            return payloads, True
        end = start + FRAME.size + size
        if len(buffer) < end:
            break
        payloads.append(bytes(memoryview(buffer)[start + FRAME.size:end]))
        start = end
    del buffer[:start]
    return payloads, False


def _peak_rss_kib(pid: int) -> int:
    """``VmHWM`` of process ``pid`` (its peak resident set since it started the worker program:
    the rusage peak of a child also counts the parent's pages it shared before ``exec``); 0 where
    there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class _Batch:
    number: int
    kind: str  # MESSAGES: items are (content, complete); SESSIONS: items are SessionJobs
    items: list = field(default_factory=list)
    #: SESSIONS: who takes each job's records.
    deliver: list = field(default_factory=list)
    size: int = 0


@dataclass
class _Worker:
    process: subprocess.Popen
    #: Framed requests not yet wholly written, as a view on what is left.
    outgoing: deque[memoryview] = field(default_factory=deque)
    incoming: bytearray = field(default_factory=bytearray)
    batches: dict[int, _Batch] = field(default_factory=dict)
    alive: bool = True
    #: Whether its output is watched by the selector (not while it is fed by threads).
    watched: bool = True
    #: Whether its input is watched for room (while a request is written in part).
    writing: bool = False
    #: The threads feeding it after Workers.hand_off.
    feed: _Feed | None = None
    #: Its peak resident set in KiB, once taken (see _peak_rss_kib).
    peak_kib: int = 0


@dataclass
class _Feed:
    """What the threads feeding one worker share with the thread that handed off (under its lock)."""

    #: Batches written to the worker, or being written (those it held at the hand-off included).
    given: int
    #: The answers' payloads, in the order they came (None once taken, see ``taken``).
    answers: list[bytes | None] = field(default_factory=list)
    #: Answers read by the thread that handed off: the first ``taken`` of ``answers``.
    taken: int = 0
    #: A write failed, or the worker's output ended: nothing more will be answered.
    ended: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


@dataclass
class WorkerStats:
    """What the workers did in one read, for :class:`~smtpsniff.analysis.capture.CaptureStats`."""

    workers: int = 0
    sessions_by_workers: int = 0
    sessions_here: int = 0
    messages_by_workers: int = 0
    messages_here: int = 0
    #: Workers that stopped before answering everything (their batches were done here).
    workers_lost: int = 0
    #: The workers' peak resident sets added up, in KiB, where the system tells it (Linux
    #: ``/proc/PID/status`` ``VmHWM``); else 0.
    peak_rss_kib: int = 0


class Workers(SessionOffload):
    """Sessions and messages in, records and parses out: done by ``workers`` processes.

    Use as a context manager (the processes are stopped on the way out, whatever happened).  Give
    it to the pipeline as its ``offload`` and :meth:`add` as its ``on_session``; once every
    session is in, :meth:`hand_off` (if this process has other work to do first), then call
    :meth:`parse` once per message, in any order.  ``workers=0`` does everything here.
    """

    def __init__(self, limits: Limits, workers: int, *, start_after_sessions: int | None = None,
                 start_after_messages: int | None = None, batch_sessions: int | None = None,
                 batch_messages: int | None = None, batch_bytes: int | None = None,
                 command: Sequence[str] | None = None, timeout_s: float | None = None) -> None:
        """The keyword settings default to this module's constants of the same names (read when
        the object is made); ``command`` is the worker program (default :func:`worker_command`)."""
        self.limits = limits
        self.stats = WorkerStats()
        self._wanted = max(0, workers)
        self._start_after_sessions = START_AFTER_SESSIONS if start_after_sessions is None else start_after_sessions
        self._start_after_messages = START_AFTER_MESSAGES if start_after_messages is None else start_after_messages
        self._batch_sessions = max(1, BATCH_SESSIONS if batch_sessions is None else batch_sessions)
        self._batch_messages = max(1, BATCH_MESSAGES if batch_messages is None else batch_messages)
        self._batch_bytes = BATCH_BYTES if batch_bytes is None else batch_bytes
        self._command = list(command) if command is not None else worker_command() if sys.executable else None
        self._timeout_s = WORKER_TIMEOUT_S if timeout_s is None else timeout_s
        self._workers: list[_Worker] = []
        self._selector: selectors.BaseSelector | None = None
        self._sessions_seen = self._messages_seen = 0
        self._numbers = 0
        self._sessions = self._new_batch(SESSIONS)
        self._messages = self._new_batch(MESSAGES)
        #: Closed batches no worker holds, by kind.
        self._waiting: dict[str, deque[_Batch]] = {SESSIONS: deque(), MESSAGES: deque()}
        #: Records come back here, and go to their pipeline outside any pump (see _deliver_ready).
        self._ready: deque[tuple[Callable[[SessionRecords], None], SessionRecords]] = deque()
        self._delivering = False
        #: (id(content), complete) -> (content, parsed): the content is kept so that its id stays
        #: its own.  Two messages may share one content object (CPython has one empty bytes
        #: object, and one of each single byte): their parses are the same when ``complete`` is.
        self._parsed: dict[tuple[int, bool], tuple[bytes, ParsedMessage]] = {}
        self._c_readers = None
        #: Guards the waiting batches and the feeds while threads feed the workers (hand_off).
        self._feeding = threading.Condition()
        self._handed_off = False

    def _new_batch(self, kind: str) -> _Batch:
        self._numbers += 1
        return _Batch(self._numbers, kind)

    def _close_batch(self, kind: str) -> None:
        batch = self._sessions if kind == SESSIONS else self._messages
        if not batch.items:
            return
        self._waiting[kind].append(batch)
        if kind == SESSIONS:
            self._sessions = self._new_batch(SESSIONS)
        else:
            self._messages = self._new_batch(MESSAGES)
        if self._workers:  # answers read first: a worker's room counts the batches it still holds
            self._pump(timeout=0)

    def start(self) -> None:
        """Start the workers now, rather than once :data:`START_AFTER_SESSIONS` sessions or
        :data:`START_AFTER_MESSAGES` messages have come (before any session: see
        :data:`START_AT_ONCE_BYTES`).  Nothing happens when none are wanted or they have started."""
        if self._wanted and not self._workers:
            self._start()

    # -- sessions (SessionOffload) ----------------------------------------------------------------
    def active(self) -> bool:
        """Whether a session opening now should be recorded for a worker (and count it)."""
        if not self._wanted:
            return False
        self._sessions_seen += 1
        if not self._workers and self._sessions_seen > self._start_after_sessions:
            self._start()
        return any(w.alive for w in self._workers)

    def submit(self, job: SessionJob, deliver: Callable[[SessionRecords], None], size: int) -> None:
        batch = self._sessions
        batch.items.append(job)
        batch.deliver.append(deliver)
        batch.size += size
        if len(batch.items) >= self._batch_sessions or batch.size >= self._batch_bytes:
            self._close_batch(SESSIONS)
        self._deliver_ready()

    def drain(self) -> None:
        """Every submitted session's records delivered: the workers' batches answered, the waiting
        ones decoded here (the last first, while the workers take the first)."""
        self._close_batch(SESSIONS)
        while True:
            self._pump(timeout=0)
            self._deliver_ready()
            waiting = self._waiting[SESSIONS]
            if waiting:
                self._sessions_here(waiting.pop())
            elif not any(b.kind == SESSIONS for w in self._workers if w.alive for b in w.batches.values()) \
                    or not self._pump(timeout=None):
                break
        self._deliver_ready()

    def _sessions_here(self, batch: _Batch) -> None:
        if self._c_readers is None:
            self._c_readers = native.smtp_functions()
        for job, deliver in zip(batch.items, batch.deliver):
            self._ready.append((deliver, replay(job, self.limits, None, self._c_readers)))
        self.stats.sessions_here += len(batch.items)
        self._deliver_ready()

    def _deliver_ready(self) -> None:
        """Hand the records that came back to their pipelines -- never from inside a pump, as a
        pipeline's ``on_session`` (:meth:`add`) may pump again."""
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._ready:
                deliver, records = self._ready.popleft()
                deliver(records)
        finally:
            self._delivering = False

    # -- messages ---------------------------------------------------------------------------------
    def add(self, records: SessionRecords) -> None:
        """Queue the messages of a closed session, to be parsed by a worker (not after :meth:`hand_off`)."""
        if not self._wanted or not records.messages:
            return
        assert not self._handed_off, "messages are added before the hand-off"
        for data in records.messages:
            content = data.content
            batch = self._messages
            batch.items.append((content, data.complete))
            batch.size += len(content)
            self._messages_seen += 1
            if len(batch.items) >= self._batch_messages or batch.size >= self._batch_bytes:
                if not self._workers and self._messages_seen >= self._start_after_messages:
                    self._start()
                self._close_batch(MESSAGES)

    def parse(self, data: MessageData) -> ParsedMessage:
        """The parse of ``data``'s content (as ``parse_message(content, limits, complete)``).

        After :meth:`hand_off` it returns as soon as that parse is in: the caller may work on it
        while the workers parse the messages it asks for next (see :meth:`_parse_when_answered`);
        otherwise the first parse not yet in finishes every message (:meth:`_finish`)."""
        content = data.content
        key = (id(content), data.complete)
        found = self._parsed.get(key)
        if (found is None or found[0] is not content) and (
                self._workers or self._waiting[MESSAGES] or self._messages.items):
            if any(w.feed is not None for w in self._workers):
                self._parse_when_answered(key, content)
            else:
                self._finish()
            found = self._parsed.get(key)
        if found is not None and found[0] is content:
            return found[1]
        self.stats.messages_here += 1
        return parse_message(content, limits=self.limits, complete=data.complete)

    def _parse_when_answered(self, key: tuple[int, bool], content: bytes) -> None:
        """After the hand-off: the workers' answers read until the parse of ``key`` is among them.

        Meanwhile this process parses waiting batches itself, the first one each time: the batch
        the workers would take next, whose parses a caller asking in the order given to
        :meth:`hand_off` wants right after those the workers hold.  It then works on them while
        the workers parse, instead of taking the last batches, whose parses would be worked on
        at the end, the workers done.  With none waiting it waits for an answer.  Once nothing is
        left to wait for, or a worker went wrong (it stopped, stayed silent for ``timeout_s`` with
        work in hand, or answered out of turn), :meth:`_finish` ends the hand-off as it ends it
        for a caller that asks for no parse until the end.
        """
        feeding, waiting = self._feeding, self._waiting[MESSAGES]
        fed = [w for w in self._workers if w.alive and w.feed is not None]
        last_heard = time.monotonic()
        while True:
            for worker in fed:
                heard = self._take_answers(worker)
                if heard is None:  # an answer out of turn: the worker is given up
                    return self._finish()
                if heard:
                    last_heard = time.monotonic()
            found = self._parsed.get(key)
            if found is not None and found[0] is content:
                return
            with feeding:
                batch = waiting.popleft() if waiting else None
                if batch is None:
                    feeds = [w.feed for w in fed if w.feed is not None]
                    if any(f.ended for f in feeds) or all(f.given == f.taken for f in feeds):
                        break  # a worker stopped, or every batch given is answered and read
                    if all(f.taken == len(f.answers) for f in feeds):
                        feeding.wait(timeout=min(1.0, self._timeout_s))
                        if any(f.taken < len(f.answers) for f in feeds):
                            continue
                        if time.monotonic() - last_heard > self._timeout_s:
                            for worker in fed:  # silent with work in hand: stopped
                                if worker.feed is not None and worker.feed.given > len(worker.feed.answers):
                                    worker.process.kill()
                            break
                    continue
            self._messages_here(batch)
        self._finish()

    def _take_answers(self, worker: _Worker) -> bool | None:
        """Read the answers a fed worker gave since the last call: whether it gave any; None when
        one was out of turn (the worker is then killed: :meth:`_take_back` gives it up and does
        the batches it still holds here)."""
        feed = worker.feed
        assert feed is not None
        with self._feeding:
            first, end = feed.taken, len(feed.answers)
            payloads = feed.answers[first:end]
            feed.answers[first:end] = [None] * (end - first)  # read once: not kept twice
            feed.taken = end
        for payload in payloads:
            if not self._settled(worker, payload):
                worker.process.kill()
                return None
        return bool(payloads)

    def hand_off(self, order: Iterable[MessageData] | None = None) -> None:
        """Let the workers parse the waiting messages on their own, while this process does other
        work and does not pump (``smtpsniff.read`` builds the session tables meanwhile); each
        :meth:`parse` then takes the answers that have come.

        ``order``, when given: the messages in the order :meth:`parse` will be asked for them.  The
        waiting ones are batched again in that order (see :meth:`_in_order`), so that the workers
        parse first what is asked first.

        For each worker, one thread writes it batches as it takes them and one reads its answers,
        each blocking in its system calls, where it does not hold the interpreter lock: this
        process's own work slows little.  The answers are unpickled later, by :meth:`parse`.
        """
        self._close_batch(MESSAGES)
        if self._handed_off or not self._waiting[MESSAGES] or self._waiting[SESSIONS] \
                or not any(w.alive for w in self._workers):
            return
        self._handed_off = True
        if order is not None:
            self._in_order(order)
        for worker in self._workers:
            if not worker.alive:
                continue
            self._unwatch(worker)
            feed = worker.feed = _Feed(given=len(worker.batches))
            try:
                for pipe in (worker.process.stdin, worker.process.stdout):
                    os.set_blocking(pipe.fileno(), True)
            except (OSError, ValueError):
                feed.ended = True
                continue
            feed.threads = [threading.Thread(target=target, args=(worker, feed), daemon=True,
                                             name=f"smtpsniff-feed-{worker.process.pid}")
                            for target in (self._feed_requests, self._feed_answers)]
            for thread in feed.threads:
                thread.start()

    def _in_order(self, order: Iterable[MessageData]) -> None:
        """The waiting messages batched again (as :meth:`add` batches them) in the order of
        ``order``; any it does not name follow, in the order they came.

        :meth:`add` batches the messages as their sessions close, while ``smtpsniff.read`` asks for
        them in the order the sessions opened: left in the first order, a message of a long
        session would be parsed long after the caller asked for it, and the caller would parse
        waiting batches itself meanwhile -- work the workers would have done."""
        waiting = self._waiting[MESSAGES]
        came = [item for batch in waiting for item in batch.items]
        by_key: dict[tuple[int, bool], list[tuple[bytes, bool]]] = {}
        for item in came:
            by_key.setdefault((id(item[0]), item[1]), []).append(item)
        ordered = []
        for data in order:
            found = by_key.get((id(data.content), data.complete))
            if found:  # (equal keys: the same content object, parsed the same way)
                ordered.append(found.pop())
        left = {id(item) for items in by_key.values() for item in items}
        ordered.extend(item for item in came if id(item) in left)
        waiting.clear()
        batch = self._new_batch(MESSAGES)
        for item in ordered:
            batch.items.append(item)
            batch.size += len(item[0])
            if len(batch.items) >= self._batch_messages or batch.size >= self._batch_bytes:
                waiting.append(batch)
                batch = self._new_batch(MESSAGES)
        if batch.items:
            waiting.append(batch)

    def _feed_requests(self, worker: _Worker, feed: _Feed) -> None:
        """A feeding thread: a request written in part finished, then the first waiting batch
        written each time the worker holds fewer than :data:`IN_FLIGHT_HANDED_OFF`, until none waits."""
        fd = worker.process.stdin.fileno()
        feeding, waiting = self._feeding, self._waiting[MESSAGES]
        try:
            while True:
                while worker.outgoing:
                    view = worker.outgoing[0]
                    written = os.write(fd, view)
                    if written == len(view):
                        worker.outgoing.popleft()
                    else:
                        worker.outgoing[0] = view[written:]
                with feeding:
                    while not feed.ended and waiting and feed.given - len(feed.answers) >= IN_FLIGHT_HANDED_OFF:
                        feeding.wait()
                    if feed.ended or not waiting:
                        return
                    batch = waiting.popleft()
                    worker.batches[batch.number] = batch
                    feed.given += 1
                worker.outgoing.append(self._request(batch))
        except Exception:  # noqa: BLE001 -- BrokenPipeError and the like (the worker has gone), or
            # anything else that stops the feeding: the worker is given up, its work done here
            with feeding:
                feed.ended = True
                feeding.notify_all()

    def _feed_answers(self, worker: _Worker, feed: _Feed) -> None:
        """A feeding thread: the worker's answers collected, frame by frame, until its output ends."""
        fd = worker.process.stdout.fileno()
        buffer = worker.incoming
        try:
            while chunk := os.read(fd, PIPE_BYTES):
                buffer += chunk
                payloads, corrupted = _whole_frames(buffer)
                if payloads:
                    with self._feeding:
                        feed.answers.extend(payloads)
                        self._feeding.notify_all()
                if corrupted:  # its feed ends (and it is given up)
                    worker.process.kill()
                    return
        except OSError:  # as the end of its output
            pass
        finally:
            with self._feeding:
                feed.ended = True
                self._feeding.notify_all()

    def _take_back(self) -> None:
        """The end of :meth:`hand_off`: the waiting batches parsed here, the last first, while the
        workers take the first; every worker's answers awaited (a worker silent for
        ``timeout_s`` with work in hand is stopped), then read; what is left unanswered goes back
        to the waiting batches.  The workers are stopped: their input ends."""
        feeding, waiting = self._feeding, self._waiting[MESSAGES]
        while True:
            with feeding:
                batch = waiting.pop() if waiting else None
                if batch is None:
                    feeding.notify_all()  # feeding threads waiting for room: nothing more to give
            if batch is None:
                break
            self._messages_here(batch)
        feeds = [w.feed for w in self._workers if w.alive and w.feed is not None]
        with feeding:
            heard = [len(f.answers) for f in feeds]
            silent_since = time.monotonic()
            while any(not f.ended and f.given > len(f.answers) for f in feeds):
                feeding.wait(timeout=1.0)
                now = [len(f.answers) for f in feeds]
                if now != heard:
                    heard, silent_since = now, time.monotonic()
                elif time.monotonic() - silent_since > self._timeout_s:
                    break
        for worker in self._workers:
            feed = worker.feed
            if not worker.alive or feed is None:
                continue
            unanswered = feed.given > len(feed.answers)  # it stopped, or stayed silent: killed
            self._end_feed(worker, kill=unanswered, timeout_s=self._timeout_s)
            for payload in feed.answers[feed.taken:]:
                self._answered(worker, payload)
                if not worker.alive:
                    break
            if worker.alive and worker.batches:
                self._lost(worker)

    @staticmethod
    def _end_feed(worker: _Worker, *, kill: bool, timeout_s: float) -> None:
        """Stop a fed worker and its threads: its peak taken while it runs, its input ended (it
        exits, and its output ends; ``kill``: killed first; one whose output has not ended
        ``timeout_s`` later is killed then), the threads joined -- and only then its output
        closed, so that no thread reads a descriptor that may have been reused."""
        feed = worker.feed
        assert feed is not None
        worker.peak_kib = _peak_rss_kib(worker.process.pid)
        if kill and worker.process.poll() is None:
            worker.process.kill()
        writer, reader = feed.threads or (None, None)
        if writer is not None:
            writer.join()
        try:
            worker.process.stdin.close()
        except OSError:
            pass
        if reader is not None:
            reader.join(timeout_s)
            if reader.is_alive():
                worker.process.kill()
                reader.join()
        worker.feed = None

    def _finish(self) -> None:
        """Every queued message parsed: the workers' batches answered, the waiting ones parsed here."""
        if self._handed_off:
            self._take_back()
            while self._waiting[MESSAGES]:
                self._messages_here(self._waiting[MESSAGES].pop())
            self.close()
            return
        self._close_batch(MESSAGES)
        if not self._workers:  # never started: parse() parses each message here
            self._waiting[MESSAGES].clear()
            return
        while True:
            self._pump(timeout=0)
            if self._waiting[MESSAGES]:  # the workers hold what they can: take the last waiting batch here
                self._messages_here(self._waiting[MESSAGES].pop())
            elif not any(w.batches for w in self._workers if w.alive) or not self._pump(timeout=None):
                break
        self.close()

    def _messages_here(self, batch: _Batch) -> None:
        assert batch.kind == MESSAGES, "every session is delivered before the messages are asked for"
        for content, complete in batch.items:
            self._parsed[id(content), complete] = (content, parse_message(content, limits=self.limits, complete=complete))
        self.stats.messages_here += len(batch.items)

    # -- processes --------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._selector is not None:
            return
        self._selector = selectors.DefaultSelector()
        for _ in range(self._wanted if self._command else 0):  # no command: no interpreter path known
            try:
                process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL)
            except OSError:  # no process to be had: the work is done here
                break
            worker = _Worker(process)
            try:
                for pipe in (process.stdin, process.stdout):
                    os.set_blocking(pipe.fileno(), False)
                    _widen(pipe.fileno())
                self._selector.register(process.stdout, selectors.EVENT_READ, worker)
            except (OSError, ValueError):  # pipes this system cannot wait on: no workers
                self._stop(worker, self.stats)
                break
            self._workers.append(worker)
        self.stats.workers = len(self._workers)
        if not self._workers:
            self._wanted = 0

    def _pump(self, timeout: float | None) -> bool:
        """Read what has come, hand waiting batches to workers with room, write what is pending.

        ``timeout=None`` waits until some worker answers or stops; False when none is left."""
        self._hand_out()
        if not any(w.alive for w in self._workers):
            return False
        selector = self._selector
        assert selector is not None
        for worker in self._workers:  # a request written in part must be finished for its answer to come
            if worker.alive and bool(worker.outgoing) != worker.writing:
                worker.writing = not worker.writing
                if worker.writing:
                    selector.register(worker.process.stdin, selectors.EVENT_WRITE, worker)
                else:
                    selector.unregister(worker.process.stdin)
        ready = selector.select(self._timeout_s if timeout is None else timeout)
        if not ready and timeout is None:  # silent too long while holding work: stopped here
            for worker in self._workers:
                if worker.alive and worker.batches:
                    self._lost(worker)
        for key, events in ready:
            if events & selectors.EVENT_WRITE:
                self._write(key.data)
            else:
                self._read(key.data)
        self._hand_out()
        return True

    def _hand_out(self) -> None:
        for worker in self._workers:
            while worker.alive and len(worker.batches) < IN_FLIGHT and (batch := self._next_batch()):
                worker.batches[batch.number] = batch
                worker.outgoing.append(self._request(batch))
            self._write(worker)

    def _next_batch(self) -> _Batch | None:
        """The first waiting batch of sessions, else of messages (None: none waits)."""
        for kind in (SESSIONS, MESSAGES):
            if self._waiting[kind]:
                return self._waiting[kind].popleft()
        return None

    def _request(self, batch: _Batch) -> memoryview:
        return memoryview(frame(dumps((batch.kind, batch.number, self.limits, batch.items))))

    def _write(self, worker: _Worker) -> None:
        pipe = worker.process.stdin
        while worker.alive and worker.outgoing:
            view = worker.outgoing[0]
            try:
                written = os.write(pipe.fileno(), view)
            except BlockingIOError:
                return
            except OSError:  # BrokenPipeError and the like: the worker has gone
                self._lost(worker)
                return
            if written == len(view):
                worker.outgoing.popleft()
            else:
                worker.outgoing[0] = view[written:]

    def _read(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        try:
            chunk = os.read(worker.process.stdout.fileno(), PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(worker)
            return
        buffer = worker.incoming
        buffer += chunk
        payloads, corrupted = _whole_frames(buffer)
        for payload in payloads:
            self._answered(worker, payload)
            if not worker.alive:
                return
        if corrupted:
            self._lost(worker)

    def _answered(self, worker: _Worker, payload: bytes) -> None:
        if not self._settled(worker, payload):  # not a batch it holds: a worker gone wrong
            self._lost(worker)

    def _settled(self, worker: _Worker, payload: bytes) -> bool:
        """Take one answer of ``worker``; False when it is no answer to a batch the worker holds:
        not the pickle of a batch's number and a list of results of the batch's kind (as when
        something in the worker wrote to its output).  (Under the lock that guards the batches
        while threads feed it: see :meth:`hand_off`.)"""
        try:
            number, result = loads(payload)  # written by our own worker (see smtpsniff.transfer)
        except Exception:  # noqa: BLE001 -- whatever the bytes were, they are no answer
            return False
        if type(number) is not int or not (result is None or type(result) is list):
            return False
        with self._feeding:
            batch = worker.batches.get(number)
            if batch is None:
                return False
            if result is not None and not all(type(r) is _RESULTS[batch.kind] for r in result):
                return False  # the batch stays the worker's: giving the worker up gives it back
            del worker.batches[number]
            if result is None or len(result) != len(batch.items):  # the worker could not do it
                self._waiting[batch.kind].append(batch)
                self._feeding.notify_all()
                return True
        if batch.kind == MESSAGES:
            parsed = self._parsed
            for (content, complete), message in zip(batch.items, result):
                parsed[id(content), complete] = (content, message)
            self.stats.messages_by_workers += len(result)
            return True
        self._ready.extend(zip(batch.deliver, result))
        self.stats.sessions_by_workers += len(result)
        return True

    def _lost(self, worker: _Worker) -> None:
        """A worker that stopped: what it held goes back to the waiting batches."""
        if not worker.alive:
            return
        worker.alive = False
        self.stats.workers_lost += 1
        for batch in sorted(worker.batches.values(), key=lambda b: b.number, reverse=True):
            self._waiting[batch.kind].appendleft(batch)
        worker.batches.clear()
        worker.outgoing.clear()
        self._unwatch(worker)
        self._stop(worker, self.stats, kill=True)

    def _unwatch(self, worker: _Worker) -> None:
        if self._selector is None or not worker.watched:
            return
        worker.watched = False
        self._selector.unregister(worker.process.stdout)
        if worker.writing:
            self._selector.unregister(worker.process.stdin)
            worker.writing = False

    @staticmethod
    def _stop(worker: _Worker, stats: WorkerStats, *, kill: bool = False) -> None:
        """Stop a worker: the end of its input ends it (``kill``: one gone wrong is killed first)."""
        process = worker.process
        stats.peak_rss_kib += worker.peak_kib or _peak_rss_kib(process.pid)
        if kill and process.poll() is None:
            process.kill()
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop every worker (at the end of its input it exits; one that does not is killed).  One
        still fed by threads is killed at once: it is the usual end of a read, every parse asked
        for taken, the worker holding nothing (killing it is 3 ms, letting it exit 17 ms on the
        benchmark's first 200,000 frames), or its parses were never asked for."""
        for worker in self._workers:
            if worker.feed is not None:
                with self._feeding:
                    worker.feed.ended = True
                    self._feeding.notify_all()
                self._end_feed(worker, kill=True, timeout_s=self._timeout_s)
            if worker.alive:
                worker.alive = False
                self._unwatch(worker)
                self._stop(worker, self.stats)
        self._workers.clear()
        if self._selector is not None:
            self._selector.close()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return [w.process.pid for w in self._workers if w.alive]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
