"""The mail layer: the bytes of one message -> headers, fields, MIME parts, URLs, anomalies.

RFC 5322 and MIME (RFC 2045-2049, 2047, 2231, 6532) through the stdlib ``email`` package, guarded
so that hostile input becomes anomalies.  It knows nothing of SMTP, TCP or captures.
"""
from __future__ import annotations

from smtpsniff.mail.model import (
    Address,
    EmbeddedMessage,
    Header,
    MimePart,
    ParsedMessage,
    ReceivedHop,
)
from smtpsniff.mail.parse import parse_message
from smtpsniff.mail.received import zeek_path

__all__ = [
    "Address",
    "EmbeddedMessage",
    "Header",
    "MimePart",
    "ParsedMessage",
    "ReceivedHop",
    "parse_message",
    "zeek_path",
]
