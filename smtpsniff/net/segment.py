"""What the net layer produces from a frame: a TCP segment, or the reason it is not one.

``TcpSegment`` is a NamedTuple for the same hot-path reason as :class:`~smtpsniff.capture.frame.Frame`.
Addresses are text as ``socket.inet_ntop`` writes them (IPv6 compressed, as Wireshark shows them).
"""
from __future__ import annotations

from enum import Enum
from typing import NamedTuple

# TCP flag bits (RFC 9293 section 3.1)
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20


class TcpSegment(NamedTuple):
    frame: int
    ts_ns: int
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    #: 4 or 6
    ip_version: int
    #: True when the snaplen cut the payload: ``payload`` holds fewer bytes than the segment carried.
    truncated: bool = False
    #: Bytes the segment carried on the wire (``len(payload)`` unless truncated).
    wire_payload_len: int = -1

    @property
    def payload_len(self) -> int:
        return self.wire_payload_len if self.wire_payload_len >= 0 else len(self.payload)


class Skip(str, Enum):
    """Why a frame produced no TCP segment; each value is a counter in :class:`PacketCounts`."""

    NON_IP = "non_ip"  # ARP, LLDP, STP, ...
    NON_TCP = "non_tcp"  # UDP, ICMP, ... over IP
    UNSUPPORTED_LINKTYPE = "unsupported_linktype"
    MALFORMED = "malformed"  # a header that cannot be what it claims
    TRUNCATED = "truncated"  # the snaplen cut a header, so nothing can be decoded
    FRAGMENT_HELD = "fragment_held"  # an IPv4 fragment waiting for the rest of its datagram
