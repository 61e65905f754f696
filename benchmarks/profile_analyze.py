#!/usr/bin/env python3
"""Where the full analysis (``smtpsniff.read``, the ``smtpsniff`` peer of bench_analyze) spends its time.

    python benchmarks/profile_analyze.py [CAPTURE] --stages   # CPU seconds of each stage
    python benchmarks/profile_analyze.py [CAPTURE] --timeline # what the reading process does when
    python benchmarks/profile_analyze.py [CAPTURE] --replay   # a worker's session work, C and Python
    python benchmarks/profile_analyze.py [CAPTURE] [--top 30] [--sort tottime]   # cProfile

``--stages`` runs each pipeline stage in its own child process, each doing everything the previous
one did plus one layer, then times the table building of the last one step by step:

* ``streams``: read + decode + TCP reassembly (``StreamPipeline``, the C fast path when enabled);
* ``smtp``: + an ``SmtpConversation`` per connection on an SMTP port, every SMTP event consumed;
* ``records``: ``SmtpPipeline.feed_all`` as ``read`` runs it: + ``SessionBuilder`` records, and the
  probes that look for SMTP on other ports;
* ``tables``: + ``build_tables``, split into mail parsing (``mail_tables.parse_all``), credentials
  and findings (``credentials`` + ``findings.find``) and the rest (rows and DataFrames).

``--timeline`` runs ``read`` as users do (its default workers unless ``--workers N``; every table
unless ``--tables``, ``summary`` naming those ``smtpsniff analyze`` builds for its summary), in this
process, and prints when each phase of the reading process began and ended, in wall seconds from
the call: the workers' start, the sessions still waiting decoded at the end (``drain``), the
hand-off of the waiting messages, the import of the table modules (pandas) that follows it, the
session tables, each table provider's ``prepare`` and ``build``, the parses asked for (from the
first to the last ``Workers.parse``), the end of the hand-off (``Workers._finish``); then the
workers' CPU time and the transfer costs (pickling requests, unpickling answers, by kind; a feeding
thread's pickling includes its waits for the interpreter lock); then, from a log each worker
writes (its start-up command wrapped to time ``Worker.answer``), its busy and CPU time on each kind
of request and when it was idle (before its first request, between requests, after its last).

``--replay`` records every SMTP session as ``read`` records it for a worker (its calls on a decoder,
with its bytes: a ``SessionJob``), then times, three times each, what a worker does with the jobs
(``pipeline.replay``: decode and build the records) with the C fast path and without it (the
Python decoder, feeding and record builder; the C object builders stay): CPU seconds, the best of
three.  Pickling is not in it.

Every stage holds the cyclic garbage collector as ``read`` does (``pipeline.collector_paused``), so
the stages add up to what ``read`` pays, all in one process.  cProfile adds a roughly constant cost
per call, so it overstates small, often-called functions: read its ranking, not its seconds.  It
sees one process: the profile is of ``read(..., workers=0)``, all the work in that process, unless
``--workers N`` asks for worker processes (whose share is then not in it).  The raw profile goes
to ``benchmarks/work/profile-analyze.prof``.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import WORK, profile_peer, run_child
from peers import smtpsniff_analyze

STAGES = ("streams", "smtp", "records", "tables")


def _streams(path: str, on_events) -> None:
    from smtpsniff.capture.files import open_capture
    from smtpsniff.streams import StreamPipeline, stream_events

    with open_capture(path) as reader:
        pipeline = StreamPipeline()
        for ev in stream_events(reader, pipeline):
            on_events(ev)


def run_stage(stage: str, path: str) -> dict:
    """One stage over the whole capture, in this process; its CPU seconds (imports excluded)."""
    from smtpsniff.pipeline import collector_paused

    with collector_paused():
        return _run_stage(stage, path)


def _run_stage(stage: str, path: str) -> dict:
    from smtpsniff.capture.files import open_capture
    from smtpsniff.pipeline import SmtpPipeline
    from smtpsniff.reassembly.events import (
        ConnectionClosed,
        ConnectionOpened,
        StreamData,
        StreamGap,
    )
    from smtpsniff.reassembly.table import SMTP_PORTS
    from smtpsniff.smtp.conversation import SmtpConversation

    started = time.process_time()
    out: dict = {"stage": stage}
    if stage == "streams":
        n = [0]

        def count(ev) -> None:
            n[0] += 1
        _streams(path, count)
        out["events"] = n[0]
    elif stage == "smtp":
        conversations: dict[int, SmtpConversation] = {}
        smtp_events = [0]

        def decode(ev) -> None:
            t = type(ev)
            if t is ConnectionOpened:
                if ev.server.port in SMTP_PORTS:
                    conversations[ev.conn_id] = SmtpConversation(midstream=not ev.handshake_seen)
                return
            conv = conversations.get(getattr(ev, "conn_id", None))
            if conv is None:
                return
            if t is StreamData:
                smtp_events[0] += len(conv.receive(ev.direction, ev.data, ev.ts_ns, ev.frame))
            elif t is StreamGap:
                smtp_events[0] += len(conv.gap(ev.direction, ev.length, ev.ts_ns, ev.frame))
            elif t is ConnectionClosed:
                smtp_events[0] += len(conv.close(ev.ts_ns))
                del conversations[ev.conn_id]
        _streams(path, decode)
        out["smtp_events"] = smtp_events[0]
    else:
        with open_capture(path) as reader:
            result = SmtpPipeline().feed_all(reader)
        records = sorted(result.sessions, key=lambda r: r.session.session_id)
        out["sessions"] = len(records)
        if stage == "tables":
            out.update(_table_costs(records, result.anomalies, started))
    out["cpu_s"] = round(time.process_time() - started, 3)
    return out


def _table_costs(records: list, loose_anomalies: list, started: float) -> dict:
    """CPU seconds of each step of ``build_tables``, run as it runs them: the core tables, then each
    table provider in ``TABLE_PROVIDERS`` order; mail parsing (``parse_all``) timed on its own first."""
    import pandas as pd

    import smtpsniff.analysis.capture as capture_mod
    from smtpsniff.analysis.mail_tables import parse_all
    from smtpsniff.limits import DEFAULT_LIMITS

    out: dict = {"records_cpu_s": round(time.process_time() - started, 3)}
    t = time.process_time()
    out["messages"] = len(parse_all(records, DEFAULT_LIMITS))
    out["parse_all_cpu_s"] = round(time.process_time() - t, 3)
    providers = capture_mod.TABLE_PROVIDERS
    capture_mod.TABLE_PROVIDERS = ()  # the core tables alone; the providers are run below
    try:
        t = time.process_time()
        tables = capture_mod.build_tables(records, loose_anomalies)
        out["core_tables_cpu_s"] = round(time.process_time() - t, 3)
    finally:
        capture_mod.TABLE_PROVIDERS = providers
    options = capture_mod.ReadOptions()
    for module in providers:
        t = time.process_time()
        built = importlib.import_module(module).build(records, tables, options)
        out[f"{module.rsplit('.', 1)[-1]}_cpu_s"] = round(time.process_time() - t, 3)
        tables.update((k, v) for k, v in built.items() if isinstance(v, pd.DataFrame))
    out["rows"] = sum(len(f) for f in tables.values())
    out["findings"] = len(tables.get("findings", ()))
    return out


def stages(capture: Path) -> None:
    print("| stage | CPU s | added by the stage | counts |\n|---|---:|---:|---|")
    before = 0.0
    for stage in STAGES:
        run = run_child([sys.executable, __file__, str(capture), "--stage", stage], reports=True)
        if run.returncode or not run.report:
            print(f"| {stage} | failed: {run.error.strip().splitlines()[-1:]} | | |")
            return
        rep = run.report
        cpu = rep["records_cpu_s"] if stage == "tables" else rep["cpu_s"]
        counts = {k: v for k, v in rep.items() if k not in ("stage", "cpu_s") and not k.endswith("_cpu_s")}
        print(f"| {stage if stage != 'tables' else 'records (again, in the tables run)'} | {cpu:.2f} "
              f"| {cpu - before:+.2f} | {counts} |", flush=True)
        before = cpu
        if stage == "tables":
            mail = rep.get("mail_tables_cpu_s", 0.0)
            for label, value in (("mail parsing (`mail_tables.parse_all`, timed alone)", rep["parse_all_cpu_s"]),
                                 ("core tables: rows + DataFrames (sessions ... anomalies)", rep["core_tables_cpu_s"]),
                                 ("`mail_tables.build` (parse again + messages, attachments, headers)", mail),
                                 ("  of which rows + DataFrames (build minus parse_all)", mail - rep["parse_all_cpu_s"]),
                                 ("`security_tables.build` (credentials + findings)",
                                  rep.get("security_tables_cpu_s", 0.0))):
                print(f"| + {label} | | {value:+.2f} | |")
            print(f"| total (tables run) | {rep['cpu_s']:.2f} | | |")
        print(json.dumps(rep), file=sys.stderr)


def timeline(capture: Path, workers: int | None, tables: list[str] | None = None) -> None:
    """:func:`smtpsniff.read` with its phases timed in place (see the module's docstring)."""
    import resource

    import smtpsniff

    # (no pandas: read imports it itself)
    from smtpsniff.analysis import workers as workers_module

    marks: list[tuple[str, float, float]] = []
    costs: dict[str, float] = {}
    origin = [0.0]

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                marks.append((label, began - origin[0], time.perf_counter() - origin[0]))
        setattr(owner, name, wrapper)

    def priced(name: str, kind_of) -> None:
        original = getattr(workers_module, name)

        def wrapper(value):
            began = time.perf_counter()
            result = original(value)
            key = f"{name} {kind_of(value, result)}"
            costs[key] = costs.get(key, 0.0) + time.perf_counter() - began
            return result
        setattr(workers_module, name, wrapper)

    def tables_timed() -> None:
        """The table modules imported (timed: read imports them once the files are read) and
        their steps timed."""
        began = time.perf_counter()
        from smtpsniff.analysis import capture as capture_module

        providers = [importlib.import_module(module) for module in capture_module.TABLE_PROVIDERS]
        marks.append(("table modules imported (pandas)", began - origin[0], time.perf_counter() - origin[0]))
        timed(capture_module, "build_tables", "tables (build_tables)")
        for module, provider in zip(capture_module.TABLE_PROVIDERS, providers):
            for step in ("prepare", "build"):
                if hasattr(provider, step):
                    timed(provider, step, f"provider {module.rsplit('.', 1)[-1]}.{step}")

    asked: list[float] = []  # when the first parse was asked for, and when the last returned

    def parse_noted(original):
        @functools.wraps(original)
        def wrapper(self, data):
            if not asked:
                asked.append(time.perf_counter() - origin[0])
            try:
                return original(self, data)
            finally:
                asked[1:] = [time.perf_counter() - origin[0]]
        return wrapper

    timed(workers_module.Workers, "_start", "workers started")
    timed(workers_module.Workers, "drain", "sessions still waiting decoded (drain)")
    timed(workers_module.Workers, "hand_off", "messages handed off")
    timed(workers_module.Workers, "_finish", "hand-off ended: last answers read, workers stopped (_finish)")
    hand_off = workers_module.Workers.hand_off

    def handed_off(self, *args, **kwargs):
        hand_off(self, *args, **kwargs)
        tables_timed()
    workers_module.Workers.hand_off = handed_off
    workers_module.Workers.parse = parse_noted(workers_module.Workers.parse)
    priced("dumps", lambda value, _: f"request ({value[0]})")
    priced("loads", lambda _, result: "answer ("
           + (type(result[1][0]).__name__ if result[1] else "empty") + ")")
    logs = Path(tempfile.mkdtemp(prefix="smtpsniff-timeline-"))
    workers_module.worker_command = _logging_worker_command(workers_module.worker_command, logs)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    origin[0] = time.perf_counter()
    cap = smtpsniff.read(str(capture), workers=workers, tables=tables)
    ended = time.perf_counter() - origin[0]
    worker_cpu = sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) - getattr(children, f)
                     for f in ("ru_utime", "ru_stime"))
    if asked:
        marks.append(("parses asked for, the mail rows made meanwhile", asked[0], asked[-1]))
    print("| phase of the reading process | from s | to s | s |\n|---|---:|---:|---:|")
    for label, began, done in sorted(marks, key=lambda m: m[1]):
        print(f"| {label} | {began:.3f} | {done:.3f} | {done - began:.3f} |")
    print(f"| read returned | | {ended:.3f} | |")
    stats = cap.stats
    print(f"\nworkers: {stats.workers}, their CPU {worker_cpu:.2f} s; sessions decoded by them "
          f"{stats.sessions_decoded_by_workers} of {len(cap.sessions)}, messages parsed "
          f"{stats.messages_parsed_by_workers} of {len(cap.objects.get('mail', ()))}")
    for key, value in sorted(costs.items()):
        print(f"{key}: {value:.3f} s")
    for log in sorted(logs.glob("*.log")):
        _worker_requests(log, origin[0], ended)
        log.unlink()
    logs.rmdir()


