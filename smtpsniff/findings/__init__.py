"""Security findings: one small detector module per kind of problem, run over session records.

Each detector module defines ``KINDS`` (the stable snake_case kinds it emits), ``THRESHOLDS``
(named numbers with defaults, overridable by name) and ``detect(ctx) -> Iterable[Finding]``; one
that reads the messages (their headers or the mail tables) says so with ``READS_MESSAGES = True``.
:func:`find` runs them all in :data:`DETECTORS` order and returns findings sorted by time.
Detectors read records, credentials and parsed messages; they know nothing of pandas or output.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from importlib import import_module
from operator import attrgetter, is_
from types import ModuleType

import numpy as np

from ..credentials import Credential
from ..limits import DEFAULT_LIMITS, Limits
from ..records.builder import SessionRecords
from .context import DetectionContext
from .model import Finding, Severity, Threshold

_TS = attrgetter("ts_ns")

#: Detector modules under smtpsniff.findings, in the order they run.
DETECTORS = (
    "cleartext_auth", "auth_before_starttls", "starttls_not_used", "no_tls", "starttls_stripping",
    "starttls_injection", "smtp_smuggling", "early_talker", "user_enumeration", "auth_bruteforce",
    "password_spraying", "open_relay", "sender_mismatch", "multiple_from", "display_name_spoof",
    "helo_mismatch", "command_injection",
)


def detector_modules() -> list[ModuleType]:
    return [import_module(f"{__name__}.{name}") for name in DETECTORS]


def kinds() -> list[str]:
    """Every kind a detector can emit."""
    return [kind for module in detector_modules() for kind in module.KINDS]


def thresholds() -> dict[str, Threshold]:
    """Every named threshold with its default and meaning."""
    return {t.name: t for module in detector_modules() for t in module.THRESHOLDS}


def check_thresholds(values: Mapping[str, float]) -> None:
    """Raise ValueError for a name no detector knows, or a negative value."""
    known = thresholds()
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"unknown threshold {name!r}; known: {', '.join(sorted(known))}")
        if float(value) < 0:
            raise ValueError(f"threshold {name} must not be negative: {value}")


def find(records: list[SessionRecords], credentials: list[Credential], *,
         thresholds: Mapping[str, float] | None = None, show_secrets: bool = False,
         limits: Limits = DEFAULT_LIMITS, tables: Mapping[str, object] | None = None) -> list[Finding]:
    """Run every detector; findings ordered by time, then severity (worst first), then kind.

    ``tables`` may hold the mail tables (``messages``, ``headers``) so that messages are not parsed
    a second time."""
    return in_order(detect_all(records, credentials, thresholds=thresholds, show_secrets=show_secrets,
                               limits=limits, tables=tables))


def detect_all(records: list[SessionRecords], credentials: list[Credential], *,
               thresholds: Mapping[str, float] | None = None, show_secrets: bool = False,
               limits: Limits = DEFAULT_LIMITS, tables: Mapping[str, object] | None = None,
               early: Mapping[str, list[Finding]] | None = None) -> list[Finding]:
    """What :func:`find` finds, in the order the detectors gave it (:data:`DETECTORS` order, each
    detector's findings as it yielded them): :func:`order` gives the positions to read it in.

    ``early``: what :func:`detect_early` found with the same arguments, by detector; those
    detectors are not run again."""
    found = detect_by_detector(records, credentials, thresholds=thresholds, show_secrets=show_secrets,
                               limits=limits, tables=tables, early=early)
    return [f for findings in found.values() for f in findings]


def detect_by_detector(records: list[SessionRecords], credentials: list[Credential], *,
                       thresholds: Mapping[str, float] | None = None, show_secrets: bool = False,
                       limits: Limits = DEFAULT_LIMITS, tables: Mapping[str, object] | None = None,
                       early: Mapping[str, list[Finding]] | None = None) -> dict[str, list[Finding]]:
    """What :func:`detect_all` finds, by detector module name in :data:`DETECTORS` order (the
    lists of ``early`` themselves for its detectors)."""
    done = early or {}
    ctx = _context(records, credentials, thresholds, show_secrets, limits, tables)
    out: dict[str, list[Finding]] = {}
    for module in detector_modules():
        found = done.get(module.__name__)
        out[module.__name__] = list(module.detect(ctx)) if found is None else found
    return out


def detect_early(records: list[SessionRecords], credentials: list[Credential], *,
                 thresholds: Mapping[str, float] | None = None, show_secrets: bool = False,
                 limits: Limits = DEFAULT_LIMITS, tables: Mapping[str, object] | None = None
                 ) -> dict[str, list[Finding]]:
    """The findings of the detectors that read no message, by detector module name: what
    :func:`detect_all` gives for them, found before the messages are parsed (``smtpsniff.read``
    finds them while worker processes parse).  ``tables`` needs no mail table."""
    ctx = _context(records, credentials, thresholds, show_secrets, limits, tables)
    return {module.__name__: list(module.detect(ctx)) for module in detector_modules()
            if not getattr(module, "READS_MESSAGES", False)}


def _context(records: list[SessionRecords], credentials: list[Credential], thresholds: Mapping[str, float] | None,
             show_secrets: bool, limits: Limits, tables: Mapping[str, object] | None) -> DetectionContext:
    values = dict(thresholds or {})
    check_thresholds(values)
    return DetectionContext(records=records, credentials=credentials, thresholds=values,
                            known_thresholds=_known(), show_secrets=show_secrets, limits=limits,
                            tables=dict(tables or {}))


def in_order(findings: list[Finding]) -> list[Finding]:
    """``findings`` sorted stably by time (those without one last), then severity (worst first),
    then kind: ``sorted(findings, key=lambda f: (f.ts_ns is None, f.ts_ns or 0, -f.severity.rank,
    f.kind))``, read at the positions :func:`order` gives."""
    return reordered(findings, order(findings))


def order(findings: Sequence[Finding]) -> np.ndarray:
    """The positions of ``findings`` in :func:`in_order`'s order (see :func:`order_of`)."""
    return order_of(list(map(_TS, findings)), list(map(_SEVERITY, findings)), list(map(_KIND, findings)))


def order_of(times: Sequence[int | None] | np.ndarray, severities: Sequence[Severity], kinds: Sequence[str]
             ) -> np.ndarray:
    """The positions that sort findings, given as their columns ``times``, ``severities`` and
    ``kinds``, stably by time (missing last), then severity (worst first), then kind: the order of
    ``sorted(range(n), key=lambda i: (times[i] is None, times[i] or 0, -severities[i].rank, kinds[i]))``.

    Read with one stable ``numpy.lexsort`` on the integer keys of :func:`order_keys`.  Times beyond
    64 bits take that sort itself.  ``times`` may be given as an ``int64`` array already (none
    missing).
    """
    n = len(times)
    if n < 2:
        return np.arange(n)
    if isinstance(times, np.ndarray):
        _, kind_codes, worst_first = _kind_and_severity_keys(severities, kinds)
        return np.lexsort((kind_codes, worst_first, times.astype(np.int64, copy=False)))
    keys = order_keys(times, severities, kinds)
    if keys is None:
        return np.array(sorted(range(n), key=lambda i: (times[i] is None, times[i] or 0, -severities[i].rank,
                                                        kinds[i])), dtype=np.intp)
    _, kind_codes, worst_first, ts, missing = keys
    return np.lexsort((kind_codes, worst_first, ts) if missing is None else (kind_codes, worst_first, ts, missing))


def order_keys(times: Sequence[int | None], severities: Sequence[Severity], kinds: Sequence[str]
               ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """The integer keys :func:`order_of` sorts findings by, given as their columns, least
    significant first: ``(kind_names, kind_codes, worst_first, ts, missing)``.

    ``kind_names`` are the kinds sorted as strings and ``kind_codes`` each kind's place among them;
    ``worst_first`` is minus each severity's rank; ``ts`` each time, 0 where it is missing, and
    ``missing`` whether it is (None when no time is).  None when a time is beyond 64 bits.
    """
    kind_names, kind_codes, worst_first = _kind_and_severity_keys(severities, kinds)
    n = len(times)
    try:
        try:
            return kind_names, kind_codes, worst_first, np.fromiter(times, dtype=np.int64, count=n), None
        except TypeError:  # a time is missing
            missing = np.fromiter(map(_is_none, times), dtype=np.bool_, count=n)
            ts = np.fromiter((0 if t is None else t for t in times), dtype=np.int64, count=n)
            return kind_names, kind_codes, worst_first, ts, missing
    except OverflowError:
        return None


def _kind_and_severity_keys(severities: Sequence[Severity], kinds: Sequence[str]
                            ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The kinds sorted, each kind's place among them, and minus each severity's rank."""
    n = len(kinds)
    kind_names = sorted(set(kinds))
    code = {kind: i for i, kind in enumerate(kind_names)}
    return (kind_names, np.fromiter(map(code.__getitem__, kinds), dtype=np.int64, count=n),
            np.fromiter(map(_WORST_FIRST.__getitem__, severities), dtype=np.int64, count=n))


def reordered(values: Sequence, positions: np.ndarray) -> list:
    """``[values[i] for i in positions]``, read by numpy: the values are only referenced, so each
    is left where it is in memory (reading them in sorted order would jump through it)."""
    return np.fromiter(values, dtype=object, count=len(values))[positions].tolist()


_SEVERITY = attrgetter("severity")
_KIND = attrgetter("kind")
_WORST_FIRST = {s: -s.rank for s in Severity}
_is_none = partial(is_, None)


def _known() -> dict[str, Threshold]:
    return thresholds()


def at_least(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= severity.rank]


__all__ = ["DETECTORS", "DetectionContext", "Finding", "Severity", "Threshold", "at_least", "check_thresholds",
           "detect_all", "detect_by_detector", "detect_early", "detector_modules", "find", "in_order", "kinds", "order", "order_keys", "order_of", "reordered", "thresholds"]
