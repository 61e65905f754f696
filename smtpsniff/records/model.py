"""The records smtpsniff produces: one frozen dataclass per table row.

Built by :mod:`smtpsniff.records.builder` from SMTP events; turned into DataFrames by
:mod:`smtpsniff.analysis.tables`.  Missing data is ``None``, never an invented value.  Timestamps are
integer nanoseconds since the epoch (UTC).  This module only declares shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TransactionStatus(str, Enum):
    ACCEPTED = "accepted"  # the end of the message was answered 2xx
    REJECTED = "rejected"  # MAIL, every RCPT, DATA or the message end refused (4xx/5xx)
    ABORTED = "aborted"  # RSET, QUIT or a new MAIL before the message was sent
    INCOMPLETE = "incomplete"  # the capture ends or has a gap inside the transaction
    NO_MESSAGE = "no_message"  # envelope only: no DATA or BDAT was sent
    STARTTLS = "starttls"  # the session switched to TLS; what followed is encrypted


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    session_id: int
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRecord:
    session_id: int
    index: int  # 0-based position among the session's commands
    ts_ns: int
    frame: int
    verb: str
    argument: str
    known: bool
    pipelined: bool
    trans_index: int | None  # the transaction it belongs to (MAIL .. end of data)
    reply_code: int | None
    reply_frame: int | None
    reply_ts_ns: int | None
    raw: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRecord:
    session_id: int
    index: int
    ts_ns: int
    frame: int
    code: int
    enhanced_code: str | None
    text: str  # every text line, joined with "\n"
    lines: int
    verb: str | None  # the command it answers ("<greeting>" for the banner, None when unmatched)
    stage: str | None  # for DATA/BDAT: "data_start" (354) or "data_end"; else None
    command_index: int | None
    trans_index: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientRecord:
    session_id: int
    trans_index: int
    index: int
    ts_ns: int
    frame: int
    address: str
    params: str
    reply_code: int | None
    reply_text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionRecord:
    """One message attempt, as one row of Zeek's smtp.log.

    It begins with the first MAIL or RCPT (or the switch to TLS) and ends at the reply to the end of
    the message, at the next MAIL, or when the connection closes (main.zeek's ``smtp_message``).
    """

    session_id: int
    trans_index: int  # 0-based, unique within the session
    trans_depth: int  # messages transferred earlier in the session + 1 (Zeek's trans_depth)
    ts_ns: int
    frame: int
    helo: str | None
    mail_from: str | None
    mail_params: str
    mail_reply_code: int | None
    rcpt_to: tuple[str, ...]
    rcpt_codes: tuple[int | None, ...]
    rcpt_accepted: int
    data_via: str | None  # "DATA" or "BDAT"
    data_reply_code: int | None  # 354 for DATA; the first BDAT chunk's reply
    final_reply_code: int | None  # the reply to the end of the message
    last_reply: str | None  # code and text of the transaction's last reply, as Zeek's last_reply
    message_size: int | None
    message_complete: bool | None
    tls: bool
    status: str  # see TransactionStatus
    end_ts_ns: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    session_id: int
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    ip_version: int
    start_ns: int
    end_ns: int
    first_frame: int
    detected_by: str  # "port" or "greeting" (220 answered by EHLO/HELO on another port)
    role_basis: str
    handshake_seen: bool
    banner: str | None
    greeting_code: int | None
    helo_verb: str | None
    helo: str | None
    capabilities: tuple[str, ...]
    pipelining_offered: bool
    starttls_offered: bool
    starttls_used: bool
    implicit_tls: bool
    tls_version: str | None
    sni: str | None
    auth_mechanisms_offered: tuple[str, ...]
    auth_mechanism: str | None
    auth_reply_code: int | None
    auth_success: bool | None
    commands: int
    replies: int
    transactions: int
    messages: int
    bytes_c2s: int
    bytes_s2c: int
    tls_bytes_c2s: int
    tls_bytes_s2c: int
    gap_bytes: int
    close_reason: str
    anomalies: int
