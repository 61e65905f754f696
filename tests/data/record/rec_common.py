"""Shared pieces of the loopback SMTP recorder.

* ``Sniffer``      -- runs tcpdump / dumpcap on loopback, waits until it is
                      listening, stops it with SIGINT and waits for the flush.
* ``Transcript``   -- what one client session actually put on the wire and
                      what it read back, in order.  Every client driver
                      (smtplib, swaks, raw socket) feeds one of these; the
                      ground-truth sidecar is derived from it, never typed.
* ``make_cert``    -- self-signed certificate generated at record time.
* ``write_truth``  -- writes ``<capture>.json``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXED_DATE = "Tue, 04 Jun 2024 10:15:00 +0000"


# ---------------------------------------------------------------------------
# capture
# ---------------------------------------------------------------------------
class Sniffer:
    """tcpdump/dumpcap wrapper.  ``with Sniffer(...) as s:`` starts and stops."""

    def __init__(self, out: Path, bpf: str, *, iface: str = "lo", tool: str = "tcpdump",
                 nano: bool = False, extra: list[str] | None = None):
        self.out = Path(out)
        self.bpf = bpf
        self.iface = iface
        self.tool = tool
        self.nano = nano
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()

    def _argv(self) -> list[str]:
        if self.tool == "tcpdump":
            # -B: immediate mode uses one snaplen-sized ring slot per packet; the
            # default 2 MB ring is only 8 slots of 256 KiB and bursts get dropped
            argv = ["tcpdump", "-i", self.iface, "-U", "--immediate-mode", "-s", "0", "-B", "262144",
                    "-w", str(self.out)]
            if self.nano:
                argv.insert(1, "--time-stamp-precision=nano")
            return argv + self.extra + [self.bpf]
        if self.tool == "dumpcap":
            return ["dumpcap", "-i", self.iface, "-f", self.bpf, "-s", "0", "-q", "-B", "256",
                    "-w", str(self.out)] + self.extra
        raise ValueError(self.tool)

    def _drain(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr_lines.append(line)
            if "listening on" in line or "Capturing on" in line or "File:" in line:
                self._ready.set()
        self._ready.set()

    def start(self) -> "Sniffer":
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.out.exists():
            self.out.unlink()
        self.proc = subprocess.Popen(self._argv(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(15) or self.proc.poll() is not None:
            raise RuntimeError(f"{self.tool} did not start: {self.stderr_lines}")
        time.sleep(0.3)  # the kernel filter is attached before the message; be generous
        return self

    def stop(self) -> None:
        if not self.proc:
            return
        time.sleep(0.6)  # let the last FIN/ACKs arrive
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(5)
        time.sleep(0.1)
        dropped = [l for l in self.stderr_lines if "dropped by kernel" in l]
        if dropped and not dropped[0].startswith("0 "):
            # on -i any the kernel counter also counts non-matching traffic; the
            # caller checks the capture itself (tshark tcp.analysis.lost_segment)
            raise RuntimeError(f"{self.tool}: {dropped[0]}: {self.out.name} is incomplete")
        self.proc = None
        if self.out.exists():
            os.chown(self.out, 0, 0)
            os.chmod(self.out, 0o644)

    def __enter__(self) -> "Sniffer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def port_in_use(host: str, port: int) -> bool:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def require_free(host: str, port: int) -> None:
    if port_in_use(host, port):
        raise SystemExit(
            f"something already listens on {host}:{port}; stop it (e.g. `ss -ltnp "
            f"'sport = :{port}'`) and re-run -- the recorder will not kill processes "
            f"it did not start")


def wait_port(host: str, port: int, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if port_in_use(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {host}:{port}")


# ---------------------------------------------------------------------------
# TLS material
# ---------------------------------------------------------------------------
def make_cert(workdir: Path, cn: str = "mail.example.test") -> tuple[Path, Path]:
    """Self-signed EC certificate (small handshakes) made with openssl now."""
    key = workdir / "server.key"
    crt = workdir / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "3650", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName=DNS:{cn},DNS:localhost,IP:127.0.0.1,IP:::1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True)
    return crt, key


# ---------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unstuff(wire_body: bytes) -> bytes:
    """DATA payload as put on the wire (dot-stuffed, with CRLF.CRLF) -> message."""
    assert wire_body.endswith(b"\r\n.\r\n") or wire_body == b".\r\n", wire_body[-20:]
    body = wire_body[:-3]
    lines = body.split(b"\r\n")
    out = [l[1:] if l.startswith(b".") else l for l in lines]
    return b"\r\n".join(out)


@dataclass
class Event:
    dir: str                      # "C" (client->server) or "S"
    kind: str                     # C: command|auth-response|data-body|bdat-chunk|raw ; S: reply
    line: str = ""                # command line without CRLF
    code: int | None = None
    lines: list[str] = field(default_factory=list)
    data: bytes | None = None     # body bytes (unstuffed DATA content, or BDAT chunk)
    wire_len: int | None = None
    encrypted: bool = False
    t: float = 0.0
    batch: int | None = None      # client writes sent in one go (pipelining)


class Transcript:
    """What one client connection did, in wire order per direction."""

    def __init__(self, client: str, server: str, host: str, port: int, *, tls: str = "none",
                 sni: str | None = None, note: str = ""):
        self.client = client
        self.server = server
        self.host = host
        self.port = port
        self.tls_mode = tls
        self.sni = sni
        self.note = note
        self.events: list[Event] = []
        self.encrypted = tls == "implicit"
        self.client_addr: tuple[str, int] | None = None
        self.auth_creds: list[dict[str, Any]] = []
        self.message_meta: list[dict[str, Any]] = []
        self._batch = 0
        self._in_batch = False
        self.tls_info: dict[str, Any] = {}

    # -- feeding -----------------------------------------------------------
    def begin_batch(self) -> None:
        self._batch += 1
        self._in_batch = True

    def end_batch(self) -> None:
        self._in_batch = False

    def c(self, line: str, kind: str = "command", **kw) -> None:
        self.events.append(Event("C", kind, line=line, encrypted=self.encrypted, t=time.time(),
                                 batch=self._batch if self._in_batch else None, **kw))

    def s(self, code: int, lines: list[str]) -> None:
        self.events.append(Event("S", "reply", code=code, lines=lines,
                                 encrypted=self.encrypted, t=time.time()))

    def tls_started(self, **info) -> None:
        self.encrypted = True
        self.tls_info.update(info)

    def last_reply_code(self) -> int | None:
        for e in reversed(self.events):
            if e.dir == "S":
                return e.code
        return None

    # -- deriving ----------------------------------------------------------
    def pairs(self) -> list[tuple[Event | None, Event | None]]:
        """Client items matched FIFO with server replies (works for pipelining)."""
        items: list[Event | None] = [None]  # the greeting answers no command
        items += [e for e in self.events if e.dir == "C" and e.kind != "raw"]
        replies = [e for e in self.events if e.dir == "S"]
        out = []
        for i, item in enumerate(items):
            out.append((item, replies[i] if i < len(replies) else None))
        return out

    def to_json(self, sid: int) -> dict[str, Any]:
        pairs = self.pairs()
        commands = []
        transcript = []
        for e in self.events:
            d: dict[str, Any] = {"dir": e.dir, "kind": e.kind, "encrypted": e.encrypted}
            if e.dir == "S":
                d["code"] = e.code
                d["lines"] = e.lines
            else:
                if e.kind in ("data-body", "bdat-chunk"):
                    d["bytes"] = len(e.data or b"")
                    if e.wire_len is not None:
                        d["wire_bytes"] = e.wire_len
                else:
                    d["line"] = e.line
                if e.batch is not None:
                    d["pipelined_batch"] = e.batch
            transcript.append(d)
        greeting = pairs[0][1]
        for item, rep in pairs[1:]:
            assert item is not None
            verb, _, arg = item.line.partition(" ")
            entry: dict[str, Any] = {
                "kind": item.kind,
                "reply_code": rep.code if rep else None,
                "reply_text": rep.lines if rep else None,
                "encrypted": item.encrypted,
            }
            if item.kind == "command":
                entry.update(verb=verb.upper(), arg=arg, line=item.line)
            elif item.kind == "bdat-chunk":
                entry.update(verb="BDAT", arg=arg, line=item.line, chunk_bytes=len(item.data or b""))
            elif item.kind == "data-body":
                entry.update(body_bytes=len(item.data or b""))
            else:
                entry.update(line=item.line)
            if item.batch is not None:
                entry["pipelined_batch"] = item.batch
            commands.append(entry)

        # messages: MAIL .. RCPT* .. DATA/BDAT, RSET aborts
        messages: list[dict[str, Any]] = []
        cur: dict[str, Any] | None = None
        bdat_buf = b""
        auths: list[dict[str, Any]] = []
        cur_auth: dict[str, Any] | None = None
        for item, rep in pairs[1:]:
            code = rep.code if rep else None
            verb = item.line.split(" ", 1)[0].upper() if item.kind == "command" else None
            if cur_auth is not None and item.kind == "auth-response":
                cur_auth["responses"].append(item.line)
                cur_auth["reply_codes"].append(code)
                if code != 334:
                    cur_auth["final_code"] = code
                    cur_auth["success"] = code == 235
                    cur_auth = None
                continue
            if verb == "AUTH":
                parts = item.line.split(" ")
                cur_auth = {"mechanism": parts[1].upper(),
                            "initial_response": parts[2] if len(parts) > 2 else None,
                            "line": item.line, "responses": [], "reply_codes": [code],
                            "encrypted": item.encrypted}
                auths.append(cur_auth)
                if code != 334:
                    cur_auth["final_code"] = code
                    cur_auth["success"] = code == 235
                    cur_auth = None
                continue
            if verb == "MAIL":
                cur = {"mail_from": _addr(item.line), "mail_line": item.line,
                       "mail_code": code, "rcpt_to": [], "rcpt_codes": [], "accepted_rcpts": [],
                       "transfer": None, "encrypted": item.encrypted}
                bdat_buf = b""
                if code and code >= 400:
                    cur["final_code"] = None
                    cur["delivered"] = False
                    messages.append(cur)
                    cur = None
                continue
            if verb == "RCPT" and cur is not None:
                a = _addr(item.line)
                cur["rcpt_to"].append(a)
                cur["rcpt_codes"].append(code)
                if code and code < 300:
                    cur["accepted_rcpts"].append(a)
                continue
            if verb == "RSET" and cur is not None:
                cur["aborted_by_rset"] = True
                cur["delivered"] = False
                messages.append(cur)
                cur = None
                continue
            if verb == "DATA" and cur is not None:
                cur["transfer"] = "DATA"
                cur["data_code"] = code
                if code != 354:
                    cur["delivered"] = False
                    messages.append(cur)
                    cur = None
                continue
            if item.kind == "data-body" and cur is not None:
                _finish_msg(cur, item.data or b"", code)
                messages.append(cur)
                cur = None
                continue
            if item.kind == "bdat-chunk" and cur is not None:
                cur["transfer"] = "BDAT"
                cur.setdefault("chunks", []).append({"size": len(item.data or b""), "reply_code": code,
                                                     "last": "LAST" in item.line.upper()})
                bdat_buf += item.data or b""
                if "LAST" in item.line.upper():
                    _finish_msg(cur, bdat_buf, code)
                    messages.append(cur)
                    cur = None
                continue
        if cur is not None:
            cur["delivered"] = False
            messages.append(cur)

        # attach client-side metadata (attachments, creds) in order
        delivered = [m for m in messages if "data_b64" in m]
        for m, meta in zip(delivered, self.message_meta):
            m.update(meta)
        for a, cred in zip(auths, self.auth_creds):
            a.update(cred)

        return {
            "id": sid,
            "client": self.client,
            "server": self.server,
            "server_addr": [self.host, self.port],
            "client_addr": list(self.client_addr) if self.client_addr else None,
            "tls": self.tls_mode,
            "sni": self.sni,
            "tls_info": self.tls_info or None,
            "note": self.note,
            "greeting": {"code": greeting.code, "lines": greeting.lines} if greeting else None,
            "commands": commands,
            "messages": messages,
            "auth": auths,
            "transcript": transcript,
        }


def _addr(line: str) -> str:
    _, _, rest = line.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        return rest[1:rest.index(">")]
    return rest.split(" ")[0]


def _finish_msg(cur: dict[str, Any], data: bytes, code: int | None) -> None:
    cur["final_code"] = code
    cur["delivered"] = bool(code and code < 300)
    cur["size"] = len(data)
    cur["sha256"] = sha256(data)
    cur["data_b64"] = b64(data)
    hdrs = _headers(data)
    cur["headers"] = hdrs


def _headers(data: bytes) -> dict[str, str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    out: dict[str, str] = {}
    name = None
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and name:
            out[name] += "\r\n" + line
            continue
        name, _, val = line.partition(":")
        name = name.strip().lower()
        if name in ("subject", "message-id", "date", "from", "to", "content-type"):
            out[name] = val.strip()
        else:
            name = None
    return out


# ---------------------------------------------------------------------------
def tool_versions() -> dict[str, str]:
    import aiosmtpd
    import platform

    def first(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except Exception:
            return "unavailable"

    v = {
        "python": platform.python_version(),
        "aiosmtpd": aiosmtpd.__version__,
        "tcpdump": first(["tcpdump", "--version"]),
        "dumpcap": first(["dumpcap", "--version"]),
        "openssl": first(["openssl", "version"]),
        "swaks": first(["swaks", "--version"]),
    }
    if shutil.which("postconf"):
        v["postfix"] = first(["postconf", "-h", "mail_version"])
    return v


def capinfo(path: Path) -> dict[str, Any]:
    p = subprocess.run(["capinfos", "-M", "-T", "-r", "-c", "-E", "-t", "-i", str(path)],
                       capture_output=True, text=True)
    cols = p.stdout.strip().split("\t")
    # File name, File type, Encapsulation, Number of packets ...
    info: dict[str, Any] = {}
    if len(cols) >= 4:
        info = {"file_type": cols[1], "encapsulation": cols[2], "packets": int(cols[3])}
    return info


def write_truth(path: Path, capture: Path, description: str, sessions: list[Transcript],
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "capture": capture.name,
        "description": description,
        "generated_by": "tests/data/record/record.py (derived from the clients' own transcripts)",
        "capinfos": capinfo(capture),
        "tools": tool_versions(),
    }
    if extra:
        doc.update(extra)
    doc["sessions"] = [t.to_json(i + 1) for i, t in enumerate(sessions)]
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc
