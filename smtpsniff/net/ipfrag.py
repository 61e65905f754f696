"""IP fragment reassembly: rebuild a datagram's payload from its fragments.

One job: collect fragment payloads under a key until every byte from 0 to the end given by the last
fragment is present, then hand back the payload.  It follows RFC 815's hole-descriptor algorithm
(the RFC 791 section 3.2 reassembly, without a bit table) and serves IPv4 (RFC 791) and IPv6
(RFC 8200 section 4.5) alike: the caller parses the headers and chooses the key.  This module knows
nothing of IP header layout, TCP or SMTP, and it never reads the clock: time comes in with each
fragment.

Overlaps: the bytes already held win ("first data wins", as the BSD and Windows stacks of RFC 5722's
survey do), and an overlap that brings *different* bytes is reported as ``fragment_overlap_mismatch``,
the classic IDS evasion (Ptacek & Newsham 1998).  RFC 5722 asks IPv6 receivers to drop such datagrams;
an analyser keeps the first data and says so instead.

Bounds (all from :class:`~smtpsniff.limits.Limits`): ``max_fragment_sets`` held at once (the oldest is
dropped, ``fragments_evicted``), ``max_fragment_datagram_bytes`` per datagram (``fragment_too_large``,
the "ping of death"), ``fragment_timeout_ns`` per set (``fragments_incomplete``).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from enum import Enum
from typing import NamedTuple

from smtpsniff.limits import DEFAULT_LIMITS, Limits

#: "Infinity" for the last hole while the final fragment is unknown (RFC 815 section 3).
_INFINITY = 1 << 62

#: ``report(kind, message, frame, ts_ns)``: how anomalies leave this module.
Reporter = Callable[[str, str, int, int], None]
#: ``describe(key)``: a readable name for a fragment set in anomaly messages.
Describer = Callable[[Hashable], str]


class Outcome(Enum):
    """What :meth:`FragmentReassembler.add` did with a fragment that did not complete a datagram."""

    HELD = "held"  # kept, waiting for the rest
    REJECTED = "rejected"  # dropped with its set (too large); an anomaly says why


class Reassembled(NamedTuple):
    payload: bytes
    #: What the caller attached to the fragment at offset 0 (e.g. IPv6's first next-header value).
    info: object
    #: Frame number of the first fragment received for this datagram.
    first_frame: int
    fragments: int


class _FragmentSet:
    __slots__ = ("first_frame", "first_ts", "buf", "holes", "total", "fragments", "info", "have_first")

    def __init__(self, frame: int, ts_ns: int) -> None:
        self.first_frame = frame
        self.first_ts = ts_ns
        self.buf = bytearray()
        #: RFC 815 hole descriptors, sorted, as half-open ``[first, last)`` ranges.
        self.holes: list[tuple[int, int]] = [(0, _INFINITY)]
        #: Payload length, once the fragment with More Fragments clear has arrived.
        self.total: int | None = None
        self.fragments = 0
        self.info: object = None
        self.have_first = False

    def received(self) -> int:
        end = self.total if self.total is not None else len(self.buf)
        return end - sum(min(last, end) - first for first, last in self.holes if first < end)


class FragmentReassembler:
    """Fragment sets under caller-chosen keys (RFC 791: source, destination, protocol, id)."""

    def __init__(
        self,
        report: Reporter,
        describe: Describer = repr,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._report = report
        self._describe = describe
        self._max_sets = limits.max_fragment_sets
        self._max_bytes = limits.max_fragment_datagram_bytes
        self._timeout_ns = limits.fragment_timeout_ns
        #: key -> set, in order of creation (so the oldest is first).
        self._sets: dict[Hashable, _FragmentSet] = {}

    @property
    def held(self) -> int:
        """Fragment sets waiting for missing pieces."""
        return len(self._sets)

    def add(
        self,
        key: Hashable,
        offset: int,
        data: bytes,
        more: bool,
        frame: int,
        ts_ns: int,
        header_len: int = 0,
        info: object = None,
    ) -> Reassembled | Outcome:
        """Take one fragment: ``data`` belongs at byte ``offset`` of the datagram's payload.

        ``header_len`` is the header that will precede the payload, counted against
        ``max_fragment_datagram_bytes``; ``info`` is kept from the fragment at offset 0.
        """
        sets = self._sets
        fset = sets.get(key)
        if fset is not None and ts_ns - fset.first_ts > self._timeout_ns:
            self._drop(key, fset, f"timed out after {_seconds(ts_ns - fset.first_ts)}")
            fset = None
        if fset is None:
            if len(sets) >= self._max_sets:
                old_key = next(iter(sets))
                old = sets.pop(old_key)
                self._report(
                    "fragments_evicted",
                    f"{self._describe(old_key)}: dropped to make room, {self._max_sets} fragment sets "
                    f"held (limits.max_fragment_sets); {_progress(old)}",
                    old.first_frame,
                    old.first_ts,
                )
            fset = sets[key] = _FragmentSet(frame, ts_ns)
        fset.fragments += 1

        end = offset + len(data)
        if end + header_len > self._max_bytes:
            del sets[key]
            self._report(
                "fragment_too_large",
                f"{self._describe(key)}: fragment at offset {offset} with {len(data)} bytes ends at "
                f"{end + header_len} > {self._max_bytes} bytes (limits.max_fragment_datagram_bytes)",
                frame,
                ts_ns,
            )
            return Outcome.REJECTED
        if offset == 0 and not fset.have_first:
            fset.have_first = True
            fset.info = info

        total = fset.total
        if not more:
            if total is None:
                total = fset.total = end
                # RFC 815 step 6 in reverse: the open-ended hole now ends here.
                fset.holes = [(first, min(last, end)) for first, last in fset.holes if first < end]
                if len(fset.buf) > end:
                    self._report(
                        "fragment_length_mismatch",
                        f"{self._describe(key)}: last fragment ends at {end} but bytes up to "
                        f"{len(fset.buf)} were already received; the excess is ignored",
                        frame,
                        ts_ns,
                    )
                    del fset.buf[end:]
            elif end != total:
                self._report(
                    "fragment_length_mismatch",
                    f"{self._describe(key)}: a second last fragment ends at {end}, the first at {total}",
                    frame,
                    ts_ns,
                )
        if total is not None and end > total:
            if offset < total:
                self._report(
                    "fragment_length_mismatch",
                    f"{self._describe(key)}: fragment at offset {offset} runs to {end}, past the "
                    f"datagram end {total}; the excess is ignored",
                    frame,
                    ts_ns,
                )
            end = total
        if offset < end:
            self._place(key, fset, offset, end, data, frame, ts_ns)

        if not fset.holes:
            del sets[key]
            return Reassembled(bytes(fset.buf), fset.info, fset.first_frame, fset.fragments)
        return Outcome.HELD

    def _place(
        self, key: Hashable, fset: _FragmentSet, start: int, end: int, data: bytes, frame: int, ts_ns: int
    ) -> None:
        """RFC 815 steps 1-7: fill the holes that ``[start, end)`` meets; compare what it overlaps."""
        buf = fset.buf
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        new_holes: list[tuple[int, int]] = []
        cursor = start  # bytes in [start, cursor) are accounted for
        mismatch = 0
        for first, last in fset.holes:
            if last <= start or first >= end:  # step 2, 3: this hole is untouched
                new_holes.append((first, last))
                continue
            lo = first if first > start else start
            hi = last if last < end else end
            if cursor < lo:  # already-filled bytes before this hole: an overlap
                mismatch += _differs(buf, cursor, lo, data, start)
            buf[lo:hi] = data[lo - start : hi - start]
            cursor = hi
            if first < start:  # step 5: a hole remains before the fragment
                new_holes.append((first, start))
            if end < last:  # step 6: a hole remains after it
                new_holes.append((end, last))
        if cursor < end:
            mismatch += _differs(buf, cursor, end, data, start)
        fset.holes = new_holes
        if mismatch:
            self._report(
                "fragment_overlap_mismatch",
                f"{self._describe(key)}: fragment at offset {start} overlaps {mismatch} bytes "
                f"already received with different content; the first data is kept",
                frame,
                ts_ns,
            )

    def expire(self, now_ns: int) -> None:
        """Drop sets whose first fragment is older than ``fragment_timeout_ns`` (RFC 791's timer)."""
        limit = now_ns - self._timeout_ns
        sets = self._sets
        stale = [key for key, fset in sets.items() if fset.first_ts < limit]
        for key in stale:
            fset = sets[key]
            self._drop(key, fset, f"timed out after {_seconds(now_ns - fset.first_ts)}")

    def finish(self) -> None:
        """End of capture: every set still held is incomplete."""
        for key, fset in list(self._sets.items()):
            self._drop(key, fset, "capture ended")

    def _drop(self, key: Hashable, fset: _FragmentSet, why: str) -> None:
        del self._sets[key]
        self._report(
            "fragments_incomplete",
            f"{self._describe(key)}: {why} with {_progress(fset)}",
            fset.first_frame,
            fset.first_ts,
        )


def _differs(buf: bytearray, lo: int, hi: int, data: bytes, start: int) -> int:
    """Bytes in ``buf[lo:hi]`` that differ from the same range of a fragment starting at ``start``."""
    old = buf[lo:hi]
    new = data[lo - start : hi - start]
    if old == new:
        return 0
    return sum(1 for a, b in zip(old, new) if a != b)


def _progress(fset: _FragmentSet) -> str:
    total = "?" if fset.total is None else str(fset.total)
    return f"{fset.fragments} fragment(s), {fset.received()} of {total} bytes"


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.1f} s"
