"""A real session: smtplib -> recording TCP relay -> aiosmtpd on 127.0.0.1, then decode the recording.

No mocks: the relay records the exact bytes each way (record, then forward, under one lock, so the
recording is in causal order), and the decoded commands and replies must equal what smtplib sent
and received.
"""
from __future__ import annotations

import asyncio
import smtplib
import socket
import threading

import pytest
from smtp_transcript import C, S, decode

from smtpsniff.smtp.events import AuthStep, Capabilities, Command, MessageComplete, Reply, ReplyStage

aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

pytestmark = pytest.mark.network


class Handler:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.contents.append(envelope.original_content)
        return "250 2.0.0 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alice" and auth_data.password == b"s3cret"
    return aiosmtpd_smtp.AuthResult(success=ok)


class Relay:
    """Accept one client, connect to the server, record and forward each direction."""

    def __init__(self, server_port: int) -> None:
        self.records: list[tuple] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._server_port = server_port
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self._server_port))
        for src, dst, d in ((client, upstream, C), (upstream, client, S)):
            t = threading.Thread(target=self._pump, args=(src, dst, d), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, direction) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    self.records.append((direction, data))
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait(self) -> list[tuple]:
        for t in self._threads[1:]:
            t.join(timeout=10)
        self._listener.close()
        return list(self.records)


class RecordingSMTP(smtplib.SMTP):
    def __init__(self, *args, **kwargs) -> None:
        self.commands: list[str] = []
        self.replies: list[tuple[int, bytes]] = []
        super().__init__(*args, **kwargs)

    def putcmd(self, cmd, args=""):
        self.commands.append(f"{cmd} {args}".strip() if args else cmd)
        super().putcmd(cmd, args)

    def getreply(self):
        code, msg = super().getreply()
        self.replies.append((code, msg))
        return code, msg


@pytest.fixture
def server():
    handler = Handler()
    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(loop.create_server(
        lambda: aiosmtpd_smtp.SMTP(handler, hostname="mx.test", auth_require_tls=False, authenticator=authenticator),
        "127.0.0.1", 0))
    port = srv.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port, handler
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    srv.close()
    loop.run_until_complete(srv.wait_closed())
    loop.close()


MESSAGE = (b"From: alice@example.net\r\nTo: bob@example.org\r\nSubject: live\r\n\r\n"
           b".leading dot line\r\nbody\r\n..two dots\r\n")


def test_live_session_matches_smtplib(server):
    port, handler = server
    relay = Relay(port)
    client = RecordingSMTP("127.0.0.1", relay.port, local_hostname="client.test", timeout=10)
    client.ehlo()
    client.login("alice", "s3cret")  # AUTH PLAIN with initial response in smtplib's first choice
    refused = client.sendmail("alice@example.net", ["bob@example.org", "nobody@example.org"], MESSAGE)
    assert list(refused) == ["nobody@example.org"]
    client.noop()
    client.rset()
    client.verify("bob")
    client.quit()
    records = relay.wait()
    assert handler.contents == [MESSAGE]

    ev = decode(records)
    cmds = ev.of(Command)
    assert [c.raw.decode().rstrip("\r\n") for c in cmds] == client.commands
    # every server reply smtplib read, in order, decoded identically (smtplib strips blanks per line)
    decoded = [(r.code, b"\n".join(line.encode().strip(b" \t") for line in r.lines)) for r in ev.of(Reply)]
    assert decoded == client.replies
    greeting = ev.of(Reply)[0]
    assert greeting.stage is ReplyStage.GREETING and greeting.code == 220
    caps = ev.first(Capabilities)
    assert "PLAIN" in caps.auth_mechanisms and caps.size == 33554432
    steps = ev.of(AuthStep)
    assert steps[0].mechanism in ("PLAIN", "CRAM-MD5", "LOGIN")
    assert any(b"s3cret" in s.data for s in steps)
    msg = ev.first(MessageComplete)
    assert msg.content == MESSAGE and msg.complete
    rcpt = [r for r in ev.of(Reply) if r.verb == "RCPT"]
    assert [r.code for r in rcpt] == [250, 550]
    assert ev.kinds() == []


@pytest.fixture
def tls_server(tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI needed to make a test certificate")
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=mx.test"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    handler = Handler()
    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(loop.create_server(
        lambda: aiosmtpd_smtp.SMTP(handler, hostname="mx.test", tls_context=ctx), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield srv.sockets[0].getsockname()[1]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    srv.close()
    loop.run_until_complete(srv.wait_closed())
    loop.close()


def test_live_starttls(tls_server):
    import ssl

    from smtpsniff.smtp.events import TlsClientHello, TlsServerHello, TlsStarted

    relay = Relay(tls_server)
    client = RecordingSMTP("127.0.0.1", relay.port, local_hostname="client.test", timeout=10)
    client._host = "mx.test"  # the SNI smtplib sends is the host it connected to
    client.ehlo()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    client.starttls(context=ctx)
    client.ehlo()
    client.sendmail("a@example.net", ["bob@example.org"], b"Subject: over TLS\r\n\r\nsecret\r\n")
    client.quit()
    records = relay.wait()
    ev = decode(records)
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "STARTTLS"]
    assert ev.first(TlsStarted).command_index == 1
    hello = ev.first(TlsClientHello)
    assert hello.sni == "mx.test" and hello.version == "TLS 1.3"
    assert ev.first(TlsServerHello).version == "TLS 1.3"
    plain_c = sum(len(c.raw) for c in ev.of(Command))
    total_c = sum(len(d) for dd, d in records if dd is C)
    assert ev.conv.tls_bytes_c2s == total_c - plain_c
    assert ev.kinds() == []
