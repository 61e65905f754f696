"""``smtpsniff analyze FILE...``: decode SMTP, print a summary, export the tables."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..capture.files import CaptureFormatError, open_capture
from ..output.safe import terminal_safe
from ..reassembly.table import SMTP_PORTS
from .common import (
    EXIT_OK,
    EXIT_UNUSABLE,
    keep_until_exit,
    ports,
    progress_frames,
    warn,
)

#: The tables the summary shows (:func:`smtpsniff.output.summary.render_summary`): alone, the
#: command has only these built (``read``'s ``tables``, which parses every message for the
#: anomalies), not the mail tables' rows, the credentials or the findings, which none of them
#: needs.  Writing tables (``-o``), a filter and charts may read any.
SUMMARY_TABLES = ("sessions", "transactions", "commands", "replies", "anomalies")


def register(sub) -> None:
    p = sub.add_parser("analyze", help="decode SMTP sessions and summarise them; export the tables")
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (gzip accepted)")
    p.add_argument("-o", "--output", help="folder to write every table to")
    p.add_argument("--format", choices=("csv", "parquet", "json", "zeek", "zeek-json"), default="csv",
                   help="table format with -o (default: csv; json writes JSON lines; zeek and zeek-json "
                        "write Zeek's smtp.log and files.log instead of the tables)")
    p.add_argument("--show-secrets", action="store_true",
                   help="write passwords, tokens and hashes in the credentials table (masked otherwise)")
    p.add_argument("--charts", metavar="DIR", help="folder to write every chart to, as PNG and SVG")
    add_filter_option(p)
    add_capture_options(p)
    p.set_defaults(func=run)


def add_capture_options(p, *, files: bool = True) -> None:
    """Options every command that decodes SMTP shares (``files``: and those of reading files)."""
    p.add_argument("--ports", type=ports, default=SMTP_PORTS, help="SMTP server ports (default: 25,465,587,2525)")
    p.add_argument("--no-detect", action="store_true",
                   help="do not look for SMTP on other ports (a 220 greeting answered by EHLO/HELO)")
    if files:
        p.add_argument("--workers", type=_workers, default=None, metavar="N",
                       help="processes that decode SMTP sessions and parse messages while the files are read "
                            "(default: one per CPU but one, once a capture shows 500 sessions or 1,000 messages; "
                            "0: none)")


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}")
    return n


def usable_files(files: list[str]) -> tuple[list[str], int]:
    """The files that open as captures, and EXIT_UNUSABLE if any did not (each said on stderr)."""
    usable, status = [], EXIT_OK
    for path in files:
        try:
            open_capture(path).close()
            usable.append(path)
        except (CaptureFormatError, OSError) as exc:
            warn(str(exc))
            status = EXIT_UNUSABLE
    return usable, status


def read_files(args: argparse.Namespace, files: list[str], **kwargs):
    """Run the pipeline over ``files`` with the shared options; warn about damaged captures."""
    from ..analysis.reading import read  # pandas is imported once the files are read

    cap = read(*files, smtp_ports=args.ports, detect_other_ports=not args.no_detect, progress=progress_frames,
               workers=args.workers, **kwargs)
    keep_until_exit(cap)
    for message in cap.anomalies.loc[cap.anomalies["layer"] == "capture", "message"]:
        warn(f"warning: {message}")
    return cap


def add_filter_option(p) -> None:
    p.add_argument("-Y", "--filter", metavar="EXPR",
                   help="display filter in pandas query syntax with Wireshark field names, e.g. "
                        "'smtp.response.code == 550' or 'ip.addr == 10.0.0.5 and tcp.port == 587' "
                        "(keeps the matching rows and the sessions that have one)")


def apply_filter_option(args: argparse.Namespace, cap):
    """``cap`` cut to ``--filter`` and (table, matching rows); None after saying why on stderr."""
    from ..analysis.filters import FilterError, filter_tables

    try:
        tables, result = filter_tables(cap.tables, args.filter)
    except FilterError as exc:
        warn(str(exc))
        return None
    from ..analysis.capture import Capture

    records = [r for r in cap.records if r.session.session_id in result.session_ids]
    return Capture(tables, cap.stats, records, cap.objects), (result.filter.table, result.rows)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    files, status = usable_files(args.files)
    if not files:
        return status
    summary_only = not (args.output or args.filter or args.charts)
    cap = read_files(args, files, show_secrets=args.show_secrets, tables=SUMMARY_TABLES if summary_only else None)
    from ..output.summary import render_summary  # (pandas: imported by read_files once the files are read)
    from ..output.tables import write_tables

    if args.filter:
        filtered = apply_filter_option(args, cap)
        if filtered is None:
            return EXIT_UNUSABLE
        cap = filtered[0]
        table, rows = filtered[1]
        n = len(cap.sessions)
        console_note = (f"filter {args.filter}: {len(rows)} rows of the {table} table, "
                        f"{n} session{'' if n == 1 else 's'}")
    else:
        console_note = None
    console = Console(highlight=False, soft_wrap=False)
    render_summary(cap, console)
    if console_note:
        console.print(Text(terminal_safe(console_note), style="bold"))
    if args.output and args.format.startswith("zeek"):
        from ..analysis.mail_tables import mail_messages
        from ..output.zeek import write_zeek_logs

        written = write_zeek_logs(cap.records, mail_messages(cap), Path(args.output), args.format)
        console.print(Text(f"wrote {', '.join(p.name for p in written)} to {terminal_safe(str(args.output))}"))
    elif args.output:
        written = write_tables(cap.tables, Path(args.output), args.format)
        console.print(Text(f"wrote {len(written)} tables to {terminal_safe(str(args.output))}"))
    if args.charts:
        from ..output.charts import write_charts

        written = write_charts(cap, Path(args.charts))
        console.print(Text(f"wrote {len(written)} chart files to {terminal_safe(str(args.charts))}"))
    return status
