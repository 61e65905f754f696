"""``smtp_smuggling``: a message whose end another receiver would place elsewhere (SEC Consult 2023).

The message ended at ``CRLF.CRLF`` (RFC 5321 4.1.1.4) as a strict receiver sees it.  An LF-only
receiver also ends data at ``\\n.\\n``, ``\\n.\\r\\n`` and ``\\r\\n.\\n`` (the shapes the SMTP decoder records
on the wire, where dot-stuffing is still visible); a CR-or-LF receiver also at ``\\r.\\r``,
``\\r.\\r\\n`` and ``\\r.\\n``.  Each model's end is computed; when one ends earlier than the strict
end, what follows is what that receiver reads as commands.
``high`` when SMTP commands (MAIL, RCPT, DATA...) follow such an end, ``low`` for the shape alone
(broken clients end lines with LF; nothing was smuggled, but a lenient next hop would cut the message).
``critical`` when the server's own replies show it took the earlier end: replies that no command
explains (a second "250 queued", a 354) arrive between the message and the next command.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from ..records.builder import MessageData
from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("smtp_smuggling",)
THRESHOLDS: tuple[Threshold, ...] = ()

#: Shapes (as recorded by the SMTP decoder, on the wire) an LF-only receiver takes as end of data.
LF_SHAPES = frozenset({b"\n.\n", b"\n.\r\n", b"\r\n.\n"})
#: End of data for a CR-or-LF receiver that the decoder does not record: a bare CR, ".", a line end.
#: (A dot after a bare CR is never at a CRLF line start, so the content holds it as on the wire.)
CR_SHAPE = re.compile(rb"\r\.(?:\r\n|\r|\n)")
_COMMAND = re.compile(rb"^(?:MAIL FROM|RCPT TO|DATA|BDAT|RSET|QUIT|EHLO|HELO|AUTH|STARTTLS|VRFY|EXPN)\b",
                      re.IGNORECASE)
_LINE_END = re.compile(rb"\r\n|\r|\n")


def ends(msg: MessageData) -> dict[str, tuple[int, bytes] | None]:
    """Where each receiver model ends the message: (offset in content, shape), None for the strict end."""
    candidates = list(msg.event.smuggling_candidates)
    lf = [c for c in candidates if c[1] in LF_SHAPES]
    seen = {off for off, _ in candidates}
    cr = candidates + [(m.start(), m.group(0)) for m in CR_SHAPE.finditer(msg.content) if m.start() not in seen]
    return {"strict": None, "LF-only": min(lf) if lf else None, "CR-or-LF": min(cr) if cr else None}


#: The end-of-data shape as the content holds it: the strict receiver unstuffed the dot of
#: ``\r\n.\n`` (a CRLF line start with more after the dot), so the dot is optional here.
_SHAPE_IN_CONTENT = re.compile(rb"(?:\r\n|\r|\n)\.?(?:\r\n|\r|\n)")


def smuggled_commands(content: bytes, end: int) -> list[bytes]:
    """SMTP command lines that follow an alternative end of data at offset ``end``."""
    m = _SHAPE_IN_CONTENT.match(content, end)
    rest = content[m.end() if m else end:]
    return [line for line in _LINE_END.split(rest) if _COMMAND.match(line)]


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        for msg in r.messages:
            if not msg.event.smuggling_candidates and CR_SHAPE.search(msg.content) is None:
                continue  # no shape of an earlier end: ends() finds none
            sid = r.session.session_id
            found = ends(msg)
            early = {name: at for name, at in found.items() if at is not None}
            if not early:
                continue
            first, _ = min(early.values())
            commands = smuggled_commands(msg.content, first)
            after = [c.ts_ns for c in r.commands if c.index > msg.command_index]
            extra = [x for x in r.replies if x.stage == "unexpected" and x.ts_ns >= msg.ts_ns
                     and (not after or x.ts_ns <= min(after))]
            severity = Severity.CRITICAL if extra and commands else Severity.HIGH if commands else Severity.LOW
            where = ", ".join(f"{name} receiver at octet {at} ({show(sh)})" for name, (at, sh) in early.items())
            yield new_finding(
                kind="smtp_smuggling", severity=severity, session_id=sid,
                ts_ns=msg.ts_ns, frames=tuple(dict.fromkeys((msg.frame, msg.end_frame))), sessions=(sid,),
                explanation=(f"{msg.via} content holds an end of data that a strict receiver ignores: {where}; "
                             f"strict end at octet {len(msg.content)}"
                             + (f"; {len(commands)} SMTP command(s) smuggled behind it" if commands else "")
                             + (f"; the server sent {len(extra)} replies no command explains "
                                f"({', '.join(str(x.code) for x in extra)}): it ended the message early and "
                                "ran the smuggled commands" if extra else "")),
                evidence=(lines(show(c) for c in commands) if commands
                          else show(msg.content[max(0, first - 40): first + 60])))
