"""Proxy handshakes that can come before SMTP on a connection: HTTP CONNECT and SOCKS 4, 4a and 5.

Spam and abuse often reach a mail server through an open proxy: the client first asks the proxy
for a tunnel, then speaks SMTP through it on the same TCP connection.  :func:`parse_preamble`
reads the first bytes of both directions and says whether they open such a tunnel, and how many
octets of each direction the handshake takes, so the SMTP decoder can start right after them.

Grammar (only the successful shapes are accepted; a refused or unknown handshake is no tunnel):

* HTTP CONNECT (RFC 9110 9.3.6): the client's request line ``CONNECT host:port HTTP/1.x`` and header
  fields up to the empty line; the proxy's status line ``HTTP/1.x 2xx`` and header fields up to the
  empty line.  Bare LF line ends are accepted as HTTP/1.1 parsers do (RFC 9112 2.2).
* SOCKS 5 (RFC 1928): ``05 n methods...`` / ``05 method``; with method 02 the username/password
  exchange of RFC 1929 (``01 ulen user plen pass`` / ``01 00``); then ``05 01 00 atyp addr port`` /
  ``05 00 00 atyp addr port``.
* SOCKS 4 (``04 01 port ip userid 00``) and 4a (ip ``0.0.0.x``, then ``domain 00``) / ``00 5a port ip``.

This module only reads bytes: it knows no packets, connections, SMTP or time.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum


class ProxyKind(str, Enum):
    HTTP_CONNECT = "http_connect"
    SOCKS4 = "socks4"
    SOCKS5 = "socks5"

    @property
    def label(self) -> str:
        """How people write it: "HTTP CONNECT", "SOCKS 4", "SOCKS 5"."""
        return _LABELS[self.value]


_LABELS = {"http_connect": "HTTP CONNECT", "socks4": "SOCKS 4", "socks5": "SOCKS 5"}


@dataclass(frozen=True, slots=True)
class Preamble:
    """A complete, accepted proxy handshake at the start of a connection."""

    kind: ProxyKind
    client_bytes: int  # octets of the client's side of the handshake
    server_bytes: int  # octets of the proxy's side
    target: str  # what the client asked to reach, "host:port"


class _Need(Enum):
    MORE = "more"


#: The handshake may be one, but more bytes of one direction are needed to know.
NEED_MORE = _Need.MORE

_CONNECT = re.compile(rb"CONNECT (\S+) [^\r\n]*HTTP/1\.[0-9]\r?\n")
_HTTP_STATUS = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})[ \r\n]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def parse_preamble(client: bytes, server: bytes) -> Preamble | None | _Need:
    """The handshake ``client`` and ``server`` (each direction's first bytes) start with.

    Returns a :class:`Preamble`, ``None`` when the bytes are no (successful) proxy handshake, or
    :data:`NEED_MORE` while one direction has not yet said enough.
    """
    if not client:
        return NEED_MORE if not server else None  # proxies never speak first
    first = client[0]
    if first == ord("C"):
        return _http_connect(client, server)
    if first == 5:
        return _socks5(client, server)
    if first == 4:
        return _socks4(client, server)
    return None


def _http_connect(client: bytes, server: bytes) -> Preamble | None | _Need:
    if len(client) < 8:
        return NEED_MORE if b"CONNECT "[: len(client)] == client else None
    request = _CONNECT.match(client)
    if request is None:
        return None if not client.startswith(b"CONNECT ") or b"\n" in client else NEED_MORE
    client_end = _HEADER_END.search(client, request.start(1))
    if len(server) < 13:
        return NEED_MORE if b"HTTP/1."[: len(server)] == server[:7] else None
    status = _HTTP_STATUS.match(server)
    if status is None or not status.group(1).startswith(b"2"):
        return None
    server_end = _HEADER_END.search(server)
    if client_end is None or server_end is None:
        return NEED_MORE
    return Preamble(ProxyKind.HTTP_CONNECT, client_end.end(), server_end.end(),
                    request.group(1).decode("ascii", "replace"))


def _address(data: bytes, at: int, atyp: int) -> tuple[str, int] | None | _Need:
    """RFC 1928 5: ATYP 1 IPv4, 3 length-prefixed domain, 4 IPv6; then a 2-octet port."""
    if atyp == 1:
        size, host = 4, lambda b: str(ipaddress.IPv4Address(b))
    elif atyp == 4:
        size, host = 16, lambda b: f"[{ipaddress.IPv6Address(b)}]"
    elif atyp == 3:
        if len(data) <= at:
            return NEED_MORE
        size, at = data[at], at + 1
        host = lambda b: b.decode("ascii", "replace")  # noqa: E731
    else:
        return None
    if len(data) < at + size + 2:
        return NEED_MORE
    port = int.from_bytes(data[at + size : at + size + 2], "big")
    return f"{host(data[at : at + size])}:{port}", at + size + 2


def _socks5(client: bytes, server: bytes) -> Preamble | None | _Need:
    if len(client) < 2 or len(server) < 2:
        return NEED_MORE
    methods = client[1]
    at = 2 + methods
    if len(client) < at:
        return NEED_MORE
    if methods == 0 or server[0] != 5 or server[1] not in (0, 2) or server[1] not in client[2:at]:
        return None
    s_at = 2
    if server[1] == 2:  # RFC 1929 username/password
        if len(client) < at + 2:
            return NEED_MORE
        if client[at] != 1:
            return None
        ulen = client[at + 1]
        if len(client) < at + 2 + ulen + 1:
            return NEED_MORE
        plen = client[at + 2 + ulen]
        at += 3 + ulen + plen
        if len(server) < 4:
            return NEED_MORE
        if server[2] != 1 or server[3] != 0:
            return None
        s_at = 4
    if len(client) < at + 4 or len(server) < s_at + 4:
        return NEED_MORE
    if client[at : at + 3] != b"\x05\x01\x00" or server[s_at : s_at + 3] != b"\x05\x00\x00":
        return None  # not CONNECT, or refused
    target = _address(client, at + 4, client[at + 3])
    bound = _address(server, s_at + 4, server[s_at + 3])
    for parsed in (target, bound):
        if parsed is None or parsed is NEED_MORE:
            return parsed
    return Preamble(ProxyKind.SOCKS5, target[1], bound[1], target[0])


def _socks4(client: bytes, server: bytes) -> Preamble | None | _Need:
    if len(client) < 9:
        return NEED_MORE
    if client[1] != 1:
        return None  # not CONNECT
    user_end = client.find(b"\x00", 8)
    if user_end < 0:
        return NEED_MORE if len(client) < 264 else None
    port = int.from_bytes(client[2:4], "big")
    ip = client[4:8]
    end = user_end + 1
    host = str(ipaddress.IPv4Address(ip))
    if ip[:3] == b"\x00\x00\x00" and ip[3] != 0:  # SOCKS 4a: the domain follows the user id
        domain_end = client.find(b"\x00", end)
        if domain_end < 0:
            return NEED_MORE if len(client) < end + 256 else None
        host, end = client[end:domain_end].decode("ascii", "replace"), domain_end + 1
    if len(server) < 8:
        return NEED_MORE
    if server[0] != 0 or server[1] != 0x5A:
        return None  # refused
    return Preamble(ProxyKind.SOCKS4, end, 8, f"{host}:{port}")
