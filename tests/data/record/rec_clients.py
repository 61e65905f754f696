"""Client drivers that log what they actually did into a Transcript."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

from rec_common import Transcript, unstuff


# ---------------------------------------------------------------------------
# smtplib
# ---------------------------------------------------------------------------
class _RecMixin:
    tr: Transcript
    _pending_body: bytes | None = None

    def putcmd(self, cmd, args=""):
        if getattr(self, "sock", None) is None:  # e.g. the second QUIT of `with SMTP()`
            return super().putcmd(cmd, args)
        line = f"{cmd} {args}" if args else f"{cmd}"
        kind = "auth-response" if self.tr.last_reply_code() == 334 and self._last_was_reply() else "command"
        self.tr.c(line, kind)
        super().putcmd(cmd, args)

    def _last_was_reply(self) -> bool:
        return bool(self.tr.events) and self.tr.events[-1].dir == "S"

    def getreply(self):
        code, msg = super().getreply()
        if code != -1:
            self.tr.s(code, msg.decode("utf-8", "replace").split("\n"))
        return code, msg

    def send(self, s):
        if (self._pending_body is not None and self.tr.last_reply_code() == 354
                and self._last_was_reply()):
            wire = s if isinstance(s, bytes) else s.encode("ascii")
            self.tr.c("", "data-body", data=unstuff(wire), wire_len=len(wire))
            self._pending_body = None
        return super().send(s)

    def data(self, msg):
        self._pending_body = msg
        return super().data(msg)

    def connect(self, host="localhost", port=0, source_address=None):
        r = super().connect(host, port, source_address)
        self.tr.client_addr = self.sock.getsockname()[:2]
        return r

    def starttls(self, *a, **kw):
        if self.tr.sni:
            self._host = self.tr.sni  # smtplib sends _host as SNI; we dialled 127.0.0.1
        r = super().starttls(*a, **kw)
        self.tr.tls_started(version=self.sock.version(), cipher=self.sock.cipher()[0])
        return r


class RecSMTP(_RecMixin, smtplib.SMTP):
    def __init__(self, tr: Transcript, *a, **kw):
        self.tr = tr
        super().__init__(*a, **kw)


class RecSMTP_SSL(_RecMixin, smtplib.SMTP_SSL):
    def __init__(self, tr: Transcript, *a, **kw):
        self.tr = tr
        super().__init__(*a, **kw)

    def _get_socket(self, host, port, timeout):
        # connect to the loopback address but send the SNI of the name we "dial"
        new_socket = socket.create_connection((host, port), timeout, self.source_address)
        return self.context.wrap_socket(new_socket, server_hostname=self.tr.sni or host)

    def connect(self, host="localhost", port=0, source_address=None):
        r = super().connect(host, port, source_address)
        self.tr.tls_started(version=self.sock.version(), cipher=self.sock.cipher()[0])
        return r


def client_tls_context(keylog: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if keylog:
        ctx.keylog_filename = str(keylog)
    return ctx


def cram_md5_response(user: str, password: str, challenge_b64: str) -> str:
    ch = base64.b64decode(challenge_b64)
    digest = hmac.new(password.encode(), ch, hashlib.md5).hexdigest()
    return base64.b64encode(f"{user} {digest}".encode()).decode()


# ---------------------------------------------------------------------------
# swaks: run it, parse its transcript (what it says it sent and read)
# ---------------------------------------------------------------------------
_SW = re.compile(r"^(?P<pfx><\*\*|<~\*|<-|<~| ->| ~>| \*\*\*|\*\*\*|===|\*~\*)\s?(?P<rest>.*)$")


def run_swaks(tr: Transcript, args: list[str], *, timeout: float = 30) -> str:
    # pick the client port ourselves so the sidecar can name the connection
    fam = socket.AF_INET6 if ":" in tr.host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as probe:
        probe.bind((tr.host, 0))
        lport = probe.getsockname()[1]
    tr.client_addr = (tr.host, lport)
    argv = ["swaks", "--server", tr.host, "--port", str(tr.port), "--timeout", "10",
            "--local-interface", tr.host, "--local-port", str(lport),
            "--hide-informational"] + args
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    parse_swaks(tr, out)
    return out


def parse_swaks(tr: Transcript, out: str) -> None:
    in_data = False
    data_lines: list[str] = []
    reply_lines: list[str] = []
    cmd_run: list[str] = []  # consecutive client lines before a reply (pipelining)
    pending_cmds: list[tuple[str, str, bool]] = []

    def flush_cmds():
        nonlocal pending_cmds
        if len(pending_cmds) > 1:
            tr.begin_batch()
        for line, kind, enc in pending_cmds:
            tr.encrypted = enc
            tr.c(line, kind)
        tr.end_batch()
        pending_cmds = []

    last_reply_code = None
    for raw in out.splitlines():
        m = _SW.match(raw)
        if not m:
            continue
        pfx, rest = m.group("pfx"), m.group("rest")
        enc = "~" in pfx
        if pfx in ("<-", "<**", "<~", "<~*"):
            flush_cmds()
            mm = re.match(r"^(\d{3})([ -]?)(.*)$", rest.lstrip())
            if not mm:
                continue
            reply_lines.append(mm.group(1) + mm.group(2) + mm.group(3))
            if mm.group(2) != "-":
                tr.encrypted = enc
                code = int(mm.group(1))
                tr.s(code, [l for l in reply_lines])
                last_reply_code = code
                reply_lines = []
                if code == 220 and tr.events and any(
                        e.dir == "C" and e.line.upper() == "STARTTLS" for e in tr.events[-2:]):
                    tr.tls_started()
        elif pfx in (" ->", " ~>"):
            if in_data:
                if rest == ".":
                    body = ("\r\n".join(data_lines) + "\r\n.\r\n").encode("utf-8")
                    tr.encrypted = enc
                    tr.c("", "data-body", data=unstuff(body), wire_len=len(body))
                    in_data = False
                    data_lines = []
                else:
                    data_lines.append(rest)
                continue
            if last_reply_code == 354 and (not tr.events or tr.events[-1].dir == "S"):
                in_data = True
                data_lines.append(rest)
                continue
            kind = "auth-response" if last_reply_code == 334 else "command"
            pending_cmds.append((rest, kind, enc))
            last_reply_code = None if kind == "command" else last_reply_code
            if kind == "auth-response":
                flush_cmds()
    flush_cmds()


# ---------------------------------------------------------------------------
# raw socket client (pipelining, BDAT)
# ---------------------------------------------------------------------------
class RawClient:
    def __init__(self, tr: Transcript, *, timeout: float = 10):
        self.tr = tr
        fam = socket.AF_INET6 if ":" in tr.host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((tr.host, tr.port))
        self.tr.client_addr = self.sock.getsockname()[:2]
        self.f = self.sock.makefile("rb")
        self.read_reply()

    def read_reply(self) -> int:
        lines = []
        while True:
            raw = self.f.readline()
            if not raw:
                raise ConnectionError("server closed")
            s = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(s)
            if len(s) < 4 or s[3] != "-":
                break
        code = int(lines[0][:3])
        self.tr.s(code, lines)
        return code

    def cmd(self, line: str, kind: str = "command") -> int:
        self.tr.c(line, kind)
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.read_reply()

    def pipeline(self, lines: list[str]) -> list[int]:
        """Send several commands in a single write, then read all replies."""
        self.tr.begin_batch()
        for l in lines:
            self.tr.c(l)
        self.tr.end_batch()
        self.sock.sendall(b"".join(l.encode("utf-8") + b"\r\n" for l in lines))
        return [self.read_reply() for _ in lines]

    def data_body(self, msg: bytes) -> int:
        lines = msg.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines = lines[:-1]
        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"
        self.tr.c("", "data-body", data=unstuff(wire), wire_len=len(wire))
        self.sock.sendall(wire)
        return self.read_reply()

    def bdat(self, chunk: bytes, last: bool = False, *, read: bool = True) -> int | None:
        line = f"BDAT {len(chunk)}" + (" LAST" if last else "")
        self.tr.c(line, "bdat-chunk", data=chunk)
        self.sock.sendall(line.encode() + b"\r\n" + chunk)
        return self.read_reply() if read else None

    def bdat_pipelined(self, chunks: list[bytes], prefix: list[str] | None = None) -> list[int]:
        """MAIL/RCPT (optional) and all BDAT chunks in one write, then all replies."""
        prefix = prefix or []
        self.tr.begin_batch()
        buf = b""
        for l in prefix:
            self.tr.c(l)
            buf += l.encode() + b"\r\n"
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            line = f"BDAT {len(ch)}" + (" LAST" if last else "")
            self.tr.c(line, "bdat-chunk", data=ch)
            buf += line.encode() + b"\r\n" + ch
        self.tr.end_batch()
        self.sock.sendall(buf)
        return [self.read_reply() for _ in range(len(prefix) + len(chunks))]

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.recv(100)
        except OSError:
            pass
        self.sock.close()
