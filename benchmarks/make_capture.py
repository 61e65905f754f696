#!/usr/bin/env python3
"""Build a large mixed classic pcap for the benchmarks, and write its ground truth beside it.

About half the packets are SMTP sessions replayed from transcripts, re-segmented into TCP with a
three-way handshake, delayed ACKs, FINs, random ISNs (some close to 2**32 so they wrap), IPv4 and
IPv6, server ports 25/587/2525, and hundreds of connections open at once.  The rest is noise: HTTP-
and TLS-like TCP flows on 80/443/8080, DNS and other UDP, a little ARP and ICMP.

A transcript is any sequence of ``(direction, bytes)`` chunks.  They come from the SMTP conversations
of the recorded captures (``tests/data/*.pcap``, ``captures/*.pcap``, extracted with tshark's
``follow,tcp,raw``); when there are none, from an embedded generator of realistic Postfix-style
sessions (EHLO, MAIL, RCPT, DATA with a 5-50 KB MIME message, QUIT).

Headers are packed by hand with ``struct`` (scapy builds a few ten thousand packets a second; this
writes several hundred thousand).  TCP/UDP checksums are 0, IPv4 header checksums are correct.
The output is a pure function of the options and the transcripts (``--seed``).

This script must not import smtpsniff: it is what smtpsniff is judged against.

Outputs, for ``--out X.pcap``: ``X.pcap``, ``X.truth.json`` (totals) and ``X.conns.csv`` (one row per
SMTP connection).
"""
from __future__ import annotations

import argparse
import base64
import csv
import glob
import hashlib
import heapq
import ipaddress
import json
import math
import random
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GENERATOR_VERSION = 1

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "work" / "mixed.pcap"
#: Where recorded SMTP sessions are looked for, relative to the repository.
DEFAULT_SOURCES = ("tests/data/*.pcap", "tests/data/*.pcapng", "captures/*.pcap", "captures/*.pcapng")

C2S = "c2s"  # the values of smtpsniff.reassembly.events.Direction, without importing it
S2C = "s2c"
Chunk = tuple[str, bytes]

SMTP_SERVER_PORTS = (25, 587, 2525)
#: Share of the packets each traffic class gets (they add up to 1).
CLASS_SHARES = {"smtp": 0.50, "http": 0.38, "dns": 0.055, "udp": 0.055, "arp": 0.005, "icmp": 0.005}
#: Packets per second of capture time: decides the capture's duration and so how many connections
#: overlap (40k pps puts several hundred SMTP sessions in flight at once).
CAPTURE_PPS = 40_000
START_NS = 1_715_677_200 * 1_000_000_000  # 2024-05-14 09:00:00 UTC
MS = 1_000_000
US = 1_000

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# ------------------------------------------------------------------------------------------------
# transcripts
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Transcript:
    name: str
    chunks: tuple[Chunk, ...]
    bytes_c2s: int
    bytes_s2c: int
    #: Messages whose content was sent in cleartext (DATA ... "." or BDAT ... LAST).
    messages: int


def make_transcript(name: str, chunks: Iterable[Chunk]) -> Transcript:
    merged: list[list] = []
    for direction, data in chunks:
        if direction not in (C2S, S2C):
            raise ValueError(f"direction must be {C2S!r} or {S2C!r}, not {direction!r}")
        if not data:
            continue
        if merged and merged[-1][0] == direction:
            merged[-1][1] += data
        else:
            merged.append([direction, bytearray(data)])
    frozen = tuple((d, bytes(b)) for d, b in merged)
    c2s = sum(len(b) for d, b in frozen if d == C2S)
    s2c = sum(len(b) for d, b in frozen if d == S2C)
    return Transcript(name, frozen, c2s, s2c, count_messages(frozen))


_BDAT = re.compile(rb"BDAT\s+(\d+)(\s+LAST)?\s*$", re.IGNORECASE)


def count_messages(chunks: Sequence[Chunk]) -> int:
    """Messages a client sent in cleartext: DATA sections ended by ".", BDAT chunks marked LAST.

    Counting stops at a STARTTLS the server accepted (a second 220 after the greeting: what follows
    is encrypted); after a refused STARTTLS the client may go on in clear.  A DATA section counts only
    as far as the server sent 354 replies, so a refused DATA followed by commands is not a message.
    """
    client = b"".join(b for d, b in chunks if d == C2S)
    server = b"".join(b for d, b in chunks if d == S2C)
    go_aheads = len(re.findall(rb"(?m)^354[ -]", server))
    starttls_accepted = len(re.findall(rb"(?m)^220 ", server)) >= 2
    data_sections = bdat_last = 0
    pos, n = 0, len(client)
    in_data = False
    while pos < n:
        end = client.find(b"\r\n", pos)
        line = client[pos:end if end >= 0 else n]
        pos = n if end < 0 else end + 2
        if in_data:
            if line == b".":
                in_data = False
                data_sections += 1
            continue
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"STARTTLS" and starttls_accepted:
            break
        if verb == b"DATA" and line.strip().upper() == b"DATA":
            in_data = True
        elif verb == b"BDAT":
            m = _BDAT.match(line)
            if not m:
                continue
            pos += int(m.group(1))
            bdat_last += bool(m.group(2))
    return min(data_sections, go_aheads) + bdat_last


# --- recorded sessions ---------------------------------------------------------------------------

def _tshark_follow(path: str, streams: Sequence[int]) -> list[list[Chunk]]:
    """Each stream's chunks, client (tshark's node 0) as C2S, via ``tshark -z follow,tcp,raw``."""
    cmd = ["tshark", "-r", path, "-q"]
    for s in streams:
        cmd += ["-z", f"follow,tcp,raw,{s}"]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=600).stdout.decode("ascii", "replace")
    result = []
    for block in out.split("Follow: tcp,raw")[1:]:
        chunks: list[Chunk] = []
        for line in block.splitlines():
            text = line.strip()
            if not text or not re.fullmatch(r"[0-9a-fA-F]+", text) or len(text) % 2:
                continue
            chunks.append((S2C if line.startswith("\t") else C2S, bytes.fromhex(text)))
        result.append(chunks)
    return result


