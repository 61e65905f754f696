"""Anomalies never quote AUTH lines: they carry credentials (RFC 4954), masked unless asked for."""
from __future__ import annotations

import base64

from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp.conversation import SmtpConversation

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
SECRET = base64.b64encode(b"\x00carol\x00hunter2\r").decode()


def _anomaly_text(transcript):
    conv, events = SmtpConversation(), []
    for n, (direction, data) in enumerate(transcript, 1):
        events += conv.receive(direction, data, n, n)
    events += conv.close(len(transcript) + 1)
    return " ".join(getattr(e, "message", "") for e in events)


def test_bare_cr_in_auth_line_is_reported_without_the_credentials():
    text = _anomaly_text([
        (S2C, b"220 mx ESMTP\r\n"), (C2S, b"EHLO c\r\n"), (S2C, b"250 AUTH PLAIN LOGIN\r\n"),
        (C2S, f"AUTH PLAIN {SECRET}\r\r\n".encode()), (S2C, b"235 ok\r\n"),
        (C2S, b"AUTH LOGIN\r\n"), (S2C, b"334 VXNlcm5hbWU6\r\n"), (C2S, b"Y2Fyb2w=\x00\r\n"),
        (S2C, b"334 UGFzc3dvcmQ6\r\n"), (C2S, b"aHVudGVyMg"),
    ])
    assert "bare CR" in text and "NUL" in text and "without end" in text
    assert SECRET not in text and "aHVudGVyMg" not in text and "Y2Fyb2w" not in text
