"""``smtpsniff streams FILE -o DIR``: every reassembled TCP direction as a file, with index.csv."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..capture.files import CaptureFormatError, open_capture
from ..limits import DEFAULT_LIMITS
from ..output.safe import terminal_safe
from ..reassembly.table import SMTP_PORTS
from ..streams import StreamPipeline, stream_events
from .common import EXIT_OK, EXIT_UNUSABLE, ports, progress_frames, warn


def register(sub) -> None:
    p = sub.add_parser("streams", help="write every reassembled TCP direction to a file, with an index")
    p.add_argument("file", help="pcap or pcapng capture (gzip accepted)")
    p.add_argument("-o", "--output", required=True, help="folder for the stream files and index.csv")
    p.add_argument("--ports", type=ports, default=SMTP_PORTS,
                   help="server ports that decide roles mid-connection (default: 25,465,587,2525)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..output.stream_files import write_streams

    try:
        reader = open_capture(args.file)
    except (CaptureFormatError, OSError) as exc:
        warn(str(exc))
        return EXIT_UNUSABLE
    with reader:
        pipeline = StreamPipeline(DEFAULT_LIMITS, server_ports=args.ports)
        frames = progress_frames(reader)
        summary = write_streams(stream_events(frames, pipeline), Path(args.output))
        for anomaly in reader.anomalies:
            warn(f"warning: {anomaly.message}")
    counts = pipeline.decoder.counts
    print(f"{counts.frames} frames, {counts.tcp} TCP segments, {summary.connections} connections, "
          f"{summary.files} stream files, {summary.bytes} bytes, {summary.gap_bytes} bytes missing "
          f"-> {terminal_safe(str(Path(args.output) / 'index.csv'))}")
    return EXIT_OK


