"""Real SMTP traffic on loopback for the live tests: an aiosmtpd server and smtplib clients.

The server accepts mail for most recipients, refuses ``nobody@`` (550 user unknown) and the sender
``spammer@`` (550), and checks AUTH PLAIN/LOGIN against :data:`USERS` over plain text (so the
credentials cross the wire in clear, as the detectors expect to see).  :func:`exchange` runs a
fixed script of sessions with errors and AUTH, including a run of failed logins for one user.
"""
from __future__ import annotations

import smtplib
import socket
import warnings
from email.message import EmailMessage

warnings.filterwarnings("ignore", message=".*login_data is deprecated.*")

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

USERS = {"alice": "wonderland"}
HOST = "127.0.0.1"


class Handler:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.startswith("spammer@"):
            return "550 5.7.1 Sender address rejected: Access denied"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        ok = USERS.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)
    return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int | None = None) -> tuple[Controller, Handler, int]:
    """Start aiosmtpd on loopback (its start-up probe connection happens here, before any capture)."""
    port = port or free_port()
    handler = Handler()
    controller = Controller(handler, hostname=HOST, port=port, server_hostname="mail.example.test",
                            authenticator=authenticator, auth_require_tls=False, decode_data=False)
    controller.start()
    return controller, handler, port


def message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.test>"
    msg["To"] = "bob@example.test"
    msg["Subject"] = f"live test {n}"
    msg.set_content(f"message number {n}\n" + "line of text\n" * 20)
    return msg


def exchange(port: int, failed_logins: int = 5) -> dict:
    """Run the scripted sessions; return what the clients saw (sessions opened, replies refused)."""
    sessions = 0
    # 1: AUTH PLAIN that succeeds, one accepted and one unknown recipient, a message.
    with smtplib.SMTP(HOST, port, local_hostname="client.example.test") as c:
        sessions += 1
        c.ehlo()
        c.login("alice", USERS["alice"])  # smtplib tries CRAM-MD5 then PLAIN; aiosmtpd offers PLAIN/LOGIN
        refused = c.send_message(message(1), to_addrs=["bob@example.test", "nobody@example.test"])
        assert list(refused) == ["nobody@example.test"]
    # 2: refused sender, then a good message in the same session.
    with smtplib.SMTP(HOST, port, local_hostname="client.example.test") as c:
        sessions += 1
        try:
            c.send_message(message(2), from_addr="spammer@example.test", to_addrs=["bob@example.test"])
        except smtplib.SMTPSenderRefused:
            pass
        c.rset()
        c.send_message(message(3), from_addr="alice@example.test", to_addrs=["carol@example.test"])
    # 3..: failed logins for one user (a brute force across sessions).
    for i in range(failed_logins):
        with smtplib.SMTP(HOST, port, local_hostname="client.example.test") as c:
            sessions += 1
            c.ehlo()
            c.user, c.password = "alice", f"guess-{i}"
            try:
                c.auth("LOGIN", c.auth_login)
            except smtplib.SMTPAuthenticationError:
                pass
    return {"sessions": sessions}
