"""pcapng: walk the blocks of a pcapng byte stream and turn its packet blocks into frames.

Its one job is the block structure of draft-ietf-opsawg-pcapng ("PCAP Next Generation (pcapng)
Capture File Format"): Section Header Blocks (section 4.1) and the byte order they set, Interface
Description Blocks (4.2) with their if_tsresol and if_tsoffset options (3.5, 4.2), Enhanced (4.3),
Simple (4.4) and obsolete Packet Blocks (appendix A), and skipping every other block by its length
(3.1).  It reads through a ``read(n)`` callable and must not know about paths, gzip, classic pcap,
format detection or what the frames contain.  Damage is reported through a
``note(kind, message, ts_ns)`` callable, never raised.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

from smtpsniff.capture.frame import Frame

# Block types (section 11.1 "Block Type Codes").
SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
PACKET_OBSOLETE = 0x00000002
SIMPLE_PACKET = 0x00000003
ENHANCED_PACKET = 0x00000006

#: Section 4.1: the Byte-Order Magic as it appears in a big- and a little-endian section.
_BOM_BIG = b"\x1a\x2b\x3c\x4d"
_BOM_LITTLE = b"\x4d\x3c\x2b\x1a"
SHB_MAGIC_BYTES = b"\x0a\x0d\x0d\x0a"
#: Section 4.1: type, length, byte-order magic, versions, section length, trailing length.
MIN_SECTION_HEADER_BYTES = 28

# Option codes (section 3.5 and 4.2).
_OPT_ENDOFOPT = 0
_IF_TSRESOL = 9
_IF_TSOFFSET = 14

_NS_PER_S = 1_000_000_000

#: ``note(kind, message, ts_ns)``: how damage is reported (the caller turns it into an Anomaly).
Note = Callable[[str, str, int | None], None]


class _Structs(NamedTuple):
    """The fixed parts of each block, for one byte order."""

    block: struct.Struct  # 3.1: block type, block total length
    length: struct.Struct  # 3.1: trailing block total length
    section: struct.Struct  # 4.1: byte-order magic, major, minor (section length is not used)
    interface: struct.Struct  # 4.2: link type, reserved, snaplen
    epb_head: struct.Struct  # 3.1 + 4.3: type, length, interface id, ts high, low, captured, original
    simple: struct.Struct  # 4.4: original packet length
    obsolete: struct.Struct  # appendix A: interface id (16 bits), drops count, ts high, low, lengths
    option: struct.Struct  # 3.5: option code, option length
    tsoffset: struct.Struct  # 4.2 if_tsoffset: signed 64-bit seconds


def _structs(order: str) -> _Structs:
    formats = ("II", "I", "IHH", "HHI", "IIIIIII", "I", "HHIIII", "HH", "q")
    return _Structs(*(struct.Struct(order + fmt) for fmt in formats))


_BY_ORDER = {">": _structs(">"), "<": _structs("<")}


class Interface(NamedTuple):
    """What an EPB needs from its IDB: ts_ns = ((ts * mul) >> shift) // div + offset_ns (exact)."""

    linktype: int
    snaplen: int
    mul: int
    shift: int
    div: int
    offset_ns: int


def byte_order(head: bytes) -> str:
    """The byte order of a section from the first 12 bytes of its SHB; ``ValueError`` if not one."""
    if len(head) < 12 or head[:4] != SHB_MAGIC_BYTES:
        raise ValueError("not a pcapng section header block")
    bom = head[8:12]
    if bom == _BOM_BIG:
        return ">"
    if bom == _BOM_LITTLE:
        return "<"
    raise ValueError(f"pcapng section header has an unknown byte-order magic ({bom.hex(' ')})")


def check_first_section(head: bytes) -> str:
    """Validate the start of a file's first SHB (section 4.1); its byte order, or ``ValueError``."""
    if len(head) < MIN_SECTION_HEADER_BYTES:
        raise ValueError(
            f"too short for a pcapng section header ({len(head)} bytes, need {MIN_SECTION_HEADER_BYTES})"
        )
    order = byte_order(head)
    length = _BY_ORDER[order].length.unpack_from(head, 4)[0]
    if length < MIN_SECTION_HEADER_BYTES or length % 4:
        raise ValueError(f"pcapng section header block has an impossible length ({length})")
    return order


def timestamp_scale(tsresol: int) -> tuple[int, int, int]:
    """(mul, shift, div) turning if_tsresol units into ns exactly, flooring finer ones (4.2).

    The high bit clear means 10^-v seconds per unit, set means 2^-(v & 0x7f); Wireshark floors the
    same way (wiretap/pcapng.c divides by the units per second).
    """
    if tsresol & 0x80:
        return _NS_PER_S, tsresol & 0x7F, 1
    if tsresol <= 9:
        return 10 ** (9 - tsresol), 0, 1
    return 1, 0, 10 ** (tsresol - 9)