#: Idle spells of a worker shorter than this are not listed one by one.
_IDLE_LISTED_S = 0.05


def _logging_worker_command(worker_command, logs: Path):
    """``worker_command`` whose worker writes, for each request it answers, when it began and
    ended (``time.perf_counter``, the one monotonic clock of the machine on Linux), its CPU time
    and its kind, to a file of ``logs`` named by its process id."""
    def command() -> list[str]:
        argv = worker_command()
        logging = (
            "import os, time, smtpsniff.worker as w\n"
            f"log = open(os.path.join({str(logs)!r}, f'{{os.getpid()}}.log'), 'w', buffering=1)\n"
            "answer = w.Worker.answer\n"
            "def logged(self, request):\n"
            "    began, cpu = time.perf_counter(), time.process_time()\n"
            "    out = answer(self, request)\n"
            "    kind = 'sessions' if b'sessions' in request[:64] else 'messages'\n"
            "    log.write(f'{began} {time.perf_counter()} {time.process_time() - cpu} {kind}\\n')\n"
            "    return out\n"
            "w.Worker.answer = logged\n")
        argv[-1] = argv[-1].replace("from smtpsniff.worker import main\n", logging + "from smtpsniff.worker import main\n")
        return argv
    return command


def _worker_requests(log: Path, origin: float, ended: float) -> None:
    """What one worker did, from its log (see :func:`_logging_worker_command`): its busy time and
    CPU time by kind of request, and when it was idle, in seconds from the call of ``read``."""
    spells = []
    for line in log.read_text().splitlines():
        began, done, cpu, kind = line.split()
        spells.append((float(began) - origin, float(done) - origin, float(cpu), kind))
    if not spells:
        print(f"\nworker {log.stem}: no request")
        return
    print(f"\nworker {log.stem}, its requests:")
    for kind in ("sessions", "messages"):
        mine = [x for x in spells if x[3] == kind]
        if mine:
            print(f"- {kind}: {len(mine)} requests from {mine[0][0]:.3f} to {mine[-1][1]:.3f} s, busy "
                  f"{sum(done - began for began, done, _, _ in mine):.3f} s, CPU {sum(x[2] for x in mine):.3f} s")
    idle, last = [], 0.0
    for began, done, _, _ in sorted(spells):
        if began - last >= _IDLE_LISTED_S:
            idle.append((last, began))
        last = max(last, done)
    if ended - last >= _IDLE_LISTED_S:
        idle.append((last, ended))
    print(f"- idle (spells of {_IDLE_LISTED_S} s or more): "
          + (", ".join(f"{a:.3f}-{b:.3f} ({b - a:.3f} s)" for a, b in idle) or "none")
          + f"; its last request done {ended - last:.3f} s before read returned")