def load_recorded_transcripts(patterns: Sequence[str], *, log=print) -> list[Transcript]:
    """SMTP conversations of the captures matching ``patterns`` (globs relative to the repository).

    A TCP conversation counts as SMTP when the server speaks first with a 220 greeting and the
    client answers with EHLO or HELO; the port does not matter.  Identical conversations are kept once.
    """
    files = sorted({p for pat in patterns for p in glob.glob(str(REPO / pat) if not Path(pat).is_absolute() else pat)})
    if not files or not shutil.which("tshark"):
        return []
    found: dict[str, Transcript] = {}
    for path in files:
        try:
            listing = subprocess.run(
                ["tshark", "-r", path, "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.stream"],
                capture_output=True, check=True, timeout=600).stdout.split()
        except (subprocess.SubprocessError, OSError) as exc:
            log(f"  skipping {path}: {exc}")
            continue
        streams = sorted({int(s) for s in listing})
        for i in range(0, len(streams), 200):
            try:
                followed = _tshark_follow(path, streams[i:i + 200])
            except (subprocess.SubprocessError, OSError) as exc:
                log(f"  skipping part of {path}: {exc}")
                continue
            for chunks in followed:
                if not chunks:
                    continue
                if chunks[0][0] == C2S:
                    # tshark's node 0 sent first: swap if that was the server's greeting.
                    if not chunks[0][1].startswith(b"220"):
                        continue
                    chunks = [(S2C if d == C2S else C2S, b) for d, b in chunks]
                first_client = next((b for d, b in chunks if d == C2S), b"")
                if not chunks[0][1].startswith(b"220") or first_client[:5].upper() not in (b"EHLO ", b"HELO "):
                    continue
                t = make_transcript(f"{Path(path).name}#{len(found)}", chunks)
                key = hashlib.sha256(repr(t.chunks).encode()).hexdigest()  # merged: segmentation ignored
                found.setdefault(key, t)
    return sorted(found.values(), key=lambda t: t.name)


# --- embedded sessions ---------------------------------------------------------------------------

_WORDS = ["invoice", "quarterly", "report", "meeting", "schedule", "attached", "please", "review", "the", "figures", "before", "Thursday", "we", "agreed", "budget", "revision", "shipping", "delay", "customer", "account", "update", "password", "reset", "request", "project", "milestone", "draft", "contract", "signature", "approval", "thanks", "regards"]


def _text_body(rng: random.Random, lines: int) -> list[str]:
    out = []
    for i in range(lines):
        out.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12))).capitalize() + ".")
        if i % 7 == 6:
            out.append("")
    out.append(".signature line that starts with a dot (dot-stuffed on the wire)")
    return out


