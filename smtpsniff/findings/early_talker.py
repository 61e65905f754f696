"""``early_talker``: the client sent commands before the server's greeting was complete.

RFC 5321 3.1 has the client wait for the 220.  Spam bots that fire their commands at once are
what Postfix postscreen's pregreet test and Sendmail's greet_pause catch.  Taken from the SMTP
decoder's ``data_before_greeting`` anomaly, only where the capture holds the start of the
connection and the greeting (a mid-stream or one-sided capture cannot tell).
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .evidence import show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("early_talker",)
THRESHOLDS: tuple[Threshold, ...] = ()


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        if not r.anomalies:
            continue  # the usual session: no data_before_greeting anomaly
        s = r.session
        anomaly = next((a for a in r.anomalies if a.kind == "data_before_greeting"), None)
        if anomaly is None or not s.handshake_seen:
            continue
        greeting = next((x for x in r.replies if x.verb == "<greeting>"), None)
        if greeting is None:
            continue
        early = [c for c in r.commands if c.ts_ns <= greeting.ts_ns
                 or (anomaly.frame is not None and c.frame == anomaly.frame)]
        first = early[0] if early else None
        delay = (f"{((first.ts_ns - s.start_ns) / 1e9):.3f} s after the connection opened"
                 if first else "before the greeting")
        answer = f"; the greeting was {greeting.code} {show(greeting.text.splitlines()[0] if greeting.text else '')}"
        yield new_finding(
            kind="early_talker", severity=Severity.MEDIUM, session_id=s.session_id,
            ts_ns=anomaly.ts_ns if anomaly.ts_ns is not None else s.start_ns,
            frames=tuple(f for f in (anomaly.frame, greeting.frame) if f is not None),
            sessions=(s.session_id,),
            explanation=f"client spoke {delay}, before the server's greeting was complete (RFC 5321 3.1){answer}",
            evidence=show(first.raw) if first else anomaly.message)
