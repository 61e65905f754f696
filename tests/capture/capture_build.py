"""Write small capture files byte by byte, for tests and the read benchmark.

Its one job is producing pcap and pcapng bytes exactly as the drafts lay them out (including the
odd corners: both byte orders, several sections, obsolete and simple packet blocks).  It must not
use the reader under test.
"""
from __future__ import annotations

import struct

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113


def pcap_header(order: str = "<", *, magic: int = 0xA1B2C3D4, snaplen: int = 65535, linktype: int = 1) -> bytes:
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(order: str, sec: int, frac: int, data: bytes, wire_len: int | None = None, *, modified: bool = False) -> bytes:
    head = struct.pack(order + "IIII", sec, frac, len(data), len(data) if wire_len is None else wire_len)
    if modified:
        head += struct.pack(order + "IHBx", 1, 0x0800, 0)
    return head + data


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def end_of_options(order: str) -> bytes:
    return struct.pack(order + "HH", 0, 0)


def shb(order: str = "<") -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(order: str = "<", linktype: int = 1, snaplen: int = 0, *, tsresol: int | None = None, tsoffset: int | None = None) -> bytes:
    options = b""
    if tsresol is not None:
        options += option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        options += option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += end_of_options(order)
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def epb(order: str, iface: int, ts: int, data: bytes, wire_len: int | None = None) -> bytes:
    fixed = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data) if wire_len is None else wire_len)
    return block(order, 6, fixed + data)


def spb(order: str, data: bytes, wire_len: int | None = None) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data) if wire_len is None else wire_len) + data)


def obsolete_pb(order: str, iface: int, ts: int, data: bytes) -> bytes:
    fixed = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(order, 2, fixed + data)


def unknown_block(order: str, btype: int = 0x0BAD, body: bytes = b"skip me") -> bytes:
    return block(order, btype, body)


def isb(order: str, iface: int, ts: int) -> bytes:
    """Interface Statistics Block (4.6): readers skip it."""
    return block(order, 5, struct.pack(order + "III", iface, ts >> 32, ts & 0xFFFFFFFF))


def ipv4_udp(n: int, payload_len: int = 20) -> bytes:
    """A well-formed raw IPv4/UDP packet 127.0.0.1 -> 127.0.0.1 (for LINKTYPE_RAW), payload tagged by n."""
    payload = (n.to_bytes(4, "big") * (payload_len // 4 + 1))[:payload_len]
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, n & 0xFFFF, 0, 64, 17, 0, b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    checksum = _ip_checksum(ip)
    return ip[:10] + struct.pack("!H", checksum) + ip[12:] + udp


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
