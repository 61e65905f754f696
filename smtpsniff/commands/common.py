"""Helpers every subcommand shares: port lists, progress bars, warnings, exit codes."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..capture.frame import Frame
from ..output.safe import terminal_safe

#: Exit codes: 0 analysed, 1 findings at or above --fail-on, 2 unusable input or usage error.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2


def ports(text: str) -> frozenset[int]:
    """argparse type for ``--ports 25,587``."""
    try:
        values = frozenset(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not values or any(not 0 < p < 65536 for p in values):
        raise argparse.ArgumentTypeError(f"ports must be between 1 and 65535: {text!r}")
    return values


def progress_frames(reader, enabled: bool | None = None) -> Iterable[Frame]:
    """Frames of ``reader``, with a progress bar on stderr when it is a terminal.

    Without a bar it is ``reader`` itself, so that a classic pcap can take the C fast path
    (:meth:`smtpsniff.streams.StreamPipeline.decoded_batches`).
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return reader
    return _progress_frames(reader)


def _progress_frames(reader) -> Iterator[Frame]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  transient=True) as progress:
        task = progress.add_task(terminal_safe(Path(reader.path).name), total=reader.file_size or None)
        for n, frame in enumerate(reader, 1):
            if n & 0x3FFF == 0:
                progress.update(task, completed=reader.position())
            yield frame
        progress.update(task, completed=reader.position())


def warn(message: str) -> None:
    print(f"smtpsniff: {terminal_safe(message)}", file=sys.stderr)
