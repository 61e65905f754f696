"""The unit the capture layer hands upward: one captured frame, undecoded.

``Frame`` is a NamedTuple rather than a frozen dataclass because one is built per packet on the
hot path (a NamedTuple is immutable too and builds several times faster).  It knows nothing of
link layers or protocols: decoding is the net layer's job.
"""
from __future__ import annotations

from typing import NamedTuple


class Frame(NamedTuple):
    #: 1-based position in the capture, as Wireshark numbers frames (across pcapng sections).
    number: int
    #: Capture time, integer nanoseconds since the Unix epoch (UTC).
    ts_ns: int
    #: LINKTYPE_* value of the interface that captured it (www.tcpdump.org/linktypes.html).
    linktype: int
    #: The bytes captured (at most the snaplen).
    data: bytes
    #: Length of the packet on the wire; larger than ``len(data)`` when the snaplen cut it.
    wire_len: int
    #: pcapng interface index (0 for classic pcap).
    interface: int = 0

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.wire_len
