"""What the clients do in each capture.  Each function returns the Transcripts."""
from __future__ import annotations

import hashlib
import smtplib
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


# ---------------------------------------------------------------------------
# 6: command coverage
# ---------------------------------------------------------------------------
def features(ctx):
    """aiosmtpd on 2525 and 25: EHLO and HELO sessions, PIPELINING (swaks --pipeline
    and a raw client), several messages in one connection, RSET, VRFY, EXPN, NOOP,
    HELP, 550/451 on MAIL, 550/450 on RCPT, an unknown command (500), QUIT."""
    H = "127.0.0.1"
    trs = []

    # 1. smtplib, EHLO, many commands and three messages in one connection
    tr = _tr("smtplib", "aiosmtpd", H, 2525, note="EHLO; NOOP HELP VRFY EXPN; 3 messages; RSET; "
             "MAIL 550/451; RCPT 550/450; unknown command")
    with RecSMTP(tr, H, 2525, local_hostname="ws1.example.test", timeout=10) as s:
        s.ehlo()
        s.noop()
        s.help()
        s.docmd("HELP", "MAIL")
        s.verify("alice")
        s.verify("nobody")
        s.expn("staff")
        s.expn("friends")
        for i in range(2):
            _send(s, tr, msg_simple(201 + i, "alice@example.test", "bob@example.test",
                                    f"Status update {i + 1}/2", f"Update number {i + 1}.\n"))
        s.mail("alice@example.test")
        s.rcpt("bob@example.test")
        s.rset()
        s.mail("spammer@bad.test")
        s.rset()
        s.mail("tempfail@busy.test")
        s.rset()
        m = msg_simple(203, "alice@example.test", "bob@example.test, nobody@example.test, "
                       "greylisted@example.test", "Three recipients", "One of you will get this.\n")
        _send(s, tr, m)
        s.docmd("XYZZY", "plugh")
        s.docmd("NOOP")
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 2. smtplib, HELO (no ESMTP) session
    tr = _tr("smtplib", "aiosmtpd", H, 2525, note="HELO session, one message")
    with RecSMTP(tr, H, 2525, local_hostname="old-host.example.test", timeout=10) as s:
        s.helo()
        _send(s, tr, msg_simple(204, "legacy@example.test", "alice@example.test", "Plain old SMTP",
                                "Sent after HELO.\n"))
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)

    # 3. swaks --pipeline: MAIL/RCPT/RCPT/DATA in one write
    tr = _tr("swaks", "aiosmtpd", H, 2525, note="swaks --pipeline, one RCPT rejected")
    run_swaks(tr, ["--pipeline", "--ehlo", "pipe.example.test", "--from", "carol@example.test",
                   "--to", "alice@example.test,ghost@example.test",
                   "--data", _swaks_msg_file(ctx, "f3.eml", _ascii_msg(
                       205, "carol@example.test", "alice@example.test, ghost@example.test",
                       "Pipelined", "This message was sent with PIPELINING.\n"))])
    trs.append(tr)
    time.sleep(PAUSE)

    # 4. raw client on port 25, two pipelined transactions
    tr = _tr("raw", "aiosmtpd", H, 25, note="raw pipelining: MAIL RCPT RCPT DATA in one write; "
             "then RSET NOOP MAIL RCPT DATA in one write")
    c = RawClient(tr)
    c.cmd("EHLO raw.example.test")
    c.pipeline(["MAIL FROM:<bob@example.test>", "RCPT TO:<alice@example.test>",
                "RCPT TO:<carol@example.test>", "DATA"])
    msg = _ascii_msg(206, "bob@example.test", "alice@example.test, carol@example.test",
                     "Raw pipelined message", "First pipelined transaction.\n")
    tr.message_meta.append({})
    c.data_body(msg)
    c.pipeline(["RSET", "NOOP", "MAIL FROM:<bob@example.test> BODY=8BITMIME",
                "RCPT TO:<later@example.test>", "RCPT TO:<alice@example.test>", "DATA"])
    msg = _ascii_msg(207, "bob@example.test", "alice@example.test", "Second raw message",
                     "Second pipelined transaction.\n")
    tr.message_meta.append({})
    c.data_body(msg)
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    return trs


