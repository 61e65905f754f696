"""Keep captured frames on disk: one pcapng file, or a ring of files cut by size or time.

Its one job is which file a frame goes to: without a ring every frame goes to the path given;
with one, frames go to ``<stem>_00001<suffix>``, ``<stem>_00002<suffix>``... and a new file starts
when the current one would pass ``max_bytes`` or has spanned ``max_seconds`` of capture time; past
``max_files`` the oldest file this writer made is deleted (dumpcap's ``-b filesize: -b files:``,
tcpdump's ``-C -W``), so a run of days cannot fill the disk.  Each file is a whole pcapng section
(its own SHB and IDBs) that any reader opens alone.  It never deletes a file it did not create.
The block layout is :mod:`smtpsniff.capture.pcapng_writer`'s business.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from smtpsniff.capture.frame import Frame
from smtpsniff.capture.pcapng_writer import InterfaceInfo, InterfaceStats, PcapngWriter
from smtpsniff.limits import MiB

#: Write buffer per file: large enough that a busy link costs few system calls.
WRITE_BUFFER_BYTES = 1 * MiB
#: Digits of the file counter in ring file names (dumpcap uses five too).
COUNTER_DIGITS = 5


class CaptureFileWriter:
    """Frames to pcapng, optionally rotating; ``close()`` writes statistics and closes the last file.

    ``stats`` (optional) is asked for the interface statistics each time a file is finished, and
    they are written into it as an ISB, so every ring file records the drops up to its end.
    """

    def __init__(self, path: str | os.PathLike[str], interface: InterfaceInfo, *, max_bytes: int | None = None,
                 max_seconds: float | None = None, max_files: int | None = None,
                 stats: Callable[[], InterfaceStats | None] | None = None, application: str | None = None) -> None:
        if max_files is not None and max_files < 1:
            raise ValueError("a ring needs at least one file")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("a ring file size must be positive")
        self.path = Path(path)
        self.ring = max_bytes is not None or max_seconds is not None
        self._interface = interface
        self._max_bytes = max_bytes
        self._max_ns = int(max_seconds * 1e9) if max_seconds else None
        self._max_files = max_files
        self._stats = stats
        self._application = application
        self._counter = 0
        #: Files this writer made that are still on disk, oldest first.
        self.files: deque[Path] = deque()
        self.files_deleted = 0
        self.packets = 0
        self._fh = None
        self._writer: PcapngWriter | None = None
        self._file_start_ns: int | None = None
        self._open_next()

    def _name(self) -> Path:
        if not self.ring:
            return self.path
        suffix = self.path.suffix or ".pcapng"
        stem = self.path.name[: -len(self.path.suffix)] if self.path.suffix else self.path.name
        return self.path.with_name(f"{stem}_{self._counter:0{COUNTER_DIGITS}d}{suffix}")

    def _open_next(self) -> None:
        self._counter += 1
        target = self._name()
        self._fh = open(target, "wb", buffering=WRITE_BUFFER_BYTES)  # noqa: SIM115 - closed in _finish_file
        self._writer = PcapngWriter(self._fh, [self._interface], application=self._application)
        self._file_start_ns = None
        self.files.append(target)
        while self._max_files is not None and len(self.files) > self._max_files:
            old = self.files.popleft()
            try:
                old.unlink()
                self.files_deleted += 1
            except FileNotFoundError:
                pass

    def _finish_file(self) -> None:
        if self._fh is None:
            return
        stats = self._stats() if self._stats else None
        if stats is not None:
            self._writer.write_statistics(0, stats)
        self._fh.close()
        self._fh = None

    def write(self, frame: Frame) -> None:
        writer = self._writer
        if self.ring and writer.packets:
            by_size = self._max_bytes is not None and (
                writer.bytes_written + 32 + len(frame.data) + 3 > self._max_bytes)
            by_time = self._max_ns is not None and frame.ts_ns - self._file_start_ns >= self._max_ns
            if by_size or by_time:
                self._finish_file()
                self._open_next()
                writer = self._writer
        if self._file_start_ns is None:
            self._file_start_ns = frame.ts_ns
        writer.write(0, frame.ts_ns, frame.data, frame.wire_len)
        self.packets += 1

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        self._finish_file()