def replay_costs(capture: Path) -> None:
    """``--replay``: see the module docstring."""
    from smtpsniff.capture.files import open_capture
    from smtpsniff.limits import DEFAULT_LIMITS
    from smtpsniff.net import native
    from smtpsniff.pipeline import collector_paused, replay, session_jobs
    from smtpsniff.records.builder import SharedValues

    with collector_paused():
        with open_capture(str(capture)) as reader:
            jobs = session_jobs(reader)
        print(f"{len(jobs)} sessions recorded\n| replay | CPU s, best of 3 |\n|---|---:|")
        for label, readers in (("C fast path", native.smtp_functions()), ("Python", None)):
            if label == "C fast path" and readers is None:
                continue  # not built, or SMTPSNIFF_NATIVE=0
            best = float("inf")
            for _ in range(3):
                shared = SharedValues()
                started = time.process_time()
                records = [replay(job, DEFAULT_LIMITS, shared, readers) for job in jobs]
                best = min(best, time.process_time() - started)
                del records
            print(f"| {label} | {best:.3f} |", flush=True)


def _tables(text: str) -> list[str]:
    if text == "summary":
        from smtpsniff.commands.analyze import SUMMARY_TABLES

        return list(SUMMARY_TABLES)
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", nargs="?", type=Path, default=WORK / "mixed.pcap")
    p.add_argument("--top", type=int, default=30, help="rows to print (default 30)")
    p.add_argument("--sort", default="tottime", choices=("tottime", "cumulative", "ncalls"))
    p.add_argument("--out", type=Path, default=WORK / "profile-analyze.prof")
    p.add_argument("--stages", action="store_true", help="CPU seconds of each stage, each in a child process")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes for the profiled read (default 0: all the work in the profiled "
                        "process) or the timed one (default: read's own)")
    p.add_argument("--timeline", action="store_true",
                   help="when each phase of the reading process ran, in one read as users run it")
    p.add_argument("--tables", type=_tables, default=None, metavar="NAMES",
                   help="with --timeline: the tables read builds while it reads, comma-separated, or 'summary' "
                        "(those of smtpsniff analyze alone; default: every table)")
    p.add_argument("--replay", action="store_true",
                   help="CPU seconds of a worker's session work (decoding, records), with and without C")
    p.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # one stage, in a child process
    args = p.parse_args(argv)
    if args.replay:
        replay_costs(args.capture)
        return 0
    if args.timeline:
        timeline(args.capture, args.workers, args.tables)
        return 0
    if args.stage:
        print(json.dumps(run_stage(args.stage, str(args.capture))))
        return 0
    if args.stages:
        stages(args.capture)
        return 0
    for module in ("smtpsniff.analysis.capture", "smtpsniff.analysis.mail_tables",
                   "smtpsniff.analysis.security_tables"):
        importlib.import_module(module)  # imports are not what is profiled
    profile_peer(functools.partial(smtpsniff_analyze, workers=args.workers or 0), args.capture, args.out,
                 sort=args.sort, top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
