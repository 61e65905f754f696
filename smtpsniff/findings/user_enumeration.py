"""``user_enumeration``: sweeps of VRFY, EXPN or RCPT that map which mailboxes exist.

Counted per client and server address over the whole capture: a VRFY/EXPN sweep is
``enumeration_min_vrfy`` distinct names asked; an RCPT sweep is ``enumeration_min_unknown``
distinct addresses answered 550/551/553 (relay refusals excluded) making at least
``enumeration_min_unknown_ratio`` of the addresses tried.  A legitimate mailing to a list with a
few stale addresses stays below the ratio.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..records.builder import SessionRecords
from .columns import connection_keys, distinct_per_key, tables_of
from .context import DetectionContext
from .evidence import lines, show
from .model import Finding, Severity, Threshold, new_finding
from .open_relay import says_relay

KINDS = ("user_enumeration",)
THRESHOLDS = (
    Threshold("enumeration_min_vrfy", 5, "distinct names asked with VRFY or EXPN by one client of one server"),
    Threshold("enumeration_min_unknown", 5, "distinct RCPT addresses answered 550/551/553 (user unknown)"),
    Threshold("enumeration_min_unknown_ratio", 0.5, "share of the RCPT addresses tried that were unknown"),
)
UNKNOWN_CODES = frozenset({550, 551, 553})
_PROBE_VERBS = ("VRFY", "EXPN")


def unknown_user(code: int | None, text: str | None) -> bool:
    return code in UNKNOWN_CODES and not says_relay(text)


def candidates(ctx: DetectionContext, min_vrfy: float, min_unknown: float) -> list[SessionRecords]:
    """The sessions of the client and server pairs that may sweep: those whose distinct RCPT
    addresses answered 550, 551 or 553 reach ``min_unknown``, or whose distinct non-empty
    VRFY/EXPN arguments reach ``min_vrfy``, counted as written in the ``recipients`` and
    ``commands`` tables (case folding can only merge them, and an unknown user is first answered
    one of those codes: the counts :func:`detect` makes are never higher).  Every session when the
    tables are not there or a threshold is 0."""
    found = tables_of(ctx.tables, ("sessions", "recipients", "commands"), ctx.records)
    if found is None or not (min_vrfy > 0 and min_unknown > 0):
        return ctx.records
    sessions, recipients, commands = found
    keys = connection_keys(sessions, (recipients, commands))
    if keys is None:
        return ctx.records
    session_keys, recipient_keys, command_keys = keys
    asked = commands["verb"].isin(_PROBE_VERBS).to_numpy(dtype=bool, copy=True)
    probes = np.flatnonzero(asked)  # of those, the ones with an argument (the few rows read alone)
    asked[probes] = commands["argument"].iloc[probes].fillna("").ne("").to_numpy(dtype=bool)
    unknown = recipients["reply_code"].isin(UNKNOWN_CODES).to_numpy(dtype=bool, na_value=False)
    wide = {key for key, n in distinct_per_key(recipient_keys[unknown], recipients["address"][unknown]).items()
            if n >= min_unknown}
    wide.update(key for key, n in distinct_per_key(command_keys[asked], commands["argument"][asked]).items()
                if n >= min_vrfy)
    if not wide:
        return []
    chosen = np.isin(session_keys, np.fromiter(wide, dtype=np.int64, count=len(wide)))
    return ctx.records_of(sessions["session_id"].to_numpy()[chosen].tolist())


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    min_vrfy = ctx.threshold("enumeration_min_vrfy")
    min_unknown = ctx.threshold("enumeration_min_unknown")
    min_ratio = ctx.threshold("enumeration_min_unknown_ratio")
    # (client, server) -> (VRFY/EXPN argument -> (first command, its reply text), RCPT address -> first recipient)
    groups: dict[tuple[str, str], tuple[dict, dict]] = {}
    probing = ctx.sending("VRFY") | ctx.sending("EXPN")
    for r in candidates(ctx, min_vrfy, min_unknown):
        s = r.session
        key = (s.client_ip, s.server_ip)
        g = groups.get(key)
        if g is None:
            g = groups[key] = ({}, {})
        vrfy, rcpt = g
        if s.session_id in probing:  # else the loop below finds nothing
            replies = None  # command index -> reply, built for the sessions that ask
            for c in r.commands:
                if c.verb in ("VRFY", "EXPN") and c.argument:
                    if replies is None:
                        replies = {x.command_index: x for x in r.replies if x.command_index is not None}
                    reply = replies.get(c.index)
                    vrfy.setdefault(c.argument.lower(), (c, reply.text if reply else None))
        for rc in r.recipients:
            rcpt.setdefault(rc.address.lower(), rc)
    for (client, server), (vrfy, rcpt) in groups.items():
        if len(vrfy) < min_vrfy and len(rcpt) < min_unknown:
            continue  # too few names asked and too few addresses tried for either sweep
        unknown_rcpt = [x for x in rcpt.values() if unknown_user(x.reply_code, x.reply_text)]
        vrfy_unknown = [c for c, text in vrfy.values() if unknown_user(c.reply_code, text)]
        rcpt_sweep = (len(unknown_rcpt) >= min_unknown and rcpt
                      and len(unknown_rcpt) / len(rcpt) >= min_ratio)
        vrfy_sweep = len(vrfy) >= min_vrfy
        if not (rcpt_sweep or vrfy_sweep):
            continue
        probes = ([c for c, _ in vrfy.values()] if vrfy_sweep else []) + (list(rcpt.values()) if rcpt_sweep else [])
        if not probes:
            continue  # a threshold of 0 makes a sweep of nothing: nothing to show
        probes.sort(key=lambda x: x.ts_ns)
        sessions = tuple(dict.fromkeys(p.session_id for p in probes))
        parts = []
        if vrfy_sweep:
            verbs = "/".join(sorted({c.verb for c, _ in vrfy.values()}))
            parts.append(f"{len(vrfy)} names asked with {verbs}, {len(vrfy_unknown)} answered unknown")
        if rcpt_sweep:
            parts.append(f"{len(unknown_rcpt)} of {len(rcpt)} RCPT addresses answered unknown")
        shown = [f"{show(p.verb + ' ' + p.argument) if hasattr(p, 'verb') else 'RCPT ' + show(p.address)}"
                 f" -> {p.reply_code}" for p in probes]
        yield new_finding(
            kind="user_enumeration", severity=Severity.MEDIUM, session_id=sessions[0], ts_ns=probes[0].ts_ns,
            frames=tuple(dict.fromkeys(p.frame for p in probes)), sessions=sessions,
            explanation=f"{client} probed mailboxes of {server}: " + "; ".join(parts),
            evidence=lines(shown))
