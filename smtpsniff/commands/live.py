"""``smtpsniff live -i IFACE``: watch an interface, feed the same pipeline as the offline path.

Frames from a live source go to the pcapng writer (``--write``) and to the very same
:class:`~smtpsniff.pipeline.SmtpPipeline` the capture files go through; each finished session goes
to the :class:`~smtpsniff.analysis.live.LiveMonitor` (counters, findings) and to ``--jsonl``.
A wall-clock timer expires idle connections, runs the cross-session detectors and redraws the
dashboard.  SIGINT or SIGTERM (or ``--duration`` / ``--count``) ends the run cleanly: every open
connection is closed as at the end of a capture file, then the summary is printed and ``-o``
exports what was kept.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from ..analysis.live import DETECTION_WINDOW_SESSIONS
from ..anomaly import Anomaly, Layer
from ..capture.live import BACKENDS, LiveCaptureError, bpf_for_ports, open_live
from ..limits import DEFAULT_LIMITS, MiB
from ..net.linktypes import LINKTYPE_NAMES
from ..output.safe import terminal_safe
from .analyze import add_capture_options
from .common import EXIT_OK, EXIT_UNUSABLE, warn

#: Seconds between two wall-clock ticks (idle expiry, cross-session detectors, file flush).
TICK_S = 1.0
#: Dashboard redraws per second.
REFRESH_PER_S = 2.0
#: Longest wait for packets before the loop looks at its timers and stop flag again.
POLL_S = 0.1
#: Characters of a finding's explanation in the final summary.
MAX_EXPLANATION = 100


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value
    return parse


def _threshold(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="monitor a network interface live: dashboard, JSON lines, pcapng ring, findings",
        description="Capture SMTP on a network interface and analyse it as it happens, with the same "
                    "decoder and detectors as `analyze`. Needs root or CAP_NET_RAW.")
    p.add_argument("-i", "--interface", required=True, metavar="IFACE",
                   help="interface to capture on (any: every interface, Linux cooked capture)")
    p.add_argument("--backend", choices=BACKENDS, default="scapy",
                   help="scapy (default: an AF_PACKET socket) or pyshark (tshark's live capture)")
    p.add_argument("--bpf", metavar="FILTER",
                   help="kernel capture filter in libpcap syntax (default: tcp port P for each of --ports)")
    add_capture_options(p, files=False)
    p.add_argument("--no-promisc", action="store_true", help="do not put the interface in promiscuous mode")
    p.add_argument("--jsonl", metavar="FILE",
                   help="append each finished session, transaction and finding as one JSON line ('-': stdout)")
    p.add_argument("-w", "--write", metavar="FILE.pcapng", help="keep the captured packets in a pcapng file")
    p.add_argument("--ring-size", type=_positive(float), metavar="MB",
                   help="with --write: start a new file (FILE_00001.pcapng, ...) when this size is reached")
    p.add_argument("--ring-seconds", type=_positive(float), metavar="SECONDS",
                   help="with --write: start a new file after this much capture time")
    p.add_argument("--ring-files", type=_positive(int), metavar="N",
                   help="with a ring: keep only the newest N files")
    p.add_argument("--duration", type=_positive(float), metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--count", type=_positive(int), metavar="PACKETS", help="stop after this many packets")
    p.add_argument("-o", "--output", metavar="DIR", help="at the end, write every table of what was seen to DIR")
    p.add_argument("--format", choices=("csv", "parquet", "json"), default="csv",
                   help="table format with -o (default: csv; json writes JSON lines)")
    p.add_argument("--keep-sessions", type=int, metavar="N",
                   help=f"sessions kept for the summary and -o (default {DEFAULT_LIMITS.max_live_sessions_kept}; "
                        "later ones are counted)")
    p.add_argument("--show-secrets", action="store_true", help="show passwords, tokens and hashes in findings")
    p.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="NAME=VALUE",
                   help="override a detector threshold (see `smtpsniff findings --help`)")
    p.add_argument("--no-findings", action="store_true",
                   help="do not run the detectors while capturing (the -o export still has them)")
    p.add_argument("--no-dashboard", action="store_true", help="no live dashboard, only the final summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.ring_size or args.ring_seconds or args.ring_files) and not args.write:
        warn("--ring-size, --ring-seconds and --ring-files need --write")
        return EXIT_UNUSABLE
    if args.ring_files and not (args.ring_size or args.ring_seconds):
        warn("--ring-files needs --ring-size or --ring-seconds")
        return EXIT_UNUSABLE
    if args.keep_sessions is not None and args.keep_sessions < 0:
        warn("--keep-sessions must not be negative")
        return EXIT_UNUSABLE
    from ..findings import check_thresholds

    try:
        check_thresholds(dict(args.threshold))
    except ValueError as exc:
        warn(str(exc))
        return EXIT_UNUSABLE
    bpf = args.bpf or bpf_for_ports(args.ports)
    try:
        source = open_live(args.interface, bpf=bpf, backend=args.backend, promisc=not args.no_promisc)
    except LiveCaptureError as exc:
        warn(str(exc))
        return EXIT_UNUSABLE
    try:
        return LiveRun(args, source).run()
    finally:
        source.close()


class LiveRun:
    """One run of ``smtpsniff live``: the loop, its outputs and its end."""

    def __init__(self, args: argparse.Namespace, source) -> None:
        from ..analysis.live import LiveMonitor
        from ..pipeline import SmtpPipeline

        self.args = args
        self.source = source
        self.limits = DEFAULT_LIMITS
        self.monitor = LiveMonitor(limits=self.limits, thresholds=dict(args.threshold),
                                   show_secrets=args.show_secrets, keep_sessions=args.keep_sessions,
                                   findings=not args.no_findings)
        self.pipeline = SmtpPipeline(self.limits, smtp_ports=args.ports, detect_other_ports=not args.no_detect,
                                     on_session=self._on_session, keep_sessions=False)
        self.capture_name = f"live:{args.interface}"
        self.stop_reason: str | None = None
        self.packets = 0
        self.writer = None
        self.jsonl = None
        self._jsonl_fh = None
        self._connections: dict[int, dict] = {}

    # --- outputs ---------------------------------------------------------------------------------
    def _open_outputs(self) -> bool:
        from ..capture.pcapng_writer import InterfaceStats
        from ..capture.ring import CaptureFileWriter
        from ..output.jsonl import JsonLinesWriter

        args = self.args
        started_ns = time.time_ns()

        def stats() -> InterfaceStats:
            s = self.source.stats()
            return InterfaceStats(received=s.kernel_received, dropped=s.kernel_dropped, start_ns=started_ns,
                                  end_ns=time.time_ns())

        try:
            if args.write:
                self.writer = CaptureFileWriter(
                    args.write, self.source.interface, max_bytes=int(args.ring_size * MiB) if args.ring_size else None,
                    max_seconds=args.ring_seconds, max_files=args.ring_files, stats=stats,
                    application=f"smtpsniff {_version()}")
            if args.jsonl:
                if args.jsonl == "-":
                    self._jsonl_fh = sys.stdout
                else:
                    self._jsonl_fh = open(args.jsonl, "a", encoding="utf-8")  # noqa: SIM115 - closed in _close
                self.jsonl = JsonLinesWriter(self._jsonl_fh, capture=self.capture_name)
        except OSError as exc:
            warn(f"cannot write {exc.filename}: {exc.strerror}")
            return False
        return True

    def _on_session(self, records) -> None:
        found = self.monitor.add(records)
        if self.jsonl is not None:
            self.jsonl.session(records, found)
            s = records.session
            self._connections[s.session_id] = {"client_ip": s.client_ip, "client_port": s.client_port,
                                               "server_ip": s.server_ip, "server_port": s.server_port}
            if len(self._connections) > DETECTION_WINDOW_SESSIONS:  # what cross-session findings can name
                self._connections.pop(next(iter(self._connections)))

    def _cross_session(self, final: bool = False) -> None:
        found = self.monitor.final() if final else self.monitor.sweep()
        if found and self.jsonl is not None:
            self.jsonl.findings(found, self._connections, **({"final": True} if final else {}))

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        from rich.console import Console

        if not self._open_outputs():
            return EXIT_UNUSABLE
        args = self.args
        console = Console(stderr=args.jsonl == "-", highlight=False)
        link = LINKTYPE_NAMES.get(self.source.interface.linktype, str(self.source.interface.linktype))
        self.started_ns = time.time_ns()
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            # Said once the socket is filtered and a signal stops the run cleanly (tests wait for it).
            print(f"smtpsniff: listening on {terminal_safe(args.interface)} ({link}, {self.source.backend}), "
                  f"capture filter: {terminal_safe(getattr(self.source, 'kernel_bpf', self.source.bpf))}",
                  file=sys.stderr, flush=True)
            if console.is_terminal and not args.no_dashboard:
                self._loop_with_dashboard(console)
            else:
                self._loop(None)
            self._finish()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close()
        self._report(console)
        return EXIT_OK

    def _stop(self, signum, _frame) -> None:
        if self.stop_reason is not None:
            raise KeyboardInterrupt  # a second signal: stop now
        self.stop_reason = signal.Signals(signum).name

    def _loop_with_dashboard(self, console) -> None:
        from rich.live import Live

        with Live(console=console, auto_refresh=False, screen=True, transient=True,
                  redirect_stdout=False, redirect_stderr=False) as live:
            self._loop(live)

    def _loop(self, live) -> None:
        args = self.args
        source, pipeline, writer = self.source, self.pipeline, self.writer
        feed = pipeline.feed
        start = time.monotonic()
        deadline = start + args.duration if args.duration else None
        next_tick = start + TICK_S
        next_draw = start
        rate_mark = (start, 0)
        self.rate = 0.0
        limit = args.count
        while self.stop_reason is None:
            frames = source.poll(POLL_S)
            if frames:
                if limit is not None and self.packets + len(frames) >= limit:
                    frames = frames[: limit - self.packets]
                    self.stop_reason = "count"
                for frame in frames:
                    if writer is not None:
                        writer.write(frame)
                    feed(frame)
                self.packets += len(frames)
            elif getattr(source, "finished", False):
                self.stop_reason = "capture ended"
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK_S
                pipeline.tick(time.time_ns())
                self._cross_session()
                if writer is not None:
                    writer.flush()
                self.rate = (self.packets - rate_mark[1]) / max(now - rate_mark[0], 1e-9)
                rate_mark = (now, self.packets)
            if live is not None and now >= next_draw:
                next_draw = now + 1 / REFRESH_PER_S
                live.update(self._dashboard(), refresh=True)
            if deadline is not None and now >= deadline:
                self.stop_reason = self.stop_reason or "duration"
        if live is not None:
            live.update(self._dashboard(stopping=True), refresh=True)

    def _dashboard(self, stopping: bool = False):
        from ..output.dashboard import LiveStatus, render_dashboard

        stats = self.source.stats()
        p = self.pipeline
        status = LiveStatus(
            interface=self.args.interface, linktype=self.source.interface.linktype,
            bpf=getattr(self.source, "kernel_bpf", self.source.bpf), backend=self.source.backend,
            started_ns=self.started_ns, now_ns=time.time_ns(), packets=self.packets,
            kernel_received=stats.kernel_received, kernel_dropped=stats.kernel_dropped, packets_per_s=self.rate,
            tcp_open=p.streams.reassembler.open_connections, smtp_open=p.open_sessions,
            tcp_closed=p.result.tcp_connections, written=self.args.write, stopping=stopping)
        return render_dashboard(self.monitor, status)

    # --- the end -----------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Close every open connection as the end of a capture does; the last sessions finish."""
        if self.stop_reason != "count":
            for frame in self.source.drain():  # what the kernel (or tshark) already holds
                if self.writer is not None:
                    self.writer.write(frame)
                self.pipeline.feed(frame)
                self.packets += 1
        self.pipeline.finish()
        self._cross_session(final=True)
        self.source.close()
        self.final_stats = self.source.stats()
        self.ended_ns = time.time_ns()

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._jsonl_fh is not None and self._jsonl_fh is not sys.stdout:
            self._jsonl_fh.close()
        elif self._jsonl_fh is sys.stdout:
            sys.stdout.flush()

    def _capture_notes(self) -> list[Anomaly]:
        notes = []
        stats = self.final_stats
        if stats.kernel_dropped:
            notes.append(Anomaly(layer=Layer.CAPTURE, kind="kernel_drops", message=(
                f"the kernel dropped {stats.kernel_dropped} of {stats.kernel_received} packets on "
                f"{self.args.interface}: sessions may show gaps"), ts_ns=self.ended_ns))
        m = self.monitor
        if m.not_kept:
            notes.append(Anomaly(layer=Layer.CAPTURE, kind="live_sessions_not_kept", message=(
                f"{m.not_kept} of {m.sessions} sessions are not in this summary or export: only {len(m.kept)} "
                f"were kept (max_live_sessions_kept={m.keep_limit}, max_live_message_bytes_kept="
                f"{self.limits.max_live_message_bytes_kept}); --jsonl streams every session"), ts_ns=self.ended_ns))
        return notes

    def _report(self, console) -> None:
        from dataclasses import asdict

        from rich.text import Text

        from ..analysis.capture import Capture, CaptureStats, ReadOptions, build_tables
        from ..output.summary import render_summary
        from ..output.tables import write_tables

        m, p = self.monitor, self.pipeline
        loose = [*p.result.anomalies, *self._capture_notes()]
        options = ReadOptions(limits=self.limits, show_secrets=self.args.show_secrets,
                              thresholds=dict(self.args.threshold))
        capture_of = {r.session.session_id: self.capture_name for r in m.kept}
        stats = CaptureStats(files=[self.capture_name], packets=p.streams.decoder.counts.as_dict(),
                             smtp_packets=p.result.smtp_packets, tcp_connections=p.result.tcp_connections,
                             smtp_sessions=m.sessions,
                             reassembly={k: v for k, v in asdict(p.streams.reassembler.stats).items()
                                         if isinstance(v, int)})
        cap = Capture(build_tables(m.kept, loose, capture_of, options), stats, m.kept)
        fs = self.final_stats
        dropped = "n/a" if fs.kernel_dropped is None else f"{fs.kernel_dropped:,}"
        received = "n/a" if fs.kernel_received is None else f"{fs.kernel_received:,}"
        seconds = (self.ended_ns - self.started_ns) / 1e9
        console.print(Text.assemble(
            ("live capture ", "bold"), (terminal_safe(self.args.interface), "bold"),
            f": {self.packets:,} packets in {seconds:,.1f} s (kernel received {received}, dropped {dropped}); "
            f"{m.sessions:,} SMTP sessions finished, {m.messages:,} messages, {m.findings_total:,} findings; "
            f"stopped by {self.stop_reason}"), soft_wrap=True)
        if m.not_kept:
            console.print(Text(f"{m.not_kept:,} sessions were only counted, not kept for this summary "
                               f"(limit {m.keep_limit:,})", style="yellow"), soft_wrap=True)
        if self.writer is not None:
            files = list(self.writer.files)
            where = terminal_safe(str(files[0])) if len(files) == 1 else (
                f"{len(files)} files {terminal_safe(str(files[0]))} … {terminal_safe(str(files[-1]))}"
                + (f" ({self.writer.files_deleted} older ones deleted)" if self.writer.files_deleted else ""))
            console.print(Text(f"wrote {self.writer.packets:,} packets to {where}"), soft_wrap=True)
        render_summary(cap, console)
        findings = cap.tables.get("findings")
        if findings is not None and len(findings):
            console.print(_findings_table(findings))
        if self.args.output:
            written = write_tables(cap.tables, Path(self.args.output), self.args.format)
            console.print(Text(f"wrote {len(written)} tables to {terminal_safe(str(self.args.output))}"))


def _findings_table(findings):
    """Findings of the kept sessions by kind, worst severity first."""
    from rich.table import Table
    from rich.text import Text

    from ..findings import Severity

    rank = {s.value: s.rank for s in Severity}
    table = Table(title="Findings", title_justify="left")
    for name, justify in (("severity", "left"), ("kind", "left"), ("count", "right"), ("sessions", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    table.add_column("first explanation", overflow="fold")
    groups = findings.groupby(["severity", "kind"], observed=True)
    for (severity, kind), group in sorted(groups, key=lambda kv: (-rank.get(str(kv[0][0]), 0), -len(kv[1]))):
        first = terminal_safe(str(group["explanation"].iloc[0]))
        table.add_row(str(severity), terminal_safe(str(kind)), str(len(group)), str(group["session_id"].nunique()),
                      Text(first if len(first) <= MAX_EXPLANATION else first[: MAX_EXPLANATION - 1] + "…"))
    return table


def _version() -> str:
    from .. import __version__

    return __version__
