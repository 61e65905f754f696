"""``smtpsniff extract FILE... -o DIR``: every message as .eml, every attachment decoded, a manifest."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..output.safe import terminal_safe
from .analyze import add_capture_options, read_files, usable_files
from .common import EXIT_UNUSABLE, warn


def register(sub) -> None:
    p = sub.add_parser("extract", help="write every message as .eml and every attachment, with manifest.csv")
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (gzip accepted)")
    p.add_argument("-o", "--output", required=True,
                   help="folder for messages/, attachments/ and manifest.csv (nothing in it is overwritten)")
    add_capture_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.mail_tables import mail_messages
    from ..output.extract import ExtractError, extract

    files, status = usable_files(args.files)
    if not files:
        return status
    cap = read_files(args, files)
    mail = mail_messages(cap)
    try:
        summary = extract(mail, Path(args.output))
    except (ExtractError, OSError) as exc:
        warn(str(exc))
        return EXIT_UNUSABLE
    incomplete = sum(1 for m in mail if not m.data.complete)
    note = f" ({incomplete} incomplete: see the complete column)" if incomplete else ""
    print(f"{summary.messages} messages{note}, {summary.attachments} attachments, {summary.bytes} bytes "
          f"-> {terminal_safe(str(summary.manifest))}")
    return status
