"""Servers for the attack recordings: aiosmtpd with more SASL mechanisms, a STARTTLS-stripping
proxy in front of a real server, a server that injects a reply behind its 220 to STARTTLS, and an
aiosmtpd with a greeting pause.  Everything listens on 127.0.0.0/8 only."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import threading
import time

from aiosmtpd.smtp import AuthResult, LoginPassword, auth_mechanism
from spnego._ntlm_raw.crypto import desl, ntowfv1, ntowfv2  # NTLM one-way functions (MS-NLMP 3.3)
import scramp

from rec_common import require_free, wait_port
from rec_servers import USERS, PolicyHandler, RelayController, RelaySMTP, authenticator, server_ssl_context

NTLM_USERS = {("EXAMPLE", "dave"): "Dave-NTLM-1", ("EXAMPLE", "erin"): "Erin-v2-pass"}
DIGEST_USERS = {"frank": "Fr@nk-digest"}
SCRAM_USERS = {"grace": ("SCRAM-SHA-256", "Grace-SCRAM-256"), "heidi": ("SCRAM-SHA-1", "Heidi-scram1")}
TOKENS = {"ivan@example.test": "ya29.ivan-test-token", "judy@example.test": "judy-bearer-token-1"}
MECH_CREDENTIALS = {
    "ntlm": {f"{d}\\{u}": p for (d, u), p in NTLM_USERS.items()}, "digest": DIGEST_USERS,
    "scram": {u: p for u, (_, p) in SCRAM_USERS.items()}, "tokens": TOKENS}


def _fields(data: bytes, at: int) -> bytes:
    length, _, offset = struct.unpack_from("<HHI", data, at)
    return data[offset:offset + length]


def ntlm_challenge(client_flags: int, server_challenge: bytes) -> bytes:
    """A CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for domain EXAMPLE, host MAIL."""
    ess = client_flags & 0x00080000
    flags = 0x00000001 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00010000 | 0x00800000 | 0x20000000 | ess
    target = "EXAMPLE".encode("utf-16-le")

    def av(kind: int, value: bytes) -> bytes:
        return struct.pack("<HH", kind, len(value)) + value

    filetime = struct.pack("<Q", int((time.time() + 11644473600) * 10_000_000))
    info = (av(2, target) + av(1, "MAIL".encode("utf-16-le")) + av(4, "example.test".encode("utf-16-le"))
            + av(3, "mail.example.test".encode("utf-16-le")) + av(7, filetime) + av(0, b""))
    head = 48
    return (b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", len(target), len(target), head)
            + struct.pack("<I", flags) + server_challenge + b"\x00" * 8
            + struct.pack("<HHI", len(info), len(info), head + len(target)) + target + info)


def ntlm_verify(auth: bytes, server_challenge: bytes) -> tuple[str, bool]:
    lm, nt, domain, user = (_fields(auth, at) for at in (12, 20, 28, 36))
    flags = struct.unpack_from("<I", auth, 60)[0]
    enc = "utf-16-le" if flags & 1 else "latin-1"
    user_s, domain_s = user.decode(enc), domain.decode(enc)
    password = NTLM_USERS.get((domain_s.upper(), user_s.lower()))
    if password is None:
        return user_s, False
    nt_hash = ntowfv1(password)
    if len(nt) > 24:  # NTLMv2 (MS-NLMP 3.3.2)
        key = ntowfv2(user_s, nt_hash, domain_s)
        return user_s, hmac.compare_digest(hmac.new(key, server_challenge + nt[16:], "md5").digest(), nt[:16])
    challenge = server_challenge
    if len(lm) == 24 and lm[8:] == b"\x00" * 16:  # NTLMv1 with extended session security
        challenge = hashlib.md5(server_challenge + lm[:8]).digest()[:8]
    return user_s, hmac.compare_digest(desl(nt_hash, challenge), nt)


def _digest_directives(text: str) -> dict[str, str]:
    out = {}
    for k, v in re.findall(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)', text):
        out[k.lower()] = v[1:-1] if v.startswith('"') else v
    return out


def digest_response(d: dict[str, str], password: str, a2_prefix: str) -> str:
    """RFC 2831 2.1.2.1 response-value (a2_prefix "AUTHENTICATE" for the client, "" for rspauth)."""
    h = lambda b: hashlib.md5(b).hexdigest()  # noqa: E731
    a1 = hashlib.md5(f"{d['username']}:{d.get('realm', '')}:{password}".encode()).digest() \
        + f":{d['nonce']}:{d['cnonce']}".encode() + (f":{d['authzid']}".encode() if d.get("authzid") else b"")
    a2 = f"{a2_prefix}:{d['digest-uri']}".encode()
    return h(f"{h(a1)}:{d['nonce']}:{d['nc']}:{d['cnonce']}:{d.get('qop', 'auth')}:{h(a2)}".encode())


class MechHandler(PolicyHandler):
    """PolicyHandler plus NTLM, DIGEST-MD5, SCRAM-SHA-1/256, XOAUTH2 and OAUTHBEARER done for real:
    the challenges are generated here and the responses verified against the users above."""

    def __init__(self) -> None:
        super().__init__(pipelining=True)
        self._scram_users = {}
        for user, (mech, password) in SCRAM_USERS.items():
            m = scramp.ScramMechanism(mech)
            self._scram_users[user] = (mech, m.make_auth_info(password, iteration_count=4096))

    @auth_mechanism("NTLM")
    async def auth_NTLM(self, server, args):
        negotiate = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth(b"")
        if not isinstance(negotiate, bytes) or len(negotiate) < 16:
            return AuthResult(success=False)
        server_challenge = os.urandom(8)
        auth = await server.challenge_auth(ntlm_challenge(struct.unpack_from("<I", negotiate, 12)[0],
                                                          server_challenge))
        if not isinstance(auth, bytes) or len(auth) < 64:
            return AuthResult(success=False)
        user, ok = ntlm_verify(auth, server_challenge)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b""))

    @auth_mechanism("DIGEST-MD5")
    async def auth_DIGEST_MD5(self, server, args):
        nonce = base64.b64encode(os.urandom(12)).decode()
        resp = await server.challenge_auth(
            f'realm="example.test",nonce="{nonce}",qop="auth",charset=utf-8,algorithm=md5-sess'.encode())
        if not isinstance(resp, bytes):
            return AuthResult(success=False)
        d = _digest_directives(resp.decode("utf-8", "replace"))
        password = DIGEST_USERS.get(d.get("username", ""))
        if password is None or d.get("nonce") != nonce or digest_response(d, password, "AUTHENTICATE") != d.get("response"):
            return AuthResult(success=False, handled=False)
        await server.challenge_auth(f"rspauth={digest_response(d, password, '')}".encode())
        return AuthResult(success=True, auth_data=LoginPassword(d["username"].encode(), b""))

    async def _scram_exchange(self, server, args, mech):
        first = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth(b"")
        if not isinstance(first, bytes):
            return AuthResult(success=False)

        def lookup(user):
            m, info = self._scram_users[user]
            if m != mech:
                raise scramp.ScramException("wrong mechanism")
            return info
        s = scramp.ScramMechanism(mech).make_server(lookup)
        attrs = dict(p.split("=", 1) for p in first.decode().split(",")[2:] if "=" in p)
        try:
            s.set_client_first(first.decode())
        except (scramp.ScramException, KeyError):
            return AuthResult(success=False, handled=False)
        final = await server.challenge_auth(s.get_server_first().encode())
        if not isinstance(final, bytes):
            return AuthResult(success=False)
        try:
            s.set_client_final(final.decode())
        except scramp.ScramException:
            return AuthResult(success=False, handled=False)
        await server.challenge_auth(s.get_server_final().encode())
        return AuthResult(success=True, auth_data=LoginPassword(attrs.get("n", "").encode(), b""))

    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server, args):
        return await self._scram_exchange(server, args, "SCRAM-SHA-256")

    @auth_mechanism("SCRAM-SHA-1")
    async def auth_SCRAM_SHA_1(self, server, args):
        return await self._scram_exchange(server, args, "SCRAM-SHA-1")

    async def _bearer(self, server, args, parse):
        data = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth(b"")
        if not isinstance(data, bytes):
            return AuthResult(success=False)
        user, token = parse(data)
        if user is not None and TOKENS.get(user) == token:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = json.dumps({"status": "invalid_token", "schemes": "bearer", "scope": "mail"}).encode()
        await server.challenge_auth(error)  # RFC 7628 3.2.2: the client answers with ^A
        return AuthResult(success=False, handled=False)

    @auth_mechanism("XOAUTH2")
    async def auth_XOAUTH2(self, server, args):
        def parse(data):
            kv = dict(p.split("=", 1) for p in data.decode().split("\x01") if "=" in p)
            return kv.get("user"), kv.get("auth", "").removeprefix("Bearer ")
        return await self._bearer(server, args, parse)

    @auth_mechanism("OAUTHBEARER")
    async def auth_OAUTHBEARER(self, server, args):
        def parse(data):
            head, _, rest = data.decode().partition("\x01")
            user = next((p[2:] for p in head.split(",") if p.startswith("a=")), None)
            kv = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
            return user, kv.get("auth", "").removeprefix("Bearer ")
        return await self._bearer(server, args, parse)


def start_mech_server(host: str, port: int) -> RelayController:
    require_free(host, port)
    c = RelayController(MechHandler(), hostname=host, port=port, server_hostname="mail.example.test",
                        ident="ESMTP", decode_data=False, authenticator=authenticator, auth_require_tls=False,
                        data_size_limit=10_240_000)
    c.start()
    return c


class SlowBannerSMTP(RelaySMTP):
    """aiosmtpd that waits before its greeting, as Sendmail's greet_pause does."""

    greet_pause = 1.5

    async def _handle_client(self):
        await asyncio.sleep(self.greet_pause)
        await super()._handle_client()