def parse_interface(
    body: bytes, start: int, stop: int, structs: _Structs
) -> tuple[Interface, str | None]:
    """Decode an IDB whose fixed part starts at ``start`` and whose options end at ``stop``.

    Returns the interface and, when its options are malformed, a reason (the options read so far
    are kept: the packets still have a link type).
    """
    linktype, _reserved, snaplen = structs.interface.unpack_from(body, start)
    tsresol, tsoffset = 6, 0  # 4.2: "If this option is not present, a resolution of 10^-6 is assumed"
    problem = None
    pos = start + 8
    unpack_option = structs.option.unpack_from
    while pos + 4 <= stop:
        code, length = unpack_option(body, pos)
        value_at = pos + 4
        if code == _OPT_ENDOFOPT:
            break
        if value_at + length > stop:
            problem = f"option {code} claims {length} bytes, only {stop - value_at} left in the block"
            break
        if code == _IF_TSRESOL and length >= 1:
            tsresol = body[value_at]
        elif code == _IF_TSOFFSET and length >= 8:
            tsoffset = structs.tsoffset.unpack_from(body, value_at)[0]
        pos = value_at + ((length + 3) & ~3)  # 3.5: values are padded to 32 bits
    mul, shift, div = timestamp_scale(tsresol)
    return Interface(linktype, snaplen, mul, shift, div, tsoffset * _NS_PER_S), problem


def iter_batches(
    read: Callable[[int], bytes],
    initial: bytes,
    note: Note,
    linktypes: dict[int, int],
    *,
    max_block_bytes: int,
    chunk_bytes: int,
) -> Iterator[list[Frame]]:
    """Yield lists of frames, one list per chunk read, until the stream ends or is found corrupt.

    ``initial`` holds the first bytes of the stream (starting with the first SHB).  ``read(n)`` must
    return ``n`` bytes unless the stream has ended.  ``linktypes`` is filled with interface number ->
    link type as IDBs are met; interfaces are numbered across sections, as Wireshark does.
    Memory held is one chunk plus at most one block of ``max_block_bytes``.
    """
    new = tuple.__new__
    buf = initial + read(chunk_bytes)
    eof = len(buf) < chunk_bytes + len(initial)
    off = 0
    number = 0
    ts_ns = 0
    spb_noted = False
    interfaces: list[Interface] = []
    first_interface = 0  # number of the section's interface 0 across the file
    # The stream starts with an SHB, whose type reads the same in both orders and whose
    # byte-order magic then sets the order (4.1); until then any order will do.
    structs = _BY_ORDER["<"]
    unpack_block, unpack_length, unpack_head = _unpackers(structs)
    while True:
        end = len(buf)
        frames: list[Frame] = []
        append = frames.append
        need = 12
        stop_reason = None
        while True:
            # One unpack reads an EPB's header and fixed part (the common case); the extra fields
            # mean nothing for other block types and are not used for them.
            if off + 28 <= end:
                btype, blen, iface, hi, lo, caplen, origlen = unpack_head(buf, off)
            elif off + 12 <= end:
                btype, blen = unpack_block(buf, off)
            else:
                break
            if btype == SECTION_HEADER:
                # 4.1: a new section may switch byte order; its length is read in that order.
                try:
                    structs = _BY_ORDER[byte_order(buf[off:off + 12])]
                except ValueError as exc:
                    stop_reason = ("bad_section_header", f"section header after frame {number}: {exc}")
                    break
                unpack_block, unpack_length, unpack_head = _unpackers(structs)
                btype, blen = unpack_block(buf, off)
            if blen < 12 or blen & 3:
                stop_reason = (
                    "bad_block_length",
                    f"block of type {btype:#x} after frame {number} has an impossible length ({blen})",
                )
                break
            if blen > max_block_bytes:
                stop_reason = (
                    "record_too_large",
                    f"block of type {btype:#x} after frame {number} claims {blen} bytes, more than "
                    f"the {max_block_bytes}-byte limit: the file is corrupt from there",
                )
                break
            bend = off + blen
            if bend > end:
                need = blen
                break
            trailing = unpack_length(buf, bend - 4)[0]
            if trailing != blen:  # 3.1: the trailing Block Total Length repeats the leading one
                stop_reason = (
                    "bad_block_length",
                    f"block of type {btype:#x} after frame {number}: trailing length {trailing} "
                    f"differs from leading length {blen}",
                )
                break
            if btype == ENHANCED_PACKET:
                if blen < 32 or caplen > blen - 32 or iface >= len(interfaces):
                    _bad_packet_block("enhanced packet block", blen, caplen, iface, interfaces, number, ts_ns,
                                      note)
                else:
                    linktype, _snap, mul, shift, div, offset_ns = interfaces[iface]
                    ts_ns = (((hi << 32 | lo) * mul) >> shift) // div + offset_ns
                    number += 1
                    data = buf[off + 28:off + 28 + caplen]
                    append(new(Frame, (number, ts_ns, linktype, data, origlen, first_interface + iface)))
            elif btype == SECTION_HEADER:
                _bom, major, minor = structs.section.unpack_from(buf, off + 8)
                if major != 1:
                    stop_reason = (
                        "unsupported_pcapng_version",
                        f"section version {major}.{minor} after frame {number}: only 1.x is defined",
                    )
                    break
                first_interface += len(interfaces)
                interfaces = []
            elif btype == INTERFACE_DESCRIPTION:
                if blen < 20:
                    note("bad_interface_block", f"interface block after frame {number} is only {blen} bytes", ts_ns)
                else:
                    interface, problem = parse_interface(buf, off + 8, bend - 4, structs)
                    if problem:
                        note("bad_interface_block", f"interface {first_interface + len(interfaces)}: {problem}", ts_ns)
                    linktypes[first_interface + len(interfaces)] = interface.linktype
                    interfaces.append(interface)
            elif btype == SIMPLE_PACKET:
                frame = _simple_packet(buf, off, blen, structs, interfaces, number, ts_ns, first_interface, note)
                if frame is not None:
                    number += 1
                    append(frame)
                    if not spb_noted:
                        spb_noted = True
                        note(
                            "simple_packet_block_no_timestamp",
                            f"frame {number} and any later simple packet blocks carry no timestamp (4.4): "
                            "they get the previous frame's time",
                            ts_ns,
                        )
            elif btype == PACKET_OBSOLETE:
                frame = _obsolete_packet(buf, off, blen, structs, interfaces, number, first_interface, note)
                if frame is not None:
                    number += 1
                    ts_ns = frame.ts_ns
                    append(frame)
            off = bend
        if frames:
            yield frames
        if stop_reason:
            note(stop_reason[0], stop_reason[1], ts_ns if number else None)
            return
        left = end - off
        if eof:
            if left:
                note(
                    "truncated_capture",
                    f"capture ends in the middle of the block after frame {number} "
                    f"(needed {need} bytes, {left} left)",
                    ts_ns if number else None,
                )
            return
        want = max(chunk_bytes, need - left)
        more = read(want)
        eof = len(more) < want
        buf = buf[off:] + more
        off = 0