def _mime_message(rng: random.Random, sender: str, rcpts: list[str], size: int, n: int) -> bytes:
    boundary = f"=_boundary_{rng.getrandbits(64):016x}"
    day = 14 + n % 10
    headers = [
        f"Received: from client{n}.example.org (client{n}.example.org [198.51.100.{n % 250 + 1}])",
        f"\tby mx.example.net (Postfix) with ESMTPS id {rng.getrandbits(40):010X}",
        f"\tfor <{rcpts[0]}>; Tue, {day} May 2024 09:{n % 60:02d}:{(n * 7) % 60:02d} +0000 (UTC)",
        f"From: \"Sender {n}\" <{sender}>",
        "To: " + ", ".join(f"<{r}>" for r in rcpts),
        f"Subject: {' '.join(rng.choice(_WORDS) for _ in range(5)).title()}",
        f"Date: Tue, {day} May 2024 09:{n % 60:02d}:{(n * 7) % 60:02d} +0000",
        f"Message-ID: <{rng.getrandbits(64):016x}.{n}@example.org>",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"",
        "",
        "This is a multi-part message in MIME format.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *_text_body(rng, rng.randint(8, 40)),
        "",
        f"--{boundary}",
        f"Content-Type: application/pdf; name=\"report-{n}.pdf\"",
        "Content-Transfer-Encoding: base64",
        f"Content-Disposition: attachment; filename=\"report-{n}.pdf\"",
        "",
    ]
    text = "\r\n".join(headers) + "\r\n"
    room = max(size - len(text) - 100, 300)
    raw = rng.randbytes(room * 3 // 4)
    b64 = base64.b64encode(raw).decode()
    text += "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + f"\r\n--{boundary}--\r\n"
    # RFC 5321 4.5.2: a line starting with "." gets one more.
    stuffed = re.sub(r"(?m)^\.", "..", text)
    return stuffed.encode()


def embedded_transcript(rng: random.Random, n: int, message: Callable | None = None) -> Transcript:
    """A realistic session with a Postfix-like server: 1 or 2 messages of 5-50 KB, maybe pipelined.

    ``message(rng, sender, rcpts, n)``, when given, writes each message instead of the 5-50 KB MIME one."""
    host = f"client{n}.example.org"
    chunks: list[Chunk] = [(S2C, b"220 mx.example.net ESMTP Postfix (Debian/GNU)\r\n"),
                           (C2S, f"EHLO {host}\r\n".encode()),
                           (S2C, (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n"
                                  b"250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                                  b"250-SMTPUTF8\r\n250 CHUNKING\r\n"))]
    pipelined = rng.random() < 0.3
    messages = 2 if rng.random() < 0.15 else 1
    for m in range(messages):
        sender = f"user{n}.{m}@example.org"
        rcpts = [f"rcpt{n}.{i}@example.net" for i in range(rng.randint(1, 3))]
        unknown = rng.random() < 0.2
        body = (_mime_message(rng, sender, rcpts, rng.randint(5_000, 50_000), n) if message is None
                else message(rng, sender, rcpts, n))
        mail = f"MAIL FROM:<{sender}> SIZE={len(body)}\r\n".encode()
        rcpt_cmds = [f"RCPT TO:<{r}>\r\n".encode() for r in rcpts]
        rcpt_replies = [b"250 2.1.5 Ok\r\n"] * len(rcpts)
        if unknown:
            rcpt_cmds.append(f"RCPT TO:<nobody{n}@example.net>\r\n".encode())
            rcpt_replies.append(f"550 5.1.1 <nobody{n}@example.net>: Recipient address rejected: "
                                f"User unknown in local recipient table\r\n".encode())
        if pipelined:
            chunks += [(C2S, mail + b"".join(rcpt_cmds) + b"DATA\r\n"),
                       (S2C, b"250 2.1.0 Ok\r\n" + b"".join(rcpt_replies)
                        + b"354 End data with <CR><LF>.<CR><LF>\r\n")]
        else:
            chunks += [(C2S, mail), (S2C, b"250 2.1.0 Ok\r\n")]
            for cmd, reply in zip(rcpt_cmds, rcpt_replies):
                chunks += [(C2S, cmd), (S2C, reply)]
            chunks += [(C2S, b"DATA\r\n"), (S2C, b"354 End data with <CR><LF>.<CR><LF>\r\n")]
        chunks += [(C2S, body + b".\r\n"),
                   (S2C, f"250 2.0.0 Ok: queued as {rng.getrandbits(40):010X}\r\n".encode())]
    chunks += [(C2S, b"QUIT\r\n"), (S2C, b"221 2.0.0 Bye\r\n")]
    t = make_transcript(f"embedded#{n}", chunks)
    assert t.messages == messages, (t.messages, messages)
    return t


def embedded_transcripts(seed: int, count: int = 64) -> list[Transcript]:
    rng = random.Random(f"embedded-{seed}")
    return [embedded_transcript(rng, n) for n in range(count)]


# --- realistic mail ------------------------------------------------------------------------------
# Messages as relays and mail clients write them, each with values of its own: a chain of Received
# fields in the shapes of Postfix, Exim, Exchange and Gmail, a DKIM-Signature, From/To/Cc with
# non-ASCII display names and a non-ASCII Subject (RFC 2047 encoded words, as Python's email package
# writes them), a text part, often an HTML alternative, sometimes an attachment with a non-ASCII name.

_NAMES = ("José Müller", "Zoë Ångström", "李小龙", "Иван Петров", "Alice Smith", "Bob O'Neil",
          "Françoise Dupont", "Søren Kierkegaard", "Ana Lúcia Gonçalves", "Jürgen Weiß")
_SUBJECTS = ("Réunion de projet – compte rendu", "Quarterly report Q{n}", "Ваш заказ отправлен",
             "会议通知：下周一", "Invoice #{n} due", "Re: Fwd: Überweisung bestätigt", "Lunch?",
             "Security alert for your account", "Açúcar e café: pedido {n}", "Your ticket #{n} was updated")


def _mail_date(day: int, hour: int, minute: int, second: int) -> str:
    """An RFC 5322 date-time of May 2024, UTC, its day name right, as mail software writes one."""
    from datetime import datetime, timezone
    from email.utils import format_datetime

    return format_datetime(datetime(2024, 5, day, hour, minute, second, tzinfo=timezone.utc))


def _realistic_received(rng: random.Random, n: int, hop: int) -> str:
    host = f"mx{hop}.relay{rng.randint(1, 99)}.example.net"
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    date = _mail_date(1 + n % 28, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    shape = rng.randrange(4)
    if shape == 0:
        return (f"from {host} ({host} [{ip}])\r\n\tby mail.example.org (Postfix) with ESMTPS id "
                f"{rng.getrandbits(40):010X}\r\n\tfor <user{n}@example.org>; {date}")
    if shape == 1:
        return (f"from [{ip}] (helo={host})\r\n\tby relay.example.com with esmtpsa (TLS1.3) tls "
                f"TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t(envelope-from <bounce{n}@example.com>)\r\n"
                f"\tid 1t{rng.getrandbits(30):x}-000{hop}; {date}")
    if shape == 2:
        return (f"from EX{hop}.corp.example ({ip}) by EX{hop + 1}.corp.example\r\n ({ip}) with Microsoft SMTP "
                f"Server (version=TLS1_2,\r\n cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id "
                f"15.1.2507.{rng.randint(1, 40)}; {date}")
    return (f"by 2002:a05:6{rng.randint(100, 999)}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x} with SMTP id "
            f"{rng.getrandbits(48):x};\r\n        {date}")


def realistic_message(rng: random.Random, sender: str, rcpts: list[str], n: int) -> bytes:
    """One message as a mail client and its relays would have written it (see above)."""
    from email import policy
    from email.headerregistry import Address
    from email.message import EmailMessage

    m = EmailMessage(policy=policy.SMTP)
    local, domain = sender.split("@")
    m["From"] = Address(rng.choice(_NAMES), local, domain)
    m["To"] = [Address(rng.choice(_NAMES), *r.split("@")) for r in rcpts]
    if rng.random() < 0.4:
        m["Cc"] = [Address(rng.choice(_NAMES), f"cc{n}.{k}", "example.net") for k in range(rng.randint(1, 3))]
    m["Subject"] = rng.choice(_SUBJECTS).replace("{n}", str(n))
    m["Date"] = _mail_date(1 + n % 28, 9, n % 60, (n * 7) % 60)
    m["Message-ID"] = f"<{rng.getrandbits(64):016x}.{n}@example.com>"
    m["List-Unsubscribe"] = f"<mailto:unsubscribe-{n}@example.com>"
    body = "\n".join(_text_body(rng, rng.randint(4, 30))) + "\nCafé, naïve, façade – à bientôt.\n"
    m.set_content(body)
    if rng.random() < 0.6:
        m.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
    if rng.random() < 0.4:
        m.add_attachment(rng.randbytes(rng.randint(500, 20_000)), maintype="application", subtype="pdf",
                         filename=f"Rechnung-{n}-März.pdf")
    for part in m.walk():  # the stdlib draws boundaries from the unseeded global random
        if part.is_multipart():
            part.set_boundary(f"=_part_{rng.getrandbits(64):016x}")
    trace = "".join(f"Received: {_realistic_received(rng, n, hop)}\r\n" for hop in range(rng.randint(2, 7)))
    signature = base64.b64encode(rng.randbytes(256)).decode()
    dkim = (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel{n % 7};\r\n"
            f"\th=from:to:subject:date:message-id;\r\n\tbh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
            "\tb=" + "\r\n\t ".join(signature[i:i + 72] for i in range(0, len(signature), 72)) + "\r\n")
    text = (trace + dkim).encode() + m.as_bytes(policy=policy.SMTP)
    return re.sub(rb"(?m)^\.", b"..", text)  # RFC 5321 4.5.2: dot-stuffed on the wire


def realistic_transcripts(seed: int, count: int = 20_000) -> list[Transcript]:
    """``count`` Postfix-like sessions as :func:`embedded_transcript`, each with a message of its own
    from :func:`realistic_message`."""
    rng = random.Random(f"realistic-{seed}")
    return [embedded_transcript(rng, n, message=realistic_message) for n in range(count)]


# ------------------------------------------------------------------------------------------------
# packets
# ------------------------------------------------------------------------------------------------

_ETH_IP4_TCP = struct.Struct("!6s6sH" "BBHHHBBH4s4s" "HHIIBBHHH")
_ETH_IP6_TCP = struct.Struct("!6s6sH" "IHBB16s16s" "HHIIBBHHH")
_ETH_IP4_UDP = struct.Struct("!6s6sH" "BBHHHBBH4s4s" "HHHH")
_ETH_IP6_UDP = struct.Struct("!6s6sH" "IHBB16s16s" "HHHH")
_ETH_IP4 = struct.Struct("!6s6sH" "BBHHHBBH4s4s")
_ETH_IP6 = struct.Struct("!6s6sH" "IHBB16s16s")
_REC = struct.Struct("<IIII")


def _mac(ip: bytes) -> bytes:
    return b"\x02" + hashlib.blake2s(ip, digest_size=5).digest()


def _words(b: bytes) -> int:
    return sum(struct.unpack(f"!{len(b) // 2}H", b))


def _sum16(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    return sum(memoryview(b).cast("H").tolist())  # native order; _fold_native swaps back


def _internet_checksum(b: bytes, pseudo: int = 0) -> int:
    """RFC 1071 checksum of ``b`` plus a pseudo-header sum (in network order words)."""
    s = _sum16(b)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    if sys.byteorder == "little":
        s = ((s & 0xFF) << 8) | (s >> 8)
    return _fold(s + pseudo)


def _fold(s: int) -> int:
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Path2:
    """One direction between two hosts: packs Ethernet + IP (+ TCP/UDP) headers for it."""

    __slots__ = ("csum_base", "dmac", "dst", "ip_id", "smac", "src", "ttl", "v6", "window")

    def __init__(self, src: bytes, dst: bytes, rng: random.Random) -> None:
        self.src, self.dst = src, dst
        self.v6 = len(src) == 16
        self.smac, self.dmac = _mac(src), _mac(dst)
        self.ttl = rng.choice((64, 64, 128, 52, 47))
        self.ip_id = rng.getrandbits(16)
        self.window = rng.choice((502, 64240, 65160, 29200, 1024))
        self.csum_base = 0x4500 + 0x4000 + _words(src) + _words(dst)

    def _ip4(self, proto: int, total: int) -> tuple[int, int]:
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        return self.ip_id, _fold(self.csum_base + (self.ttl << 8 | proto) + total + self.ip_id)

    def tcp(self, sport: int, dport: int, seq: int, ack: int, flags: int, opts: bytes, payload: bytes) -> bytes:
        hl = 20 + len(opts)
        if self.v6:
            head = _ETH_IP6_TCP.pack(self.dmac, self.smac, 0x86DD, 0x60000000, hl + len(payload), 6, self.ttl,
                                     self.src, self.dst, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                     hl << 2, flags, self.window, 0, 0)
        else:
            total = 20 + hl + len(payload)
            ip_id, csum = self._ip4(6, total)
            head = _ETH_IP4_TCP.pack(self.dmac, self.smac, 0x0800, 0x45, 0, total, ip_id, 0x4000, self.ttl, 6,
                                     csum, self.src, self.dst, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                     hl << 2, flags, self.window, 0, 0)
        return head + opts + payload if opts else head + payload

    def udp(self, sport: int, dport: int, payload: bytes) -> bytes:
        ulen = 8 + len(payload)
        if self.v6:  # RFC 8200 8.1: the UDP checksum is mandatory over IPv6
            csum = _internet_checksum(payload, _words(self.src) + _words(self.dst) + 2 * ulen + 17 + sport + dport)
            head = _ETH_IP6_UDP.pack(self.dmac, self.smac, 0x86DD, 0x60000000, ulen, 17, self.ttl,
                                     self.src, self.dst, sport, dport, ulen, csum or 0xFFFF)
        else:
            ip_id, csum = self._ip4(17, 20 + ulen)
            head = _ETH_IP4_UDP.pack(self.dmac, self.smac, 0x0800, 0x45, 0, 20 + ulen, ip_id, 0x4000, self.ttl,
                                     17, csum, self.src, self.dst, sport, dport, ulen, 0)
        return head + payload

    def icmp(self, message: bytearray) -> bytes:
        """ICMP (or ICMPv6 over IPv6) with its checksum filled in at bytes 2-3."""
        if self.v6:
            pseudo = _words(self.src) + _words(self.dst) + len(message) + 58
            message[2:4] = struct.pack("!H", _internet_checksum(bytes(message), pseudo))
            return self.ip_raw(58, bytes(message))
        message[2:4] = struct.pack("!H", _internet_checksum(bytes(message)))
        return self.ip_raw(1, bytes(message))

    def ip_raw(self, proto: int, payload: bytes) -> bytes:
        if self.v6:
            return _ETH_IP6.pack(self.dmac, self.smac, 0x86DD, 0x60000000, len(payload), proto, self.ttl,
                                 self.src, self.dst) + payload
        ip_id, csum = self._ip4(proto, 20 + len(payload))
        return _ETH_IP4.pack(self.dmac, self.smac, 0x0800, 0x45, 0, 20 + len(payload), ip_id, 0x4000, self.ttl,
                             proto, csum, self.src, self.dst) + payload


Packets = list[tuple[int, int, bytes]]  # (ts_ns, order within the connection, frame)


@dataclass(slots=True)
class TcpStats:
    retransmitted: int = 0
    reordered: int = 0
    packets: int = 0


def _lognormal_ns(rng: random.Random, median_ms: float, sigma: float, lo_ms: float, hi_ms: float) -> int:
    return int(min(max(rng.lognormvariate(math.log(median_ms), sigma), lo_ms), hi_ms) * MS)


def tcp_conversation(rng: random.Random, client: bytes, cport: int, server: bytes, sport: int,
                     chunks: Sequence[Chunk], t0: int, *, isn_c: int, isn_s: int,
                     reply_delay: Callable[[random.Random, bytes, int], int],
                     retransmit_rate: float, reorder_rate: float, stats: TcpStats) -> Packets:
    """The packets of one TCP connection carrying ``chunks``, as seen by a tap next to the server.

    The client's packets are seen when they arrive, the server's when they leave: a server reply
    follows the client's last segment after ``reply_delay``; the client's next command follows one
    round trip (plus thinking) after the server's last segment.
    """
    up, down = Path2(client, server, rng), Path2(server, client, rng)
    v6 = len(client) == 16
    mss = rng.choice((1460, 1448, 1460, 1380, 536)) - (20 if v6 else 0)
    rtt = _lognormal_ns(rng, 25, 1.0, 0.2, 400)
    tsopt = rng.random() < 0.5
    out: Packets = []
    order = 0
    tsval = {C2S: rng.getrandbits(31), S2C: rng.getrandbits(31)}

    def emit(ts: int, d: str, seq: int, ack: int, flags: int, payload: bytes = b"", syn_opts: bytes = b"") -> None:
        nonlocal order
        if syn_opts:
            opts = syn_opts
        elif tsopt:
            opts = struct.pack("!BBBBII", 1, 1, 8, 10, (tsval[d] + ts // MS) & 0xFFFFFFFF, tsval[S2C if d == C2S else C2S])
        else:
            opts = b""
        if d == C2S:
            frame = up.tcp(cport, sport, seq, ack, flags, opts, payload)
        else:
            frame = down.tcp(sport, cport, seq, ack, flags, opts, payload)
        out.append((ts, order, frame))
        order += 1

    def syn_opts(m: int) -> bytes:
        # MSS, then SACK-permitted and window scale (Linux's order, NOP-padded to 32 bits) or nothing more
        return struct.pack("!BBH", 2, 4, m) + (b"\x01\x01\x04\x02\x01\x03\x03\x07" if rng.random() < 0.7 else b"")

    nxt = {C2S: isn_c + 1, S2C: isn_s + 1}
    proc = rng.randint(20, 200) * US
    t = t0
    emit(t, C2S, isn_c, 0, TCP_SYN, syn_opts=syn_opts(mss))
    t += proc
    emit(t, S2C, isn_s, isn_c + 1, TCP_SYN | TCP_ACK, syn_opts=syn_opts(mss))
    t += rtt
    emit(t, C2S, isn_c + 1, isn_s + 1, TCP_ACK)
    prev_dir, prev_data = C2S, b""
    for i, (d, data) in enumerate(chunks):
        peer = S2C if d == C2S else C2S
        if d == S2C:
            t += reply_delay(rng, prev_data, i) if prev_dir == C2S else 30 * US
        else:
            t += (rtt + (_lognormal_ns(rng, 1.5, 1.2, 0.05, 3000)) if prev_dir == S2C else 50 * US)
        # client data crosses a slower bottleneck than what the server sends
        spacing = (rng.randint(80, 400) if d == C2S else rng.randint(12, 60)) * US
        peer_next = chunks[i + 1][0] if i + 1 < len(chunks) else None
        n_segs = -(-len(data) // mss)
        for k in range(n_segs):
            seg = data[k * mss:(k + 1) * mss]
            seq = nxt[d]
            ts = t + k * spacing
            last = k == n_segs - 1
            if not last and rng.random() < reorder_rate:
                ts += spacing + US  # overtaken by the next segment
                stats.reordered += 1
            emit(ts, d, seq, nxt[peer], TCP_PSH | TCP_ACK if last else TCP_ACK, seg)
            if rng.random() < retransmit_rate:
                emit(ts + max(3 * rtt, 2 * MS), d, seq, nxt[peer], TCP_ACK, seg)  # spurious retransmission
                stats.retransmitted += 1
            nxt[d] += len(seg)
            # the receiver ACKs every second segment, and the last one unless its reply carries the ACK
            if (k % 2 == 1 and not last) or (last and peer_next != peer):
                ack_ts = ts + (rtt if d == S2C else 40 * US)
                emit(ack_ts, peer, nxt[peer], nxt[d], TCP_ACK)
        t += (n_segs - 1) * spacing
        prev_dir, prev_data = d, data
    # close
    t += rng.randint(100, 2000) * US
    if rng.random() < 0.7:  # the server closes after its 221
        emit(t, S2C, nxt[S2C], nxt[C2S], TCP_FIN | TCP_ACK)
        nxt[S2C] += 1
        t += rtt
        emit(t, C2S, nxt[C2S], nxt[S2C], TCP_FIN | TCP_ACK)
        nxt[C2S] += 1
        emit(t + 40 * US, S2C, nxt[S2C], nxt[C2S], TCP_ACK)
    else:
        t += rtt
        emit(t, C2S, nxt[C2S], nxt[S2C], TCP_FIN | TCP_ACK)
        nxt[C2S] += 1
        t += 60 * US
        emit(t, S2C, nxt[S2C], nxt[C2S], TCP_FIN | TCP_ACK)
        nxt[S2C] += 1
        emit(t + rtt, C2S, nxt[C2S], nxt[S2C], TCP_ACK)
    out.sort()
    stats.packets += len(out)
    return out


def smtp_reply_delay(rng: random.Random, after: bytes, index: int) -> int:
    if index == 0:  # greeting: DNS checks, postscreen
        return _lognormal_ns(rng, 20, 1.5, 0.3, 6000)
    if after.endswith(b"\r\n.\r\n"):  # end of data: content filters, queueing
        return _lognormal_ns(rng, 120, 1.0, 5, 5000)
    return _lognormal_ns(rng, 0.3, 1.0, 0.02, 200)


def http_reply_delay(rng: random.Random, after: bytes, index: int) -> int:
    return _lognormal_ns(rng, 8, 1.3, 0.1, 3000)


# ------------------------------------------------------------------------------------------------
# the capture
# ------------------------------------------------------------------------------------------------

@dataclass
class Truth:
    packets: int = 0
    classes: dict = field(default_factory=lambda: {c: {"packets": 0, "flows": 0} for c in CLASS_SHARES})
    smtp_connections: int = 0
    smtp_connections_ipv6: int = 0
    smtp_connections_by_port: dict = field(default_factory=lambda: {str(p): 0 for p in SMTP_SERVER_PORTS})
    smtp_isn_wraps: int = 0
    smtp_bytes_c2s: int = 0
    smtp_bytes_s2c: int = 0
    smtp_messages: int = 0
    noise_tcp_connections: int = 0
    noise_tcp_bytes: int = 0
    max_open_smtp_connections: int = 0
    max_open_connections: int = 0
    retransmitted_segments: int = 0
    reordered_segments: int = 0


class Generator:
    def __init__(self, rng: random.Random, transcripts: Sequence[Transcript], args: argparse.Namespace) -> None:
        self.rng = rng
        self.transcripts = transcripts
        self.args = args
        self.truth = Truth()
        self.tcp_stats = TcpStats()
        self.tuples: set[tuple] = set()
        self.conn_rows: list[tuple] = []
        self.blob = rng.randbytes(1 << 20)  # payload filler for noise
        self.smtp_servers4 = [bytes([192, 0, 2, i]) for i in (10, 11, 12, 25, 26, 40, 41, 99)]
        self.smtp_servers6 = [ipaddress.IPv6Address(f"2001:db8:25::{i:x}").packed for i in (10, 25, 0x99)]
        self.web_servers4 = [bytes([203, 0, 113, i]) for i in range(1, 60)]
        self.web_servers6 = [ipaddress.IPv6Address(f"2001:db8:80::{i:x}").packed for i in range(1, 12)]
        self.dns4, self.dns6 = bytes([10, 0, 0, 53]), ipaddress.IPv6Address("2001:db8:53::53").packed

    # --- addresses --------------------------------------------------------------------------------
    def client4(self) -> bytes:
        r = self.rng
        net = r.random()
        if net < 0.4:
            return bytes([198, 51, 100, r.randint(1, 254)])
        if net < 0.7:
            return bytes([10, r.randint(0, 15), r.randint(0, 255), r.randint(1, 254)])
        return bytes([r.choice((45, 81, 93, 145, 185, 212)), r.randint(0, 255), r.randint(0, 255), r.randint(1, 254)])

    def client6(self) -> bytes:
        return ipaddress.IPv6Address((0x20010DB8_0C00 << 80) | self.rng.getrandbits(64)).packed

    def unique_port(self, client: bytes, server: bytes, sport: int, lo: int, hi: int, avoid: frozenset) -> int:
        while True:
            p = self.rng.randint(lo, hi)
            key = (client, p, server, sport)
            if p not in avoid and key not in self.tuples:
                self.tuples.add(key)
                return p

    def isn(self) -> tuple[int, bool]:
        if self.rng.random() < 0.05:  # close to 2**32: the sequence numbers wrap within the session
            return (1 << 32) - self.rng.randint(1, 60_000), True
        return self.rng.getrandbits(32), False

    # --- traffic classes: each returns the packets of one flow ------------------------------------
    def smtp(self, t0: int) -> Packets:
        r = self.rng
        tr = r.choice(self.transcripts)
        v6 = r.random() < 0.12
        server = r.choice(self.smtp_servers6 if v6 else self.smtp_servers4)
        client = self.client6() if v6 else self.client4()
        sport = r.choices(SMTP_SERVER_PORTS, weights=(6, 3, 1))[0]
        cport = self.unique_port(client, server, sport, 1024, 65535, AVOID_CLIENT_PORTS)
        isn_c, isn_s = self.isn()[0], self.isn()[0]
        pk = tcp_conversation(r, client, cport, server, sport, tr.chunks, t0, isn_c=isn_c, isn_s=isn_s,
                              reply_delay=smtp_reply_delay, retransmit_rate=self.args.retransmit_rate,
                              reorder_rate=self.args.reorder_rate, stats=self.tcp_stats)
        t = self.truth
        t.smtp_connections += 1
        t.smtp_connections_ipv6 += v6
        t.smtp_connections_by_port[str(sport)] += 1
        wraps = (isn_c + 1 + tr.bytes_c2s + 1 > 1 << 32) or (isn_s + 1 + tr.bytes_s2c + 1 > 1 << 32)
        t.smtp_isn_wraps += wraps
        t.smtp_bytes_c2s += tr.bytes_c2s
        t.smtp_bytes_s2c += tr.bytes_s2c
        t.smtp_messages += tr.messages
        self.conn_rows.append((pk[0][0], str(ipaddress.ip_address(client)), cport, str(ipaddress.ip_address(server)),
                               sport, 6 if v6 else 4, tr.bytes_c2s, tr.bytes_s2c, tr.messages, int(wraps), tr.name))
        return pk

    def http(self, t0: int) -> Packets:
        r = self.rng
        v6 = r.random() < 0.15
        server = r.choice(self.web_servers6 if v6 else self.web_servers4)
        client = self.client6() if v6 else bytes([10, 1, r.randint(0, 255), r.randint(1, 254)])
        sport = r.choices((443, 80, 8080), weights=(6, 3, 1))[0]
        cport = self.unique_port(client, server, sport, 32768, 60999, AVOID_CLIENT_PORTS)
        chunks: list[Chunk] = []
        for _ in range(r.choice((1, 1, 1, 2, 3, 5))):
            size = int(min(r.lognormvariate(math.log(12_000), 1.4), 2_000_000))
            if sport == 443:  # TLS application data records
                req = self.tls_records(300)
                resp = self.tls_records(size)
            else:
                path = f"/static/{r.getrandbits(32):08x}.js"
                req = (f"GET {path} HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n"
                       f"Accept: */*\r\nConnection: keep-alive\r\n\r\n").encode()
                resp = (f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/javascript\r\n"
                        f"Content-Length: {size}\r\n\r\n").encode() + self.filler(size)
            chunks += [(C2S, req), (S2C, resp)]
        isn_c, isn_s = self.isn()[0], self.isn()[0]
        pk = tcp_conversation(r, client, cport, server, sport, chunks, t0, isn_c=isn_c, isn_s=isn_s,
                              reply_delay=http_reply_delay, retransmit_rate=self.args.retransmit_rate,
                              reorder_rate=self.args.reorder_rate, stats=self.tcp_stats)
        self.truth.noise_tcp_connections += 1
        self.truth.noise_tcp_bytes += sum(len(b) for _, b in chunks)
        return pk

    def tls_records(self, n: int) -> bytes:
        """``n`` bytes of TLS 1.2/1.3 application data, in records of at most 2**14 bytes (RFC 8446 5.1)."""
        out = []
        while n > 0:
            take = min(n, 16384)
            out.append(b"\x17\x03\x03" + struct.pack("!H", take) + self.filler(take))
            n -= take
        return b"".join(out)

    def filler(self, n: int) -> bytes:
        out = []
        while n > 0:
            start = self.rng.randrange(0, len(self.blob) - 1024)
            take = min(n, len(self.blob) - start)
            out.append(self.blob[start:start + take])
            n -= take
        return b"".join(out)

    def dns(self, t0: int) -> Packets:
        r = self.rng
        v6 = r.random() < 0.15
        client = self.client6() if v6 else bytes([10, 1, r.randint(0, 255), r.randint(1, 254)])
        server = self.dns6 if v6 else self.dns4
        name = r.choice(("www.example.com", "mx.example.net", "cdn.example.org", "api.example.com",
                         f"host{r.randint(1, 999)}.example.net", "_dmarc.example.org"))
        qtype = r.choice((1, 28, 15, 16))
        qid = r.getrandbits(16)
        qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        question = qname + struct.pack("!HH", qtype, 1)
        query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
        rdata = {1: bytes([203, 0, 113, r.randint(1, 254)]), 28: ipaddress.IPv6Address("2001:db8::1").packed,
                 15: b"\x00\x0a\x02mx\xc0\x0c", 16: b"\x0bv=spf1 -all"}[qtype]
        answer = b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 300, len(rdata)) + rdata
        resp = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer
        cport = r.randint(32768, 60999)
        up, down = Path2(client, server, r), Path2(server, client, r)
        return [(t0, 0, up.udp(cport, 53, query)), (t0 + r.randint(200, 40_000) * US, 1, down.udp(53, cport, resp))]

    def udp(self, t0: int) -> Packets:
        r = self.rng
        client = bytes([10, 2, r.randint(0, 255), r.randint(1, 254)])
        kind = r.random()
        if kind < 0.3:  # NTP request/response
            server = bytes([10, 0, 0, 123])
            up, down = Path2(client, server, r), Path2(server, client, r)
            return [(t0, 0, up.udp(123, 123, b"\x23" + self.filler(47))),
                    (t0 + r.randint(100, 9000) * US, 1, down.udp(123, 123, b"\x24" + self.filler(47)))]
        if kind < 0.5:  # syslog
            msg = f"<30>May 14 09:00:00 host{r.randint(1, 50)} app[{r.randint(100, 9999)}]: event {r.getrandbits(32)}"
            return [(t0, 0, Path2(client, bytes([10, 0, 0, 5]), r).udp(r.randint(32768, 60999), 514, msg.encode()))]
        # QUIC-like: a burst of 1200-byte datagrams both ways
        v6 = r.random() < 0.2
        server = r.choice(self.web_servers6 if v6 else self.web_servers4)
        client = self.client6() if v6 else client
        up, down = Path2(client, server, r), Path2(server, client, r)
        cport = r.randint(32768, 60999)
        out, t = [], t0
        for i in range(r.randint(4, 30)):
            if i % 3 == 0:
                out.append((t, i, up.udp(cport, 443, b"\xc3" + self.filler(1199))))
            else:
                out.append((t, i, down.udp(443, cport, b"\x43" + self.filler(r.randint(60, 1200)))))
            t += r.randint(20, 3000) * US
        return out

    def arp(self, t0: int) -> Packets:
        r = self.rng
        a, b = bytes([10, 0, 0, r.randint(1, 254)]), bytes([10, 0, 0, r.randint(1, 254)])
        ma, mb = _mac(a), _mac(b)
        req = b"\xff" * 6 + ma + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, ma, a, b"\0" * 6, b)
        rep = ma + mb + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mb, b, ma, a)
        return [(t0, 0, req), (t0 + r.randint(50, 900) * US, 1, rep)]

    def icmp(self, t0: int) -> Packets:
        r = self.rng
        v6 = r.random() < 0.3
        a = self.client6() if v6 else self.client4()
        b = r.choice(self.web_servers6 if v6 else self.web_servers4)
        up, down = Path2(a, b, r), Path2(b, a, r)
        ident = r.getrandbits(16)
        out = []
        for i in range(r.randint(1, 4)):
            t = t0 + i * 1000 * MS
            body = struct.pack("!HH", ident, i + 1) + self.filler(56)
            req, rep = (b"\x80\x00\x00\x00" + body, b"\x81\x00\x00\x00" + body) if v6 else \
                       (b"\x08\x00\x00\x00" + body, b"\x00\x00\x00\x00" + body)
            out += [(t, 2 * i, up.icmp(bytearray(req))),
                    (t + r.randint(1, 90) * MS, 2 * i + 1, down.icmp(bytearray(rep)))]
        return out

    # --- the scheduler ----------------------------------------------------------------------------
    def run(self, out_path: Path, packets: int) -> None:
        """Start flows of each class at random times until its packet budget is spent; interleave."""
        rng, truth = self.rng, self.truth
        duration = max(packets / CAPTURE_PPS, 1.0) * 1e9
        budget = {c: round(packets * s) for c, s in CLASS_SHARES.items()}
        planned = {c: 0 for c in CLASS_SHARES}
        flows = {c: 0 for c in CLASS_SHARES}
        makers = {c: getattr(self, c) for c in CLASS_SHARES}
        heap: list = []  # (ts, uid, packets-or-None, index-or-class)
        uid = 0

        def next_start(c: str, now: int) -> None:
            nonlocal uid
            left = budget[c] - planned[c]
            if left <= 0:
                return
            per_flow = planned[c] / flows[c] if flows[c] else (60 if c in ("smtp", "http") else 3)
            remaining_flows = max(left / per_flow, 1.0)
            gap = (START_NS + duration - now) / remaining_flows
            when = now + int(rng.expovariate(1.0 / max(gap, 1_000)))
            uid += 1
            heapq.heappush(heap, (when, uid, None, c))

        for c in CLASS_SHARES:
            next_start(c, START_NS)
        open_smtp = open_all = 0
        buf: list[bytes] = []
        buffered = 0
        rec = _REC.pack
        with open(out_path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))  # LINKTYPE_ETHERNET
            while heap:
                ts, _, pk, idx = heapq.heappop(heap)
                if pk is None:  # a flow starts
                    c = idx
                    pk = makers[c](ts)
                    planned[c] += len(pk)
                    flows[c] += 1
                    truth.classes[c]["packets"] += len(pk)
                    truth.classes[c]["flows"] += 1
                    if c == "smtp":
                        open_smtp += 1
                        truth.max_open_smtp_connections = max(truth.max_open_smtp_connections, open_smtp)
                    if c in ("smtp", "http"):
                        open_all += 1
                        truth.max_open_connections = max(truth.max_open_connections, open_all)
                    next_start(c, ts)
                    uid += 1
                    heapq.heappush(heap, (pk[0][0], uid, (pk, c), 0))
                    continue
                frames, c = pk
                frame = frames[idx][2]
                us = ts // US
                buf.append(rec(us // 1_000_000, us % 1_000_000, len(frame), len(frame)))
                buf.append(frame)
                buffered += len(frame)
                truth.packets += 1
                if idx + 1 < len(frames):
                    nts = frames[idx + 1][0]
                    uid += 1
                    heapq.heappush(heap, (nts, uid, pk, idx + 1))
                elif c == "smtp":
                    open_smtp -= 1
                    open_all -= 1
                elif c == "http":
                    open_all -= 1
                if buffered > 8 << 20:
                    f.write(b"".join(buf))
                    buf.clear()
                    buffered = 0
            f.write(b"".join(buf))
        truth.retransmitted_segments = self.tcp_stats.retransmitted
        truth.reordered_segments = self.tcp_stats.reordered


#: Client ports never used: the server ports of every class (so a port decides the role unambiguously).
AVOID_CLIENT_PORTS = frozenset((25, 465, 587, 2525, 80, 443, 8080, 53, 123, 514))


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """``X.pcap`` -> (``X.truth.json``, ``X.conns.csv``)."""
    return out.with_suffix(".truth.json"), out.with_suffix(".conns.csv")


def build(out: Path, packets: int, seed: int, transcripts: Sequence[Transcript], *, retransmit_rate: float,
          reorder_rate: float, source: str) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    args = argparse.Namespace(retransmit_rate=retransmit_rate, reorder_rate=reorder_rate)
    gen = Generator(random.Random(seed), transcripts, args)
    started = time.perf_counter()
    gen.run(out, packets)
    elapsed = time.perf_counter() - started
    t = gen.truth
    truth = {
        "generator_version": GENERATOR_VERSION,
        "capture": out.name,
        "file_bytes": out.stat().st_size,
        "seed": seed,
        "packets_requested": packets,
        "packets": t.packets,
        "linktype": 1,
        "smtp": {
            "server_ports": list(SMTP_SERVER_PORTS),
            "connections": t.smtp_connections,
            "connections_ipv6": t.smtp_connections_ipv6,
            "connections_by_server_port": t.smtp_connections_by_port,
            "connections_with_sequence_wrap": t.smtp_isn_wraps,
            "bytes_c2s": t.smtp_bytes_c2s,
            "bytes_s2c": t.smtp_bytes_s2c,
            "messages": t.smtp_messages,
            "packets": t.classes["smtp"]["packets"],
            "max_open_connections": t.max_open_smtp_connections,
            "transcript_source": source,
            "transcripts": len(transcripts),
            # the capture is a function of the seed and of these transcripts (recorded ones change
            # when the captures are re-recorded)
            "transcripts_sha256": hashlib.sha256(repr([t.chunks for t in transcripts]).encode()).hexdigest(),
            "transcript_names": [t.name for t in transcripts],
        },
        "noise": {
            "tcp_connections": t.noise_tcp_connections,
            "tcp_payload_bytes": t.noise_tcp_bytes,
            "tcp_server_ports": [80, 443, 8080],
            "classes": {c: v for c, v in t.classes.items() if c != "smtp"},
        },
        "tcp": {
            "connections": t.smtp_connections + t.noise_tcp_connections,
            "max_open_connections": t.max_open_connections,
            "spurious_retransmissions": t.retransmitted_segments,
            "reordered_segments": t.reordered_segments,
        },
        "generation_seconds": round(elapsed, 2),
    }
    truth_path, conns_path = sidecar_paths(out)
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    with open(conns_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("first_ts_ns", "client_ip", "client_port", "server_ip", "server_port", "ip_version",
                    "bytes_c2s", "bytes_s2c", "messages", "sequence_wrap", "transcript"))
        w.writerows(gen.conn_rows)
    return truth


def choose_transcripts(mode: str, seed: int, sources: Sequence[str], log=print) -> tuple[list[Transcript], str]:
    if mode == "realistic":
        return realistic_transcripts(seed), "realistic"
    if mode in ("auto", "captures"):
        recorded = load_recorded_transcripts(sources, log=log)
        if recorded:
            return recorded, "captures"
        if mode == "captures":
            raise SystemExit(f"no SMTP conversation found in {', '.join(sources)} (is tshark installed?)")
        log("no recorded SMTP sessions found: using the embedded transcripts")
    return embedded_transcripts(seed), "embedded"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000, help="about how many packets (default 1,000,000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"classic pcap to write (default {DEFAULT_OUT.relative_to(REPO)})")
    p.add_argument("--transcripts", choices=("auto", "captures", "embedded", "realistic"), default="auto",
                   help="SMTP sessions to replay: recorded captures if any (auto), only them, the embedded ones, "
                        "or 20,000 embedded ones carrying realistic mail (Received chains, encoded words)")
    p.add_argument("--from", dest="sources", nargs="+", default=list(DEFAULT_SOURCES), metavar="GLOB",
                   help="captures to take SMTP conversations from (default: tests/data and captures)")
    p.add_argument("--retransmit-rate", type=float, default=0.002, help="share of data segments sent twice")
    p.add_argument("--reorder-rate", type=float, default=0.002, help="share of data segments overtaken by the next")
    args = p.parse_args(argv)
    if args.packets < 100:
        p.error("--packets must be at least 100")

    transcripts, source = choose_transcripts(args.transcripts, args.seed, args.sources)
    print(f"{len(transcripts)} {source} transcripts; writing about {args.packets:,} packets to {args.out}")
    truth = build(args.out, args.packets, args.seed, transcripts, retransmit_rate=args.retransmit_rate,
                  reorder_rate=args.reorder_rate, source=source)
    s = truth["smtp"]
    print(f"{truth['packets']:,} packets, {truth['file_bytes'] / 1e6:,.1f} MB in {truth['generation_seconds']} s")
    print(f"SMTP: {s['connections']:,} connections ({s['connections_ipv6']:,} IPv6, "
          f"{s['connections_with_sequence_wrap']} with sequence wrap, up to {s['max_open_connections']} open at once), "
          f"{s['bytes_c2s']:,} bytes client->server, {s['bytes_s2c']:,} bytes server->client, "
          f"{s['messages']:,} messages, {s['packets']:,} packets")
    print(f"noise: {truth['noise']['tcp_connections']:,} TCP connections, "
          + ", ".join(f"{c} {v['packets']:,} packets" for c, v in truth["noise"]["classes"].items()))
    print(f"ground truth -> {sidecar_paths(args.out)[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
