"""Frame bytes -> TCP segment: the link layer, IPv4/IPv6 and the TCP header, on the hot path.

One job: turn each :class:`~smtpsniff.capture.frame.Frame` into a
:class:`~smtpsniff.net.segment.TcpSegment` or a :class:`~smtpsniff.net.segment.Skip` reason, count
where every frame went (:class:`~smtpsniff.net.counts.PacketCounts`) and record damaged input as
:class:`~smtpsniff.anomaly.Anomaly` rows instead of raising.  IP fragments are handed to
:mod:`smtpsniff.net.ipfrag`.  This module knows nothing of TCP streams (no sequence tracking, no
reassembly, no connection state) and nothing of SMTP; it does no I/O and never reads the clock.

Rules and where they come from:

* IPv4 header, IHL, Total Length, fragmentation fields: RFC 791 section 3.1.  A Total Length of 0 is
  taken, as Wireshark does, to mean a TSO/GSO capture: the datagram runs to the end of the frame.
* IPv6 header and extension headers: RFC 8200 sections 3-4 (generic length in 8-octet units not
  counting the first 8, RFC 6564); AH counts in 4-octet units minus 2 (RFC 4302 section 2.2).  ESP
  (RFC 4303) and No Next Header (59) end the walk: the frame is not TCP as far as we can see.
* TCP header and Data Offset: RFC 9293 section 3.1.  Checksums are not verified (tshark's default; on
  loopback and with checksum offload they are routinely wrong in captures).
* Link layers: :mod:`smtpsniff.net.linktypes`.

Speed: one frame of web/DNS noise must cost a few hundred nanoseconds, so the common path uses
precompiled ``struct.Struct`` objects, integer comparisons and no allocation for skipped frames; the
rare paths (fragments, anomalies) are kept out of line.
"""
from __future__ import annotations

import struct
from socket import AF_INET, AF_INET6, inet_ntop

from smtpsniff.anomaly import Anomaly, Layer
from smtpsniff.capture.frame import Frame
from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.net.counts import PacketCounts
from smtpsniff.net.ipfrag import FragmentReassembler, Outcome, Reassembled
from smtpsniff.net.linktypes import LINK_DECODERS, LINKTYPE_NAMES, NET_IPV4, NET_IPV6, NET_OTHER
from smtpsniff.net.segment import Skip, TcpSegment

# version/IHL, (TOS), Total Length, Identification, flags/Fragment Offset, (TTL), Protocol
_IPV4 = struct.Struct("!BxHHHxB")
# version/traffic class, (traffic class/flow label), Payload Length, Next Header
_IPV6 = struct.Struct("!BxxxHB")
# source port, destination port, sequence, acknowledgment, data offset + flags
_TCP = struct.Struct("!HHIIH")
# IPv6 fragment header: (next header, reserved), fragment offset + M flag, identification
_IPV6_FRAG = struct.Struct("!xxHI")

_new_tuple = tuple.__new__
#: Address pairs whose text is memoised (see PacketDecoder._remember_addrs); ~200 bytes each.
_ADDR_MEMO = 4096

_PROTO_TCP = 6
_IPV4_MF = 0x2000
_IPV4_FRAG_MASK = 0x3FFF  # MF flag or a non-zero offset: the datagram is a fragment
_TCP_FLAG_MASK = 0x0FFF  # RFC 9293: the 4 reserved bits and the 8 control bits (and AE, RFC 3168)

# IPv6 extension headers with the generic layout (RFC 8200 section 4; RFC 7045 lists them):
# hop-by-hop 0, routing 43, destination options 60, mobility 135 (RFC 6275), HIP 139 (RFC 7401),
# shim6 140 (RFC 5533).
_IPV6_EXT_GENERIC = frozenset((0, 43, 60, 135, 139, 140))
_IPV6_FRAGMENT = 44
_IPV6_AH = 51

