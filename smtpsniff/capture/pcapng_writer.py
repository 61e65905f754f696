"""Write frames as a pcapng file: one section, its interfaces, their packets and statistics.

Its one job is the block layout of draft-ietf-opsawg-pcapng ("PCAP Next Generation (pcapng)
Capture File Format"): a Section Header Block (section 4.1), one Interface Description Block per
interface (4.2) with ``if_tsresol`` = 9 so timestamps keep the nanoseconds the kernel gave, an
Enhanced Packet Block per frame (4.3) and, when the file is closed, an Interface Statistics Block
per interface (4.6) with the packets the capture received and dropped, as dumpcap writes them.
Blocks are written in the host's byte order, which the SHB's byte-order magic announces.  It
writes to a binary file object it is handed and knows nothing of rotation, sockets or decoding.
"""
from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from typing import BinaryIO

# Block types (section 11.1 "Block Type Codes").
SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
INTERFACE_STATISTICS = 0x00000005
ENHANCED_PACKET = 0x00000006

#: Section 4.1: written as a 32-bit number, it reads 1A2B3C4D in the writer's byte order.
BYTE_ORDER_MAGIC = 0x1A2B3C4D

# Option codes (sections 3.5, 4.1, 4.2, 4.6).
_OPT_ENDOFOPT = 0
_SHB_USERAPPL = 4
_IF_NAME = 2
_IF_TSRESOL = 9
_IF_FILTER = 11
_ISB_STARTTIME = 2
_ISB_ENDTIME = 3
_ISB_IFRECV = 4
_ISB_IFDROP = 5

#: if_tsresol value 9: timestamps are in units of 10^-9 seconds (section 4.2).
TSRESOL_NS = 9

_ORDER = "<" if sys.byteorder == "little" else ">"
_BLOCK_HEAD = struct.Struct(_ORDER + "II")
_U32 = struct.Struct(_ORDER + "I")
_OPTION = struct.Struct(_ORDER + "HH")
_SHB_FIXED = struct.Struct(_ORDER + "IHHq")  # magic, major 1, minor 0, section length -1 (unknown)
_IDB_FIXED = struct.Struct(_ORDER + "HHI")  # link type, reserved, snaplen
_EPB_HEAD = struct.Struct(_ORDER + "IIIIIII")  # type, length, interface, ts high, ts low, caplen, origlen
_U64_SPLIT = struct.Struct(_ORDER + "II")  # 4.6: 64-bit timestamps as high, low 32-bit halves
_U64 = struct.Struct(_ORDER + "Q")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """What an IDB says about one capture interface."""

    linktype: int
    snaplen: int
    name: str | None = None
    #: The capture filter, written as ``if_filter`` in libpcap syntax (option type 0).
    bpf: str | None = None


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    """What an ISB says: packets the capture saw and lost between ``start_ns`` and ``end_ns``."""

    received: int | None
    dropped: int | None
    start_ns: int
    end_ns: int


def _option(code: int, value: bytes) -> bytes:
    return _OPTION.pack(code, len(value)) + value + _PAD[len(value) & 3]


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return _BLOCK_HEAD.pack(btype, length) + body + _U32.pack(length)


def _options(options: list[bytes]) -> bytes:
    return b"".join(options) + _OPTION.pack(_OPT_ENDOFOPT, 0) if options else b""


def section_header(application: str | None = None) -> bytes:
    """An SHB (section 4.1) whose section length is -1 (not given): the file may grow."""
    options = [_option(_SHB_USERAPPL, application.encode("utf-8"))] if application else []
    return _block(SECTION_HEADER, _SHB_FIXED.pack(BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options))


def interface_description(info: InterfaceInfo) -> bytes:
    """An IDB (section 4.2) with ``if_tsresol`` 9: the EPBs that follow carry nanoseconds."""
    options = []
    if info.name:
        options.append(_option(_IF_NAME, info.name.encode("utf-8")))
    options.append(_option(_IF_TSRESOL, bytes((TSRESOL_NS,))))
    if info.bpf:
        options.append(_option(_IF_FILTER, b"\0" + info.bpf.encode("utf-8")))  # 4.2: type 0 = libpcap string
    return _block(INTERFACE_DESCRIPTION, _IDB_FIXED.pack(info.linktype, 0, info.snaplen) + _options(options))


def enhanced_packet(interface: int, ts_ns: int, data: bytes, wire_len: int) -> bytes:
    """An EPB (section 4.3) holding ``data``, padded to 32 bits, without options."""
    caplen = len(data)
    pad = _PAD[caplen & 3]
    length = 32 + caplen + len(pad)
    return b"".join((
        _EPB_HEAD.pack(ENHANCED_PACKET, length, interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, caplen, wire_len),
        data, pad, _U32.pack(length),
    ))


def interface_statistics(interface: int, stats: InterfaceStats) -> bytes:
    """An ISB (section 4.6) for ``interface``, timestamped at ``stats.end_ns``."""
    options = [_option(_ISB_STARTTIME, _U64_SPLIT.pack(stats.start_ns >> 32, stats.start_ns & 0xFFFFFFFF)),
               _option(_ISB_ENDTIME, _U64_SPLIT.pack(stats.end_ns >> 32, stats.end_ns & 0xFFFFFFFF))]
    if stats.received is not None:
        options.append(_option(_ISB_IFRECV, _U64.pack(stats.received)))
    if stats.dropped is not None:
        options.append(_option(_ISB_IFDROP, _U64.pack(stats.dropped)))
    fixed = _U32.pack(interface) + _U64_SPLIT.pack(stats.end_ns >> 32, stats.end_ns & 0xFFFFFFFF)
    return _block(INTERFACE_STATISTICS, fixed + _options(options))


class PcapngWriter:
    """Frames to one pcapng section on ``fh``; the caller owns ``fh`` (and closes it).

    ``bytes_written`` counts every byte handed to ``fh``, so a rotating writer can cut files by size
    without asking the file system.
    """

    def __init__(self, fh: BinaryIO, interfaces: list[InterfaceInfo], *, application: str | None = None) -> None:
        if not interfaces:
            raise ValueError("a pcapng section needs at least one interface")
        self._fh = fh
        self.interfaces = list(interfaces)
        self.packets = 0
        head = section_header(application) + b"".join(interface_description(i) for i in self.interfaces)
        fh.write(head)
        self.bytes_written = len(head)

    def write(self, interface: int, ts_ns: int, data: bytes, wire_len: int) -> int:
        """Write one packet; returns the bytes it took."""
        block = enhanced_packet(interface, ts_ns, data, wire_len)
        self._fh.write(block)
        self.bytes_written += len(block)
        self.packets += 1
        return len(block)

    def write_statistics(self, interface: int, stats: InterfaceStats) -> None:
        block = interface_statistics(interface, stats)
        self._fh.write(block)
        self.bytes_written += len(block)
