"""The optional C fast path: classic pcap records cut and decoded to TCP segments in one pass.

One job: offer :func:`pcap_cutter`, a record cutter for :meth:`CaptureReader.cut_batches
<smtpsniff.capture.files.CaptureReader.cut_batches>` built on ``smtpsniff._native.fastpath`` when
that extension was compiled (``setup.py`` builds it when a C compiler is there) and
``SMTPSNIFF_NATIVE`` is not ``0``.  Each batch is a :class:`DecodedBatch`: per record, in record
order, the :class:`~smtpsniff.net.segment.TcpSegment` that :class:`~smtpsniff.net.decode.PacketDecoder`
would have returned, or its :class:`~smtpsniff.net.segment.Skip` when that comes without an anomaly
(non-IP, non-TCP, truncated), or the undecoded :class:`~smtpsniff.capture.frame.Frame` for anything
else (IP fragments, IPv6 extension headers, malformed headers, other link types), which the caller
hands to the same ``PacketDecoder``.  What the C code decided is added to that decoder's
:class:`~smtpsniff.net.counts.PacketCounts`, so counts, anomalies and segments are the pure-Python
path's exactly (tests/native prove it capture by capture).

It also hands the SMTP decoder the C functions that read a well-formed command line or reply
(:func:`smtp_functions`).  It knows nothing of TCP streams or SMTP itself (a reassembler's flows table
passes through it), and reads no file.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

# None when not compiled (no C compiler at install time) or built from other sources: the Python path
from smtpsniff._native import fastpath as _fastpath
from smtpsniff.capture.frame import Frame
from smtpsniff.capture.pcap import Cut, PcapHeader
from smtpsniff.net.decode import PacketDecoder
from smtpsniff.net.segment import Skip, TcpSegment

#: Environment switch: ``SMTPSNIFF_NATIVE=0`` forces the pure-Python reader and decoder.
ENV_SWITCH = "SMTPSNIFF_NATIVE"


class DecodedBatch(NamedTuple):
    #: One entry per record: TcpSegment, Skip or Frame (see the module docstring), or what a
    #: flows table handled in its place (see :func:`flows_type`).
    items: list
    #: ``ts_ns`` of each record, same order (a memoryview of int64).
    ts_ns: memoryview
    #: ``(record index, [connections])``: what the flows table froze as idle before that record.
    sweeps: list


#: ``fast(max_records) -> (flows, until_expire, expire_every, max_records) | None``, asked before each
#: chunk with a bound on its records; the chunk then ends after the returned ``max_records``.
FastArgs = Callable[[int], "tuple | None"]


def available() -> bool:
    """True when the C extension was compiled and imports."""
    return _fastpath is not None


def enabled() -> bool:
    """True when the C fast path will be used: compiled, and not switched off by ``SMTPSNIFF_NATIVE=0``."""
    return _fastpath is not None and os.environ.get(ENV_SWITCH, "1").strip() != "0"


def smtp_functions() -> tuple[Callable, Callable, Callable] | None:
    """``(smtp_command, smtp_reply, smtp_content)`` in C when the fast path is enabled, else ``None``.

    The SMTP decoder (:class:`~smtpsniff.smtp.conversation.SmtpConversation`) uses them to read a
    well-formed command line or reply at once and to copy well-formed message lines; they leave
    anything else to the decoder's Python code (see their docstrings in ``smtpsniff/_native/fastpath.c``).
    """
    if not enabled() or not hasattr(_fastpath, "smtp_content"):
        return None
    return _fastpath.smtp_command, _fastpath.smtp_reply, _fastpath.smtp_content  # type: ignore[union-attr]


def mail_line_ends() -> Callable[[bytes], tuple[int, int, int] | None] | None:
    """``mail_line_ends(raw) -> (bare_lf, bare_cr, nul)`` in C when the fast path is enabled, else
    ``None``: the mail parser's one-pass count of a message's bare line ends and NUL octets
    (:func:`smtpsniff.mail.parse._scan_line_ends`)."""
    if not enabled():
        return None
    return getattr(_fastpath, "mail_line_ends", None)  # None: compiled before it existed


def slot_columns() -> Callable[[list, type, tuple[str, ...]], tuple | None] | None:
    """``slot_columns(items, cls, names)`` in C when the fast path is enabled, else ``None``: the
    table builder's reader of many records' slots, each column as a list and as the bytes of its
    Arrow array (:func:`smtpsniff.analysis.tables.field_columns`; see its docstring in fastpath.c)."""
    if not enabled():
        return None
    return getattr(_fastpath, "slot_columns", None)


def flows_type() -> type | None:
    """The C flows table (``FastFlows``) when the fast path is enabled, else ``None``.

    A reassembler may build one (:meth:`TcpReassembler.attach_flows
    <smtpsniff.reassembly.table.TcpReassembler.attach_flows>`) and hand it to the cutter through
    ``pcap_cutter(decoder, fast)``: segments of the established connections it holds are then
    turned into stream events in C, in record order, instead of into TcpSegments.
    """
    return _fastpath.FastFlows if enabled() else None  # type: ignore[union-attr]


def pcap_cutter(decoder: PacketDecoder, fast: FastArgs | None = None) -> Callable[[PcapHeader, int], Cut | None] | None:
    """A ``make_cut`` for ``CaptureReader.cut_batches`` counting into ``decoder``; ``None`` when disabled.

    ``fast``, when given, is asked before each chunk for the flows table and the idle-sweep schedule
    (see :func:`flows_type`); a chunk may then end early (``need`` 0), right after a record left to
    Python, and the capture reader calls the cutter again on the rest.
    """
    if not enabled():
        return None
    native_type = _fastpath.Cutter  # type: ignore[union-attr]

    def make(header: PcapHeader, max_record_bytes: int) -> Cut:
        native = native_type(
            TcpSegment, Frame, Skip.NON_IP, Skip.NON_TCP, Skip.TRUNCATED,
            header.byte_order == ">", header.nanosecond, header.modified, header.linktype, max_record_bytes,
        )  # fmt: skip
        counts = decoder.counts
        skipped = counts.skipped
        by_linktype = counts.by_linktype
        linktype = header.linktype
        k_non_ip, k_non_tcp, k_truncated = Skip.NON_IP.value, Skip.NON_TCP.value, Skip.TRUNCATED.value

        head_len = 24 if header.modified else 16

        def cut(buf: bytes, off: int, number: int) -> tuple:
            args = None if fast is None else fast((len(buf) - off) // head_len + 1)
            if args is None:
                items, ts, c, n, off, number, last_ts, need, too_large, sweeps = native(buf, off, number)
            else:
                items, ts, c, n, off, number, last_ts, need, too_large, sweeps = native(buf, off, number, *args)
            frames, tcp, tcp_truncated, ipv4, ipv6, fragments, non_ip, non_tcp, truncated = c
            if frames:
                counts.frames += frames
                counts.tcp += tcp
                counts.tcp_truncated += tcp_truncated
                counts.ipv4 += ipv4
                counts.ipv6 += ipv6
                counts.fragments += fragments
                skipped[k_non_ip] += non_ip
                skipped[k_non_tcp] += non_tcp
                skipped[k_truncated] += truncated
                by_linktype[linktype] = by_linktype.get(linktype, 0) + frames
            return DecodedBatch(items, memoryview(ts).cast("q"), sweeps), n, off, number, last_ts, need, too_large

        return cut

    return make
