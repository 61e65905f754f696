"""``starttls_stripping``: signs that something on the path hid or refused STARTTLS (RFC 3207).

* a masked capability: ``STARTTLS`` overwritten with X's (``250-XXXXXXXA``, what Cisco ASA/PIX
  ESMTP inspection sends);
* STARTTLS answered with anything but 220 (454, 500, 502...): a stripping proxy's answer, or a
  server that cannot do the TLS it offers;
* a masked banner: the greeting overwritten with ``*`` (the same inspection).

``high`` when the client then went on in clear with MAIL or AUTH, ``medium`` otherwise.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from operator import itemgetter

from ..records.builder import SessionRecords
from .columns import tables_of
from .context import DetectionContext
from .evidence import show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("starttls_stripping",)
THRESHOLDS: tuple[Threshold, ...] = ()
_MASKED_KEYWORD = re.compile(r"X{4,}[A-Z0-9]{0,2}")
_CLEAR_AFTER = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH"})
_KEYWORD = itemgetter(0)


def _masked_banner(text: str) -> bool:
    visible = [ch for ch in text if not ch.isspace()]
    stars = sum(1 for ch in visible if ch == "*")
    return stars >= 6 and stars * 2 >= len(visible)


def _went_on_in_clear(r: SessionRecords, after_ts: int) -> list[str]:
    return sorted({c.verb for c in r.commands if c.verb in _CLEAR_AFTER and c.ts_ns >= after_ts})


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    sent_starttls = ctx.sending("STARTTLS")
    starred = _starred_banners(ctx)
    for r, sid in zip(ctx.records, ctx.session_ids().tolist()):
        for caps in r.capabilities:
            if caps.starttls or "XXXX" not in " ".join(map(_KEYWORD, caps.items)):
                continue  # STARTTLS is there, or no keyword can start with XXXX
            masked = [kw for kw, _ in caps.items if kw.startswith("XXXX") and _MASKED_KEYWORD.fullmatch(kw)]
            if not masked:
                continue
            clear = _went_on_in_clear(r, caps.ts_ns)
            yield new_finding(
                kind="starttls_stripping", severity=Severity.HIGH if clear else Severity.MEDIUM, session_id=sid,
                ts_ns=caps.ts_ns, frames=(caps.frame,), sessions=(sid,),
                explanation=(f"EHLO reply has the masked keyword {show(masked[0])} where STARTTLS belongs"
                             + (f"; the client then sent {', '.join(clear)} in clear" if clear else "")),
                evidence="EHLO reply: " + " | ".join(show(kw) for kw, _ in caps.items))
            break
        for c in r.commands if sid in sent_starttls else ():
            if c.verb != "STARTTLS" or c.reply_code is None or c.reply_code == 220:
                continue
            reply = next((x for x in r.replies if x.command_index == c.index), None)
            clear = _went_on_in_clear(r, c.ts_ns)
            offered = any(k.starttls for k in r.capabilities)
            yield new_finding(
                kind="starttls_stripping", severity=Severity.HIGH if clear else Severity.MEDIUM, session_id=sid,
                ts_ns=c.ts_ns, frames=tuple(f for f in (c.frame, c.reply_frame) if f is not None), sessions=(sid,),
                explanation=(f"STARTTLS answered {c.reply_code}"
                             + (" although STARTTLS was offered" if offered else "")
                             + (f"; the client then sent {', '.join(clear)} in clear" if clear else "")),
                evidence=f"STARTTLS -> {c.reply_code} {show(reply.text) if reply else ''}".rstrip())
        if starred is not None and sid not in starred:
            continue  # a banner without six "*" (the tables say): the test below fails
        banner = r.session.banner
        if banner and banner.count("*") >= 6 and _masked_banner(banner):  # it needs six "*" at least
            greeting = next((x for x in r.replies if x.verb == "<greeting>"), None)
            yield new_finding(
                kind="starttls_stripping", severity=Severity.MEDIUM, session_id=sid,
                ts_ns=greeting.ts_ns if greeting else r.session.start_ns,
                frames=(greeting.frame,) if greeting else (), sessions=(sid,),
                explanation="greeting masked with '*': an inspecting middlebox that also rewrites EHLO replies",
                evidence=f"220 {show(banner)}")


def _starred_banners(ctx: DetectionContext) -> frozenset[int] | None:
    """Ids of the sessions whose banner holds six "*" or more, from the ``sessions`` table (what
    :func:`_masked_banner` needs at least); None without the table: every banner is read."""
    found = tables_of(ctx.tables, ("sessions",), ctx.records)
    if found is None:
        return None
    sessions = found[0]
    if not len(sessions) or sessions["session_id"].hasnans:
        return frozenset()
    starred = (sessions["banner"].str.count(r"\*") >= 6).to_numpy(dtype=bool, na_value=False)
    return frozenset(sessions["session_id"].to_numpy(dtype="int64")[starred].tolist())
