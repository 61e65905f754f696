"""The ``smtpsniff`` command line: options in, pipeline run, writers out.  Thin by design."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .capture.files import CaptureFormatError, open_capture
from .capture.frame import Frame
from .limits import DEFAULT_LIMITS
from .output.safe import terminal_safe
from .reassembly.table import SMTP_PORTS
from .streams import StreamPipeline, stream_events

#: Exit codes: 0 analysed, 1 findings at or above --fail-on, 2 unusable input or usage error.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2


def _ports(text: str) -> frozenset[int]:
    try:
        ports = frozenset(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"ports must be between 1 and 65535: {text!r}")
    return ports


def _progress_frames(reader, enabled: bool) -> Iterator[Frame]:
    """Frames of ``reader``, with a progress bar on stderr when it is a terminal."""
    if not enabled:
        yield from reader
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  transient=True) as progress:
        task = progress.add_task(terminal_safe(Path(reader.path).name), total=reader.file_size or None)
        for n, frame in enumerate(reader, 1):
            if n & 0x3FFF == 0:
                progress.update(task, completed=reader.position())
            yield frame
        progress.update(task, completed=reader.position())


def _warn(message: str) -> None:
    print(f"smtpsniff: {terminal_safe(message)}", file=sys.stderr)


def cmd_streams(args: argparse.Namespace) -> int:
    from .output.stream_files import write_streams

    try:
        reader = open_capture(args.file)
    except (CaptureFormatError, OSError) as exc:
        _warn(str(exc))
        return EXIT_UNUSABLE
    with reader:
        pipeline = StreamPipeline(DEFAULT_LIMITS, server_ports=args.ports)
        frames = _progress_frames(reader, sys.stderr.isatty())
        summary = write_streams(stream_events(frames, pipeline), Path(args.output))
        for anomaly in reader.anomalies:
            _warn(f"warning: {anomaly.message}")
    counts = pipeline.decoder.counts
    print(f"{counts.frames} frames, {counts.tcp} TCP segments, {summary.connections} connections, "
          f"{summary.files} stream files, {summary.bytes} bytes, {summary.gap_bytes} bytes missing "
          f"-> {terminal_safe(str(Path(args.output) / 'index.csv'))}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from .analysis.capture import read
    from .output.summary import render_summary
    from .output.tables import write_tables

    console = Console(highlight=False, soft_wrap=False)
    status = EXIT_OK
    usable = []
    for path in args.files:  # refuse what is not a capture before the long work starts
        try:
            open_capture(path).close()
            usable.append(path)
        except (CaptureFormatError, OSError) as exc:
            _warn(str(exc))
            status = EXIT_UNUSABLE
    if not usable:
        return status
    cap = read(*usable, smtp_ports=args.ports, detect_other_ports=not args.no_detect,
               progress=lambda reader: _progress_frames(reader, sys.stderr.isatty()))
    for message in cap.anomalies.loc[cap.anomalies["layer"] == "capture", "message"]:
        _warn(f"warning: {message}")
    render_summary(cap, console)
    if args.output:
        written = write_tables(cap.tables, Path(args.output), args.format)
        console.print(Text(f"wrote {len(written)} tables to {terminal_safe(str(args.output))}"))
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smtpsniff", description="Analyse SMTP traffic in packet captures.")
    parser.add_argument("--version", action="version", version=f"smtpsniff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    streams = sub.add_parser("streams", help="write every reassembled TCP direction to a file, with an index")
    streams.add_argument("file", help="pcap or pcapng capture (gzip accepted)")
    streams.add_argument("-o", "--output", required=True, help="folder for the stream files and index.csv")
    streams.add_argument("--ports", type=_ports, default=SMTP_PORTS,
                         help="server ports that decide roles mid-connection (default: 25,465,587,2525)")
    streams.set_defaults(func=cmd_streams)

    analyze = sub.add_parser("analyze", help="decode SMTP sessions and summarise them; export the tables")
    analyze.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng captures (gzip accepted)")
    analyze.add_argument("-o", "--output", help="folder to write every table to")
    analyze.add_argument("--format", choices=("csv", "parquet", "json"), default="csv",
                         help="table format with -o (default: csv; json writes JSON lines)")
    analyze.add_argument("--ports", type=_ports, default=SMTP_PORTS,
                         help="SMTP server ports (default: 25,465,587,2525)")
    analyze.add_argument("--no-detect", action="store_true",
                         help="do not look for SMTP on other ports (a 220 greeting answered by EHLO/HELO)")
    analyze.set_defaults(func=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
