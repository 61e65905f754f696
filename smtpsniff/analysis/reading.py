"""``smtpsniff.read``: capture files read into records, then the :class:`~smtpsniff.analysis.capture.Capture`
of their typed DataFrames.

Reading needs no pandas: this module imports :mod:`smtpsniff.analysis.capture` (and pandas with
it) only once the files are read, when the worker processes (:mod:`smtpsniff.analysis.workers`)
already parse the messages; for files large enough to start the workers at once
(``START_AT_ONCE_BYTES``), while the worker starts.  The capture's options and counts
(:class:`ReadOptions`, :class:`CaptureStats`) are defined here and named in
:mod:`smtpsniff.analysis.capture` too.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from ..anomaly import Anomaly
from ..capture.files import open_capture
from ..limits import DEFAULT_LIMITS, Limits
from ..mail import ParsedMessage
from ..pipeline import AnalysisResult, SmtpPipeline, collector_paused
from ..reassembly.table import SMTP_PORTS
from ..records.builder import MessageData, SessionRecords
from .schema import SCHEMAS
from .workers import START_AT_ONCE_BYTES, Workers, default_workers

if TYPE_CHECKING:
    from .capture import Capture


@dataclass(frozen=True)
class ReadOptions:
    """What shapes the tables beyond the capture itself."""

    limits: Limits = DEFAULT_LIMITS
    #: Reveal passwords and tokens in the credentials table (masked otherwise).
    show_secrets: bool = False
    #: Detector thresholds by name (see smtpsniff.findings), overriding their defaults.
    thresholds: dict[str, float] = field(default_factory=dict)
    #: How each message is parsed: None calls :func:`smtpsniff.mail.parse_message` here; ``read``
    #: gives :meth:`Workers.parse <smtpsniff.analysis.workers.Workers.parse>`, which returns the
    #: same results, mostly parsed in other processes.
    parse: Callable[[MessageData], ParsedMessage] | None = None


@dataclass
class CaptureStats:
    """What happened to every packet and byte: nothing disappears silently."""

    files: list[str] = field(default_factory=list)
    packets: dict[str, int] = field(default_factory=dict)
    smtp_packets: int = 0
    tcp_connections: int = 0
    smtp_sessions: int = 0
    reassembly: dict[str, int] = field(default_factory=dict)
    #: Worker processes started (see :mod:`smtpsniff.analysis.workers`), the sessions they decoded
    #: and the messages they parsed, and the workers that stopped before answering everything
    #: (what they held was done here).
    workers: int = 0
    sessions_decoded_by_workers: int = 0
    messages_parsed_by_workers: int = 0
    workers_lost: int = 0
    #: The workers' peak resident sets added up, KiB (0 where the system does not tell).
    workers_peak_rss_kib: int = 0


def read(*paths: str | os.PathLike, limits: Limits = DEFAULT_LIMITS, smtp_ports: frozenset[int] = SMTP_PORTS,
         detect_other_ports: bool = True, show_secrets: bool = False, thresholds: dict[str, float] | None = None,
         progress: Callable[[Iterable], Iterable] | None = None, workers: int | None = None,
         tables: Iterable[str] | None = None) -> Capture:
    """Analyse capture files and return their tables.

    Several files are analysed one after another; session ids stay unique across them and the
    sessions table says which file each came from (``capture``).  ``show_secrets`` reveals
    credentials (masked by default).  ``progress`` may wrap each file's frame iterator (the CLI
    passes a progress bar).  ``workers`` processes decode SMTP sessions and parse messages while
    the files are read (see :mod:`smtpsniff.analysis.workers`; the tables are the same with any
    number): None starts one per CPU but one, once a capture has shown 500 sessions or 1,000
    messages, or at once when the files add up to 64 MiB (``START_AT_ONCE_BYTES``); 0 does
    everything in this process.

    ``tables`` names the tables wanted now (None: every one).  The others, which none of them
    needs, are built the first time one of them, or ``Capture.tables``, is asked for: in this
    process, after the read, as the same tables.  So ``smtpsniff analyze``, whose summary shows no
    message, credential or finding, builds none of their tables (the messages are parsed all the
    same: their anomalies are rows of ``anomalies``; see
    :func:`~smtpsniff.analysis.capture.providers_for` for what needs what).
    """
    if not paths:
        raise TypeError("read() needs at least one capture file")
    if thresholds:  # (checked when the findings are built, which may be after the read, or never)
        from ..findings import check_thresholds

        check_thresholds(thresholds)
    if tables is not None:
        tables = tuple(tables)
        unknown = sorted(set(tables) - set(SCHEMAS))
        if unknown:
            raise ValueError(f"no such table: {', '.join(unknown)} (the tables: {', '.join(SCHEMAS)})")
    wanted = default_workers() if workers is None else max(0, int(workers))
    with Workers(limits, wanted) as pool, collector_paused(kept=True):
        if _bytes_in(paths) >= START_AT_ONCE_BYTES:
            pool.start()
            # The table modules (pandas) now, while the worker starts. Imported after the read,
            # they left this process building the tables alone at the end, the worker done; now
            # the worker decodes instead the sessions this process decoded at the end of the read.
            from . import capture  # noqa: F401
        # see collector_paused: most of what is allocated here is kept
        options = ReadOptions(limits=limits, show_secrets=show_secrets, thresholds=dict(thresholds or {}),
                              parse=pool.parse)
        cap = _read(paths, limits, smtp_ports, detect_other_ports, options, progress, pool, tables)
        pool.close()  # the workers' peaks are known once they have stopped
        stats = pool.stats
        cap.stats.workers = stats.workers
        cap.stats.sessions_decoded_by_workers = stats.sessions_by_workers
        cap.stats.messages_parsed_by_workers = stats.messages_by_workers
        cap.stats.workers_lost = stats.workers_lost
        cap.stats.workers_peak_rss_kib = stats.peak_rss_kib
        return cap


def _read(paths: tuple, limits: Limits, smtp_ports: frozenset[int], detect_other_ports: bool,
          options: ReadOptions, progress: Callable[[Iterable], Iterable] | None, pool: Workers,
          wanted: tuple[str, ...] | None) -> Capture:
    stats = CaptureStats()
    all_records: list[SessionRecords] = []
    loose: list[Anomaly] = []
    capture_of: dict[int, str] = {}
    offset = 0
    for path in paths:
        with open_capture(path, limits=limits) as reader:
            pipeline = SmtpPipeline(limits, smtp_ports=smtp_ports, detect_other_ports=detect_other_ports,
                                    on_session=pool.add, offload=pool)
            frames = progress(reader) if progress else reader
            result = pipeline.feed_all(frames)
            # A damaged file is named in its anomalies: several files may be read at once.
            name = os.path.basename(os.fspath(path))
            loose.extend(_renumber_anomalies((replace(a, message=f"{name}: {a.message}") for a in reader.anomalies),
                                             offset))
        stats.files.append(str(path))
        _merge_counts(stats, pipeline, result)
        for records in result.sessions:
            capture_of[records.session.session_id + offset] = str(path)
        all_records.extend(_renumbered(result, offset))
        loose.extend(_renumber_anomalies(result.anomalies, offset))
        offset += pipeline.streams.reassembler.stats.connections
        del pipeline, result  # the file's decoder state is not kept while the tables are built
    all_records.sort(key=lambda r: r.session.session_id)
    stats.smtp_sessions = len(all_records)
    # the workers parse the messages while the tables are built, in the order the tables ask for them
    pool.hand_off(data for records in all_records for data in records.messages)
    from .capture import Capture, build_later, build_tables, providers_for  # pandas, imported while the workers parse

    objects: dict[str, object] = {}
    plan = providers_for(wanted)
    tables = build_tables(all_records, loose, capture_of, options, objects, plan)
    if not plan.deferred:
        return Capture(tables, stats, all_records, objects)
    # built in this process when asked for, the workers long gone (and not kept for it)
    options_later = replace(options, parse=None)
    return Capture(tables, stats, all_records, objects,
                   deferred=lambda: build_later(all_records, tables, options_later, objects, plan),
                   deferred_tables=set(SCHEMAS) - set(tables))


def _bytes_in(paths: tuple) -> int:
    """The sizes of the files ``paths`` added up (a file that cannot be looked at counts 0: its
    reading says why)."""
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except (OSError, TypeError, ValueError):
            pass
    return total


def _merge_counts(stats: CaptureStats, pipeline: SmtpPipeline, result: AnalysisResult) -> None:
    for key, value in pipeline.streams.decoder.counts.as_dict().items():
        stats.packets[key] = stats.packets.get(key, 0) + value
    for key, value in asdict(pipeline.streams.reassembler.stats).items():
        if isinstance(value, int):
            stats.reassembly[key] = stats.reassembly.get(key, 0) + value
    stats.smtp_packets += result.smtp_packets
    stats.tcp_connections += result.tcp_connections


def _renumbered(result: AnalysisResult, offset: int) -> list[SessionRecords]:
    if offset == 0:
        return result.sessions

    def shift(items):
        return tuple(replace(x, session_id=x.session_id + offset) for x in items)

    return [replace(r, session=replace(r.session, session_id=r.session.session_id + offset),
                    transactions=shift(r.transactions), recipients=shift(r.recipients), commands=shift(r.commands),
                    replies=shift(r.replies), messages=shift(r.messages),
                    anomalies=tuple(_renumber_anomalies(r.anomalies, offset)))
            for r in result.sessions]


def _renumber_anomalies(anomalies: Iterable[Anomaly], offset: int) -> list[Anomaly]:
    return [a if a.conn_id is None or offset == 0 else replace(a, conn_id=a.conn_id + offset) for a in anomalies]