class SlowBannerController(RelayController):
    def factory(self):
        return SlowBannerSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):  # the start-up probe connects but does not wait for the paused banner
        with socket.create_connection((self.hostname, self.port), timeout=2):
            pass


def start_slow_banner(host: str, port: int) -> SlowBannerController:
    require_free(host, port)
    c = SlowBannerController(PolicyHandler(), hostname=host, port=port, server_hostname="mail.example.test",
                             ident="ESMTP", decode_data=False, data_size_limit=10_240_000)
    c.start()
    wait_port(host, port)
    return c


def start_open_relay(host: str, port: int, hostname: str = "mail.example.test") -> RelayController:
    """aiosmtpd that accepts every sender and recipient: deliberately an open relay."""
    require_free(host, port)

    class Open:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Ok: queued"
    c = RelayController(Open(), hostname=host, port=port, server_hostname=hostname, ident="ESMTP",
                        decode_data=False)
    c.start()
    return c


class _Threaded:
    """A listening socket served by a thread per connection until stop()."""

    def __init__(self, host: str, port: int) -> None:
        require_free(host, port)
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.workers: list[threading.Thread] = []

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._guard, args=(conn,), daemon=True)
            t.start()
            self.workers.append(t)

    def _guard(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            self.handle(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        for t in self.workers:
            t.join(5)
        self.thread.join(2)
        self.sock.close()


def _readline(f) -> bytes:
    line = f.readline()
    if not line:
        raise ConnectionError("closed")
    return line


class StrippingProxy(_Threaded):
    """A man in the middle in front of a real server, in one of three modes:

    * ``mask``: STARTTLS in the EHLO reply overwritten with XXXXXXXA (Cisco ASA/PIX inspection);
    * ``refuse``: STARTTLS left in the EHLO reply, but the command answered 454 by the proxy;
    * ``banner``: the greeting's text overwritten with '*' and STARTTLS masked, as PIX fixup does.
    """

    def __init__(self, host: str, port: int, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "mask"
        super().__init__(host, port)

    def handle(self, conn: socket.socket) -> None:
        up = socket.create_connection(self.upstream, timeout=10)
        mode = self.mode
        cf, uf = conn.makefile("rb"), up.makefile("rb")
        first = [True]

        def server_to_client():
            try:
                while True:
                    line = _readline(uf)
                    if first[0] and line.startswith(b"220") and mode == "banner":
                        line = b"220 " + b"*" * (len(line) - 6) + b"\r\n"
                    first[0] = False
                    if line[:4] in (b"250-", b"250 ") and line[4:12].upper() == b"STARTTLS" and mode in ("mask", "banner"):
                        line = line[:4] + b"XXXXXXXA" + line[12:]
                    conn.sendall(line)
            except (OSError, ConnectionError):
                pass
            finally:
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        t = threading.Thread(target=server_to_client, daemon=True)
        t.start()
        try:
            while True:
                line = _readline(cf)
                if mode == "refuse" and line.strip().upper() == b"STARTTLS":
                    conn.sendall(b"454 4.7.0 TLS not available due to local problem\r\n")
                    continue
                up.sendall(line)
        except (OSError, ConnectionError):
            pass
        finally:
            try:
                up.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            t.join(5)
            up.close()


class InjectingServer(_Threaded):
    """A server that answers STARTTLS with "220 go ahead" and, in the same write, "250 injected"
    (STARTTLS response injection), then does the TLS handshake and serves EHLO/QUIT inside TLS."""

    def __init__(self, host: str, port: int, cert: tuple) -> None:
        self.ctx = server_ssl_context(*cert)
        super().__init__(host, port)

    def handle(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        conn.sendall(b"220 fake.example.test ESMTP\r\n")
        while True:
            line = _readline(f).strip().upper()
            if line.startswith(b"EHLO"):
                conn.sendall(b"250-fake.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            elif line == b"STARTTLS":
                conn.sendall(b"220 2.0.0 go ahead\r\n250 injected\r\n")
                break
            elif line == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")
        tls = self.ctx.wrap_socket(conn, server_side=True)
        tf = tls.makefile("rb")
        while True:
            line = _readline(tf).strip().upper()
            if line.startswith(b"EHLO"):
                tls.sendall(b"250-fake.example.test\r\n250 PIPELINING\r\n")
            elif line == b"QUIT":
                tls.sendall(b"221 bye\r\n")
                return
            else:
                tls.sendall(b"250 ok\r\n")
