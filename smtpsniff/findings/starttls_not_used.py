"""``starttls_not_used``: the server offered STARTTLS, the client went on in clear without it.

``medium`` when credentials crossed in clear or the session is a submission (port 587), ``low``
for server-to-server relaying on port 25, where opportunistic TLS (RFC 3207) may fail without
an attack.  A STARTTLS that was sent but refused is ``starttls_stripping``'s concern.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("starttls_not_used",)
THRESHOLDS: tuple[Threshold, ...] = ()
SUBMISSION_PORTS = frozenset({587})
_ACTIVITY = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH", "VRFY", "EXPN", "ETRN"})


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    sent_starttls = ctx.sending("STARTTLS")
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls:
            continue
        for offer in r.capabilities:
            if offer.starttls:
                break
        else:
            continue
        if s.session_id in sent_starttls:
            continue
        offered = offer.ts_ns
        after = [c for c in r.commands if c.verb in _ACTIVITY and c.ts_ns >= offered]
        if not after:
            continue
        verbs = {c.verb for c in after}
        auth = "AUTH" in verbs
        severity = Severity.MEDIUM if auth or s.server_port in SUBMISSION_PORTS else Severity.LOW
        yield new_finding(
            kind="starttls_not_used", severity=severity, session_id=s.session_id, ts_ns=offered,
            frames=(offer.frame, after[0].frame), sessions=(s.session_id,),
            explanation=(f"server offered STARTTLS but the client sent {', '.join(sorted(verbs))} in clear"
                         + ("; its credentials crossed in clear" if auth else "")),
            evidence=f"EHLO reply offers STARTTLS; first command in clear: {after[0].verb}")
