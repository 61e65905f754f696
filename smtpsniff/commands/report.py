"""``smtpsniff report FILE... -o report.html``: one self-contained HTML page to hand over."""
from __future__ import annotations

import argparse
from pathlib import Path

from .analyze import add_capture_options, add_filter_option, apply_filter_option, read_files, usable_files
from .common import EXIT_UNUSABLE, warn


def register(sub) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report: summary, charts, sessions, errors, "
                                      "findings, credentials, messages, attachments, anomalies")
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (gzip accepted)")
    p.add_argument("-o", "--output", required=True, metavar="report.html", help="the HTML file to write")
    p.add_argument("--title", help="heading of the report (default: the capture file names)")
    p.add_argument("--show-secrets", action="store_true",
                   help="show passwords and tokens in the credentials section (masked otherwise)")
    add_filter_option(p)
    add_capture_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..output.report import write_report
    from ..output.safe import terminal_safe

    out = Path(args.output)
    if out.is_dir():
        warn(f"{args.output} is a folder; give the report's file name, e.g. {out / 'report.html'}")
        return EXIT_UNUSABLE
    files, status = usable_files(args.files)
    if not files:
        return status
    cap = read_files(args, files, show_secrets=args.show_secrets)
    if args.filter:
        filtered = apply_filter_option(args, cap)
        if filtered is None:
            return EXIT_UNUSABLE
        cap = filtered[0]
    write_report(cap, out, title=args.title, filter_expression=args.filter)
    print(f"wrote {terminal_safe(str(out))}")
    return status
