"""``sender_mismatch``: the envelope sender (MAIL FROM) and the From header are in different domains.

This is what DMARC alignment (RFC 7489 3.1, relaxed mode: organisational domains) checks.  It is
normal for mailing lists and bulk senders with their own bounce domains, so it is ``low``: a sign
that weighs with others.  The null sender (bounces) is left out.
"""
from __future__ import annotations

from collections.abc import Iterator

from .context import DetectionContext
from .domains import domain_of, org_domain
from .evidence import show
from .headers import keys_where, messages
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("sender_mismatch",)
#: It reads the messages (their From fields): it runs once they are parsed.
READS_MESSAGES = True
THRESHOLDS: tuple[Threshold, ...] = ()


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    orgs: dict[str, str | None] = {}  # address -> its organisational domain (a sender mails many times)

    def org_of(address: str) -> str | None:
        if address not in orgs:
            orgs[address] = org_domain(domain_of(address))
        return orgs[address]

    def differ(boxes: tuple[tuple[str, str], ...], mail_from: str | None) -> bool:
        """Whether a message whose From holds ``boxes``, sent by ``mail_from``, is one the loop below tells."""
        if not mail_from or not boxes:
            return False
        envelope, header = org_of(mail_from), org_of(boxes[0][1])
        return envelope is not None and header is not None and envelope != header

    for r, m, t, from_ in messages(ctx, keys_where(ctx, differ, sender=True)):
        if t is None or not t.mail_from or not from_.mailboxes:
            continue
        envelope = org_of(t.mail_from)
        header = org_of(from_.mailboxes[0][1])
        if envelope is None or header is None or envelope == header:
            continue
        yield new_finding(
            kind="sender_mismatch", severity=Severity.LOW, session_id=m.session_id, ts_ns=m.ts_ns,
            frames=(t.frame, m.frame), sessions=(m.session_id,),
            explanation=f"envelope sender domain {show(envelope)} differs from the From header domain {show(header)}",
            evidence=f"MAIL FROM:<{show(t.mail_from)}> | From: {show(from_.fields[0] if from_.fields else from_.mailboxes[0][1])}")
