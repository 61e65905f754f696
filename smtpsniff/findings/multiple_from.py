"""``multiple_from``: a message with more than one From header field.

RFC 5322 3.6 allows exactly one From field.  With two, mail clients and filters disagree on which
one is the author: a known way past DMARC checks (one From verified, the other shown).  ``medium``.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .evidence import lines, show
from .headers import keys_where, messages
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("multiple_from",)
#: It reads the messages (their From fields): it runs once they are parsed.
READS_MESSAGES = True
THRESHOLDS: tuple[Threshold, ...] = ()


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r, m, t, from_ in messages(ctx, keys_where(ctx, None, count_at_least=2)):
        if from_.count < 2:
            continue
        yield new_finding(
            kind="multiple_from", severity=Severity.MEDIUM, session_id=m.session_id, ts_ns=m.ts_ns,
            frames=(m.frame,), sessions=(m.session_id,),
            explanation=f"message has {from_.count} From header fields; RFC 5322 3.6 allows one",
            evidence=lines(f"From: {show(value)}" for value in from_.fields))
