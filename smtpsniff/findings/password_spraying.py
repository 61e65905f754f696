"""``password_spraying``: one client trying many usernames at one server and failing.

``spraying_min_users`` distinct usernames with a failed AUTH from one client address make a
finding: ``high``, or ``critical`` when one of the tried usernames got in from that client.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("password_spraying",)
THRESHOLDS = (
    Threshold("spraying_min_users", 5, "distinct usernames failing AUTH from one client at one server"),
)


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list] = {}
    for c, s in ctx.auth_attempts():
        groups.setdefault((s.client_ip, s.server_ip), []).append(c)
    minimum = ctx.threshold("spraying_min_users")
    for (client, server), attempts in groups.items():
        if len(attempts) < minimum:
            continue  # fewer attempts than the usernames it takes
        attempts.sort(key=lambda c: c.ts_ns)
        failed_users = dict.fromkeys(c.username for c in attempts if not c.success)  # ordered set
        if len(failed_users) < minimum or not failed_users:  # a threshold of 0 still needs a failure to show
            continue
        won = [c for c in attempts if c.success and c.username in failed_users]
        failures = [c for c in attempts if not c.success]
        involved = sorted(failures + won, key=lambda c: c.ts_ns)
        yield new_finding(
            kind="password_spraying", severity=Severity.CRITICAL if won else Severity.HIGH,
            session_id=involved[0].session_id, ts_ns=involved[0].ts_ns, frames=tuple(c.frame for c in involved),
            sessions=tuple(dict.fromkeys(c.session_id for c in involved)),
            explanation=(f"{client} failed AUTH at {server} for {len(failed_users)} usernames "
                         f"({len(failures)} attempts)"
                         + (f"; {show(won[0].username)!r} then succeeded" if won else "")),
            evidence=lines(f"{c.mechanism} {show(c.username)} -> {c.outcome_code}" for c in involved))
