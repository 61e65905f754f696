"""What a live run remembers: running totals, bounded lists of recent items, the findings as they fire.

:class:`LiveMonitor` is handed each finished session's records (the pipeline's ``on_session``)
and keeps only what a run of days can afford: counters, a per-second histogram of the last
minute, the latest errors, findings and sessions in bounded deques, and the first
``Limits.max_live_sessions_kept`` sessions for the final summary and exports (later ones are
counted).  Findings come from :mod:`smtpsniff.findings`: the detectors that look at one session
run on each session as it finishes; those that group sessions (a brute force spans many) run over
a bounded window of recent sessions whenever :meth:`LiveMonitor.sweep` is called.

It does no I/O and reads no clock: the caller passes the time.
"""
from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..credentials import Credential, credentials
from ..findings import DetectionContext, Finding, check_thresholds, detector_modules
from ..findings import thresholds as known_thresholds
from ..limits import DEFAULT_LIMITS, Limits
from ..records.builder import SessionRecords
from ..records.model import TransactionStatus

#: Detectors that group several sessions (by user, by client, by server) and so need a window of
#: sessions rather than one; every other detector reads one session at a time.
CROSS_SESSION_DETECTORS = frozenset({"auth_bruteforce", "password_spraying", "user_enumeration"})
#: Sessions the cross-session detectors see at once (their records without message bytes).
DETECTION_WINDOW_SESSIONS = 5000
#: Width of the "messages per minute" window, in seconds.
RATE_WINDOW_S = 60

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A 4xx or 5xx reply, for the dashboard's list of latest errors."""

    ts_ns: int
    session_id: int
    client_ip: str
    server_ip: str
    code: int
    verb: str | None
    text: str


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One finished session, for the dashboard's list of latest sessions."""

    ts_ns: int
    session_id: int
    client: str
    server: str
    helo: str | None
    transactions: int
    accepted: int
    rejected: int
    tls: bool
    auth: str | None
    close_reason: str


