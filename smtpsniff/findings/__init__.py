"""Security findings: one small detector module per kind of problem, run over session records.

Each detector module defines ``KINDS`` (the stable snake_case kinds it emits), ``THRESHOLDS``
(named numbers with defaults, overridable by name) and ``detect(ctx) -> Iterable[Finding]``.
:func:`find` runs them all in :data:`DETECTORS` order and returns findings sorted by time.
Detectors read records, credentials and parsed messages; they know nothing of pandas or output.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import import_module
from itertools import compress, count, islice
from operator import attrgetter, eq
from types import ModuleType

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
    values = dict(thresholds or {})
    check_thresholds(values)
    ctx = DetectionContext(records=records, credentials=credentials, thresholds=values,
                           known_thresholds=_known(), show_secrets=show_secrets, limits=limits,
                           tables=dict(tables or {}))
    out: list[Finding] = []
    for module in detector_modules():
        out.extend(module.detect(ctx))
    return in_order(out)


def in_order(findings: list[Finding]) -> list[Finding]:
    """``findings`` sorted stably by time (those without one last), then severity (worst first),
    then kind: ``sorted(findings, key=lambda f: (f.ts_ns is None, f.ts_ns or 0, -f.severity.rank,
    f.kind))``.

    Sorted by the time alone first (plain integers, the cheapest keys to compare), then each run
    of equal times by severity and kind; both sorts are stable, so findings equal in all three keep
    the order the detectors gave them, as with the one sort.
    """
    worst_first = {s: -s.rank for s in Severity}

    def rest(f: Finding) -> tuple[int, str]:
        return worst_first[f.severity], f.kind

    timed = [f for f in findings if f.ts_ns is not None]
    timed.sort(key=_TS)
    times = list(map(_TS, timed))
    ties = list(compress(count(), map(eq, times, islice(times, 1, None))))  # i: same time as i + 1
    at = 0
    while at < len(ties):
        start = end = ties[at]
        while at + 1 < len(ties) and ties[at + 1] == end + 1:
            at += 1
            end += 1
        timed[start:end + 2] = sorted(timed[start:end + 2], key=rest)
        at += 1
    return timed + sorted((f for f in findings if f.ts_ns is None), key=rest)


def _known() -> dict[str, Threshold]:
    return thresholds()


def at_least(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= severity.rank]


__all__ = ["DETECTORS", "DetectionContext", "Finding", "Severity", "Threshold", "at_least", "check_thresholds",
           "detector_modules", "find", "in_order", "kinds", "thresholds"]
