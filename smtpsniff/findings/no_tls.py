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
    explained: dict[tuple[int, int, bool], str] = {}  # (commands, messages, offered) -> explanation
    shown: dict[tuple[int, str | None, bool], str] = {}  # (port, helo, offered) -> evidence
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls or not r.commands:
            continue
        port = s.server_port
        submission = port in SUBMISSION_PORTS and (s.messages or s.transactions)
        offered = any(map(_STARTTLS, r.capabilities))
        key = (s.commands, s.messages, offered)
        explanation = explained.get(key)
        if explanation is None:
            explanation = explained[key] = (
                f"whole session in clear text ({s.commands} commands, {s.messages} messages)"
                + ("; STARTTLS was offered" if offered else "; the server offered no STARTTLS"))
        seen = (port, s.helo, offered)
        evidence = shown.get(seen)
        if evidence is None:
            evidence = shown[seen] = f"port {port}, helo={s.helo!r}, starttls_offered={offered}"
        yield new_finding(
            kind="no_tls", severity=Severity.LOW if submission else Severity.INFO, session_id=s.session_id,
            ts_ns=s.start_ns, frames=(s.first_frame,), sessions=(s.session_id,),
            explanation=explanation, evidence=evidence)