class LiveMonitor:
    """Running state of a live analysis; see the module docstring."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, thresholds: Mapping[str, float] | None = None,
                 show_secrets: bool = False, keep_sessions: int | None = None, findings: bool = True) -> None:
        self.limits = limits
        self.thresholds = dict(thresholds or {})
        check_thresholds(self.thresholds)
        self.show_secrets = show_secrets
        self.keep_limit = limits.max_live_sessions_kept if keep_sessions is None else keep_sessions
        recent = limits.live_recent_items
        # --- totals
        self.sessions = 0
        self.transactions = 0
        self.messages = 0
        self.accepted = 0
        self.rejected = 0
        self.auth_attempts = 0
        self.auth_failures = 0
        self.reply_codes: Counter[int] = Counter()
        self.findings_by_kind: Counter[str] = Counter()
        self.findings_by_severity: Counter[str] = Counter()
        self.findings_total = 0
        #: kind -> the latest finding of that kind (bounded by the number of kinds)
        self.latest_by_kind: dict[str, Finding] = {}
        # --- bounded recents
        self.errors: deque[ErrorEvent] = deque(maxlen=recent)
        self.recent_findings: deque[Finding] = deque(maxlen=recent)
        self.recent_sessions: deque[SessionEvent] = deque(maxlen=recent)
        self._per_second: dict[int, int] = {}
        # --- kept for the final export
        self.kept: list[SessionRecords] = []
        self.kept_message_bytes = 0
        self.not_kept = 0
        # --- detection
        self._detect = findings
        modules = detector_modules() if findings else []
        self._single = [m for m in modules if m.__name__.rpartition(".")[2] not in CROSS_SESSION_DETECTORS]
        self._cross = [m for m in modules if m.__name__.rpartition(".")[2] in CROSS_SESSION_DETECTORS]
        self._known = known_thresholds() if findings else {}
        self._window: deque[tuple[SessionRecords, list[Credential]]] = deque(maxlen=DETECTION_WINDOW_SESSIONS)
        self._window_dirty = False
        #: key of every cross-session finding reported -> its explanation when last reported
        self._reported: OrderedDict[tuple, str] = OrderedDict()
        self._changed: dict[tuple, Finding] = {}

    # --- input ---------------------------------------------------------------------------------
    def add(self, records: SessionRecords) -> list[Finding]:
        """Take one finished session; return the findings it fired (one-session detectors)."""
        s = records.session
        self.sessions += 1
        self.transactions += len(records.transactions)
        self.messages += len(records.messages)
        per_second = self._per_second
        for message in records.messages:
            second = message.end_ts_ns // _NS
            per_second[second] = per_second.get(second, 0) + 1
        if len(per_second) > 2 * RATE_WINDOW_S:  # bounded even when no one asks for the rate
            newest = max(per_second)
            for second in [k for k in per_second if k <= newest - RATE_WINDOW_S]:
                del per_second[second]
        accepted = sum(t.status == TransactionStatus.ACCEPTED.value for t in records.transactions)
        rejected = sum(t.status == TransactionStatus.REJECTED.value for t in records.transactions)
        self.accepted += accepted
        self.rejected += rejected
        client, server = _endpoint(s.client_ip, s.client_port), _endpoint(s.server_ip, s.server_port)
        for reply in records.replies:
            self.reply_codes[reply.code] += 1
            if reply.code >= 400:
                self.errors.append(ErrorEvent(reply.ts_ns, s.session_id, s.client_ip, s.server_ip, reply.code,
                                              reply.verb, reply.text))
        self.recent_sessions.append(SessionEvent(
            ts_ns=s.end_ns, session_id=s.session_id, client=client, server=server, helo=s.helo,
            transactions=len(records.transactions), accepted=accepted, rejected=rejected,
            tls=s.starttls_used or s.implicit_tls, auth=s.auth_mechanism, close_reason=s.close_reason))
        self._keep(records)
        if not self._detect:
            return []
        creds = credentials(records)
        self.auth_attempts += len(creds)
        self.auth_failures += sum(1 for c in creds if c.success is False)
        found = self._run(self._single, [records], creds)
        self._note(found)
        if self._cross:
            self._window.append((replace(records, messages=()), creds))
            self._window_dirty = True
        return found

    def _keep(self, records: SessionRecords) -> None:
        size = sum(len(m.content) for m in records.messages)
        if (len(self.kept) < self.keep_limit
                and self.kept_message_bytes + size <= self.limits.max_live_message_bytes_kept):
            self.kept.append(records)
            self.kept_message_bytes += size
        else:
            self.not_kept += 1

    # --- findings ------------------------------------------------------------------------------
    def _run(self, modules, records: list[SessionRecords], creds: list[Credential]) -> list[Finding]:
        if not modules:
            return []
        ctx = DetectionContext(records=records, credentials=creds, thresholds=self.thresholds,
                               known_thresholds=self._known, show_secrets=self.show_secrets, limits=self.limits)
        out = [f for module in modules for f in module.detect(ctx)]
        out.sort(key=lambda f: (f.ts_ns is None, f.ts_ns or 0, -f.severity.rank, f.kind))
        return out

    def _note(self, found: list[Finding]) -> None:
        for f in found:
            self.findings_total += 1
            self.findings_by_kind[f.kind] += 1
            self.findings_by_severity[f.severity.value] += 1
            self.recent_findings.append(f)
            self.latest_by_kind[f.kind] = f

    def sweep(self) -> list[Finding]:
        """Run the cross-session detectors over the window; return the findings not reported before.

        A finding is known by its kind, first session and first time; when one already reported
        has grown (more attempts), it is remembered and :meth:`final` returns its last state.
        """
        if not self._window_dirty:
            return []
        self._window_dirty = False
        records = [r for r, _ in self._window]
        creds = [c for _, cs in self._window for c in cs]
        new: list[Finding] = []
        for f in self._run(self._cross, records, creds):
            key = (f.kind, f.session_id, f.ts_ns)
            before = self._reported.get(key)
            if before is None:
                self._reported[key] = f.explanation
                new.append(f)
                while len(self._reported) > 4 * DETECTION_WINDOW_SESSIONS:
                    self._reported.popitem(last=False)
            elif before != f.explanation:
                self._changed[key] = f
        for key in [k for k in self._changed if k not in self._reported]:
            del self._changed[key]
        self._note(new)
        return new

    def final(self) -> list[Finding]:
        """End of run: the cross-session findings that grew since they were reported, as they are now."""
        new = self.sweep()
        grown = [f for key, f in self._changed.items() if self._reported.get(key) != f.explanation]
        for f in grown:
            self._reported[(f.kind, f.session_id, f.ts_ns)] = f.explanation
        self._changed.clear()
        return new + grown

    # --- views ---------------------------------------------------------------------------------
    def messages_per_minute(self, now_ns: int) -> int:
        """Messages whose end of data fell in the last minute before ``now_ns``."""
        oldest = now_ns // _NS - RATE_WINDOW_S
        stale = [second for second in self._per_second if second <= oldest]
        for second in stale:
            del self._per_second[second]
        return sum(self._per_second.values())


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
