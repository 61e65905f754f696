"""``starttls_command_injection`` / ``starttls_response_injection``: plain text where TLS was due.

After ``220`` to STARTTLS the next octets in each direction must be a TLS handshake (RFC 3207 4).
Client commands sent behind STARTTLS before the handshake are the CVE-2011-0411 injection: a
vulnerable server runs them as if they came through TLS.  Server replies behind the 220 are the
response-injection twin (CVE-2011-1430 and kin): a vulnerable client reads them as TLS-protected.
Both need the TLS handshake to follow in the capture: a session that simply goes on in clear after
the 220 is a decrypted capture (or a peer that gave up on TLS), not an injection.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..reassembly.events import Direction
from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("starttls_command_injection", "starttls_response_injection")
THRESHOLDS: tuple[Threshold, ...] = ()


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        if not r.plaintext_after_starttls:
            continue  # the usual session: nothing in plain text after STARTTLS to show
        sid = r.session.session_id
        if r.session.tls_version is None:  # no ClientHello/ServerHello followed
            continue
        for direction, kind, who in ((Direction.CLIENT_TO_SERVER, KINDS[0], "client"),
                                     (Direction.SERVER_TO_CLIENT, KINDS[1], "server")):
            items = [p for p in r.plaintext_after_starttls if p.direction is direction]
            if not items:
                continue
            octets = sum(len(p.data) for p in items)
            yield new_finding(
                kind=kind, severity=Severity.HIGH, session_id=sid, ts_ns=items[0].ts_ns,
                frames=tuple(dict.fromkeys(p.frame for p in items)), sessions=(sid,),
                explanation=(f"{who} sent {len(items)} plain-text line(s) ({octets} octets) after the 220 to "
                             f"STARTTLS, before the TLS handshake (RFC 3207 4)"),
                evidence=lines(show(p.data) for p in items))
