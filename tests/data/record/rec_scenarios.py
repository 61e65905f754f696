"""What the clients do in each capture.  Each function returns the Transcripts."""
from __future__ import annotations

import hashlib
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate

from rec_common import FIXED_DATE, Transcript, sha256
from rec_clients import RecSMTP, RecSMTP_SSL, RawClient, client_tls_context, cram_md5_response, run_swaks
from rec_servers import USERS

POSTFIX_PORT = 10025
USERS_PUBLIC = dict(USERS)  # the test server's user table (fake credentials), for sidecars
PAUSE = 0.05  # small gap between sessions so they do not interleave in time


def msg_simple(n: int, frm: str, to: str, subject: str, body: str, *, mid_host="client.example.test",
               date: str = FIXED_DATE) -> EmailMessage:
    m = EmailMessage(policy=SMTP_POLICY)
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = date
    m["Message-ID"] = f"<smtpsniff-{n:04d}@{mid_host}>"
    m.set_content(body)
    return m


def attachments_meta(m: EmailMessage) -> dict:
    atts = []
    for part in m.walk():
        fn = part.get_filename()
        if fn and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            atts.append({"filename": fn, "content_type": part.get_content_type(),
                         "size": len(payload), "sha256": sha256(payload)})
    return {"attachments": atts, "subject_decoded": str(m["Subject"]),
            "structure": [p.get_content_type() for p in m.walk()]}


def _send(s: RecSMTP, tr: Transcript, m: EmailMessage, **kw):
    tr.message_meta.append(attachments_meta(m))
    try:
        return s.send_message(m, **kw)
    except Exception as e:  # rejections are part of the script
        return e


# ---------------------------------------------------------------------------
def basic_session(host: str, port: int) -> Transcript:
    tr = Transcript("smtplib", "aiosmtpd", host, port, note="basic single-message session")
    m = msg_simple(1, "Alice <alice@example.test>", "Bob <bob@example.test>", "Lunch on Friday?",
                   "Hi Bob,\n\nare we still on for lunch on Friday at noon?\n\nAlice\n")
    with RecSMTP(tr, host, port, local_hostname="client.example.test", timeout=10) as s:
        s.ehlo()
        _send(s, tr, m)
        s.quit()
    return tr


# ---------------------------------------------------------------------------
# fixed content
# ---------------------------------------------------------------------------
def fixed_png() -> bytes:
    """A deterministic 48x48 RGB PNG (real, decodable) -- the 'small binary file'."""
    import struct
    import zlib
    w = h = 48
    raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in (
        (x * 5 + y * 3) % 256, (x * y) % 256, (200 - y * 4) % 256)) for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def fixed_blob(n: int, seed: bytes = b"smtpsniff") -> bytes:
    out = b""
    block = seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:n]


FIXED_CSV = ("date,region,orders,revenue_eur\r\n" + "".join(
    f"2024-05-{d:02d},{r},{(d * 7 + len(r)) % 50 + 3},{((d * 131 + len(r) * 17) % 9000) / 10:.2f}\r\n"
    for d in range(1, 16) for r in ("north", "south", "east"))).encode()

FIXED_TXT = ("Meeting notes 2024-06-03\n\n"
             "1. Budget approved.\n2. Next review in July.\n. a line that starts with a dot\n"
             "..two dots\n\nEnd of notes.\n").encode()


def mixed_with_attachments(n, frm, to, subject, body, atts, **kw) -> EmailMessage:
    m = msg_simple(n, frm, to, subject, body, **kw)
    for data, maintype, subtype, fn in atts:
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=fn)
    return m


def _tr(client, server, host, port, **kw) -> Transcript:
    return Transcript(client, server, host, port, **kw)


def _swaks_msg_file(ctx, name: str, msg: bytes) -> str:
    p = ctx.work / name
    p.write_bytes(msg)
    return "@" + str(p)


def _ascii_msg(n, frm, to, subject, body) -> bytes:
    m = msg_simple(n, frm, to, subject, body)
    return m.as_bytes()