# Skip values, and the string keys PacketCounts.skipped uses (a str Enum does not hash like its value).
_NON_IP = Skip.NON_IP
_NON_TCP = Skip.NON_TCP
_UNSUPPORTED = Skip.UNSUPPORTED_LINKTYPE
_MALFORMED = Skip.MALFORMED
_TRUNCATED = Skip.TRUNCATED
_HELD = Skip.FRAGMENT_HELD
_K_NON_IP = _NON_IP.value
_K_NON_TCP = _NON_TCP.value
_K_UNSUPPORTED = _UNSUPPORTED.value
_K_MALFORMED = _MALFORMED.value
_K_TRUNCATED = _TRUNCATED.value
_K_HELD = _HELD.value


def _describe_fragment_key(key: object) -> str:
    """IPv4 keys are ``(src+dst bytes, id, proto)``; IPv6 keys ``(src+dst bytes, id)``."""
    addrs = key[0]  # type: ignore[index]
    if len(addrs) == 8:
        src, dst = inet_ntop(AF_INET, addrs[:4]), inet_ntop(AF_INET, addrs[4:])
        return f"IPv4 fragments {src} -> {dst} id 0x{key[1]:04x} proto {key[2]}"  # type: ignore[index]
    src, dst = inet_ntop(AF_INET6, addrs[:16]), inet_ntop(AF_INET6, addrs[16:])
    return f"IPv6 fragments {src} -> {dst} id 0x{key[1]:08x}"  # type: ignore[index]


