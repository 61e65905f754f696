"""``smtpsniff findings FILE...``: security findings as a terminal table or JSON lines, with a CI exit code."""
from __future__ import annotations

import argparse
import json
import sys

from .analyze import add_capture_options, read_files, usable_files
from .common import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, warn

FORMATS = ("table", "jsonl")


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def register(sub) -> None:
    from ..findings import Severity, kinds, thresholds

    known = thresholds()
    p = sub.add_parser(
        "findings", help="security findings: clear-text AUTH, STARTTLS attacks, smuggling, relaying, spoofing",
        description="Report security findings in SMTP captures. Kinds: " + ", ".join(kinds()) + ".",
        epilog="thresholds (--threshold NAME=VALUE): " + "; ".join(
            f"{t.name}={t.default:g} ({t.doc})" for t in known.values()))
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (gzip accepted)")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default) or jsonl (one JSON object a line)")
    severities = [s.value for s in Severity]
    p.add_argument("--fail-on", choices=severities, metavar="SEVERITY",
                   help=f"exit {EXIT_FINDINGS} when a finding at or above SEVERITY exists ({', '.join(severities)})")
    p.add_argument("--min-severity", choices=severities, default="info", metavar="SEVERITY",
                   help="list only findings at or above SEVERITY (default: info)")
    p.add_argument("--show-secrets", action="store_true", help="show passwords, tokens and hashes in the evidence")
    p.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="NAME=VALUE",
                   help="override a detector threshold (repeatable; see the list below)")
    add_capture_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..findings import Severity, check_thresholds

    overrides = dict(args.threshold)
    try:
        check_thresholds(overrides)
    except ValueError as exc:
        warn(str(exc))
        return EXIT_UNUSABLE
    files, status = usable_files(args.files)
    if not files:
        return status
    cap = read_files(args, files, show_secrets=args.show_secrets, thresholds=overrides)
    table = cap.findings
    ranks = {s.value: s.rank for s in Severity}
    rank = table["severity"].astype("string").map(ranks)
    shown = table[rank >= ranks[args.min_severity]]
    captures = cap.sessions.set_index("session_id")["capture"] if len(cap.sessions) else None
    if args.format == "jsonl":
        _write_jsonl(shown, captures)
    else:
        _print_table(shown, len(table))
    if args.fail_on and (rank >= ranks[args.fail_on]).any():
        return status or EXIT_FINDINGS
    return status or EXIT_OK


def _write_jsonl(table, captures) -> None:
    out = sys.stdout
    for row in table.itertuples(index=False):
        record = {
            "ts": None if row.ts is None or str(row.ts) == "NaT" else row.ts.isoformat(),
            "kind": str(row.kind), "severity": str(row.severity),
            "session_id": None if row.session_id is None or str(row.session_id) == "<NA>" else int(row.session_id),
            "capture": _capture(captures, row.session_id),
            "client": _endpoint(row.client_ip, row.client_port), "server": _endpoint(row.server_ip, row.server_port),
            "frame": None if str(row.frame) == "<NA>" else int(row.frame),
            "frames": [int(f) for f in row.frames], "sessions": [int(s) for s in row.sessions],
            "explanation": str(row.explanation), "evidence": str(row.evidence),
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _capture(captures, session_id):
    if captures is None or str(session_id) == "<NA>" or session_id not in captures.index:
        return None
    return str(captures.loc[session_id])


def _endpoint(ip, port) -> str | None:
    if str(ip) in ("<NA>", "nan", "None"):
        return None
    ip = str(ip)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _print_table(table, total: int) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..output.safe import terminal_safe

    console = Console(highlight=False, soft_wrap=False)
    if not len(table):
        console.print(Text(f"no findings ({total} below the chosen severity)" if total else "no findings"))
        return
    grid = Table(title="Findings", title_justify="left")
    grid.add_column("severity", no_wrap=True)
    grid.add_column("kind", no_wrap=True)
    grid.add_column("session", justify="right", no_wrap=True)
    grid.add_column("frame", justify="right", no_wrap=True)
    grid.add_column("explanation / evidence", ratio=1, min_width=30)
    for row in table.itertuples(index=False):
        severity = str(row.severity)
        cell = Text(terminal_safe(str(row.explanation)))
        cell.append("\n" + terminal_safe(str(row.evidence)), style="dim")
        grid.add_row(
            Text(severity, style=_STYLE.get(severity, "")), Text(terminal_safe(str(row.kind))),
            Text("" if str(row.session_id) == "<NA>" else str(row.session_id)),
            Text("" if str(row.frame) == "<NA>" else str(row.frame)), cell)
    console.print(grid)
    counts = table["severity"].astype("string").value_counts()
    order = ["critical", "high", "medium", "low", "info"]
    console.print(Text(f"{len(table)} findings: " + ", ".join(
        f"{int(counts[s])} {s}" for s in order if s in counts.index)))
