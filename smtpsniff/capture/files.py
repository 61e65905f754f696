"""Open a capture file: recognise its format by magic number, undo gzip, hand back a frame reader.

Its one job is the file: opening it, telling classic pcap, pcapng and gzip apart by their first
bytes (never by the name), reading it in bounded chunks and collecting the capture-layer anomalies.
It must not know how either format lays out its records (``pcap`` and ``pcapng`` do) nor anything
about what the frames contain.
"""
from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from smtpsniff.anomaly import Anomaly, Layer
from smtpsniff.capture import pcap, pcapng
from smtpsniff.capture.frame import Frame
from smtpsniff.limits import DEFAULT_LIMITS, MiB, Limits

#: Bytes read from the file at a time: large enough that per-read overhead vanishes, small enough
#: that memory does not depend on the file (libpcap reads whole records; Wireshark's wiretap 64 KiB).
CHUNK_BYTES = 1 * MiB
#: RFC 1952 section 2.3.1: ID1 ID2.
GZIP_MAGIC = b"\x1f\x8b"
#: Enough for the longest fixed header detection needs (the pcapng Section Header Block).
_HEAD_BYTES = max(pcap.FILE_HEADER_BYTES, pcapng.MIN_SECTION_HEADER_BYTES)
#: What a damaged gzip stream raises while decompressing (truncated, bad CRC, bad deflate data).
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


class CaptureFormatError(Exception):
    """The file is not a capture this reader understands; the message is one line naming the file."""


