"""``display_name_spoof``: a From display name that carries an address other than the real one.

``"ceo@example.com" <attacker@elsewhere.test>``: many clients show only the display name.  Fires
when the display name holds an addr-spec whose organisational domain differs from the actual
address's; ``medium``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from .context import DetectionContext
from .domains import domain_of, org_domain
from .evidence import show
from .headers import keys_where, messages
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("display_name_spoof",)
#: It reads the messages (their From fields): it runs once they are parsed.
READS_MESSAGES = True
THRESHOLDS: tuple[Threshold, ...] = ()
# A dot-atom addr-spec (RFC 5322 3.4.1), loosely: what a reader takes for an address.
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r, m, t, from_ in messages(ctx, keys_where(ctx, _spoofing)):
        found = _spoofed(from_.mailboxes)
        if found is None:
            continue
        shown, addr = found
        yield new_finding(
            kind="display_name_spoof", severity=Severity.MEDIUM, session_id=m.session_id, ts_ns=m.ts_ns,
            frames=(m.frame,), sessions=(m.session_id,),
            explanation=f"From display name shows {show(shown)} but the address is {show(addr)}",
            evidence=f"From: {show(from_.fields[0] if from_.fields else addr)}")


def _spoofed(boxes: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """The address shown in a display name and the real address of the first mailbox of
    ``boxes`` whose display name shows an address of another organisational domain, or None."""
    for display_name, addr in boxes:
        shown = _ADDRESS.search(display_name or "")
        if shown is None:
            continue
        claimed, real = org_domain(domain_of(shown.group(0))), org_domain(domain_of(addr))
        if claimed is None or claimed == real:
            continue
        return shown.group(0), addr
    return None


def _spoofing(boxes: tuple[tuple[str, str], ...], mail_from: str | None) -> bool:
    return _spoofed(boxes) is not None