# ---------------------------------------------------------------------------
# 7: AUTH in clear text on 587
# ---------------------------------------------------------------------------
def auth(ctx):
    """aiosmtpd on 587 (auth_require_tls=False): AUTH PLAIN with and without initial
    response, LOGIN (smtplib and swaks), CRAM-MD5 (smtplib and swaks), failing AUTH
    (535) and successes (235).  Credentials are in each auth entry."""
    H = "127.0.0.1"
    trs = []

    def smtplib_auth(note, attempts, send=True, n=300):
        tr = _tr("smtplib", "aiosmtpd", H, 587, note=note)
        with RecSMTP(tr, H, 587, local_hostname="laptop.example.test", timeout=10) as s:
            s.ehlo()
            ok = False
            for mech, user, pw, initial in attempts:
                s.user, s.password = user, pw
                fn = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
                tr.auth_creds.append({"username": user, "password": pw,
                                      "expected": "success" if USERS.get(user) == pw else "failure"})
                try:
                    s.auth(mech, fn, initial_response_ok=initial)
                    ok = True
                except smtplib.SMTPAuthenticationError:
                    pass
            if ok and send:
                _send(s, tr, msg_simple(n, f"{user}@example.test" if "@" not in user else user,
                                        "bob@example.test", f"Sent after AUTH {mech}", "Authenticated.\n"))
            s.quit()
        trs.append(tr)
        time.sleep(PAUSE)

    smtplib_auth("AUTH PLAIN with initial response: wrong password (535) then right (235)",
                 [("PLAIN", "alice", "alice123", True), ("PLAIN", "alice", "wonderland", True)], n=301)
    smtplib_auth("AUTH PLAIN without initial response (334 empty challenge)",
                 [("PLAIN", "bob@example.test", "s3cr3t-Bob!", False)], n=302)
    smtplib_auth("AUTH LOGIN without initial response", [("LOGIN", "carol", "c@rol-2024", False)], n=303)
    smtplib_auth("AUTH LOGIN with initial response (username on the AUTH line)",
                 [("LOGIN", "alice", "wonderland", True)], n=304)
    smtplib_auth("AUTH CRAM-MD5", [("CRAM-MD5", "alice", "wonderland", False)], n=305)

    for mech, user, pw in (("LOGIN", "bob@example.test", "s3cr3t-Bob!"), ("CRAM-MD5", "carol", "c@rol-2024"),
                           ("PLAIN", "carol", "wrong-password"), ("CRAM-MD5", "alice", "not-wonderland")):
        tr = _tr("swaks", "aiosmtpd", H, 587, note=f"swaks --auth {mech}")
        tr.auth_creds.append({"username": user, "password": pw,
                              "expected": "success" if USERS.get(user) == pw else "failure"})
        run_swaks(tr, ["--ehlo", "swaks.example.test", "--from", "carol@example.test",
                       "--to", "alice@example.test", "--auth", mech, "--auth-user", user,
                       "--auth-password", pw, "--data", _swaks_msg_file(ctx, "a.eml", _ascii_msg(
                           310 + len(trs), "carol@example.test", "alice@example.test",
                           f"swaks AUTH {mech}", "Authenticated by swaks.\n"))])
        trs.append(tr)
        time.sleep(PAUSE)
    return trs