def open_capture(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> CaptureReader:
    """Open ``path`` as a pcap or pcapng capture, gzip-compressed or not.

    Raises ``CaptureFormatError`` now (not while iterating) when the file is not one, and
    ``OSError`` when it cannot be opened.
    """
    return CaptureReader(path, limits=limits)


def _describe_start(head: bytes) -> str:
    return f"starts with {head[:4].hex(' ')}" if head else "empty file"


class CaptureReader:
    """A capture file being read; a context manager, iterated once for its frames.

    ``anomalies`` and ``linktypes`` fill in while iterating.  ``anomaly_counts`` counts every anomaly
    kind exactly, also past ``limits.max_anomalies_per_kind``, where records stop being kept.
    """

    path: str
    format: str
    compressed: bool
    nanosecond: bool
    anomalies: list[Anomaly]
    anomaly_counts: dict[str, int]
    linktypes: dict[int, int]
    file_size: int

    def __init__(self, path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = os.fsdecode(path)
        self.limits = limits
        self.anomalies = []
        self.anomaly_counts = {}
        self.linktypes = {}
        self.compressed = False
        self.nanosecond = False
        self._iterated = False
        self._final_position: int | None = None
        self._gzip_broken = False
        self._raw: BinaryIO = open(self.path, "rb")
        try:
            self.file_size = os.fstat(self._raw.fileno()).st_size
            self._stream: BinaryIO = self._raw
            if self._raw.read(2) == GZIP_MAGIC:
                self.compressed = True
                self._raw.seek(0)
                self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
            else:
                self._raw.seek(0)
            self._head = self._read_head()
            self._detect()
        except BaseException:
            self._close_files()
            raise

    # --- opening -------------------------------------------------------------------------------

    def _read_head(self) -> bytes:
        if not self.compressed:
            return self._raw.read(_HEAD_BYTES)
        try:
            return self._stream.read(_HEAD_BYTES)
        except _GZIP_ERRORS as exc:
            reason = f"gzip-compressed, but the stream is damaged ({exc})"
            raise CaptureFormatError(f"{self.path}: {reason}") from None

    def _detect(self) -> None:
        head = self._head
        inside = "gzip-compressed, but " if self.compressed else ""
        try:
            if pcap.is_pcap(head):
                self._pcap_header = pcap.parse_header(head)
                self.format = "pcap"
                self.nanosecond = self._pcap_header.nanosecond
                self.linktypes[0] = self._pcap_header.linktype
            elif head[:4] == pcapng.SHB_MAGIC_BYTES:
                pcapng.check_first_section(head)
                self.format = "pcapng"
            else:
                reason = f"not a pcap or pcapng file ({_describe_start(head)})"
                raise CaptureFormatError(f"{self.path}: {inside}{reason}")
        except ValueError as exc:
            raise CaptureFormatError(f"{self.path}: {inside}{exc}") from None

    # --- reading -------------------------------------------------------------------------------

    def _read(self, n: int) -> bytes:
        """``n`` bytes unless the stream ends; a damaged gzip stream ends where it breaks."""
        if not self.compressed:
            return self._raw.read(n)
        if self._gzip_broken:
            return b""
        parts = []
        got = 0
        while got < n:
            try:
                # read1 decompresses one piece at a time, so an error loses nothing already decoded.
                part = self._stream.read1(n - got)
            except _GZIP_ERRORS as exc:
                self._gzip_broken = True
                if isinstance(exc, EOFError):
                    reason = "the compressed stream ends before its end marker"
                else:
                    reason = str(exc)
                where = self._raw.tell()
                self._note("corrupt_gzip", f"gzip stream damaged after {where} compressed bytes: {reason}", None)
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _note(self, kind: str, message: str, ts_ns: int | None) -> None:
        count = self.anomaly_counts.get(kind, 0) + 1
        self.anomaly_counts[kind] = count
        if count <= self.limits.max_anomalies_per_kind:
            self.anomalies.append(Anomaly(layer=Layer.CAPTURE, kind=kind, message=message, ts_ns=ts_ns))

    def _batches(self, cut: pcap.Cut | None = None) -> Iterator[list[Frame]]:
        max_bytes = self.limits.max_record_bytes
        try:
            if self.format == "pcap":
                initial = self._head[pcap.FILE_HEADER_BYTES:]
                yield from pcap.iter_batches(
                    self._read, self._pcap_header, initial, self._note,
                    max_record_bytes=max_bytes, chunk_bytes=CHUNK_BYTES, cut=cut,
                    readinto=None if self.compressed else self._raw.readinto,
                )
            else:
                yield from pcapng.iter_batches(
                    self._read, self._head, self._note, self.linktypes,
                    max_block_bytes=max_bytes, chunk_bytes=CHUNK_BYTES,
                )
        finally:
            self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated:
            raise RuntimeError(f"{self.path}: a CaptureReader can be iterated only once")
        self._iterated = True
        return itertools.chain.from_iterable(self._batches())

    def cut_batches(self, make_cut: Callable[[pcap.PcapHeader, int], pcap.Cut | None]) -> Iterator | None:
        """Iterate a classic pcap file as batches built by another record cutter, instead of frames.

        ``make_cut(header, max_record_bytes)`` returns a :data:`smtpsniff.capture.pcap.Cut` (or
        ``None``: no such cutter for this file); reads, ``position()`` and anomalies are the same as
        when iterating frames.  ``None`` when the file is not classic pcap or the cutter declines.
        """
        if self.format != "pcap":
            return None
        if self._iterated:
            raise RuntimeError(f"{self.path}: a CaptureReader can be iterated only once")
        cut = make_cut(self._pcap_header, self.limits.max_record_bytes)
        if cut is None:
            return None
        self._iterated = True
        return self._batches(cut)

    def position(self) -> int:
        """Bytes of the file on disk read so far (compressed bytes for gzip); for progress bars.

        It runs at most one chunk ahead of the frames handed out, and equals ``file_size`` once the
        whole file has been read.
        """
        if self._final_position is not None:
            return self._final_position
        return self._raw.tell()

    # --- closing -------------------------------------------------------------------------------

    def _close_files(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is not None and stream is not self._raw:
            stream.close()
        self._raw.close()

    def close(self) -> None:
        if self._final_position is None and not self._raw.closed:
            self._final_position = self._raw.tell()
        self._close_files()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = f"{self.format}{'.gz' if self.compressed else ''}"
        return f"<CaptureReader {self.path!r} {kind}>"
