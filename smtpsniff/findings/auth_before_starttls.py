"""``auth_before_starttls``: the server offered AUTH in an EHLO reply sent before any TLS.

RFC 3207 and RFC 4954 4 let a server keep AUTH for after STARTTLS (Postfix
``smtpd_tls_auth_only``); offering it in clear invites clients to send passwords in clear.
``medium`` when a clear-text mechanism (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) is offered, ``low``
when only challenge-response ones are.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("auth_before_starttls",)
THRESHOLDS: tuple[Threshold, ...] = ()
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"})


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        if r.session.implicit_tls:
            continue
        for caps in r.capabilities:
            if caps.auth_mechanisms:
                break
        else:
            continue
        mechanisms = caps.auth_mechanisms
        offered = " ".join(mechanisms)
        plain = sorted(CLEARTEXT_MECHANISMS.intersection(mechanisms))
        tls = "while STARTTLS was also offered" if caps.starttls else "and no STARTTLS was offered"
        sid = r.session.session_id
        yield new_finding(
            kind="auth_before_starttls", severity=Severity.MEDIUM if plain else Severity.LOW,
            session_id=sid, ts_ns=caps.ts_ns, frames=(caps.frame,), sessions=(sid,),
            explanation=(f"server offered AUTH {offered} before TLS {tls}"
                         + (f"; {', '.join(plain)} send the password in clear" if plain else "")),
            evidence=f"EHLO reply: AUTH {offered}" + (" | STARTTLS" if caps.starttls else ""))
