"""Servers for the recorder: an aiosmtpd relay with policy, and a private Postfix."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import ssl
import subprocess
import time
import warnings

warnings.filterwarnings("ignore", message=".*login_data is deprecated.*")
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, auth_mechanism

from rec_common import require_free, wait_port

# --------------------------------------------------------------------------
# policy (shared by every aiosmtpd instance)
# --------------------------------------------------------------------------
USERS = {"alice": "wonderland", "bob@example.test": "s3cr3t-Bob!", "carol": "c@rol-2024"}
UNKNOWN_RCPT = {"nobody@example.test", "ghost@example.test", "no.such.user@example.test"}
GREYLIST_RCPT = {"greylisted@example.test", "later@example.test"}
REJECT_SENDER_550 = {"spammer@bad.test"}
TEMPFAIL_SENDER_451 = {"tempfail@busy.test"}
MAILBOXES = {
    "postmaster": "Postmaster <postmaster@example.test>",
    "alice": "Alice Liddell <alice@example.test>",
    "bob": "Bob Builder <bob@example.test>",
}
LISTS = {"staff": ["alice@example.test", "bob@example.test", "carol@example.test"]}


class PolicyHandler:
    """aiosmtpd handler: accept mail, reject some, answer VRFY, do CRAM-MD5."""
    queued = 0

    def __init__(self, pipelining: bool = True):
        self.received: list[dict] = []
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # aiosmtpd lists "AUTH" with no mechanisms after STARTTLS when all are excluded
        responses = [r for r in responses if r.strip() != "250-AUTH"]
        if self.pipelining:  # aiosmtpd answers pipelined commands in order anyway
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address in REJECT_SENDER_550:
            return "550 5.7.1 Sender address rejected: Access denied"
        if address in TEMPFAIL_SENDER_451:
            return "451 4.3.2 System busy, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in UNKNOWN_RCPT:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        if address.lower() in GREYLIST_RCPT:
            return f"450 4.2.0 <{address}>: Recipient address rejected: Greylisted, see http://postgrey.example.test/"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.original_content or envelope.content})
        PolicyHandler.queued += 1
        return "250 2.0.0 Ok: queued as %05X" % (PolicyHandler.queued * 40961 + 0x1A2B)

    async def handle_VRFY(self, server, session, envelope, address):
        local = address.split("@")[0].lower()
        if local in MAILBOXES:
            return f"250 2.1.5 {MAILBOXES[local]}"
        if "@" not in address and local not in MAILBOXES:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        return "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"

    # CRAM-MD5 (RFC 2195); aiosmtpd looks up auth_* methods on the handler too.
    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server, args):
        if len(args) > 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = b"<1896.697170952@mail.example.test>"
        resp = await server.challenge_auth(challenge)
        if not isinstance(resp, bytes):
            return AuthResult(success=False)
        user, _, digest = resp.decode().rpartition(" ")
        pw = USERS.get(user)
        if pw and hmac.compare_digest(hmac.new(pw.encode(), challenge, hashlib.md5).hexdigest(), digest):
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        return AuthResult(success=False, handled=False)


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        user = auth_data.login.decode()
        ok = USERS.get(user) == auth_data.password.decode()
        # handled=False makes aiosmtpd send "535 5.7.8 Authentication credentials invalid"
        return AuthResult(success=ok, handled=False)
    return AuthResult(success=False, handled=False)


class RelaySMTP(SMTP):
    """aiosmtpd SMTP with EXPN answered (the stock one says 502)."""

    async def smtp_EXPN(self, arg: str):
        name = (arg or "").strip().split("@")[0].lower()
        if not arg:
            await self.push("501 Syntax: EXPN <list>")
        elif name in LISTS:
            members = LISTS[name]
            for m in members[:-1]:
                await self.push(f"250-<{m}>")
            await self.push(f"250 <{members[-1]}>")
        else:
            await self.push(f"550 5.1.1 <{arg}>: no such mailing list")


class RelayController(Controller):
    def factory(self):
        return RelaySMTP(self.handler, **self.SMTP_kwargs)


def server_ssl_context(crt: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def start_aiosmtpd(host: str, port: int, *, hostname: str = "mail.example.test",
                   ident: str = "ESMTP", tls: tuple[Path, Path] | None = None,
                   implicit_tls: bool = False, auth: bool = False, smtputf8: bool = True,
                   require_starttls: bool = False, pipelining: bool = True) -> RelayController:
    """Start (and trigger) one aiosmtpd listener.  Call before the sniffer starts:
    the Controller opens a probe connection of its own at start-up."""
    require_free(host, port)
    kw: dict = dict(hostname=host, port=port, server_hostname=hostname, ident=ident,
                    enable_SMTPUTF8=smtputf8, decode_data=False, data_size_limit=10_240_000)
    if tls and not implicit_tls:
        kw["tls_context"] = server_ssl_context(*tls)
        kw["require_starttls"] = require_starttls
    if implicit_tls:
        assert tls
        kw["ssl_context"] = server_ssl_context(*tls)
    if auth:
        kw["authenticator"] = authenticator
        kw["auth_require_tls"] = False
    else:
        kw["auth_exclude_mechanism"] = ["LOGIN", "PLAIN", "CRAM-MD5"]
    c = RelayController(PolicyHandler(pipelining), **kw)
    c.start()
    return c


# --------------------------------------------------------------------------
# Postfix: private instance under WORKDIR, mail goes to the discard transport
# --------------------------------------------------------------------------
POSTFIX_SERVICES = """\
{listen}   inet  n       -       n       -       -       smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix bound to 127.0.0.1:<port>; delivers everything to discard:."""

    def __init__(self, workdir: Path, port: int, crt: Path, key: Path,
                 hostname: str = "relay.example.test", *, extra: dict | None = None,
                 services: str | None = None, name: str = "postfix", host: str = "127.0.0.1"):
        self.dir = Path(workdir) / name
        self.host = host
        self.extra = dict(extra or {})  # main.cf settings over the defaults below
        self.services = services  # master.cf text ({listen} = 127.0.0.1:port), default POSTFIX_SERVICES
        self.port = port
        self.crt, self.key = crt, key
        self.hostname = hostname
        self.started = False

    def _authorize(self) -> None:
        # `postfix -c DIR` refuses unless DIR is listed in the default main.cf.
        cur = subprocess.run(["postconf", "-h", "alternate_config_directories"],
                             capture_output=True, text=True).stdout.strip()
        dirs = [d for d in cur.replace(",", " ").split() if d]
        if str(self.dir / "etc") not in dirs:
            dirs.append(str(self.dir / "etc"))
            subprocess.run(["postconf", "-e", "alternate_config_directories = " + " ".join(dirs)],
                           check=True)

    def start(self) -> "Postfix":
        if not shutil.which("postfix"):
            raise SystemExit("postfix is not installed: apt-get install -y postfix")
        require_free(self.host, self.port)
        etc = self.dir / "etc"
        for sub in ("etc", "queue", "data"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy("/etc/postfix/main.cf", etc / "main.cf") if not (etc / "main.cf").exists() else None
        (etc / "main.cf").write_text("")
        (etc / "master.cf").write_text((self.services or POSTFIX_SERVICES).format(listen=f"{self.host}:{self.port}"))
        shutil.copy(self.crt, etc / "server.crt")
        shutil.copy(self.key, etc / "server.key")
        os.chmod(etc / "server.key", 0o600)
        for f in ("/etc/services", "/etc/hosts", "/etc/resolv.conf"):
            pass
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.dir / "queue"),
            "data_directory": str(self.dir / "data"),
            "syslog_name": "postfix-smtpsniff",
            "maillog_file": str(self.dir / "maillog"),
            "maillog_file_prefixes": str(self.dir),
            "myhostname": self.hostname,
            "mydomain": "example.test",
            "myorigin": "example.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",  # master.cf names the listening address itself
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "smtpd_banner": "$myhostname ESMTP Postfix (Debian/GNU)",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "default_transport": "discard:recorded",
            "relay_transport": "discard:recorded",
            "local_transport": "discard:recorded",
            "virtual_transport": "discard:recorded",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtpd_tls_cert_file": str(etc / "server.crt"),
            "smtpd_tls_key_file": str(etc / "server.key"),
            "smtpd_tls_security_level": "may",
            "smtpd_tls_session_cache_database": "",
            "smtputf8_enable": "yes",
            "smtpd_discard_ehlo_keywords": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_recipient_restrictions":
                "check_recipient_access inline:{ {nobody@example.test = 550 5.1.1 User unknown},"
                " {greylisted@example.test = 450 4.2.0 Greylisted} }, permit",
            "smtpd_error_sleep_time": "0",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "maximal_queue_lifetime": "1h",
        }
        settings.update(self.extra)
        os.chmod(self.dir.parent, 0o755)
        shutil.chown(self.dir / "data", "postfix", "postfix")
        args = ["postconf", "-c", str(etc), "-e"] + [f"{k} = {v}" for k, v in settings.items()]
        subprocess.run(args, check=True)
        self._authorize()
        subprocess.run(["postfix", "-c", str(etc), "set-permissions"], capture_output=True)
        for step in ("check", "start"):
            if subprocess.run(["postfix", "-c", str(etc), step], capture_output=True).returncode:
                log = (self.dir / "maillog")
                raise RuntimeError(f"postfix {step} failed:\n" + (log.read_text()[-2000:] if log.exists() else ""))
        self.started = True
        wait_port(self.host, self.port)
        time.sleep(0.5)
        return self

    def stop(self) -> None:
        if (self.dir / "maillog").exists():
            bad = [l for l in (self.dir / "maillog").read_text().splitlines()
                   if "fatal" in l or "error:" in l or "panic" in l][-5:]
            if bad:
                print("  postfix log:", *bad, sep="\n    ")
        if self.started:
            subprocess.run(["postfix", "-c", str(self.dir / "etc"), "stop"], capture_output=True)
            self.started = False
            time.sleep(0.5)
        # take our temp dir out of the default main.cf again
        cur = subprocess.run(["postconf", "-h", "alternate_config_directories"],
                             capture_output=True, text=True).stdout.replace(",", " ").split()
        keep = [d for d in cur if d != str(self.dir / "etc")]
        if keep != cur:
            subprocess.run(["postconf", "-e", "alternate_config_directories = " + " ".join(keep)])
