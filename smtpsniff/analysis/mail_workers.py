"""Parse a capture's messages in other processes while the capture is still being decoded.

Mail parsing is the largest single cost of a capture of real mail (headers, Received chains,
RFC 2047 words, MIME trees): about 300 us a message against a few us for the SMTP around it.
It is also independent per message.  :class:`MailWorkers` hands the messages of each session to
worker processes (:mod:`smtpsniff.mail.worker`, see :func:`worker_command`) as the session
closes, so they are parsed on other CPUs while the main process goes on decoding, and takes the
results back when the mail tables are built (:func:`smtpsniff.analysis.mail_tables.parse_all`).

The results are those of :func:`smtpsniff.mail.parse_message` in this process, object for object
equal: the worker runs the same code with the same limits.  Nothing is lost when a worker cannot
start or stops: whatever it has not answered is parsed here.  Small captures never start one
(:data:`START_AFTER_MESSAGES`).

The pipes are driven without threads: writes and reads are non-blocking and happen when a batch
is ready and, at the end, until every batch is answered.  Each worker has at most
:data:`IN_FLIGHT` batches at a time; the rest wait here, and at the end this process parses
waiting batches itself while the workers finish theirs, so neither side idles long.
"""
from __future__ import annotations

import os
import pickle
import selectors
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from ..limits import Limits
from ..mail import ParsedMessage, parse_message
from ..mail.transfer import loads
from ..mail.worker import FRAME, frame
from ..records.builder import MessageData, SessionRecords

#: Messages seen before any worker starts: a capture with fewer is parsed in this process alone
#: (starting a Python process costs about 0.1 s of CPU and 25 MB).
START_AFTER_MESSAGES = 200
#: A batch closes at this many messages ...
BATCH_MESSAGES = 64
#: ... or this many bytes of content, whichever comes first: a request then fits in one pipe
#: buffer of :data:`PIPE_BYTES`, and goes in one write.
BATCH_BYTES = 512 << 10
#: The size asked for each pipe to a worker (Linux ``F_SETPIPE_SZ``; 1 MiB is what an
#: unprivileged process may ask for by default).  The default 64 KiB would take a batch's request
#: and answer in many pieces, each at a later pump, and leave the worker waiting.
PIPE_BYTES = 1 << 20
#: Batches a worker holds at once (one being parsed, one waiting in its pipe).
IN_FLIGHT = 2
#: Workers at most, whatever the CPU count.
MAX_WORKERS = 8


def worker_command() -> list[str]:
    """This Python, isolated (``-I``: no current directory, user site or ``PYTHON*`` variables on
    its path), running :mod:`smtpsniff.mail.worker` from this very ``smtpsniff`` package, loaded
    from its directory without adding anything to ``sys.path``: the worker runs the parent's code
    whatever else is installed, and nothing beside the package can shadow the standard library."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bootstrap = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('smtpsniff', {os.path.join(package, '__init__.py')!r}, "
        f"submodule_search_locations=[{package!r}])\n"
        "module = sys.modules['smtpsniff'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from smtpsniff.mail.worker import main\n"
        "main()\n")
    return [sys.executable, "-I", "-c", bootstrap]


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


def _widen(fd: int) -> None:
    """Ask for a pipe buffer of :data:`PIPE_BYTES` (where the system has no such call, or refuses,
    the pipe stays as it is: slower, not wrong)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


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
    messages: list[tuple[bytes, bool]] = field(default_factory=list)
    size: int = 0


@dataclass
class _Worker:
    process: subprocess.Popen
    #: Framed requests not yet wholly written, as a view on what is left.
    outgoing: deque[memoryview] = field(default_factory=deque)
    incoming: bytearray = field(default_factory=bytearray)
    batches: dict[int, _Batch] = field(default_factory=dict)
    alive: bool = True
    #: Whether its input is watched for room (while a request is written in part).
    writing: bool = False


@dataclass
class WorkerStats:
    """What the workers did in one read, for :class:`~smtpsniff.analysis.capture.CaptureStats`."""

    workers: int = 0
    messages_by_workers: int = 0
    messages_here: int = 0
    #: Workers that stopped before answering everything (their batches were parsed here).
    workers_lost: int = 0
    #: The workers' peak resident sets added up, in KiB, where the system tells it (Linux
    #: ``/proc/PID/status`` ``VmHWM``); else 0.
    peak_rss_kib: int = 0