def _unpackers(structs: _Structs) -> tuple[Callable, Callable, Callable]:
    return structs.block.unpack_from, structs.length.unpack_from, structs.epb_head.unpack_from


def _bad_packet_block(
    what: str, blen: int, caplen: int, iface: int, interfaces: list[Interface], number: int,
    ts_ns: int | None, note: Note,
) -> None:
    """Report why a packet block cannot give a frame (it is skipped; the blocks after it are fine)."""
    if blen < 32:
        note("bad_packet_block", f"{what} after frame {number} is only {blen} bytes", ts_ns)
    elif caplen > blen - 32:
        note("bad_packet_block", f"{what} after frame {number} claims {caplen} bytes, holds {blen - 32}", ts_ns)
    else:
        defined = len(interfaces)
        note("undefined_interface", f"{what} after frame {number} names interface {iface} of {defined}", ts_ns)


def _simple_packet(
    buf: bytes, off: int, blen: int, structs: _Structs, interfaces: list[Interface], number: int,
    ts_ns: int, first_interface: int, note: Note,
) -> Frame | None:
    """4.4: the packet belongs to interface 0; its captured length is min(original, snaplen), and
    never more than the block holds.  It has no timestamp: the previous frame's is used."""
    if blen < 16 or not interfaces:
        reason = f"is only {blen} bytes" if blen < 16 else "needs interface 0, the section defines none"
        kind = "bad_packet_block" if blen < 16 else "undefined_interface"
        note(kind, f"simple packet block after frame {number} {reason}", ts_ns)
        return None
    origlen = structs.simple.unpack_from(buf, off + 8)[0]
    interface = interfaces[0]
    caplen = min(origlen, interface.snaplen or origlen, blen - 16)
    data = buf[off + 12:off + 12 + caplen]
    return Frame(number + 1, ts_ns, interface.linktype, data, origlen, first_interface)


def _obsolete_packet(
    buf: bytes, off: int, blen: int, structs: _Structs, interfaces: list[Interface], number: int,
    first_interface: int, note: Note,
) -> Frame | None:
    """Appendix A: an EPB with a 16-bit interface id and a drops count (ignored)."""
    fields = structs.obsolete.unpack_from(buf, off + 8) if blen >= 32 else (0,) * 6
    iface, _drops, hi, lo, caplen, origlen = fields
    if blen < 32 or caplen > blen - 32 or iface >= len(interfaces):
        _bad_packet_block("packet block", blen, caplen, iface, interfaces, number, None, note)
        return None
    interface = interfaces[iface]
    ts_ns = (((hi << 32 | lo) * interface.mul) >> interface.shift) // interface.div + interface.offset_ns
    data = buf[off + 28:off + 28 + caplen]
    return Frame(number + 1, ts_ns, interface.linktype, data, origlen, first_interface + iface)
