"""Domain helpers for the spoofing and relay detectors: which domain an address or a server is in.

Without the Public Suffix List (no downloads at run time), the organisational domain is
approximated as the last two labels, or three when the second-to-last is a common second-level
label under a two-letter country code (``example.co.uk``).  Address literals are never a domain.
"""
from __future__ import annotations

import ipaddress

from ..records.builder import SessionRecords

#: The characters of the IP part of an IPv4 or IPv6 address text (RFC 4291 2.2).
_IP_CHARS = "0123456789abcdefABCDEF.:"
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gv", "ltd", "plc"})


def domain_of(address: str | None) -> str | None:
    """The domain of ``local@domain`` in lower case, without a trailing dot; None without one."""
    if not address or "@" not in address:
        return None
    domain = address.rpartition("@")[2].strip().strip(">").rstrip(".").lower()
    return domain or None


def is_literal(name: str) -> bool:
    return ip_of(name) is not None


def ip_of(name: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of an address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``, RFC 5321 4.1.3) or bare IP."""
    if not name:
        return None
    text = name.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    head = text.partition("%")[0]  # an IPv6 scope id may follow "%"
    if head.strip(_IP_CHARS) or (":" not in head and "." not in head):
        return None  # not even made of IP characters: most names, without raising and catching
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def org_domain(domain: str | None) -> str | None:
    """The approximate organisational domain (``mx1.mail.example.co.uk`` -> ``example.co.uk``)."""
    if not domain or is_literal(domain):
        return None
    labels = [label for label in domain.lower().rstrip(".").split(".") if label]
    if len(labels) < 2:
        return None
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def server_names(records: SessionRecords) -> set[str]:
    """The names the server gave itself: first word of the greeting and of each EHLO reply."""
    names = set()
    banner = records.session.banner
    if banner:
        first = banner_name(banner)
        if first:
            names.add(first)
    for caps in records.capabilities:
        if caps.domain:
            names.add(caps.domain.lower().rstrip("."))
    return names


def banner_name(banner: str) -> str | None:
    """The name a greeting's text gives the server (its first word, lower case, no trailing dot),
    as :func:`server_names` reads it; None when the first line starts with no word."""
    first = banner.partition("\n")[0].partition(" ")[0].strip()
    return first.lower().rstrip(".") if first else None
