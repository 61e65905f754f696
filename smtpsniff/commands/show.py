"""``smtpsniff show FILE --session N``: follow one session's conversation, or draw its ladder.

Without ``--session`` it lists the sessions (those matching ``--filter``), so that one can be
picked.  With ``--filter`` and ``--session`` the lines the filter matched are flagged with ``▶``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .analyze import add_capture_options, add_filter_option, apply_filter_option, read_files, usable_files
from .common import EXIT_UNUSABLE, warn


def register(sub) -> None:
    p = sub.add_parser("show", help="follow one SMTP session (like Follow TCP Stream) or draw its ladder diagram")
    p.add_argument("file", metavar="FILE", help="pcap or pcapng capture (gzip accepted)")
    p.add_argument("-s", "--session", type=int, metavar="N",
                   help="session id (the session_id column, Wireshark's tcp.stream); omitted: list the sessions")
    p.add_argument("--bodies", action="store_true", help="show message bodies instead of folding them")
    p.add_argument("--show-secrets", action="store_true", help="show AUTH data as sent (masked by default)")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--ladder", action="store_true", help="draw a ladder (sequence) diagram in the terminal")
    view.add_argument("--mermaid", action="store_true", help="print the ladder as a Mermaid sequenceDiagram")
    p.add_argument("--ladder-image", metavar="FILE.png|FILE.svg", help="also write the ladder as a picture")
    add_filter_option(p)
    add_capture_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from ..analysis.conversation import TurnKind, conversation
    from ..output.follow import follow_lines, print_lines
    from ..output.ladder import mermaid, text_ladder, write_ladder_image
    from ..output.safe import terminal_safe

    if args.ladder_image and Path(args.ladder_image).suffix.lower() not in (".png", ".svg"):
        warn(f"--ladder-image must end in .png or .svg: {args.ladder_image}")
        return EXIT_UNUSABLE
    files, status = usable_files([args.file])
    if not files:
        return status
    cap = read_files(args, files, show_secrets=args.show_secrets)
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    matched = None
    if args.filter:
        filtered = apply_filter_option(args, cap)
        if filtered is None:
            return EXIT_UNUSABLE
        cap, matched = filtered
    if args.session is None:
        _list_sessions(cap, console)
        return status
    records = next((r for r in cap.records if r.session.session_id == args.session), None)
    if records is None:
        what = "matching the filter " if args.filter else ""
        warn(f"no session {args.session} {what}in {args.file} (sessions: {_ids(cap)})")
        return EXIT_UNUSABLE
    conv = conversation(records, show_secrets=args.show_secrets)
    if args.mermaid:
        print(mermaid(conv), end="")
    elif args.ladder:
        for line in text_ladder(conv):
            console.print(Text(line))
    else:
        marked = None
        if matched is not None:
            table, rows = matched
            wanted = set(rows.loc[rows["session_id"] == args.session, "index"].dropna().astype(int)) \
                if "index" in rows.columns else set()
            kind = {"commands": TurnKind.COMMAND, "replies": TurnKind.REPLY}.get(table)

            def marked(turn, kind=kind, wanted=wanted):
                return kind is not None and turn.kind is kind and turn.index in wanted

        print_lines(console, follow_lines(conv, bodies=args.bodies, marked=marked))
    if args.ladder_image:
        path = write_ladder_image(conv, Path(args.ladder_image))
        console.print(Text(f"wrote {terminal_safe(str(path))}", style="dim"))
    return status


def _ids(cap) -> str:
    ids = [str(int(x)) for x in cap.sessions["session_id"]]
    return ", ".join(ids[:20]) + (" …" if len(ids) > 20 else "") if ids else "none"


def _list_sessions(cap, console) -> None:
    import pandas as pd
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..output.safe import terminal_safe

    table = Table(title="SMTP sessions (smtpsniff show FILE --session N)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just, wrap in (("N", "right", False), ("time (UTC)", "left", False), ("client", "left", False),
                            ("server", "left", False), ("HELO", "left", True), ("cmd/msg", "right", False),
                            ("TLS", "left", True), ("last", "right", False)):
        table.add_column(col, justify=just, no_wrap=not wrap, min_width=10 if col == "HELO" else None)
    last = cap.replies.groupby("session_id")["code"].last() if len(cap.replies) else {}
    for s in cap.sessions.itertuples():
        tls = "implicit" if s.implicit_tls else "STARTTLS" if s.starttls_used else ""
        code = last.get(s.session_id) if len(cap.replies) else None
        table.add_row(str(s.session_id), s.start.strftime("%H:%M:%S.%f")[:-3],
                      Text(terminal_safe(f"{s.client_ip}:{s.client_port}")),
                      Text(terminal_safe(f"{s.server_ip}:{s.server_port}")),
                      Text(terminal_safe("" if pd.isna(s.helo) else str(s.helo))[:40]),
                      f"{s.commands}/{s.messages}", tls, "" if code is None else str(code))
    console.print(table)