# ---------------------------------------------------------------------------
# 13: the bundled demo capture
# ---------------------------------------------------------------------------
def sample(ctx, keylog):
    """Demo capture: a small relay on 127.0.0.1 port 25 (MX) and 587 (submission).
    Deliveries with attachments, a 550 user-unknown rejection, a 450 greylist,
    clear-text AUTH LOGIN (failed) and AUTH PLAIN (ok) on 587, a STARTTLS session
    (keys in smtp-sample.keys), and VRFY probing."""
    H = "127.0.0.1"
    trs = []

    # 1. partner MX delivery with a PNG and a CSV attachment
    tr = _tr("smtplib", "aiosmtpd", H, 25, note="inbound delivery with two attachments")
    m = mixed_with_attachments(
        101, "Dana Reports <reports@partner.test>", "Alice Liddell <alice@example.test>",
        "Weekly sales report (week 22)",
        "Hello Alice,\n\nplease find attached the weekly sales figures and the chart.\n\n"
        "Kind regards,\nDana\n",
        [(FIXED_CSV, "text", "csv", "sales-week22.csv"), (fixed_png(), "image", "png", "chart.png")],
        mid_host="mx.partner.test")
    with RecSMTP(tr, H, 25, local_hostname="mx.partner.test", timeout=10) as s:
        s.ehlo()
        _send(s, tr, m)
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 2. delivery to an unknown user: RCPT 550, client gives up (swaks)
    tr = _tr("swaks", "aiosmtpd", H, 25, note="550 user unknown at RCPT")
    run_swaks(tr, ["--ehlo", "mail.shop.test", "--from", "orders@shop.test", "--to", "nobody@example.test",
                   "--data", _swaks_msg_file(ctx, "s2.eml", _ascii_msg(
                       102, "orders@shop.test", "nobody@example.test", "Your order #55121",
                       "Thank you for your order.\n"))])
    trs.append(tr)
    time.sleep(PAUSE)

    # 3. greylisted: 450 on RCPT
    tr = _tr("smtplib", "aiosmtpd", H, 25, note="450 greylisting at RCPT")
    m = msg_simple(103, "news@bulk.test", "greylisted@example.test", "June newsletter",
                   "Our June offers are here.\n", mid_host="bulk.test")
    with RecSMTP(tr, H, 25, local_hostname="out3.bulk.test", timeout=10) as s:
        s.ehlo()
        _send(s, tr, m)
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 4. submission, AUTH LOGIN with a wrong password -> 535 (swaks)
    tr = _tr("swaks", "aiosmtpd", H, 587, note="AUTH LOGIN failure (535)")
    tr.auth_creds.append({"username": "carol", "password": "carol2024", "expected": "failure"})
    run_swaks(tr, ["--ehlo", "laptop-carol.example.test", "--from", "carol@example.test",
                   "--to", "bob@example.test", "--auth", "LOGIN", "--auth-user", "carol",
                   "--auth-password", "carol2024", "--quit-after", "AUTH"])
    trs.append(tr)
    time.sleep(PAUSE)

    # 5. submission, AUTH PLAIN ok, message with a text attachment (smtplib)
    tr = _tr("smtplib", "aiosmtpd", H, 587, note="AUTH PLAIN success (235) then submission")
    tr.auth_creds.append({"username": "carol", "password": "c@rol-2024", "expected": "success"})
    m = mixed_with_attachments(
        105, "Carol <carol@example.test>", "Bob <bob@example.test>", "Notes from Monday",
        "Bob,\n\nnotes attached.\n\nCarol\n", [(FIXED_TXT, "text", "plain", "notes.txt")])
    with RecSMTP(tr, H, 587, local_hostname="laptop-carol.example.test", timeout=10) as s:
        s.ehlo()
        s.user, s.password = "carol", "c@rol-2024"
        s.auth("PLAIN", s.auth_plain)
        _send(s, tr, m)
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 6. STARTTLS on port 25 (keys written to smtp-sample.keys)
    tr = _tr("smtplib", "aiosmtpd", H, 25, tls="starttls", sni="mail.example.test",
             note="STARTTLS; everything after the 220 is encrypted")
    m = msg_simple(106, "Erin <erin@secure.test>", "alice@example.test", "Contract draft",
                   "Alice,\n\nthe signed contract follows by courier.\n\nErin\n", mid_host="secure.test")
    with RecSMTP(tr, H, 25, local_hostname="mx1.secure.test", timeout=10) as s:
        s.ehlo()
        s.starttls(context=client_tls_context(keylog))
        s.ehlo()
        _send(s, tr, m)
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 7. VRFY probing (raw client)
    tr = _tr("raw", "aiosmtpd", H, 25, note="VRFY probing for valid users")
    c = RawClient(tr)
    c.cmd("HELO probe.scanner.test")
    for u in ("root", "admin", "alice", "bob", "postmaster", "test"):
        c.cmd(f"VRFY {u}")
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    time.sleep(PAUSE)

    # 8. multipart/alternative newsletter to two recipients, one unknown
    tr = _tr("smtplib", "aiosmtpd", H, 25, note="two RCPTs, one 550; HTML alternative")
    m = msg_simple(108, "Club <events@club.test>", "alice@example.test, ghost@example.test",
                   "Summer party invitation", "You are invited to our summer party on 21 June.\n",
                   mid_host="club.test")
    m.add_alternative("<html><body><h1>Summer party</h1><p>You are invited on <b>21 June</b>.</p>"
                      "</body></html>\n", subtype="html")
    with RecSMTP(tr, H, 25, local_hostname="smtp.club.test", timeout=10) as s:
        s.ehlo()
        _send(s, tr, m)
        s.quit()
    trs.append(tr)
    return trs