# ---------------------------------------------------------------------------
# 8 / 9: TLS
# ---------------------------------------------------------------------------
def starttls(ctx, keylog):
    """aiosmtpd on 587: EHLO, STARTTLS, 220, TLS handshake with SNI
    mail.example.test, then EHLO/AUTH/MAIL/RCPT/DATA/QUIT encrypted.  smtplib
    session keys are in smtp-starttls.keys (NSS key log; tshark -o
    tls.keylog_file:...); the swaks session cannot log keys."""
    H = "127.0.0.1"
    trs = []
    tr = _tr("smtplib", "aiosmtpd", H, 587, tls="starttls", sni="mail.example.test",
             note="smtplib STARTTLS, AUTH PLAIN inside TLS, one message")
    tr.auth_creds.append({"username": "alice", "password": "wonderland", "expected": "success"})
    with RecSMTP(tr, H, 587, local_hostname="laptop.example.test", timeout=10) as s:
        s.ehlo()
        s.starttls(context=client_tls_context(keylog))
        s.ehlo()
        s.user, s.password = "alice", "wonderland"
        s.auth("PLAIN", s.auth_plain)
        _send(s, tr, msg_simple(401, "alice@example.test", "bob@example.test", "Encrypted hello",
                                "This travelled inside TLS.\n"))
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)
    tr = _tr("swaks", "aiosmtpd", H, 587, tls="starttls", sni="mail.example.test",
             note="swaks --tls with --tls-sni")
    run_swaks(tr, ["--tls", "--tls-sni", "mail.example.test", "--ehlo", "swaks.example.test",
                   "--from", "carol@example.test", "--to", "alice@example.test",
                   "--data", _swaks_msg_file(ctx, "t.eml", _ascii_msg(
                       402, "carol@example.test", "alice@example.test", "swaks STARTTLS",
                       "Sent by swaks over STARTTLS.\n"))])
    trs.append(tr)
    return trs


def implicit_tls(ctx, keylog):
    """aiosmtpd on 465 with implicit TLS (ssl_context): the handshake (SNI
    mail.example.test) comes first, all SMTP is encrypted.  smtplib keys in
    smtp-implicit-tls.keys."""
    H = "127.0.0.1"
    trs = []
    tr = _tr("smtplib", "aiosmtpd", H, 465, tls="implicit", sni="mail.example.test",
             note="smtplib SMTP_SSL, AUTH LOGIN, one message")
    tr.auth_creds.append({"username": "carol", "password": "c@rol-2024", "expected": "success"})
    with RecSMTP_SSL(tr, H, 465, local_hostname="laptop.example.test", timeout=10,
                     context=client_tls_context(keylog)) as s:
        s.ehlo()
        s.user, s.password = "carol", "c@rol-2024"
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        _send(s, tr, msg_simple(501, "carol@example.test", "bob@example.test", "Over SMTPS",
                                "Implicit TLS on port 465.\n"))
        s.quit()
    trs.append(tr)
    time.sleep(PAUSE)
    tr = _tr("swaks", "aiosmtpd", H, 465, tls="implicit", sni="mail.example.test",
             note="swaks --tlsc (implicit TLS) with --tls-sni")
    run_swaks(tr, ["--tlsc", "--tls-sni", "mail.example.test", "--ehlo", "swaks.example.test",
                   "--from", "carol@example.test", "--to", "alice@example.test",
                   "--data", _swaks_msg_file(ctx, "i.eml", _ascii_msg(
                       502, "carol@example.test", "alice@example.test", "swaks SMTPS",
                       "Sent by swaks with implicit TLS.\n"))])
    trs.append(tr)
    return trs


