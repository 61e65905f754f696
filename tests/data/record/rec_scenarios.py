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