class PacketDecoder:
    """Decode frames one at a time; keeps only fragment sets and counters between calls."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.counts = PacketCounts()
        #: Layer.NET anomalies, at most ``limits.max_anomalies_per_kind`` records per kind.
        self.anomalies: list[Anomaly] = []
        #: kind -> exact number of occurrences (including those past the record cap).
        self.anomaly_counts: dict[str, int] = {}
        self._max_per_kind = limits.max_anomalies_per_kind
        self._links = dict(LINK_DECODERS)
        self._addr_text: dict[bytes, tuple[str, str]] = {}
        self._frags = FragmentReassembler(self._report, _describe_fragment_key, limits)

    # --- public ------------------------------------------------------------------------------
    def decode(self, frame: Frame) -> TcpSegment | Skip:
        """The frame's TCP segment, or why there is none; never raises, always counts the frame once."""
        counts = self.counts
        counts.frames += 1
        linktype = frame.linktype
        by_linktype = counts.by_linktype
        if linktype in by_linktype:
            by_linktype[linktype] += 1
        else:
            by_linktype[linktype] = 1
        data = frame.data
        try:
            # Fast path, most frames: untagged Ethernet carrying IPv4 (same as link_ethernet's result).
            if linktype == 1 and len(data) >= 14 and data[12] == 8 and data[13] == 0:
                counts.ipv4 += 1
                return self._ipv4(frame, data, 14)
            link = self._links.get(linktype)
            if link is None:
                return self._unsupported(frame)
            net, off = link(data)
            if net == NET_IPV4:
                counts.ipv4 += 1
                return self._ipv4(frame, data, off)
            if net == NET_IPV6:
                counts.ipv6 += 1
                return self._ipv6(frame, data, off)
            if net == NET_OTHER:
                counts.skipped[_K_NON_IP] += 1
                return _NON_IP
            counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        except (struct.error, IndexError, ValueError) as exc:  # a bounds check missed: still no raise
            return self._malformed(frame, "malformed_frame", f"{type(exc).__name__}: {exc}")

    def expire(self, now_ns: int) -> None:
        """Drop fragment sets older than ``limits.fragment_timeout_ns`` (anomaly ``fragments_incomplete``)."""
        self._frags.expire(now_ns)

    def finish(self) -> None:
        """End of capture: report fragment sets never completed."""
        self._frags.finish()

    @property
    def fragment_sets_held(self) -> int:
        return self._frags.held

    # --- IPv4 (RFC 791) --------------------------------------------------------------------------
    def _ipv4(self, frame: Frame, data: bytes, off: int) -> TcpSegment | Skip:
        cap = len(data)
        if cap - off < 20:
            self.counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        vihl, total_len, ident, frag, proto = _IPV4.unpack_from(data, off)
        ihl = (vihl & 15) << 2
        if vihl >> 4 != 4 or ihl < 20:
            if vihl >> 4 != 4:
                return self._malformed(frame, "malformed_ipv4", f"version {vihl >> 4} in an IPv4 header")
            return self._malformed(frame, "malformed_ipv4", f"header length {ihl} < 20 (IHL {vihl & 15})")
        wire_len = frame.wire_len
        if total_len < ihl:
            if total_len == 0 and wire_len - off >= ihl:  # TSO/GSO: the NIC fills Total Length later
                total_len = wire_len - off
            else:
                return self._malformed(frame, "malformed_ipv4", f"total length {total_len} < header {ihl}")
        end = off + total_len
        if end > cap:
            if end > wire_len or cap >= wire_len:
                return self._malformed(
                    frame,
                    "malformed_ipv4",
                    f"total length {total_len} > {max(cap, wire_len) - off} bytes in the frame",
                )
        if proto != _PROTO_TCP:
            if frag & _IPV4_FRAG_MASK:
                self.counts.fragments += 1
            self.counts.skipped[_K_NON_TCP] += 1
            return _NON_TCP
        if cap < off + ihl:
            self.counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        if frag & _IPV4_FRAG_MASK:
            return self._ipv4_fragment(frame, data, off, ihl, end, ident, frag)
        raw = data[off + 12 : off + 20]
        addrs = self._addr_text.get(raw)
        if addrs is None:
            addrs = self._remember_addrs(raw)
        return self._tcp(frame, data, off + ihl, end, end if end <= cap else cap, addrs, 4)

    def _ipv4_fragment(
        self, frame: Frame, data: bytes, off: int, ihl: int, end: int, ident: int, frag: int
    ) -> TcpSegment | Skip:
        counts = self.counts
        counts.fragments += 1
        addrs = data[off + 12 : off + 20]
        if end > len(data):
            return self._truncated_fragment(frame, f"IPv4 id 0x{ident:04x}")
        result = self._frags.add(
            (addrs, ident, _PROTO_TCP),
            (frag & 0x1FFF) << 3,
            data[off + ihl : end],
            bool(frag & _IPV4_MF),
            frame.number,
            frame.ts_ns,
            ihl,
        )
        if type(result) is not Reassembled:
            return self._fragment_outcome(result)  # type: ignore[arg-type]
        counts.datagrams_reassembled += 1
        payload = result.payload
        return self._tcp(frame, payload, 0, len(payload), len(payload), self._remember_addrs(addrs), 4)

    # --- IPv6 (RFC 8200) ---------------------------------------------------------------------------
    def _ipv6(self, frame: Frame, data: bytes, off: int) -> TcpSegment | Skip:
        cap = len(data)
        if cap - off < 40:
            self.counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        vtc, payload_len, nh = _IPV6.unpack_from(data, off)
        if vtc >> 4 != 6:
            return self._malformed(frame, "malformed_ipv6", f"version {vtc >> 4} in an IPv6 header")
        wire_len = frame.wire_len
        if payload_len == 0 and nh != 59 and wire_len - off > 40:
            payload_len = wire_len - off - 40  # TSO/GSO (or a jumbogram, RFC 2675: not otherwise decoded)
        end = off + 40 + payload_len
        if end > cap and (end > wire_len or cap >= wire_len):
            return self._malformed(
                frame,
                "malformed_ipv6",
                f"payload length {payload_len} > {max(cap, wire_len) - off - 40} bytes in the frame",
            )
        return self._ipv6_upper(frame, data, off, off + 40, end, end if end <= cap else cap, nh, None)

    def _ipv6_upper(
        self,
        frame: Frame,
        data: bytes,
        off: int,
        p: int,
        end: int,
        avail: int,
        nh: int,
        addrs: tuple[str, str] | None,
    ) -> TcpSegment | Skip:
        """Walk extension headers from ``p`` (``nh`` is the next header value) to TCP.

        ``off`` is the IPv6 header's offset in ``data`` (for the addresses and fragment keys).  For a
        reassembled payload ``data`` holds only the payload, ``off`` is -1 and ``addrs`` are given.
        """
        while nh != _PROTO_TCP:
            if nh in _IPV6_EXT_GENERIC:
                if p + 2 > avail:
                    return self._ipv6_short(frame, p + 2, end, f"extension header {nh}")
                hlen = (data[p + 1] + 1) << 3
            elif nh == _IPV6_FRAGMENT:
                if p + 8 > avail:
                    return self._ipv6_short(frame, p + 8, end, "fragment header")
                if addrs is not None:
                    return self._malformed(frame, "malformed_ipv6", "fragment header inside a reassembled datagram")
                fo, ident = _IPV6_FRAG.unpack_from(data, p)
                if fo & 0xFFF9:  # an offset or the M flag: a real fragment (RFC 8200 section 4.5)
                    return self._ipv6_fragment(frame, data, off, p, end, avail, fo, ident)
                hlen = 8  # atomic fragment (RFC 6946): process as if unfragmented
            elif nh == _IPV6_AH:
                if p + 2 > avail:
                    return self._ipv6_short(frame, p + 2, end, "authentication header")
                hlen = (data[p + 1] + 2) << 2
            else:  # UDP, ICMPv6, ESP 50, No Next Header 59, ...
                self.counts.skipped[_K_NON_TCP] += 1
                return _NON_TCP
            if p + hlen > end:
                return self._malformed(
                    frame,
                    "malformed_ipv6",
                    f"extension header {nh} of {hlen} bytes at offset {p - off if off >= 0 else p} "
                    f"runs past the payload end ({end - p} bytes left)",
                )
            nh = data[p]
            p += hlen
        if addrs is None:
            raw = data[off + 8 : off + 40]
            addrs = self._addr_text.get(raw)
            if addrs is None:
                addrs = self._remember_addrs(raw)
        return self._tcp(frame, data, p, end, avail, addrs, 6)

    def _ipv6_short(self, frame: Frame, need: int, end: int, what: str) -> Skip:
        """An extension header does not fit: malformed if the packet says so, truncated if the snaplen did."""
        if need > end:
            return self._malformed(frame, "malformed_ipv6", f"{what} runs past the payload end")
        self.counts.skipped[_K_TRUNCATED] += 1
        return _TRUNCATED

    def _ipv6_fragment(
        self, frame: Frame, data: bytes, off: int, p: int, end: int, avail: int, fo: int, ident: int
    ) -> TcpSegment | Skip:
        counts = self.counts
        counts.fragments += 1
        addrs = data[off + 8 : off + 40]
        if avail < end:
            return self._truncated_fragment(frame, f"IPv6 id 0x{ident:08x}")
        result = self._frags.add(
            (addrs, ident),
            fo & 0xFFF8,
            data[p + 8 : end],
            bool(fo & 1),
            frame.number,
            frame.ts_ns,
            p - off - 40,  # the unfragmentable extension headers count against the 65535 limit
            data[p],  # next header of the fragmentable part, from the fragment at offset 0
        )
        if type(result) is not Reassembled:
            return self._fragment_outcome(result)  # type: ignore[arg-type]
        counts.datagrams_reassembled += 1
        payload = result.payload
        if result.info is None:  # cannot happen: offset 0 arrived, or the set would have holes
            return self._malformed(frame, "malformed_ipv6", "reassembled datagram without a first fragment")
        text = self._remember_addrs(addrs)
        return self._ipv6_upper(frame, payload, -1, 0, len(payload), len(payload), result.info, text)  # type: ignore[arg-type]

    # --- fragments: shared ------------------------------------------------------------------------
    def _fragment_outcome(self, outcome: Outcome) -> Skip:
        if outcome is Outcome.HELD:
            self.counts.skipped[_K_HELD] += 1
            return _HELD
        self.counts.skipped[_K_MALFORMED] += 1  # rejected: ipfrag has reported why
        return _MALFORMED

    def _truncated_fragment(self, frame: Frame, what: str) -> Skip:
        self._report(
            "fragment_truncated",
            f"{what}: the snaplen cut a fragment, so its datagram cannot be reassembled",
            frame.number,
            frame.ts_ns,
        )
        self.counts.skipped[_K_TRUNCATED] += 1
        return _TRUNCATED

    # --- TCP (RFC 9293 section 3.1) -----------------------------------------------------------------
    def _tcp(
        self,
        frame: Frame,
        data: bytes,
        t: int,
        end: int,
        avail: int,
        addrs: tuple[str, str],
        version: int,
    ) -> TcpSegment | Skip:
        """``t``: TCP header offset; ``end``: where the IP payload ends; ``avail``: captured end;
        ``addrs``: source and destination as text."""
        if end - t < 20:
            return self._malformed(frame, "malformed_tcp", f"segment of {end - t} bytes < TCP header 20")
        if avail - t < 20:
            self.counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        sport, dport, seq, ack, offflags = _TCP.unpack_from(data, t)
        hlen = (offflags >> 12) << 2
        if hlen < 20:
            return self._malformed(frame, "malformed_tcp", f"data offset {hlen >> 2} < 5")
        p = t + hlen
        if p > end:
            return self._malformed(frame, "malformed_tcp", f"header length {hlen} > segment length {end - t}")
        if p > avail:
            self.counts.skipped[_K_TRUNCATED] += 1
            return _TRUNCATED
        counts = self.counts
        counts.tcp += 1
        # tuple.__new__ skips NamedTuple's Python-level __new__ (half the cost); same object.
        if avail < end:
            counts.tcp_truncated += 1
            return _new_tuple(TcpSegment, (
                frame.number, frame.ts_ns, addrs[0], sport, addrs[1], dport, seq, ack,
                offflags & _TCP_FLAG_MASK, data[p:avail], version, True, end - p,
            ))  # fmt: skip
        return _new_tuple(TcpSegment, (
            frame.number, frame.ts_ns, addrs[0], sport, addrs[1], dport, seq, ack,
            offflags & _TCP_FLAG_MASK, data[p:end], version, False, end - p,
        ))  # fmt: skip

    # --- addresses ---------------------------------------------------------------------------------
    def _remember_addrs(self, raw: bytes) -> tuple[str, str]:
        """Source and destination text for 8 (IPv4) or 32 (IPv6) bytes of addresses, memoised.

        ``inet_ntop`` costs ~200 ns per address and a capture has few distinct address pairs, so the
        text is kept in a memo of at most ``_ADDR_MEMO`` pairs (cleared whole when full).
        """
        half = len(raw) >> 1
        family = AF_INET if half == 4 else AF_INET6
        addrs = (inet_ntop(family, raw[:half]), inet_ntop(family, raw[half:]))
        memo = self._addr_text
        if len(memo) >= _ADDR_MEMO:
            memo.clear()
        memo[raw] = addrs
        return addrs

    # --- skips with anomalies ------------------------------------------------------------------------
    def _unsupported(self, frame: Frame) -> Skip:
        self.counts.skipped[_K_UNSUPPORTED] += 1
        linktype = frame.linktype
        if self.counts.by_linktype[linktype] == 1:  # one anomaly per link type, at its first frame
            self._report(
                "unsupported_linktype",
                f"link type {linktype} ({LINKTYPE_NAMES.get(linktype, 'unknown')}) is not decoded; "
                f"its frames are counted and skipped",
                frame.number,
                frame.ts_ns,
            )
        return _UNSUPPORTED

    def _malformed(self, frame: Frame, kind: str, detail: str) -> Skip:
        self.counts.skipped[_K_MALFORMED] += 1
        self._report(kind, f"{kind}: {detail} (frame {frame.number})", frame.number, frame.ts_ns)
        return _MALFORMED

    def _report(self, kind: str, message: str, frame: int, ts_ns: int) -> None:
        counts = self.anomaly_counts
        seen = counts.get(kind, 0)
        counts[kind] = seen + 1
        if seen < self._max_per_kind:
            self.anomalies.append(Anomaly(layer=Layer.NET, kind=kind, message=message, ts_ns=ts_ns, frame=frame))
