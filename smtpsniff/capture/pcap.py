"""Classic pcap (libpcap savefile): parse the file header, then cut the byte stream into frames.

Its one job is the classic format: the 24-byte file header and the packet records after it
(draft-ietf-opsawg-pcap, "PCAP Capture File Format", section 4 "File Header" and section 5
"Packet Record"), plus the "modified" pcap variant whose records carry 8 more bytes.  It reads through a
``read(n)`` callable and must not know about paths, gzip, pcapng, format detection or what the frames
contain.  Damage is reported through a ``note(kind, message, ts_ns)`` callable, never raised.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from smtpsniff.capture.frame import Frame

#: Section 4: the magic number as written by the host that wrote the file; read in the other byte
#: order it identifies a file written on a host of the opposite endianness.
MAGIC_MICROSECONDS = 0xA1B2C3D4
MAGIC_NANOSECONDS = 0xA1B23C4D
#: Alexey Kuznetzov's "modified" pcap (Linux patched libpcap, also written by some old SuSE tools):
#: the usec header plus ifindex (4), protocol (2), pkt_type (1) and a pad byte in every record.
#: Not in the draft; Wireshark's wiretap/libpcap.c reads it as PCAP_MODIFIED.
MAGIC_MODIFIED = 0xA1B2CD34

FILE_HEADER_BYTES = 24
_NS = 1_000_000_000

_KNOWN = {MAGIC_MICROSECONDS: "microsecond", MAGIC_NANOSECONDS: "nanosecond", MAGIC_MODIFIED: "modified"}
_BYTE_ORDERS = ("<", ">")
_HEADERS = {order: struct.Struct(order + "IHHiIII") for order in _BYTE_ORDERS}
#: Section 5: seconds, microseconds or nanoseconds, captured length, original length.
_RECORDS = {order: struct.Struct(order + "IIII") for order in _BYTE_ORDERS}
_MODIFIED_RECORDS = {order: struct.Struct(order + "IIII8x") for order in _BYTE_ORDERS}


@dataclass(frozen=True, slots=True)
class PcapHeader:
    """The fields of the file header that reading needs (section 4)."""

    byte_order: str  # "<" or ">", as struct spells it
    nanosecond: bool
    modified: bool
    version: tuple[int, int]
    snaplen: int
    #: The lower 16 bits of the "LinkType and additional information" field (section 4); the upper
    #: bits carry the FCS length and reserved bits, which are not part of the link type.
    linktype: int
    #: Bytes of FCS at the end of each packet when the header says so (F bit set), else ``None``.
    fcs_bytes: int | None


def is_pcap(head: bytes) -> bool:
    """True when ``head`` starts with one of the classic pcap magic numbers, in either byte order."""
    if len(head) < 4:
        return False
    return any(struct.unpack(order + "I", head[:4])[0] in _KNOWN for order in _BYTE_ORDERS)


def parse_header(head: bytes) -> PcapHeader:
    """Decode the 24-byte file header; ``ValueError`` with a one-line reason when it cannot be one."""
    if len(head) < FILE_HEADER_BYTES:
        raise ValueError(
            f"too short for a pcap file header ({len(head)} bytes, need {FILE_HEADER_BYTES})"
        )
    for order in _BYTE_ORDERS:
        magic, major, minor, _reserved1, _reserved2, snaplen, link_info = _HEADERS[order].unpack_from(
            head
        )
        if magic in _KNOWN:
            break
    else:
        raise ValueError(f"not a pcap file (magic {head[:4].hex(' ')})")
    # Section 4: the F bit (0x04000000) says the top 4 bits hold the FCS length in 16-bit words.
    fcs_bytes = ((link_info >> 28) & 0xF) * 2 if link_info & 0x04000000 else None
    return PcapHeader(
        byte_order=order,
        nanosecond=magic == MAGIC_NANOSECONDS,
        modified=magic == MAGIC_MODIFIED,
        version=(major, minor),
        snaplen=snaplen,
        linktype=link_info & 0xFFFF,
        fcs_bytes=fcs_bytes,
    )


#: ``cut(buf, off, number) -> (batch, records, off, number, last_ts_ns, need, too_large)``: cut the
#: records of ``buf`` from ``off`` on into one batch (``records`` of them; frame numbers continue from
#: ``number``), stopping at the end of the buffer (``need``: bytes the next record needs, its header
#: included) or at a record claiming more than the record limit (``too_large``: its length, else 0).
#: A cutter may also stop early on purpose after at least one record (``need`` 0): it is then called
#: again on the rest of the same buffer.
Cut = Callable[[bytes, int, int], tuple]


def frame_cutter(header: PcapHeader, max_record_bytes: int) -> Cut:
    """The pure-Python cutter: each batch is a list of :class:`Frame` (section 5)."""
    record = (_MODIFIED_RECORDS if header.modified else _RECORDS)[header.byte_order]
    unpack = record.unpack_from
    head_len = record.size
    frac_ns = 1 if header.nanosecond else 1000
    linktype = header.linktype
    new = tuple.__new__

    def cut(buf: bytes, off: int, number: int) -> tuple:
        end = len(buf)
        frames: list[Frame] = []
        append = frames.append
        need = head_len
        too_large = 0
        while off + head_len <= end:
            sec, frac, incl, orig = unpack(buf, off)
            if incl > max_record_bytes:
                too_large = incl
                break
            start = off + head_len
            stop = start + incl
            if stop > end:
                need = head_len + incl
                break
            number += 1
            append(new(Frame, (number, sec * _NS + frac * frac_ns, linktype, buf[start:stop], orig, 0)))
            off = stop
        last_ts = frames[-1].ts_ns if frames else None
        return frames, len(frames), off, number, last_ts, need, too_large

    return cut


def iter_batches(
    read: Callable[[int], bytes],
    header: PcapHeader,
    initial: bytes,
    note: Callable[[str, str, int | None], None],  # note(kind, message, ts_ns): damage, not raised
    *,
    max_record_bytes: int,
    chunk_bytes: int,
    cut: Cut | None = None,
    readinto: Callable[[memoryview], int] | None = None,
) -> Iterator[list[Frame]]:
    """Yield lists of frames, one list per chunk read, until the stream ends or is found corrupt.

    ``initial`` is whatever followed the file header in the bytes already read.  ``read(n)`` must
    return ``n`` bytes unless the stream has ended (a regular file's ``read`` does).  Memory held is
    one chunk plus at most one record of ``max_record_bytes``.  ``cut`` replaces
    :func:`frame_cutter` (the batches are then whatever it builds, e.g. decoded packets); the reads,
    frame numbers and anomalies stay the same.  With ``cut`` and a ``readinto(view) -> count`` reading
    the same stream as ``read``, chunks are read into one reused buffer instead (``cut`` is then handed
    a memoryview and must copy what it keeps): the same reads, without copying each chunk once more.
    """
    if cut is None:
        cut = frame_cutter(header, max_record_bytes)
        readinto = None  # its frames keep slices of the buffer: each chunk must be new bytes
    if readinto is not None:
        buffer, eof, refill = _in_place(readinto, initial, chunk_bytes)
    else:
        buffer, eof, refill = _copying(read, initial, chunk_bytes)
    off = 0
    number = 0
    ts_ns = None
    while True:
        end = len(buffer)
        batch, records, off, number, last_ts, need, too_large = cut(buffer, off, number)
        if records:
            ts_ns = last_ts
            yield batch
        if too_large:
            _too_large(note, number, too_large, max_record_bytes, ts_ns)
            return
        if need == 0:
            continue  # the cutter stopped early on purpose: the rest of the buffer is still its
        left = end - off
        if eof:
            if left:
                _truncated(note, number, need, left, ts_ns)
            return
        buffer, eof = refill(buffer, off, max(chunk_bytes, need - left))
        off = 0


#: ``refill(buffer, off, want) -> (buffer, eof)``: the bytes of ``buffer`` from ``off`` on, then up
#: to ``want`` more read from the stream; ``eof`` when fewer than ``want`` came.
Refill = Callable[[Any, int, int], tuple[Any, bool]]


def _copying(read: Callable[[int], bytes], initial: bytes, chunk_bytes: int) -> tuple[bytes, bool, Refill]:
    """The first buffer of :func:`iter_batches`, whether the stream ended, and its ``refill``: each
    chunk read as new bytes and joined to the unread tail."""
    def refill(buffer: bytes, off: int, want: int) -> tuple[bytes, bool]:
        more = read(want)
        return buffer[off:] + more, len(more) < want

    first = initial + read(chunk_bytes)
    return first, len(first) < chunk_bytes + len(initial), refill


def _in_place(readinto: Callable[[memoryview], int], initial: bytes, chunk_bytes: int
              ) -> tuple[memoryview, bool, Refill]:
    """As :func:`_copying`, reading into one reused buffer (a memoryview of it is the buffer): the
    unread tail, less than one record, is moved to the front and the chunk read after it."""
    store = bytearray(len(initial) + chunk_bytes)
    view = memoryview(store)

    def refill(buffer: memoryview, off: int, want: int) -> tuple[memoryview, bool]:
        nonlocal store, view
        left = len(buffer) - off
        tail = bytes(buffer[off:])
        if left + want > len(store) or len(store) > 2 * (left + want):  # (back to chunk size after a big record)
            store = bytearray(left + want)
            view = memoryview(store)
        view[:left] = tail
        got = _fill(readinto, view[left : left + want])
        return view[: left + got], got < want

    view[: len(initial)] = initial
    end = len(initial) + _fill(readinto, view[len(initial) :])
    return view[:end], end < len(store), refill


def _fill(readinto: Callable[[memoryview], int], view: memoryview) -> int:
    """Bytes read into ``view``: all of it unless the stream ends (as ``read(len(view))`` would)."""
    got = 0
    size = len(view)
    while got < size:
        n = readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _too_large(note: Callable[[str, str, int | None], None], number: int, size: int, limit: int, ts_ns: int | None) -> None:
    note(
        "record_too_large",
        f"record {number + 1} claims {size} captured bytes, more than the "
        f"{limit}-byte limit: the file is corrupt from there",
        ts_ns,
    )


def _truncated(note: Callable[[str, str, int | None], None], number: int, need: int, left: int, ts_ns: int | None) -> None:
    note(
        "truncated_capture",
        f"capture ends in the middle of record {number + 1} (needed {need} bytes, {left} left)",
        ts_ns,
    )
