"""``helo_mismatch``: an EHLO/HELO name that does not fit the client that sent it.

Without DNS a name cannot be checked, but these can (RFC 5321 4.1.4 lets the server check the
name; spam bots and spoofers get them wrong):

* an address literal that is not the client's address (``medium``), unless one of them is a
  private address and the other a public one (NAT between the client and the capture point);
* the server's own name or address given by another host (``medium``): "I am you";
* ``localhost`` or a loopback literal from a host that is not on loopback (``low``).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from itertools import chain
from operator import attrgetter

from ..records.builder import SessionRecords
from .columns import tables_of
from .context import DetectionContext
from .domains import banner_name, ip_of, server_names
from .evidence import show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("helo_mismatch",)
_LOCALHOST = frozenset({"localhost", "localhost.localdomain"})
_HELO_VERBS = frozenset({"EHLO", "HELO", "LHLO"})
THRESHOLDS: tuple[Threshold, ...] = ()
_CAPABILITIES = attrgetter("capabilities")
_DOMAIN = attrgetter("domain")


def _problem(helo: str, client: str, server: str, own_names: set[str]) -> tuple[Severity, str] | None:
    literal = ip_of(helo)
    name = helo.strip().lower().rstrip(".")
    if literal is None and name not in own_names and name not in _LOCALHOST:
        return None  # a plain name that is not the server's nor localhost: nothing below applies
    client_ip, server_ip = ipaddress.ip_address(client), ipaddress.ip_address(server)
    if client_ip != server_ip and (name in own_names or literal == server_ip):
        return Severity.MEDIUM, f"client {client} greets with the server's own {'address' if literal else 'name'}"
    if literal is not None:
        if literal.is_loopback and not client_ip.is_loopback:
            return Severity.LOW, f"client {client} claims a loopback address"
        nat = literal.is_private != client_ip.is_private
        if literal != client_ip and not nat:
            return Severity.MEDIUM, f"address literal {literal} is not the client's address {client}"
        return None
    if name in _LOCALHOST and not client_ip.is_loopback:
        return Severity.LOW, f"client {client} calls itself {name}"
    return None


def candidates(ctx: DetectionContext) -> list[SessionRecords]:
    """The sessions with a HELO word that may make a finding: one that is an address literal or
    ``localhost`` (or may be), or whose name is a name that any server of the capture gave itself
    (:func:`~.domains.server_names` of every session: a superset of the session's own).  Read from
    the ``commands`` and ``sessions`` tables and the capabilities; every session without the tables.
    """
    found = tables_of(ctx.tables, ("sessions", "commands"), ctx.records)
    if found is None:
        return ctx.records
    sessions, commands = found
    helo = commands["verb"].isin(_HELO_VERBS)
    arguments = commands["argument"][helo]
    if not len(arguments):
        return []
    servers = {name for name in map(banner_name, sessions["banner"].dropna().unique().tolist()) if name}
    domains = set(map(_DOMAIN, chain.from_iterable(map(_CAPABILITIES, ctx.records))))
    servers.update(domain.lower().rstrip(".") for domain in domains if domain)
    suspect = servers | _LOCALHOST
    chosen = []
    for argument in arguments.dropna().unique().tolist():
        words = argument.split()
        if not words:
            continue  # names nothing: the loop below passes it over
        word = words[0]
        if ip_of(word) is not None or word.strip().lower().rstrip(".") in suspect:
            chosen.append(argument)
    if not chosen and not arguments.hasnans:
        return []
    # (an argument missing from the table: its session is read)
    ids = commands["session_id"][helo][arguments.isin(chosen) | arguments.isna()].tolist()
    return ctx.records_of(set(ids))


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    # HELO word -> its name, for the words that are neither an address literal nor localhost: for
    # them _problem only asks whether the name is one of the server's (clients greet alike).
    plain: dict[str, str] = {}
    for r in candidates(ctx):
        s = r.session
        # The name is the argument's first word; an argument of blanks only (a vertical tab is no
        # separator to the decoder, RFC 5321 4.1.1.1) names nothing to compare.
        helos = [c for c in r.commands if c.verb in _HELO_VERBS and c.argument.split()]
        own = None
        for c in helos:
            word = c.argument.split()[0]
            if own is None:
                own = server_names(r)
            if word not in plain and ip_of(word) is None:
                name = word.strip().lower().rstrip(".")
                if name not in _LOCALHOST:
                    plain[word] = name
            if word in plain and plain[word] not in own:
                continue  # what _problem answers None for, without reading the word again
            try:
                problem = _problem(word, s.client_ip, s.server_ip, own)
            except ValueError:
                continue
            if problem is None:
                continue
            severity, why = problem
            yield new_finding(
                kind="helo_mismatch", severity=severity, session_id=s.session_id, ts_ns=c.ts_ns, frames=(c.frame,),
                sessions=(s.session_id,), explanation=f"{c.verb} {show(c.argument)}: {why}",
                evidence=show(c.raw))
            break