class MailWorkers:
    """Messages of closed sessions in, :class:`ParsedMessage` out: parsed by ``workers`` processes.

    Use as a context manager (the processes are stopped on the way out, whatever happened); feed
    it with :meth:`add` (a ``SmtpPipeline`` ``on_session`` callback), then call :meth:`parse`
    once per message, in any order.  ``workers=0`` parses everything here, in :meth:`parse`.
    """

    def __init__(self, limits: Limits, workers: int, *, start_after: int | None = None,
                 batch_messages: int | None = None, batch_bytes: int | None = None,
                 command: Sequence[str] | None = None) -> None:
        """``start_after``, ``batch_messages`` and ``batch_bytes`` default to the module's
        :data:`START_AFTER_MESSAGES`, :data:`BATCH_MESSAGES` and :data:`BATCH_BYTES`; ``command`` is
        the worker program (default :func:`worker_command`)."""
        self.limits = limits
        self.stats = WorkerStats()
        self._wanted = max(0, workers)
        self._start_after = START_AFTER_MESSAGES if start_after is None else start_after
        self._batch_messages = max(1, BATCH_MESSAGES if batch_messages is None else batch_messages)
        self._batch_bytes = BATCH_BYTES if batch_bytes is None else batch_bytes
        self._command = list(command) if command is not None else worker_command() if sys.executable else None
        self._workers: list[_Worker] = []
        self._selector: selectors.BaseSelector | None = None
        self._seen = 0
        self._current = _Batch(0)
        self._waiting: deque[_Batch] = deque()  # closed batches no worker holds
        #: id(content) -> (content, parsed): the content is kept so that its id stays its own.
        self._parsed: dict[int, tuple[bytes, ParsedMessage]] = {}

    # -- feeding ---------------------------------------------------------------------------------
    def add(self, records: SessionRecords) -> None:
        """Queue the messages of a closed session."""
        if not self._wanted or not records.messages:
            return
        for data in records.messages:
            self._add(data)

    def _add(self, data: MessageData) -> None:
        batch = self._current
        content = data.content
        batch.messages.append((content, data.complete))
        batch.size += len(content)
        self._seen += 1
        if len(batch.messages) >= self._batch_messages or batch.size >= self._batch_bytes:
            self._waiting.append(batch)
            self._current = _Batch(batch.number + 1)
            if not self._workers and self._seen >= self._start_after:
                self._start()
            if self._workers:  # answers read first: a worker's room counts the batches it still holds
                self._pump(timeout=0)

    # -- results ---------------------------------------------------------------------------------
    def parse(self, data: MessageData) -> ParsedMessage:
        """The parse of ``data``'s content (as ``parse_message(content, limits, complete)``)."""
        if self._workers or self._waiting:
            self._finish()
        found = self._parsed.pop(id(data.content), None)
        if found is not None and found[0] is data.content:
            return found[1]
        self.stats.messages_here += 1
        return parse_message(data.content, limits=self.limits, complete=data.complete)

    def _finish(self) -> None:
        """Every queued message parsed: the workers' batches answered, the waiting ones parsed here."""
        if self._current.messages:
            self._waiting.append(self._current)
            self._current = _Batch(self._current.number + 1)
        if not self._workers:  # never started: parse() parses each message here
            self._waiting.clear()
            return
        while True:
            self._pump(timeout=0)
            if self._waiting:  # the workers hold what they can: take the last waiting batch here
                self._parse_here(self._waiting.pop())
            elif not any(w.batches for w in self._workers if w.alive) or not self._pump(timeout=None):
                break
        self.close()

    def _parse_here(self, batch: _Batch) -> None:
        for content, complete in batch.messages:
            self._parsed[id(content)] = (content, parse_message(content, limits=self.limits, complete=complete))
        self.stats.messages_here += len(batch.messages)

    # -- processes -------------------------------------------------------------------------------
    def _start(self) -> None:
        self._selector = selectors.DefaultSelector()
        for _ in range(self._wanted if self._command else 0):  # no command: no interpreter path known
            try:
                process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL)
            except OSError:  # no process to be had: the messages are parsed here
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
        for key, events in selector.select(timeout):
            if events & selectors.EVENT_WRITE:
                self._write(key.data)
            else:
                self._read(key.data)
        self._hand_out()
        return True

    def _hand_out(self) -> None:
        for worker in self._workers:
            while worker.alive and self._waiting and len(worker.batches) < IN_FLIGHT:
                batch = self._waiting.popleft()
                worker.batches[batch.number] = batch
                request = (batch.number, self.limits, batch.messages)
                worker.outgoing.append(memoryview(frame(pickle.dumps(request, pickle.HIGHEST_PROTOCOL))))
            self._write(worker)

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
        while len(buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(buffer)
            end = FRAME.size + size
            if len(buffer) < end:
                break
            self._answered(worker, bytes(memoryview(buffer)[FRAME.size:end]))
            del buffer[:end]

    def _answered(self, worker: _Worker, payload: bytes) -> None:
        number, parsed = loads(payload)  # written by our own worker (see smtpsniff.mail.transfer)
        batch = worker.batches.pop(number, None)
        if batch is None:  # not a batch it holds: a worker gone wrong
            self._lost(worker)
            return
        if parsed is None or len(parsed) != len(batch.messages):  # the worker could not send it
            self._waiting.append(batch)
            return
        for (content, _), message in zip(batch.messages, parsed):
            self._parsed[id(content)] = (content, message)
        self.stats.messages_by_workers += len(parsed)

    def _lost(self, worker: _Worker) -> None:
        """A worker that stopped: what it held goes back to the waiting batches."""
        if not worker.alive:
            return
        worker.alive = False
        self.stats.workers_lost += 1
        self._waiting.extend(sorted(worker.batches.values(), key=lambda b: b.number))
        worker.batches.clear()
        worker.outgoing.clear()
        self._unwatch(worker)
        self._stop(worker, self.stats)

    def _unwatch(self, worker: _Worker) -> None:
        if self._selector is None:
            return
        self._selector.unregister(worker.process.stdout)
        if worker.writing:
            self._selector.unregister(worker.process.stdin)
            worker.writing = False

    @staticmethod
    def _stop(worker: _Worker, stats: WorkerStats) -> None:
        process = worker.process
        stats.peak_rss_kib += _peak_rss_kib(process.pid)
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
        """Stop every worker (at the end of its input it exits; one that does not is killed)."""
        for worker in self._workers:
            if worker.alive:
                worker.alive = False
                self._unwatch(worker)
                self._stop(worker, self.stats)
        self._workers.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def worker_pids(self) -> list[int]:
        """Process ids of the workers running now."""
        return [w.process.pid for w in self._workers if w.alive]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
