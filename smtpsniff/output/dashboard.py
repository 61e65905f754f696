"""The live dashboard: one rich renderable of a running capture, rebuilt on every refresh.

It shows what a mail administrator watches on a relay: packets captured and dropped, connections
open and closed, messages per minute, reply codes, the latest errors with their text, findings as
they fire and the latest sessions.  Every string from the wire goes through
:func:`~smtpsniff.output.safe.terminal_safe` into ``rich.text.Text`` (never markup), so a hostile
banner cannot colour, move or clear the terminal.  It reads the monitor and a status snapshot; it
neither captures nor prints.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..analysis.live import LiveMonitor
from ..net.linktypes import LINKTYPE_NAMES
from .safe import terminal_safe

#: Rows of each "latest" list on screen.
ROWS = 8
#: Characters of capture text shown in a cell.
MAX_TEXT = 72

_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan",
                   "info": "dim"}


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the capture loop knows that the monitor does not."""

    interface: str
    linktype: int
    bpf: str
    backend: str
    started_ns: int
    now_ns: int
    packets: int
    kernel_received: int | None
    kernel_dropped: int | None
    packets_per_s: float
    tcp_open: int
    smtp_open: int
    tcp_closed: int
    written: str | None = None
    stopping: bool = False


def _t(value: object, width: int = MAX_TEXT, style: str = "") -> Text:
    text = terminal_safe("" if value is None else str(value))
    text = text.split("\n", 1)[0]
    return Text(text if len(text) <= width else text[: width - 1] + "…", style=style)


def _clock(ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ns / 1e9))


def _duration(ns: int) -> str:
    seconds = max(0, ns // 1_000_000_000)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:d}:{rest // 60:02d}:{rest % 60:02d}"


def _count(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def _figures(rows: list[tuple[str, str]], title: str) -> Panel:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim")
    grid.add_column(justify="right")
    for label, value in rows:
        grid.add_row(label, value)
    return Panel(grid, title=title, title_align="left", border_style="blue")


def render_dashboard(monitor: LiveMonitor, status: LiveStatus) -> Group:
    """The whole screen for one refresh."""
    link = LINKTYPE_NAMES.get(status.linktype, str(status.linktype))
    head = Text.assemble(
        ("smtpsniff live ", "bold"), (terminal_safe(status.interface), "bold cyan"), f" ({link}, {status.backend})",
        "  filter ", (terminal_safe(status.bpf), "green"),
        f"  running {_duration(status.now_ns - status.started_ns)}",
        ("  stopping…" if status.stopping else "", "bold yellow"))
    dropped = status.kernel_dropped
    drop_style = "bold red" if dropped else "green"
    capture = _figures([
        ("packets captured", f"{status.packets:,}"),
        ("per second", f"{status.packets_per_s:,.0f}"),
        ("kernel received", _count(status.kernel_received)),
        ("dropped", f"[{drop_style}]{_count(dropped)}[/]"),
    ], "Capture")
    connections = _figures([
        ("TCP open", f"{status.tcp_open:,}"),
        ("SMTP open", f"{status.smtp_open:,}"),
        ("TCP closed", f"{status.tcp_closed:,}"),
        ("SMTP sessions", f"{monitor.sessions:,}"),
    ], "Connections")
    mail = _figures([
        ("messages / min", f"{monitor.messages_per_minute(status.now_ns):,}"),
        ("transactions", f"{monitor.transactions:,}"),
        ("accepted / rejected", f"{monitor.accepted:,} / {monitor.rejected:,}"),
        ("AUTH (failed)", f"{monitor.auth_attempts:,} ({monitor.auth_failures:,})"),
    ], "Mail")
    severities = [(s, monitor.findings_by_severity.get(s, 0)) for s in ("critical", "high", "medium", "low", "info")]
    found = _figures([(s, f"[{_SEVERITY_STYLE[s]}]{n:,}[/]" if n else "0") for s, n in severities[:4]]
                     + [("kinds", f"{len(monitor.findings_by_kind):,}")], "Findings")
    top = Table.grid(expand=True, padding=(0, 1))
    for _ in range(4):
        top.add_column(ratio=1)
    top.add_row(capture, connections, mail, found)

    codes = Table(title="Reply codes", title_justify="left", show_edge=False)
    codes.add_column("code", justify="right")
    codes.add_column("count", justify="right")
    for code, n in monitor.reply_codes.most_common(ROWS):
        codes.add_row(Text(str(code), style="red" if code >= 500 else "yellow" if code >= 400 else ""), f"{n:,}")

    errors = Table(title="Latest errors", title_justify="left", expand=True, show_edge=False)
    errors.add_column("time")
    errors.add_column("session", justify="right")
    errors.add_column("client")
    errors.add_column("code", justify="right")
    errors.add_column("answering")
    errors.add_column("text", ratio=1, no_wrap=True)
    for e in list(monitor.errors)[-ROWS:][::-1]:
        errors.add_row(_clock(e.ts_ns), str(e.session_id), _t(e.client_ip, 40),
                       Text(str(e.code), style="red" if e.code >= 500 else "yellow"), _t(e.verb, 12), _t(e.text))
    middle = Table.grid(expand=True, padding=(0, 2))
    middle.add_column()
    middle.add_column(ratio=1)
    middle.add_row(codes, errors)

    findings = Table(title="Findings by kind, as they fire (worst first)", title_justify="left", expand=True,
                     show_edge=False)
    findings.add_column("severity")
    findings.add_column("kind")
    findings.add_column("count", justify="right")
    findings.add_column("last")
    findings.add_column("session", justify="right")
    findings.add_column("latest explanation", ratio=1, no_wrap=True)
    latest = sorted(monitor.latest_by_kind.values(), key=lambda f: (-f.severity.rank, -(f.ts_ns or 0)))
    for f in latest[:ROWS]:
        findings.add_row(Text(f.severity.value, style=_SEVERITY_STYLE.get(f.severity.value, "")), _t(f.kind, 28),
                         f"{monitor.findings_by_kind[f.kind]:,}", _clock(f.ts_ns) if f.ts_ns else "",
                         "" if f.session_id is None else str(f.session_id), _t(f.explanation, 120))

    sessions = Table(title="Latest sessions", title_justify="left", expand=True, show_edge=False)
    for name, justify in (("end", "left"), ("session", "right"), ("client", "left"), ("server", "left"),
                          ("HELO", "left"), ("tx", "right"), ("ok/rej", "right"), ("TLS", "left"),
                          ("AUTH", "left"), ("close", "left")):
        sessions.add_column(name, justify=justify, no_wrap=True)
    for s in list(monitor.recent_sessions)[-ROWS:][::-1]:
        sessions.add_row(_clock(s.ts_ns), str(s.session_id), _t(s.client, 48), _t(s.server, 48), _t(s.helo, 30),
                         str(s.transactions), f"{s.accepted}/{s.rejected}", "yes" if s.tls else "no",
                         _t(s.auth, 12), _t(s.close_reason, 14))
    foot = Text(f"writing {terminal_safe(status.written)}  " if status.written else "", style="dim")
    foot.append("Ctrl-C to stop", style="dim")
    return Group(head, top, middle, findings, sessions, foot)
