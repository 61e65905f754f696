"""``cleartext_auth``: an AUTH exchange whose credentials crossed the wire outside TLS.

A password or bearer token in clear (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) is ``high``: anyone on
the path has it.  A challenge-response (CRAM-MD5, DIGEST-MD5, NTLM, SCRAM) is ``medium``: the
line it leaves can be cracked offline.  A username alone is ``low``.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("cleartext_auth",)
THRESHOLDS: tuple[Threshold, ...] = ()


def _outcome(code: int | None) -> str:
    if code is None:
        return "outcome not seen"
    return f"{'accepted' if 200 <= code < 300 else 'refused'} ({code})"


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for c in ctx.credentials:
        if c.tls or not (c.username or c.secret or c.hash):
            continue
        user = c.username if c.username is not None else "(unknown user)"
        if c.secret is not None:
            severity, what = Severity.HIGH, f"the {c.secret_kind} of {user!r} in clear text"
        elif c.hash is not None:
            severity, what = Severity.MEDIUM, f"an offline-crackable response of {user!r} ({c.hash_format})"
        else:
            severity, what = Severity.LOW, f"the username {user!r}"
        evidence = [f"AUTH {c.mechanism}", f"user={user}"]
        if c.secret is not None:
            evidence.append(f"{c.secret_kind}={ctx.secret(c.secret)}")
        if c.hash is not None:
            evidence.append(f"hash={ctx.secret(c.hash)}")
        evidence.append(f"reply={c.outcome_code}")
        yield new_finding(kind="cleartext_auth", severity=severity, session_id=c.session_id, ts_ns=c.ts_ns,
                      frames=(c.frame,), sessions=(c.session_id,),
                      explanation=f"AUTH {c.mechanism} outside TLS exposed {what}; {_outcome(c.outcome_code)}",
                      evidence=" ".join(evidence))
