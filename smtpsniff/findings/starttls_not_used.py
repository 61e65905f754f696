"""``starttls_not_used``: the server offered STARTTLS, the client went on in clear without it.

``medium`` when credentials crossed in clear or the session is a submission (port 587), ``low``
for server-to-server relaying on port 25, where opportunistic TLS (RFC 3207) may fail without
an attack.  A STARTTLS that was sent but refused is ``starttls_stripping``'s concern.
"""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter

from .context import DetectionContext
from .model import Finding, Severity, Threshold

KINDS = ("starttls_not_used",)
THRESHOLDS: tuple[Threshold, ...] = ()
SUBMISSION_PORTS = frozenset({587})
_ACTIVITY = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH", "VRFY", "EXPN", "ETRN"})
_VERB = attrgetter("verb")


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls:
            continue
        offer = next((c for c in r.capabilities if c.starttls), None)
        if offer is None or "STARTTLS" in map(_VERB, r.commands):
            continue
        after = [c for c in r.commands if c.verb in _ACTIVITY and c.ts_ns >= offer.ts_ns]
        if not after:
            continue
        auth = any(c.verb == "AUTH" for c in after)
        severity = Severity.MEDIUM if auth or s.server_port in SUBMISSION_PORTS else Severity.LOW
        verbs = sorted({c.verb for c in after})
        yield Finding(
            kind="starttls_not_used", severity=severity, session_id=s.session_id, ts_ns=offer.ts_ns,
            frames=(offer.frame, after[0].frame), sessions=(s.session_id,),
            explanation=(f"server offered STARTTLS but the client sent {', '.join(verbs)} in clear"
                         + ("; its credentials crossed in clear" if auth else "")),
            evidence=f"EHLO reply offers STARTTLS; first command in clear: {after[0].verb}")
