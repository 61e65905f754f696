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

from .context import DetectionContext
from .domains import ip_of, server_names
from .evidence import show
from .model import Finding, Severity, Threshold, new_finding

KINDS = ("helo_mismatch",)
_LOCALHOST = ("localhost", "localhost.localdomain")
THRESHOLDS: tuple[Threshold, ...] = ()


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


def detect(ctx: DetectionContext) -> Iterator[Finding]:
    for r in ctx.records:
        s = r.session
        # The name is the argument's first word; an argument of blanks only (a vertical tab is no
        # separator to the decoder, RFC 5321 4.1.1.1) names nothing to compare.
        helos = [c for c in r.commands if c.verb in ("EHLO", "HELO", "LHLO") and c.argument.split()]
        for c in helos:
            try:
                problem = _problem(c.argument.split()[0], s.client_ip, s.server_ip, server_names(r))
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
