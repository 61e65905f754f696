"""``no_tls``: a session that never switched to TLS (no STARTTLS accepted, no implicit TLS).

Plain port-25 relaying is common on the Internet and is ``info``; a submission session (port 587)
that moved mail in clear is ``low`` (RFC 8314 asks for TLS on submission).  Exposed passwords are
``cleartext_auth``'s concern.
"""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter

from .context import DetectionContext
from .model import Finding, Severity, Threshold, new_finding
from .starttls_not_used import SUBMISSION_PORTS

KINDS = ("no_tls",)
THRESHOLDS: tuple[Threshold, ...] = ()
_STARTTLS = attrgetter("starttls")


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls or not r.commands:
            continue
        submission = s.server_port in SUBMISSION_PORTS and (s.messages or s.transactions)
        offered = any(map(_STARTTLS, r.capabilities))
        yield new_finding(
            kind="no_tls", severity=Severity.LOW if submission else Severity.INFO, session_id=s.session_id,
            ts_ns=s.start_ns, frames=(s.first_frame,), sessions=(s.session_id,),
            explanation=(f"whole session in clear text ({s.commands} commands, {s.messages} messages)"
                         + ("; STARTTLS was offered" if offered else "; the server offered no STARTTLS")),
            evidence=f"port {s.server_port}, helo={s.helo!r}, starttls_offered={offered}")