# ---------------------------------------------------------------------------
# 10: BDAT against Postfix
# ---------------------------------------------------------------------------
def bdat(ctx):
    """Postfix 3.7 on 127.0.0.1:10025 (CHUNKING, PIPELINING, 8BITMIME, SMTPUTF8,
    STARTTLS offered) driven by a raw client: BDAT chunks then BDAT n LAST one
    reply at a time; then MAIL, RCPT and all BDAT chunks pipelined in one write;
    then a BDAT message with 8-bit body and lines starting with '.' (no stuffing
    in BDAT); then a plain DATA message for contrast."""
    H = "127.0.0.1"
    trs = []
    tr = _tr("raw", "postfix", H, POSTFIX_PORT, note="BDAT chunking, sequential and pipelined")
    c = RawClient(tr)
    c.cmd("EHLO chunker.example.test")
    m1 = _ascii_msg(601, "alice@example.test", "bob@example.test", "Chunked message",
                    "".join(f"Line {i:03d} of a message sent with BDAT in three chunks.\n" for i in range(40)))
    c.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME")
    c.cmd("RCPT TO:<bob@example.test>")
    tr.message_meta.append({})
    c.bdat(m1[:1000])
    c.bdat(m1[1000:2000])
    c.bdat(m1[2000:], last=True)

    m2 = _ascii_msg(602, "alice@example.test", "carol@example.test", "Pipelined BDAT",
                    "".join(f"Pipelined chunk line {i:03d}.\n" for i in range(30)))
    tr.message_meta.append({})
    c.bdat_pipelined([m2[:700], m2[700:]], prefix=["MAIL FROM:<alice@example.test>",
                                                   "RCPT TO:<carol@example.test>",
                                                   "RCPT TO:<nobody@example.test>"])

    body3 = ("Caf\u00e9 cr\u00e8me \u00e0 5\u20ac.\n.\n.. two dots\n.a line starting with a dot\n"
             "Last line.\n")
    m3 = msg_simple(603, "alice@example.test", "bob@example.test", "8-bit BDAT", body3)
    m3.replace_header("Content-Transfer-Encoding", "8bit") if m3["Content-Transfer-Encoding"] else None
    raw3 = m3.as_bytes(policy=SMTP_POLICY.clone(cte_type="8bit"))
    c.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME")
    c.cmd("RCPT TO:<bob@example.test>")
    tr.message_meta.append({})
    c.bdat(raw3, last=True)

    c.cmd("MAIL FROM:<alice@example.test>")
    c.cmd("RCPT TO:<bob@example.test>")
    c.cmd("DATA")
    tr.message_meta.append({})
    c.data_body(_ascii_msg(604, "alice@example.test", "bob@example.test", "DATA for contrast",
                           "Classic DATA transfer.\n"))
    c.cmd("BDAT 0 LAST")  # no transaction: Postfix answers 503
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    return trs


