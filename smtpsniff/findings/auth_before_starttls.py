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
    told: dict[tuple[tuple[str, ...], bool], tuple[Severity, str, str]] = {}  # offers repeat: said once each
    for r in ctx.records:
        for caps in r.capabilities:
            if caps.auth_mechanisms:
                break
        else:
            continue  # no EHLO reply offered AUTH (the session itself is not read)
        if r.session.implicit_tls:
            continue
        key = (caps.auth_mechanisms, caps.starttls)
        said = told.get(key)
        if said is None:
            said = told[key] = _said(*key)
        severity, explanation, evidence = said
        sid = r.session.session_id
        yield new_finding(
            kind="auth_before_starttls", severity=severity, session_id=sid, ts_ns=caps.ts_ns, frames=(caps.frame,),
            sessions=(sid,), explanation=explanation, evidence=evidence)


def _said(mechanisms: tuple[str, ...], starttls: bool) -> tuple[Severity, str, str]:
    """The severity, explanation and evidence of an EHLO reply offering ``mechanisms`` (and STARTTLS)."""
    offered = " ".join(mechanisms)
    plain = sorted(CLEARTEXT_MECHANISMS.intersection(mechanisms))
    tls = "while STARTTLS was also offered" if starttls else "and no STARTTLS was offered"
    return (Severity.MEDIUM if plain else Severity.LOW,
            (f"server offered AUTH {offered} before TLS {tls}"
             + (f"; {', '.join(plain)} send the password in clear" if plain else "")),
            f"EHLO reply: AUTH {offered}" + (" | STARTTLS" if starttls else ""))
