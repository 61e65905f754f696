"""Packet accounting for the net layer: where every frame went.

One job: hold the counters the decoder bumps, and flatten them for reports.  Every frame lands in
exactly one bucket, so ``frames == tcp + sum(skipped.values())`` always holds; the other counters
(``ipv4``, ``ipv6``, ``fragments``, ...) are cross-cuts of those buckets.  This module knows nothing
of how frames are decoded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from smtpsniff.net.segment import Skip


def _zero_skips() -> dict[str, int]:
    return {reason.value: 0 for reason in Skip}


@dataclass(slots=True)
class PacketCounts:
    #: Frames handed to the decoder.
    frames: int = 0
    #: Frames that produced a :class:`~smtpsniff.net.segment.TcpSegment` (including the fragment that
    #: completed a reassembled datagram).
    tcp: int = 0
    #: Of ``tcp``: segments whose payload the snaplen cut.
    tcp_truncated: int = 0
    #: Frames whose link layer carried IPv4 / IPv6 (whatever became of them).
    ipv4: int = 0
    ipv6: int = 0
    #: IP fragments seen (IPv4, and IPv6 with a fragment header that is not atomic, RFC 6946).
    fragments: int = 0
    #: Datagrams rebuilt from fragments.
    datagrams_reassembled: int = 0
    #: Skip value -> frames that produced no segment for that reason.
    skipped: dict[str, int] = field(default_factory=_zero_skips)
    #: LINKTYPE -> frames.
    by_linktype: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        """Flat ``name -> count`` for reports: ``skipped_<reason>`` and ``linktype_<n>`` keys."""
        flat = {
            "frames": self.frames,
            "tcp": self.tcp,
            "tcp_truncated": self.tcp_truncated,
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
            "fragments": self.fragments,
            "datagrams_reassembled": self.datagrams_reassembled,
        }
        for reason, count in self.skipped.items():
            flat[f"skipped_{reason}"] = count
        for linktype, count in sorted(self.by_linktype.items()):
            flat[f"linktype_{linktype}"] = count
        return flat

    @property
    def balanced(self) -> bool:
        """The accounting invariant: every frame is a segment or has exactly one skip reason."""
        return self.frames == self.tcp + sum(self.skipped.values())
