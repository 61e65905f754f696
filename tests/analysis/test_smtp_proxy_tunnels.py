"""SMTP through an open proxy: the HTTP CONNECT or SOCKS handshake is skipped and the SMTP after it decoded.

Zeek (http-connect btest: one smtp.log row) and tshark (SOCKS 5 dissector handing over to SMTP) both
find the SMTP inside the two public captures; :mod:`smtpsniff.proxy` must too, and must start the
decoder exactly at the first SMTP byte.  The handshakes' byte layouts below are the RFCs' (RFC 9110
9.3.6, RFC 1928, RFC 1929, SOCKS 4/4a); every prefix of a handshake must ask for more bytes, never
answer "no tunnel" too early.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

import smtpsniff
from smtp_oracles import SHARED, smtpsniff_read, write_tcp_pcap
from smtpsniff.proxy import NEED_MORE, Preamble, ProxyKind, parse_preamble

HTTP_CONNECT = SHARED / "zeek" / "http_connect-with-smtp" / "connect-with-smtp.pcap"
SOCKS5 = SHARED / "arkime" / "socks5-smtp-503" / "socks5-smtp-503.pcap"

GREETING = b"220 mx.example.org ESMTP\r\n"
HELO = b"EHLO relay.example.net\r\n"


def socks5(user: bytes | None = None, password: bytes = b"") -> tuple[bytes, bytes]:
    """RFC 1928 (+ RFC 1929 when ``user``): CONNECT to mx.example.org:25 by domain name."""
    method = 2 if user is not None else 0
    client = bytes([5, 2, 0, 2])  # offers: no auth, username/password
    server = bytes([5, method])
    if user is not None:
        client += bytes([1, len(user)]) + user + bytes([len(password)]) + password
        server += bytes([1, 0])
    client += bytes([5, 1, 0, 3, 14]) + b"mx.example.org" + (25).to_bytes(2, "big")
    server += bytes([5, 0, 0, 1]) + ipaddress.IPv4Address("10.1.2.3").packed + (40123).to_bytes(2, "big")
    return client, server


def socks4(domain: bytes | None = None) -> tuple[bytes, bytes]:
    """SOCKS 4 CONNECT to 203.0.113.5:25, or 4a (ip 0.0.0.1, then the domain) with ``domain``."""
    ip = bytes([0, 0, 0, 1]) if domain else ipaddress.IPv4Address("203.0.113.5").packed
    client = bytes([4, 1]) + (25).to_bytes(2, "big") + ip + b"spammer\x00" + (domain + b"\x00" if domain else b"")
    server = bytes([0, 0x5A]) + bytes(6)
    return client, server


HANDSHAKES = {
    "http-connect": ((b"CONNECT mx.example.org:25 HTTP/1.1\r\nHost: mx.example.org:25\r\n\r\n",
                      b"HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n"),
                     ProxyKind.HTTP_CONNECT, "mx.example.org:25"),
    "http-connect-lf": ((b"CONNECT 203.0.113.5:25 HTTP/1.0\n\n", b"HTTP/1.0 200 OK\n\n"),
                        ProxyKind.HTTP_CONNECT, "203.0.113.5:25"),
    "socks5": (socks5(), ProxyKind.SOCKS5, "mx.example.org:25"),
    "socks5-userpass": (socks5(b"alice", b"s3cret"), ProxyKind.SOCKS5, "mx.example.org:25"),
    "socks4": (socks4(), ProxyKind.SOCKS4, "203.0.113.5:25"),
    "socks4a": (socks4(b"mx.example.org"), ProxyKind.SOCKS4, "mx.example.org:25"),
}


@pytest.mark.parametrize("name", HANDSHAKES)
def test_handshake_is_measured_exactly(name):
    (client, server), kind, target = HANDSHAKES[name]
    got = parse_preamble(client + HELO, server + GREETING)
    assert got == Preamble(kind, len(client), len(server), target)


@pytest.mark.parametrize("name", HANDSHAKES)
def test_every_prefix_asks_for_more(name):
    """Byte by byte, in either direction, the answer is 'more' until both sides are complete (a proxy
    never speaks first, so the client has sent at least one byte)."""
    (client, server), _, _ = HANDSHAKES[name]
    for i in range(1, len(client)):
        assert parse_preamble(client[:i], server) is NEED_MORE, (i, client[:i])
    for j in range(len(server)):
        assert parse_preamble(client, server[:j]) is NEED_MORE, (j, server[:j])


@pytest.mark.parametrize("client, server", [
    (b"CONNECT mx.example.org:25 HTTP/1.1\r\n\r\n", b"HTTP/1.1 403 Forbidden\r\n\r\n"),  # refused
    (b"CONNECT mx.example.org:25 HTTP/1.1\r\n\r\n", b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
    (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),  # no tunnel
    (bytes([5, 1, 0]), bytes([5, 0xFF])),  # SOCKS 5: no acceptable method
    (socks5()[0], socks5()[1][:2] + bytes([5, 5, 0, 1]) + bytes(6)),  # SOCKS 5: connection refused
    (socks4()[0], bytes([0, 0x5B]) + bytes(6)),  # SOCKS 4: rejected
    (bytes([4, 2]) + bytes(7), bytes(8)),  # SOCKS 4 BIND, not CONNECT
    (HELO, GREETING),  # plain SMTP
    (b"\x16\x03\x01\x02\x00\x01", b""),  # a TLS ClientHello
])
def test_no_tunnel(client, server):
    assert parse_preamble(client, server) is None


def _session(path: Path):
    cap = smtpsniff.read(path)
    assert len(cap.sessions) == 1, cap.sessions
    return cap


@pytest.mark.parametrize("name", ["http-connect", "socks5-userpass", "socks4a"])
def test_smtp_after_a_handshake_is_decoded_from_its_first_byte(tmp_path, name):
    (client, server), kind, target = HANDSHAKES[name]
    path = write_tcp_pcap(tmp_path / f"{name}.pcap", [
        ("c", client[:5]), ("c", client[5:]), ("s", server + GREETING), ("c", HELO),
        ("s", b"250 mx.example.org\r\n"), ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n"),
    ], server=("198.51.100.25", 3128))
    cap = _session(path)
    s = cap.sessions.iloc[0]
    assert (s["detected_by"], s["server_port"], s["greeting_code"], s["banner"]) == (
        kind.value, 3128, 220, "mx.example.org ESMTP")
    assert list(cap.commands["verb"]) == ["EHLO", "QUIT"] and list(cap.commands["reply_code"]) == [250, 221]
    tunnel = cap.anomalies[cap.anomalies["kind"] == "smtp_through_proxy"]
    assert len(tunnel) == 1 and f"proxy tunnel ({kind.label}) to {target} " in tunnel["message"].iloc[0]
    assert set(cap.anomalies["kind"]) == {"smtp_through_proxy"}, cap.anomalies


def test_refused_connect_is_no_smtp_session(tmp_path):
    path = write_tcp_pcap(tmp_path / "refused.pcap", [
        ("c", b"CONNECT mx.example.org:25 HTTP/1.1\r\n\r\n"), ("s", b"HTTP/1.1 403 Forbidden\r\n\r\n"),
    ], server=("198.51.100.25", 3128))
    cap = smtpsniff.read(path)
    assert cap.sessions.empty and cap.commands.empty


@pytest.mark.skipif(not HTTP_CONNECT.exists(), reason=f"{HTTP_CONNECT} is absent")
def test_zeek_http_connect_trace():
    cap = smtpsniff_read(HTTP_CONNECT)
    s = cap.sessions.iloc[0]
    assert (s["detected_by"], s["server_port"], s["greeting_code"], s["helo"]) == (
        "http_connect", 8240, 220, "208.191.73.21")
    assert list(cap.commands["verb"]) == ["HELO", "MAIL", "RCPT", "DATA", "QUIT"]
    message = cap.anomalies.loc[cap.anomalies["kind"] == "smtp_through_proxy", "message"].iloc[0]
    assert "proxy tunnel (HTTP CONNECT) to mailin03.sul.t-online.de:25 " in message
    assert "103 client and 39 proxy octets" in message


@pytest.mark.skipif(not SOCKS5.exists(), reason=f"{SOCKS5} is absent")
def test_arkime_socks5_trace():
    cap = smtpsniff_read(SOCKS5)
    s = cap.sessions.iloc[0]
    assert (s["detected_by"], s["server_port"], s["greeting_code"]) == ("socks5", 1080, 220)
    assert list(zip(cap.commands["verb"], cap.commands["reply_code"])) == [("EHLO", 250), ("AUTH", 503)]
    message = cap.anomalies.loc[cap.anomalies["kind"] == "smtp_through_proxy", "message"].iloc[0]
    assert "proxy tunnel (SOCKS 5) to 010.000.00.003:25 " in message
