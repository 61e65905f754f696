"""``starttls_not_used``: the server offered STARTTLS, the client went on in clear without it.

``medium`` when credentials crossed in clear or the session is a submission (port 587), ``low``
for server-to-server relaying on port 25, where opportunistic TLS (RFC 3207) may fail without
an attack.  A STARTTLS that was sent but refused is ``starttls_stripping``'s concern.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..records.builder import SessionRecords
from .columns import tables_of
from .context import DetectionContext
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("starttls_not_used",)
THRESHOLDS: tuple[Threshold, ...] = ()
SUBMISSION_PORTS = frozenset({587})
_ACTIVITY = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH", "VRFY", "EXPN", "ETRN"})


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    sent_starttls = ctx.sending("STARTTLS")
    offers = []  # (records, session, the first EHLO reply offering STARTTLS) of the sessions to look at
    ids, times = [], []  # their session ids and the times of the offers
    for r in ctx.records:
        s = r.session
        if s.starttls_used or s.implicit_tls:
            continue
        for offer in r.capabilities:
            if offer.starttls:
                break
        else:
            continue
        sid = s.session_id
        if sid in sent_starttls:
            continue
        offers.append((r, s, offer))
        ids.append(sid)
        times.append(offer.ts_ns)
    found = _activity_from_table(ctx, ids, times)
    if found is None:
        found = [_activity(r, offer.ts_ns) for r, _, offer in offers]
    told: dict[tuple[frozenset[str], str], tuple[bool, str, str]] = {}  # the same verbs recur: said once each
    for (_, s, offer), activity in zip(offers, found):
        if activity is None:
            continue
        first_frame, first_verb, verbs = activity
        said = told.get((verbs, first_verb))
        if said is None:
            said = told[verbs, first_verb] = _said(verbs, first_verb)
        auth, explanation, evidence = said
        severity = Severity.MEDIUM if auth or s.server_port in SUBMISSION_PORTS else Severity.LOW
        yield new_finding(
            kind="starttls_not_used", severity=severity, session_id=s.session_id, ts_ns=offer.ts_ns,
            frames=(offer.frame, first_frame), sessions=(s.session_id,), explanation=explanation, evidence=evidence)


def _said(verbs: frozenset[str], first_verb: str) -> tuple[bool, str, str]:
    """Whether AUTH is among ``verbs``, the explanation and the evidence of a session that sent
    ``verbs`` in clear, ``first_verb`` first."""
    auth = "AUTH" in verbs
    return (auth, (f"server offered STARTTLS but the client sent {', '.join(sorted(verbs))} in clear"
                   + ("; its credentials crossed in clear" if auth else "")),
            f"EHLO reply offers STARTTLS; first command in clear: {first_verb}")


Activity = tuple[int, str, frozenset[str]]  # the first command's frame, its verb, every verb


def _activity(r: SessionRecords, offered: int) -> Activity | None:
    """The commands of :data:`_ACTIVITY` the session sent from ``offered`` on, None without any."""
    after = [c for c in r.commands if c.verb in _ACTIVITY and c.ts_ns >= offered]
    if not after:
        return None
    return after[0].frame, after[0].verb, frozenset(c.verb for c in after)


def _activity_from_table(ctx: DetectionContext, ids: Sequence[int], times: Sequence[int]
                         ) -> list[Activity | None] | None:
    """:func:`_activity` of each session of ``ids`` from the time of its offer (``times``) on, read
    from the ``commands`` table at once (its rows are each session's commands in order: a session's
    first row kept is its first command kept); None without the table.

    The rows of activity verbs are matched with their session's offer (by session id), kept from
    the offer's time on; per offer, the first row kept and the verbs of all (one bit per verb).
    """
    found = tables_of(ctx.tables, ("commands",), ctx.records)
    if found is None:
        return None
    commands = found[0]
    if not ids or not len(commands):
        return [None] * len(ids)
    verbs = commands["verb"]
    names = list(verbs.cat.categories)
    bit_of = np.array([1 << _VERB_BITS[name] if name in _VERB_BITS else 0 for name in names] + [0], dtype=np.int64)
    codes = verbs.cat.codes.to_numpy()
    bits = bit_of[codes]  # a missing verb (code -1) takes the last: no bit
    rows = np.flatnonzero(bits)
    if commands["frame"].hasnans or commands["session_id"].hasnans or commands["ts"].hasnans:
        return None
    ts = commands["ts"].array.asi8[rows]
    row_sessions = commands["session_id"].to_numpy(dtype=np.int64)[rows]
    offer_sessions = np.array(ids, dtype=np.int64)
    offered = np.array(times, dtype=np.int64)
    order = np.argsort(offer_sessions, kind="stable")
    if len(order) > 1 and not (np.diff(offer_sessions[order]) > 0).all():
        return None  # a session id twice: matched by records
    at = np.minimum(np.searchsorted(offer_sessions, row_sessions, sorter=order), len(order) - 1)
    which = order[at]
    keep = (offer_sessions[which] == row_sessions) & (ts >= offered[which])
    which, rows = which[keep], rows[keep]
    seen = np.zeros(len(ids), dtype=np.int64)
    np.bitwise_or.at(seen, which, bits[rows])
    offer_at, first = np.unique(which, return_index=True)
    frames = commands["frame"].to_numpy(dtype=np.int64)[rows[first]].tolist()
    first_verbs = [names[code] for code in codes[rows[first]].tolist()]
    out: list[Activity | None] = [None] * len(ids)
    sets: dict[int, frozenset[str]] = {}
    masks = seen.tolist()
    for i, frame, verb in zip(offer_at.tolist(), frames, first_verbs):
        mask = masks[i]
        if mask not in sets:
            sets[mask] = frozenset(name for name, bit in _VERB_BITS.items() if mask >> bit & 1)
        out[i] = (frame, verb, sets[mask])
    return out


_VERB_BITS = {verb: bit for bit, verb in enumerate(sorted(_ACTIVITY))}