# ---------------------------------------------------------------------------
# 11: SMTPUTF8
# ---------------------------------------------------------------------------
def utf8(ctx):
    """SMTPUTF8: smtplib send_message (which adds SMTPUTF8 and sends raw UTF-8
    headers) to Postfix on 10025 and to aiosmtpd on 2525, plus a raw client
    using UTF-8 addresses in MAIL/RCPT and a UTF-8 VRFY."""
    import smtplib as _s
    H = "127.0.0.1"
    trs = []
    frm = "J\u00f6rg M\u00fcller <j\u00f6rg@b\u00fccher.example>"
    to = "\u7528\u6237 <\u7528\u6237@\u4f8b\u5b50.\u6d4b\u8bd5>"
    for port, server in ((POSTFIX_PORT, "postfix"), (2525, "aiosmtpd")):
        tr = _tr("smtplib", server, H, port, note="send_message with UTF-8 addresses -> SMTPUTF8")
        m = EmailMessage(policy=SMTP_POLICY.clone(utf8=True))
        m["From"] = frm
        m["To"] = to
        m["Subject"] = "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u4f60\u597d"
        m["Date"] = FIXED_DATE
        m["Message-ID"] = f"<smtpsniff-07{port % 100:02d}@b\u00fccher.example>"
        m.set_content("Hallo! \u00c4rger \u00fcber \u00d6l? \u4f60\u597d\uff0c\u4e16\u754c\u3002\n", cte="8bit")
        with RecSMTP(tr, H, port, local_hostname="utf8.example.test", timeout=10) as s:
            s.ehlo()
            _send(s, tr, m)
            s.quit()
        trs.append(tr)
        time.sleep(PAUSE)

    tr = _tr("raw", "postfix", H, POSTFIX_PORT, note="raw SMTPUTF8 transaction, UTF-8 VRFY")
    c = RawClient(tr)
    c.cmd("EHLO utf8.example.test")
    c.cmd("MAIL FROM:<\u0434\u0438\u043c\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444> SMTPUTF8 BODY=8BITMIME")
    c.cmd("RCPT TO:<\u00e9l\u00e8ve@\u00e9cole.example>")
    c.cmd("DATA")
    tr.message_meta.append({})
    body = ("From: \u0414\u0438\u043c\u0430 <\u0434\u0438\u043c\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444>\r\n"
            "To: <\u00e9l\u00e8ve@\u00e9cole.example>\r\n"
            "Subject: \u041f\u0440\u0438\u0432\u0435\u0442, \u00e9l\u00e8ve!\r\n"
            f"Date: {FIXED_DATE}\r\nMessage-ID: <smtpsniff-0710@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "\u041f\u0440\u0438\u0432\u0435\u0442! Bonjour \u00e0 l'\u00e9cole.\r\n").encode("utf-8")
    c.data_body(body)
    c.cmd("VRFY \u00e9l\u00e8ve@\u00e9cole.example")
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    return trs


# ---------------------------------------------------------------------------
# 12: MIME
# ---------------------------------------------------------------------------
def mime(ctx):
    """MIME structures sent with smtplib send_message from EmailMessage to aiosmtpd
    on 25: multipart/mixed with a binary (PNG + random bytes) and a text
    attachment (sha256 of the decoded bytes in 'attachments'), an RFC 2047 encoded
    subject, multipart/alternative, a nested message/rfc822, and a text body
    with lines starting with '.' (dot-stuffed on the wire, unstuffed in data_b64)."""
    H = "127.0.0.1"
    trs = []
    tr = _tr("smtplib", "aiosmtpd", H, 25, note="MIME structures, one connection")
    msgs = []
    m = mixed_with_attachments(
        801, "Alice <alice@example.test>", "Bob <bob@example.test>",
        "Rapport trimestriel \u2013 r\u00e9sum\u00e9 et pi\u00e8ces jointes",
        "Bonjour Bob,\n\nci-joint le rapport.\n\nAlice\n",
        [(fixed_png(), "image", "png", "chart.png"),
         (fixed_blob(3000), "application", "octet-stream", "random.bin"),
         (FIXED_TXT, "text", "plain", "notes.txt")])
    msgs.append(m)

    m = msg_simple(802, "Newsletter <news@example.test>", "alice@example.test",
                   "Alternative parts", "Plain text version.\n")
    m.add_alternative("<html><body><p>HTML <i>version</i>.</p></body></html>\n", subtype="html")
    msgs.append(m)

    inner = msg_simple(899, "Carol <carol@example.test>", "alice@example.test", "Original question",
                       "Can you forward this to Bob?\n")
    m = msg_simple(803, "Alice <alice@example.test>", "bob@example.test", "Fwd: Original question",
                   "Forwarding Carol's message as an attachment.\n")
    m.add_attachment(inner)  # message/rfc822
    msgs.append(m)

    m = msg_simple(804, "Alice <alice@example.test>", "bob@example.test", "Dots at line start",
                   ".leading dot\n..two leading dots\n.\nthe line above is a lone dot\n...\nend\n")
    msgs.append(m)

    with RecSMTP(tr, H, 25, local_hostname="mua.example.test", timeout=10) as s:
        s.ehlo()
        for m in msgs:
            _send(s, tr, m)
        s.quit()
    trs.append(tr)
    return trs


# ---------------------------------------------------------------------------
# 14: hostile attachment names (for `smtpsniff extract`)
# ---------------------------------------------------------------------------
def _rfc2231(name: str) -> str:
    """``filename*0*=utf-8''...; filename*1*=...`` (RFC 2231 sections 3 and 4): any character, NUL
    and CR included, in sections short enough for 78-character lines (RFC 5322 section 2.1.1)."""
    from urllib.parse import quote
    encoded = quote(name.encode("utf-8"), safe="")
    chunks, i = [], 0
    while i < len(encoded):
        end = min(i + 60, len(encoded))
        while end < len(encoded) and "%" in encoded[end - 2:end]:  # never split a %XX escape
            end -= 1
        chunks.append(encoded[i:end])
        i = end
    charset = "utf-8''"
    return ";\r\n ".join(f"filename*{n}*={charset if n == 0 else ''}{chunk}"
                          for n, chunk in enumerate(chunks or [""]))


# (Content-Disposition parameter as written, the name it decodes to, content type)
HOSTILE_NAMES = [
    ('filename="../../x"', "../../x", "text/plain"),
    ('filename="../../../../../../tmp/smtpsniff-escape"', "../../../../../../tmp/smtpsniff-escape", "text/plain"),
    ('filename="/etc/passwd"', "/etc/passwd", "text/plain"),
    ('filename="C:\\\\Windows\\\\System32\\\\evil.dll"', "C:\\Windows\\System32\\evil.dll",
     "application/octet-stream"),
    ('filename="\\\\\\\\server\\\\share\\\\unc.txt"', "\\\\server\\share\\unc.txt", "text/plain"),
    (_rfc2231("nul\x00byte.txt"), "nul\x00byte.txt", "text/plain"),
    (_rfc2231("ctl\r\n\t\x1b[31mred\x7f.txt"), "ctl\r\n\t\x1b[31mred\x7f.txt", "text/plain"),
    ('filename="esc\x1b]0;title\x07bell.txt"', "esc\x1b]0;title\x07bell.txt", "text/plain"),
    (_rfc2231("A" * 300 + ".pdf"), "A" * 300 + ".pdf", "application/pdf"),
    (_rfc2231("\u00e9" * 200 + ".txt"), "\u00e9" * 200 + ".txt", "text/plain"),
    ('filename="CON"', "CON", "text/plain"),
    ('filename="nul.txt"', "nul.txt", "text/plain"),
    ('filename="COM1.log"', "COM1.log", "text/plain"),
    ('filename="aux"', "aux", "text/plain"),
    (_rfc2231("invoice\u202efdp.exe"), "invoice\u202efdp.exe", "application/octet-stream"),
    ('filename=".."', "..", "text/plain"),
    ('filename="."', ".", "text/plain"),
    ('filename=""', "", "text/plain"),
    ('filename=".bashrc"', ".bashrc", "text/plain"),
    ('filename="trailing. . ."', "trailing. . .", "text/plain"),
    ('filename="a/b\\\\c:d*e?f\\"g<h>i|j.txt"', 'a/b\\c:d*e?f"g<h>i|j.txt', "text/plain"),
    ('filename="report.pdf"', "report.pdf", "application/pdf"),
    ('filename="report.pdf"', "report.pdf", "application/pdf"),
    ('filename="REPORT.PDF"', "REPORT.PDF", "application/pdf"),
    ('filename="=?utf-8?b?Li4vLi4vZW5jb2RlZC50eHQ=?="', "../../encoded.txt", "text/plain"),
]


def hostile_message(n: int) -> tuple[bytes, dict]:
    """A multipart/mixed message whose attachments carry hostile file names, built byte by byte
    (EmailMessage would refuse or re-encode them), and its ground truth."""
    import base64
    boundary = f"==hostile-{n}=="
    parts = [
        f"From: Mallory <mallory@example.test>\r\nTo: Bob <bob@example.test>\r\n"
        f"Subject: Hostile attachment names {n}\r\nDate: {FIXED_DATE}\r\n"
        f"Message-ID: <smtpsniff-{n:04d}@client.example.test>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"Attachments with names that try to leave the output folder.\r\n".encode("latin-1")]
    atts = []
    for i, (param, decoded, ctype) in enumerate(HOSTILE_NAMES):
        data = f"attachment {i}: {decoded!r}\n".encode("utf-8") + fixed_blob(64 + i, seed=bytes([i]))
        head = (f"--{boundary}\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; {param}\r\n\r\n")
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(head.encode("latin-1") + body)
        atts.append({"filename": decoded, "content_type": ctype, "size": len(data),
                     "sha256": hashlib.sha256(data).hexdigest(), "disposition_param": param})
    parts.append(f"--{boundary}--\r\n".encode("ascii"))
    meta = {"attachments": atts, "subject_decoded": f"Hostile attachment names {n}",
            "structure": ["multipart/mixed", "text/plain"] + [c for _, _, c in HOSTILE_NAMES]}
    return b"".join(parts), meta


def hostile_names(ctx):
    """Attachments with hostile file names sent with smtplib sendmail (raw bytes) to aiosmtpd on
    25, for the extract command: path traversal (../../x), absolute POSIX, Windows and UNC paths,
    NUL, CR/LF, tab, ESC and DEL (RFC 2231 and raw in a quoted string), names over 255 bytes
    (ASCII and UTF-8), Windows reserved names (CON, nul.txt, COM1.log, aux), a U+202E right-to-left
    override, '.', '..', an empty name, a hidden file, trailing dots, every Windows-forbidden
    character, a repeated and a case-folded repeated name, and an RFC 2047 encoded '../../'.
    The same message is sent twice so every name collides once more.  'attachments' in the
    sidecar lists each decoded name, its content type, size and sha256."""
    H = "127.0.0.1"
    tr = _tr("smtplib", "aiosmtpd", H, 25, note="hostile attachment names, one connection")
    with RecSMTP(tr, H, 25, local_hostname="mua.example.test", timeout=10) as s:
        s.ehlo()
        for n in (901, 902):
            msg, meta = hostile_message(n)
            tr.message_meta.append(meta)
            s.sendmail("mallory@example.test", ["bob@example.test"], msg)
        s.quit()
    return [tr]


# ---------------------------------------------------------------------------
# 15: hostile text for the views (HTML report, terminal, Mermaid, charts)
# ---------------------------------------------------------------------------
HOSTILE_HOSTNAME = "<img src=x onerror=alert('banner')>"
HOSTILE_IDENT = "<script>alert('ident')</script> ESMTP"


def injection(ctx):
    """aiosmtpd on 2525 whose host name and greeting carry HTML (<img onerror>, <script>), and
    clients whose EHLO/HELO, MAIL FROM, Subject, From display name and attachment file names carry
    script and HTML injection, terminal escape sequences (OSC title, clear screen), matplotlib
    mathtext ($...$) and Mermaid syntax (; # %%).  VRFY arguments come back inside 550 replies and
    an unknown verb inside a 500.
    Every view of this capture must show the text literally and run nothing."""
    H = "127.0.0.1"
    trs = []
    tr = _tr("raw", "aiosmtpd", H, 2525, note="HTML/script injection in EHLO, MAIL FROM, headers, file names")
    m = msg_simple(1401, "\"<img src=x onerror=alert('from')>\" <attacker@evil.test>", "alice@example.test",
                   "<script>alert('subject')</script> Q3 report", "See attached.\n<b>bold?</b>\n",
                   mid_host="evil.test")
    for data, maintype, subtype, fn in (
            (b"%PDF-1.4 fake\n", "application", "pdf", "<script>alert('file')</script>.pdf"),
            (fixed_png(), "image", "png", "\"><img src=x onerror=alert('file2')>.png"),
            (b"plain\n", "text", "plain", "$x^2$ ; # %% notes.txt")):
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=fn)
    tr.message_meta.append(attachments_meta(m))
    c = RawClient(tr)
    c.cmd("EHLO <svg/onload=alert('helo')>")
    c.cmd("MAIL FROM:<\"<script>alert('mailfrom')</script>\"@evil.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("DATA")
    c.data_body(m.as_bytes())
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    time.sleep(PAUSE)

    tr = _tr("raw", "aiosmtpd", H, 2525, note="terminal escapes in HELO; injection echoed in VRFY replies")
    c = RawClient(tr)
    c.cmd("HELO \x1b]0;pwned\x07\x1b[2J\x1b[31mterm.evil.test;#x %%{init}")
    c.cmd("VRFY <iframe src=javascript:alert('vrfy')>")
    c.cmd("VRFY $\\frac{a}{b}$ costs $5")
    c.cmd("<img/src=x/onerror=alert('cmd')>")  # aiosmtpd echoes unknown verbs in its 500 reply
    c.cmd("QUIT")
    c.close()
    trs.append(tr)
    return trs
