"""``open_relay_attempt`` / ``open_relay_accepted``: using the server to reach someone else's domain.

A capture does not say which domains a server hosts (one MX serves many), so acceptance is only
called relaying when the recipient itself asks for it:

* ``open_relay_attempt`` (``low``): an RCPT refused as relaying -- 551 (RFC 5321 3.4: user not
  local) or a refusal whose text says "relay" (Postfix "Relay access denied", Sendmail "Relaying
  denied", Exim "relay not permitted", Exchange "Unable to relay") -- or an RCPT in relay syntax
  that was refused;
* ``open_relay_accepted`` (``high``): an RCPT in relay syntax accepted without AUTH: the percent
  hack ``user%other.test@server``, a source route ``<@hop:user@other.test>`` (RFC 5321 4.1.2, to be
  ignored by servers, C.1), a bang path ``other.test!user@server``, or a quoted local part that holds
  another address -- the recipients relay testers (nmap smtp-open-relay, relay scanners) use.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from ..records.builder import SessionRecords
from .columns import tables_of
from .context import DetectionContext
from .domains import domain_of
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("open_relay_attempt", "open_relay_accepted")
THRESHOLDS: tuple[Threshold, ...] = ()
_RELAY_REFUSAL = re.compile(r"relay", re.IGNORECASE)
_PATH = re.compile(r"<[^>]*>")
_SOURCE_ROUTE = re.compile(r"\s*<?\s*@")  # RFC 5321 4.1.2 A-d-l: "@one,@two:user@three"


def says_relay(text: str | None) -> bool:
    """Whether a reply's text (addresses in angle brackets left out) speaks of relaying."""
    return bool(text) and _RELAY_REFUSAL.search(_PATH.sub("", text)) is not None
#: Codes that refuse a recipient as not local (RFC 5321 3.4).
NOT_LOCAL = frozenset({551})


def relay_syntax(address: str, raw_path: str | None = None) -> str | None:
    """Why ``address`` asks the server to pass mail on, or None."""
    path = raw_path or address
    if _SOURCE_ROUTE.match(path):
        return "source route"
    local, at, _ = address.rpartition("@")
    if not at:
        return "bang path" if "!" in address else None
    if "%" in local:
        return "percent hack"
    if "!" in local:
        return "bang path"
    if "@" in local:
        return "quoted address in the local part"
    return None


#: What an RCPT argument holds when its path (after the first ":") is a source route: "@" after
#: blanks and "<" only.  Those are none of these characters, so the search finds every such argument.
_MAY_ROUTE = ':[^A-Za-z0-9"]*@'


def candidates(ctx: DetectionContext) -> list[SessionRecords]:
    """The sessions with a recipient that may make a finding, read from the ``recipients`` and
    ``commands`` tables (every session without them):

    * a refusal (4xx/5xx) with code 551 or a text that :func:`says_relay`;
    * an answered recipient whose address may be in relay syntax: a "!" or "%", two "@" or more
      (an "@" in the local part), or a first character other than a letter or digit (the path
      ``<address>`` in source-route form starts with blanks or "@");
    * an RCPT argument that may hold a source route (:data:`_MAY_ROUTE`).

    Whatever :func:`relay_syntax` answers for a recipient's address and path, its session is here.
    """
    found = tables_of(ctx.tables, ("recipients", "commands"), ctx.records)
    if found is None:
        return ctx.records
    recipients, commands = found
    if not len(recipients):
        return []
    codes = recipients["reply_code"]
    refused = (codes >= 400).fillna(False)
    texts = recipients["reply_text"][refused]
    relay_texts = [text for text in texts.dropna().unique().tolist() if says_relay(text)]
    address = recipients["address"]
    odd = (address.str.contains("[!%]") | (address.str.count("@") >= 2)
           | ~address.str.match("[A-Za-z0-9]")).fillna(True)
    chosen = (refused & (codes.eq(551).fillna(False) | recipients["reply_text"].isin(relay_texts))) | (
        codes.notna() & odd)
    ids = set(recipients["session_id"][chosen].tolist())
    rcpt = commands["verb"] == "RCPT"
    routed = commands["argument"][rcpt].str.contains(_MAY_ROUTE).fillna(True)
    ids.update(commands["session_id"][rcpt][routed].tolist())
    return ctx.records_of(ids) if ids else []


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    read: dict[tuple[str, str], str | None] = {}  # (address, path) -> relay_syntax (senders repeat)
    chosen = candidates(ctx)
    if not chosen:
        return
    first_auth: dict[int, int] = {}  # session -> its first successful AUTH: later recipients are not relaying
    for c in ctx.credentials:
        if c.success and (c.session_id not in first_auth or c.ts_ns < first_auth[c.session_id]):
            first_auth[c.session_id] = c.ts_ns
    for r in chosen:
        if not r.recipients:  # findings come from recipients only
            continue
        sid = r.session.session_id
        authed = first_auth.get(sid)
        raw_paths: dict[int | None, list[str]] = {}  # RCPT arguments as sent, per transaction, in order
        for c in [c for c in r.commands if c.verb == "RCPT"]:
            raw_paths.setdefault(c.trans_index, []).append(c.argument.partition(":")[2].strip())
        attempts, accepted = [], []
        senders = None  # trans_index -> MAIL FROM, read for the sessions with a finding
        for rc in r.recipients:
            code = rc.reply_code
            if code is None or (authed is not None and authed < rc.ts_ns):
                continue
            sent = raw_paths.get(rc.trans_index, [])
            path = sent[rc.index] if rc.index < len(sent) else f"<{rc.address}>"
            key = (rc.address, path)
            syntax = read[key] if key in read else read.setdefault(key, relay_syntax(*key))
            if code >= 400 and (code in NOT_LOCAL or says_relay(rc.reply_text) or syntax):
                found = attempts
            elif 200 <= code < 300 and syntax:
                found = accepted
            else:
                continue
            if senders is None:
                senders = {t.trans_index: t.mail_from for t in r.transactions}
            found.append((rc, senders.get(rc.trans_index), syntax, path))
        for kind, items, severity, verdict in (
                ("open_relay_attempt", attempts, Severity.LOW, "refused as relaying"),
                ("open_relay_accepted", accepted, Severity.HIGH, "accepted without AUTH")):
            if not items:
                continue
            first = items[0][0]
            targets = sorted({domain_of(rc.address) or rc.address for rc, _, _, _ in items})
            syntaxes = sorted({s for _, _, s, _ in items if s})
            yield new_finding(
                kind=kind, severity=severity, session_id=sid, ts_ns=first.ts_ns,
                frames=tuple(rc.frame for rc, _, _, _ in items), sessions=(sid,),
                explanation=(f"{len(items)} RCPT for {', '.join(show(d) for d in targets[:5])}"
                             f"{' …' if len(targets) > 5 else ''} {verdict}"
                             + (f" ({', '.join(syntaxes)})" if syntaxes else "")),
                evidence=lines(f"MAIL FROM:<{show(sender or '')}> RCPT TO:{show(path)} -> {rc.reply_code} "
                               f"{show((rc.reply_text or '').splitlines()[0] if rc.reply_text else '')}".rstrip()
                               for rc, sender, _, path in items))
