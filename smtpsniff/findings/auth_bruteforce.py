"""``auth_bruteforce``: many failed AUTH attempts for one username at one server.

``auth_bruteforce_min_failures`` failures (any reply other than 2xx, across sessions and client
addresses) make a finding: ``high``, or ``critical`` when a later attempt for that user succeeded.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("auth_bruteforce",)
THRESHOLDS = (
    Threshold("auth_bruteforce_min_failures", 5, "failed AUTH attempts for one username at one server"),
)


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list] = {}
    for c, s in ctx.auth_attempts():
        groups.setdefault((s.server_ip, c.username), []).append((c, s))
    minimum = ctx.threshold("auth_bruteforce_min_failures")
    for (server, user), attempts in groups.items():
        if len(attempts) < minimum:
            continue  # fewer attempts than the failures it takes
        attempts.sort(key=lambda cs: cs[0].ts_ns)
        failures = [(c, s) for c, s in attempts if not c.success]
        if len(failures) < minimum or not failures:  # a threshold of 0 still needs a failure to show
            continue
        last_failure = failures[-1][0].ts_ns
        won = [(c, s) for c, s in attempts if c.success and c.ts_ns > failures[0][0].ts_ns]
        clients = sorted({s.client_ip for _, s in failures})
        span = (last_failure - failures[0][0].ts_ns) / 1e9
        involved = failures + won
        shown = show(user)
        yield new_finding(
            kind="auth_bruteforce", severity=Severity.CRITICAL if won else Severity.HIGH,
            session_id=failures[0][0].session_id, ts_ns=failures[0][0].ts_ns,
            frames=tuple(c.frame for c, _ in involved), sessions=tuple(dict.fromkeys(c.session_id for c, _ in involved)),
            explanation=(f"{len(failures)} failed AUTH attempts for {shown!r} at {server} in {span:.1f} s "
                         f"from {', '.join(clients)}"
                         + (f"; then AUTH {won[0][0].mechanism} succeeded ({won[0][0].outcome_code})" if won else "")),
            evidence=lines(f"{c.mechanism} {shown} -> {c.outcome_code}" for c, _ in involved))
