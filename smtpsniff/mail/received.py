"""Received trace fields: split one into its clauses, and pick the IP Zeek's ``path`` uses.

RFC 5321 section 4.4 (Stamp: ``from`` / ``by`` / ``via`` / ``with`` / ``id`` / ``for`` clauses, then
``;`` and a date-time), RFC 5322 section 3.6.7 (trace fields).  Real stamps bend the grammar; the
shapes handled (tests in tests/mail/test_mail_received.py; the fast paths against the general
code in tests/mail/test_mail_received_fast.py):

* Postfix   ``from helo (rdns [ip]) by host (Postfix) with ESMTPS id X for <rcpt>; date``
* Sendmail  ``from helo (rdns [ip] (may be forged)) by host (8.15.2/8.15.2) with ESMTP id X``
* Exim      ``from [ip] (helo=name) by host with esmtpsa (TLS1.3) ... (Exim 4.96) id X``
* Exchange  ``from HOST (ip) by HOST (ip) with Microsoft SMTP Server (version=...) id 15.1.x``
* Gmail     ``from helo (rdns. [ip]) by mx.google.com with ESMTPS id X for <rcpt> (...)``
* qmail     ``from unknown (HELO name) (ip) by host with SMTP``

Clauses are found by their keyword outside comments; comments (RFC 5322 section 3.2.2, nested
parentheses) belong to the clause before them.  This module knows nothing of other headers.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from smtpsniff.mail.anomalies import AnomalyLog
from smtpsniff.mail.headers import parse_date, shared_string
from smtpsniff.mail.model import Header, ReceivedHop

_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})
# Candidate IP text: IPv4 dotted quads and IPv6 (hex, colons, an embedded dotted quad).
_IP_CANDIDATE = r"[0-9A-Fa-f:.]+"
_IP_ANYWHERE = re.compile(r"(?:IPv6:)?(" + _IP_CANDIDATE + r")")
# Zeek's extract_ip_addresses(check_wrapping=T): an IP counts only when wrapped in matching
# [ ], ( ), { } or spaces, or when it is the whole value.  RFC 5321 section 4.1.3 address
# literals "[IPv6:...]" are accepted too (Zeek's regex misses them).  The wrapped forms: the
# opening character is part of the match (never a candidate character, so the scan finds the
# same candidates as with a look-behind), the closing one only looked at.
_IP_WRAPPED = re.compile(
    r"\[(?:IPv6:)?(" + _IP_CANDIDATE + r")(?=\])"
    r"|\((" + _IP_CANDIDATE + r")(?=\))"
    r"|\{(" + _IP_CANDIDATE + r")(?=\})"
    r"| (" + _IP_CANDIDATE + r")(?= )"
)
# The whole value as one candidate (with match(): from its start to its end, or to a final "\n").
_IP_WHOLE = re.compile(r"(" + _IP_CANDIDATE + r")$")
# ipaddress.IPv4Address's text form: four ASCII decimal octets 0-255, no leading zeros.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(_OCTET + r"(?:\." + _OCTET + r"){3}")
# The usual pieces of a Received value (see _tokens): a word, whose [...] and <...> may hold
# white space and parentheses; a comment (RFC 5322 section 3.2.2) with no nested comment or
# quoted-pair; or, in the third group, from a "(", "[" or "<" that starts neither to the end.
_TOKEN = re.compile(r"((?:[^\s(\[<]+|\[[^\]]*\]|<[^>]*>)+)|\(([^()\\]*)\)|([(\[<].*)", re.DOTALL)
_HELO_EQ = re.compile(r"\bhelo=([^\s)\]]+)", re.IGNORECASE)
_HELO_WORD = re.compile(r"^HELO\s+(\S+)", re.IGNORECASE)


def valid_ip(text: str) -> str | None:
    """``text`` as a normalised IP address string, or None if it is not one.

    What :func:`ipaddress.ip_address` accepts, without its two exceptions for each of the many
    words that are not addresses.  Exact because:

    * with fewer than two colons, ``text`` can only be an IPv4 address (an IPv6 address needs
      two, before any ``%`` scope), and ``_IPV4`` is ``ipaddress``'s IPv4 rule: four ASCII
      decimal octets of at most 3 digits, no leading zero, at most 255.  Such a text is its own
      normal form;
    * with two or more, it cannot be IPv4 (a colon is not a digit), and it can be IPv6 only with
      a ``::``, or with seven colons, or six and a ``.``: without ``::`` there are exactly eight
      groups, the last two of which may be one dotted quad (a ``%`` scope only adds colons and
      dots).  The rest goes to :class:`ipaddress.IPv6Address`.
    """
    if text.count(":") < 2:
        text = text.strip(".:")
        return text if _IPV4.fullmatch(text) is not None else None
    text = text.rstrip(".")
    colons = text.count(":")
    if "::" not in text and (colons < 6 or colons == 6 and "." not in text):
        return None
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def ips_in(text: str) -> tuple[str, ...]:
    """Every IP address written anywhere in ``text``, in order, repeats removed."""
    found: list[str] = []
    for candidate in _IP_ANYWHERE.findall(text):
        ip = valid_ip(candidate)
        if ip is not None and ip not in found:
            found.append(ip)
    return tuple(found)


def path_ip(value: str) -> str | None:
    """The IP Zeek's SMTP script takes from a Received value for ``path``.

    Zeek (base/protocols/smtp/main.zeek ``find_address_in_smtp_header``) collects the wrapped IPs
    (see ``_IP_WRAPPED``) and takes the second when there are several, else the first.  With
    one IP (Postfix, Sendmail, Gmail stamps) that is the sending host; with two (Exchange's
    ``from A (ip1) by B (ip2)``) it is the receiving one.  We copy the rule, quirk included, so
    that paths compare with Zeek's smtp.log.  A value that is one candidate as a whole has no
    wrapped one (nothing opens it), and no candidate past the second IP is checked.
    """
    whole = _IP_WHOLE.match(value)
    if whole is not None:
        return valid_ip(whole.group(1))
    first = None
    for bracket, paren, brace, space in _IP_WRAPPED.findall(value):
        ip = valid_ip(bracket or paren or brace or space)
        if ip is not None:
            if first is not None:
                return ip
            first = ip
    return first


def received_path(hops: Iterable[ReceivedHop], limit: int, log: AnomalyLog) -> tuple[str, ...]:
    """One :func:`path_ip` per Received field in header order, consecutive repeats collapsed."""
    path: list[str] = []
    for hop in hops:
        ip = path_ip(hop.raw)
        if ip is None or (path and path[-1] == ip):
            continue
        if len(path) >= limit:
            log.add("received_path_limit", f"Received path longer than max_received_path={limit}")
            break
        path.append(ip)
    return tuple(path)


def zeek_path(received: Iterable[str], client_ip: str, server_ip: str, limit: int = 1000
              ) -> tuple[str, ...]:
    """Zeek's smtp.log ``path``: server, client, then the Received IPs, consecutive repeats dropped.

    Zeek starts every transaction's path with ``vector(c$id$resp_h, c$id$orig_h)`` and appends an
    IP only when it differs from the last one (``SMTP::max_path_length`` = 1000).
    """
    path = [server_ip, client_ip]
    for ip in received:
        if path[-1] != ip and len(path) < limit:
            path.append(ip)
    return tuple(path)


def _tokens(text: str) -> list[tuple[bool, str]]:
    """:func:`_tokens_general`'s pieces, the usual ones read by ``_TOKEN``.

    Exact because ``_TOKEN``'s word and comment are the general loop's: a word is the longest
    run of characters that are neither white space (``\\s`` and :meth:`str.isspace` are the same
    set) nor ``(``, where ``[`` and ``<`` take everything up to the first ``]`` or ``>``; a
    comment with no ``(`` or ``\\`` inside ends at the first ``)``.  Between pieces there is only
    white space.  Where a piece starts with neither (a nested, quoted or unclosed comment, an
    unclosed bracket, which may also continue the word before it), ``_TOKEN``'s third group
    takes the rest of the text, and the general loop reads the text instead.
    """
    found = _TOKEN.findall(text)
    if found and found[-1][2]:
        return list(_tokens_general(text))
    return [(False, word) if word else (True, comment) for word, comment, _ in found]


def _tokens_general(text: str) -> Iterator[tuple[bool, str]]:
    """(is_comment, text) pieces of a Received value: words, and parenthesised comments.

    ``[...]`` and ``<...>`` stay inside one word even when they hold spaces.  A comment ends
    at the ``)`` that closes it (nested ones inside, ``\\`` quoting the next character), or at
    the end of the text; an unclosed ``[`` or ``<`` makes the rest of the text one word.
    """
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            depth, j = 0, i
            while j < n:
                c = text[j]
                if c == "\\":
                    j += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            yield True, text[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != "(":
                closer = {"[": "]", "<": ">"}.get(text[j])
                if closer is not None:
                    k = text.find(closer, j + 1)
                    j = n if k < 0 else k + 1
                else:
                    j += 1
            yield False, text[i:j]
            i = j


_NO_CLAUSE: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # a clause not in the stamp


def _first(clauses: dict[str, tuple[list[str], list[str]]], keyword: str) -> str | None:
    """The first value word of a clause, or None."""
    words = clauses.get(keyword, _NO_CLAUSE)[0]
    return words[0] if words else None


def parse_received(header: Header, index: int, log: AnomalyLog) -> ReceivedHop:
    """Split one Received field into a :class:`ReceivedHop` (missing clauses are None)."""
    value = header.raw_value
    clauses_text, sep, date_text = value.rpartition(";")
    if not sep:
        clauses_text, date_text = value, ""
    date_text = date_text.strip()
    clauses: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    for is_comment, text in _tokens(clauses_text):
        if is_comment:
            if current is not None:
                current[1].append(text)
            continue
        keyword = text.lower()
        if keyword in _KEYWORDS and keyword not in clauses and (current is None or current[0]):
            current = clauses[keyword] = ([], [])
        elif current is not None and not current[1]:
            current[0].append(text)  # value words end at the clause's first comment
    when = parse_date(date_text, f"Received header {index}", log) if date_text else None
    from_words, from_comments = clauses.get("from", _NO_CLAUSE)
    from_rdns = from_helo = None
    for comment in from_comments:
        helo = _HELO_EQ.search(comment) or _HELO_WORD.search(comment)
        if helo and from_helo is None:
            from_helo = helo.group(1)
        words = comment.split()
        first_word = words[0] if words else ""
        if (from_rdns is None and first_word and not first_word.startswith("[")
                and "=" not in first_word and valid_ip(first_word) is None
                and first_word.upper() != "HELO"):
            from_rdns = first_word.rstrip(".")
    for_ = _first(clauses, "for")
    # Host names and protocols recur from stamp to stamp: each is held as a shared string.
    by_host, via = _first(clauses, "by"), _first(clauses, "via")
    with_protocol = " ".join(clauses.get("with", _NO_CLAUSE)[0])
    return ReceivedHop(
        index=index,
        raw=value,
        from_host=shared_string(from_words[0]) if from_words else None,
        from_helo=None if from_helo is None else shared_string(from_helo),
        from_rdns=None if from_rdns is None else shared_string(from_rdns),
        from_ips=ips_in(" ".join(from_words + from_comments)),
        by_host=None if by_host is None else shared_string(by_host),
        via=None if via is None else shared_string(via),
        with_protocol=shared_string(with_protocol) if with_protocol else None,
        id=_first(clauses, "id"),
        for_=for_.strip("<>") if for_ else None,
        timestamp=when,
        timestamp_raw=date_text or None,
    )
