"""Helpers every subcommand shares: port lists, progress bars, warnings, exit codes."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..capture.frame import Frame
from ..output.safe import terminal_safe

#: What the program keeps until it ends (see :func:`keep_until_exit`): a list while
#: :func:`smtpsniff.cli.run` runs, None when :func:`smtpsniff.cli.main` is called as a function.
KEPT_UNTIL_EXIT: list[object] | None = None


def keep_until_exit(value: object) -> None:
    """Keep ``value`` (a capture read by a command) until the process ends, when the command line
    program runs: it then ends without freeing it (see ``smtpsniff.cli.run``).  Nothing is kept
    when :func:`smtpsniff.cli.main` is called as a function: what it read is freed as usual."""
    if KEPT_UNTIL_EXIT is not None:
        KEPT_UNTIL_EXIT.append(value)


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

    Without a bar it is ``reader`` itself; with one, a :class:`ProgressReader` that still offers
    ``cut_batches``, so a classic pcap takes the C fast path either way
    (:meth:`smtpsniff.streams.StreamPipeline.decoded_batches`).
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    return ProgressReader(reader) if enabled else reader


class ProgressReader:
    """A capture reader seen through a rich progress bar (bytes of the file read so far)."""

    #: Frames between two updates of the bar when iterating frame by frame.
    UPDATE_EVERY_FRAMES = 0x4000

    def __init__(self, reader) -> None:
        self._reader = reader
        self.path = reader.path

    def __iter__(self) -> Iterator[Frame]:
        every = self.UPDATE_EVERY_FRAMES
        with self._bar() as update:
            for n, frame in enumerate(self._reader, 1):
                if n % every == 0:
                    update()
                yield frame

    def cut_batches(self, make_cut):
        batches = self._reader.cut_batches(make_cut)
        return None if batches is None else self._batches(batches)

    def _batches(self, batches):
        with self._bar() as update:
            for batch in batches:
                yield batch
                update()

    @contextmanager
    def _bar(self):
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        reader = self._reader
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                      transient=True) as progress:
            task = progress.add_task(terminal_safe(Path(reader.path).name), total=reader.file_size or None)
            yield lambda: progress.update(task, completed=reader.position())
            progress.update(task, completed=reader.position())


def warn(message: str) -> None:
    print(f"smtpsniff: {terminal_safe(message)}", file=sys.stderr)
