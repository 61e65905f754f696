"""STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with real TLS hellos from Python's ssl module."""
from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from smtp_transcript import C, S, decode

from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp.events import (
    Command,
    PlaintextAfterStarttls,
    Reply,
    TlsClientHello,
    TlsServerHello,
    TlsStarted,
)
from smtpsniff.smtp.states import ClientMode, ServerMode, SmtpState
from smtpsniff.smtp.tls import parse_hello

HEAD = [(S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n")]


def client_hello(sni: str | None = "mail.example.org", *, tls13: bool = True) -> tuple[bytes, ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if not tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read(), obj, incoming, outgoing


@pytest.fixture(scope="module")
def server_context(tmp_path_factory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI needed to make a test certificate")
    d = tmp_path_factory.mktemp("cert")
    key, crt = d / "key.pem", d / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=mail.example.org"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def handshake_flights(server_context: ssl.SSLContext, *, tls13: bool = True) -> tuple[bytes, bytes]:
    hello, _, _, _ = client_hello(tls13=tls13)
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server_context.wrap_bio(s_in, s_out, server_side=True)
    s_in.write(hello)
    try:
        srv.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return hello, s_out.read()


def test_client_hello_parse_direct():
    hello, *_ = client_hello("mx.example.net")
    info = parse_hello(hello)
    assert info.sni == "mx.example.net" and info.version == 0x0304 and info.record_version >> 8 == 3
    assert parse_hello(hello[:20]) is None  # needs more
    assert parse_hello(b"\x16\x03\x01\x00\x05\x0b\x00\x00\x01\x00") is False  # not a hello


def test_starttls_with_real_client_hello(server_context):
    hello, server_flight = handshake_flights(server_context)
    app = b"\x17\x03\x03\x00\x10" + bytes(16)
    items = HEAD + [(C, b"STARTTLS\r\n"), (S, b"220 2.0.0 Ready to start TLS\r\n"), (C, hello),
                    (S, server_flight), (C, app), (S, app)]
    ev = decode(items)
    assert ev.kinds() == []
    started = ev.first(TlsStarted)
    assert not started.implicit and started.command_index == 1
    ch = ev.first(TlsClientHello)
    assert ch.sni == "mail.example.org" and ch.version == "TLS 1.3" and "TLS 1.2" in ch.supported_versions
    assert ch.legacy_version == "TLS 1.2"
    sh = ev.first(TlsServerHello)
    assert sh.version == "TLS 1.3" and sh.legacy_version == "TLS 1.2"
    assert ev.conv.tls_bytes_c2s == len(hello) + len(app)
    assert ev.conv.tls_bytes_s2c == len(server_flight) + len(app)
    assert ev.of(Command)[-1].verb == "STARTTLS" and ev.of(Reply)[-1].code == 220


def test_starttls_tls12(server_context):
    hello, server_flight = handshake_flights(server_context, tls13=False)
    ev = decode(HEAD + [(C, b"STARTTLS\r\n"), (S, b"220 go\r\n"), (C, hello), (S, server_flight)])
    assert ev.first(TlsClientHello).version == "TLS 1.2"
    assert ev.first(TlsServerHello).version == "TLS 1.2"


def test_starttls_command_injection_same_segment():
    hello, *_ = client_hello()
    # CVE-2011-0411: the attacker appends a command to the STARTTLS segment.
    items = HEAD + [(C, b"STARTTLS\r\nRSET\r\n"), (S, b"220 Ready\r\n"), (C, hello)]
    ev = decode(items)
    plain = ev.of(PlaintextAfterStarttls)
    assert [(p.direction, p.data) for p in plain] == [(Direction.CLIENT_TO_SERVER, b"RSET\r\n")]
    assert "plaintext_after_starttls" in ev.kinds()
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "STARTTLS"]  # RSET is no command
    assert ev.first(TlsClientHello).sni == "mail.example.org"
    assert ev.conv.tls_bytes_c2s == len(hello)


def test_server_plaintext_after_its_220():
    hello, *_ = client_hello()
    ev = decode(HEAD + [(C, b"STARTTLS\r\n"), (S, b"220 Ready\r\n250 injected\r\n"), (C, hello)])
    assert [(p.direction, p.data) for p in ev.of(PlaintextAfterStarttls)] == [
        (Direction.SERVER_TO_CLIENT, b"250 injected\r\n")]


def test_starttls_refused_stays_plain():
    ev = decode(HEAD + [(C, b"STARTTLS\r\nNOOP\r\n"), (S, b"454 4.7.0 TLS not available\r\n250 ok\r\n")])
    assert ev.of(TlsStarted) == []
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "STARTTLS", "NOOP"]
    assert ev.conv.state is SmtpState.CLOSED


def test_implicit_tls(server_context):
    hello, server_flight = handshake_flights(server_context)
    ev = decode([(C, hello), (S, server_flight), (C, b"\x17\x03\x03\x00\x01x")], implicit_tls=True)
    assert ev.first(TlsStarted).implicit
    assert ev.first(TlsClientHello).sni == "mail.example.org"
    assert ev.first(TlsServerHello).version == "TLS 1.3"
    assert ev.of(Command) == [] and ev.of(Reply) == [] and ev.kinds() == []
    assert ev.conv.tls_bytes_c2s == len(hello) + 6


def test_implicit_tls_against_plain_server():
    hello, *_ = client_hello()
    ev = decode([(S, b"220 mx ESMTP\r\n"), (C, hello), (S, b"500 5.5.2 Error: bad syntax\r\n")], implicit_tls=True)
    assert ev.kinds()[0] == "plaintext_on_implicit_tls"
    assert ev.of(Reply)[0].code == 220 and ev.of(Reply)[0].verb == "<greeting>"
    assert ev.first(TlsClientHello).sni == "mail.example.org"


def test_implicit_tls_mode_states():
    from smtpsniff.smtp.conversation import SmtpConversation

    c = SmtpConversation(implicit_tls=True)
    assert (c.client_mode, c.server_mode) == (ClientMode.TLS_PROBE, ServerMode.TLS_PROBE)
    hello, *_ = client_hello()
    c.receive(Direction.CLIENT_TO_SERVER, hello, 1, 1)
    assert c.client_mode is ClientMode.TLS and c.state is SmtpState.IN_TLS
