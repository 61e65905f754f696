"""What the SMTP decoder reports: frozen, slotted, keyword-only dataclasses, one per kind of event.

Every event has ``ts_ns`` and ``frame``: the capture time and frame number of the chunk that held
its first byte.  Events built from several chunks also keep ``end_frame`` (and messages
``end_ts_ns``), the frame holding their last byte.

Text fields are decoded from the wire as UTF-8 with ``errors="surrogateescape"`` (RFC 6531 permits
UTF-8; any other byte survives as a lone surrogate and ``text.encode("utf-8", "surrogateescape")``
gives it back).  Raw bytes are always kept beside the text.

Remote misbehaviour is an :class:`~smtpsniff.anomaly.Anomaly` (layer SMTP) in the same event list.
This module knows no parsing and no state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from smtpsniff.anomaly import Anomaly
from smtpsniff.reassembly.events import Direction

__all__ = [
    "AuthStep", "AuthStepKind", "Capabilities", "Command", "GapEvent", "MessageComplete",
    "MessageStart", "PlaintextAfterStarttls", "Reply", "ReplyStage", "Resynced", "SmtpEvent",
    "TlsClientHello", "TlsServerHello", "TlsStarted", "GREETING_VERB",
]

#: ``Reply.verb`` of the server's greeting (RFC 5321 4.3.1), which answers no command.
GREETING_VERB = "<greeting>"


class ReplyStage(str, Enum):
    """What a reply answers (``Reply.stage``)."""

    GREETING = "greeting"  # the banner (RFC 5321 3.1); verb "<greeting>"
    COMMAND = "command"  # a command's reply (also the final reply to AUTH, RFC 4954 6)
    DATA_START = "data_start"  # the reply to DATA: 354 or a refusal (RFC 5321 4.1.1.4)
    DATA_END = "data_end"  # the reply to CRLF.CRLF, or to BDAT ... LAST (verb "DATA"/"BDAT")
    BDAT_CHUNK = "bdat_chunk"  # the reply to a BDAT chunk that is not the last (RFC 3030 2)
    AUTH_CHALLENGE = "auth_challenge"  # a 334 within AUTH (RFC 4954 4); also an AuthStep
    UNEXPECTED = "unexpected"  # no command was waiting (verb and command_index None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    index: int  # 0-based, per conversation, in order sent
    verb: str  # upper-cased as sent (RFC 5321 2.4); unknown verbs too (``known=False``)
    argument: str  # text after the verb and its separator, trailing blanks removed
    raw: bytes  # the line as sent, terminator included
    known: bool
    #: ESMTP parameters (RFC 5321 4.1.2): keyword upper-cased -> value as sent, None without "=".
    params: dict[str, str | None] = field(default_factory=dict)
    #: xtext-decoded values (RFC 3461 4) of the parameters that are xtext: ENVID, ORCPT, AUTH.
    params_decoded: dict[str, str] = field(default_factory=dict)
    #: MAIL FROM / RCPT TO: the path without angle brackets nor source route ("" for "<>").
    address: str | None = None
    address_raw: str | None = None  # the path as sent
    pipelined: bool = False  # sent while an earlier command (or message end) still awaited a reply
    line_ending: bytes = b"\r\n"  # b"\r\n", b"\n" (bare LF) or b"" (cut at the line limit)
    ts_ns: int
    frame: int
    end_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    code: int
    enhanced_code: str | None  # RFC 3463 class.subject.detail at the start of the first line
    lines: tuple[str, ...]  # text of each line after "ddd-" / "ddd " (kept up to max_reply_lines)
    text: str  # the lines joined with "\n"
    raw: bytes  # every octet of the reply, terminators included
    command_index: int | None  # the Command answered; for DATA_END the DATA / last BDAT command
    verb: str | None  # that command's verb, "<greeting>" for the banner, None when unexpected
    stage: ReplyStage
    multiline: bool
    complete: bool = True  # False when a gap or close cut it
    after_gap: bool = False  # first reply after a gap in either stream: matching may be off
    ts_ns: int
    frame: int
    end_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """The extensions a 250 reply to EHLO (or LHLO) announces (RFC 5321 4.1.1.1, 2.2)."""

    command_index: int
    domain: str  # first word of the first line
    greeting: str  # rest of the first line
    items: tuple[tuple[str, tuple[str, ...]], ...]  # (keyword upper-cased, params) per line
    pipelining: bool  # RFC 2920
    size: int | None  # RFC 1870 SIZE value; None when not announced or without a number
    size_announced: bool
    starttls: bool  # RFC 3207
    auth_mechanisms: tuple[str, ...]  # RFC 4954 AUTH (and the old "AUTH=" form), upper-cased
    chunking: bool  # RFC 3030
    binarymime: bool  # RFC 3030
    eightbitmime: bool  # RFC 6152
    smtputf8: bool  # RFC 6531
    dsn: bool  # RFC 3461
    enhancedstatuscodes: bool  # RFC 2034
    requiretls: bool  # RFC 8689
    ts_ns: int
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStart:
    via: str  # "DATA" or "BDAT"
    command_index: int  # DATA, or the first BDAT
    ts_ns: int  # the 354 reply (DATA) or the first BDAT command
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageComplete:
    via: str  # "DATA" or "BDAT"
    command_index: int  # DATA, or the first BDAT
    #: DATA: dot-unstuffed (RFC 5321 4.5.2), without the terminating ".CRLF" but with the CRLF
    #: before it; BDAT: the chunk octets concatenated (RFC 3030 2).  At most max_message_bytes.
    content: bytes
    size: int  # octets of the whole content, kept or not
    truncated_content: bool
    wire_bytes: int  # octets on the wire: dot-stuffing and terminator included
    complete: bool  # False when a gap or close cut it or its end was never seen
    gap_bytes: int  # octets lost inside it (offsets below skip them)
    end_marker: bytes  # b"\r\n.\r\n", b".\r\n" (empty message), b"" for BDAT or incomplete
    chunks: int  # BDAT chunks (DATA: 1)
    bare_cr_count: int
    bare_cr_offsets: tuple[int, ...]  # positions in ``content``; at most max_recorded_offsets
    bare_lf_count: int
    bare_lf_offsets: tuple[int, ...]
    nul_count: int
    long_line_count: int  # lines longer than max_text_line (RFC 5321 4.5.3.1.6)
    #: (offset in content, shape as on the wire) for b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n":
    #: end-of-data sequences other receivers may honour (SMTP smuggling, SEC Consult 2023).
    smuggling_candidates: tuple[tuple[int, bytes], ...]
    smuggling_candidate_count: int
    ts_ns: int  # first byte of content (the terminator for an empty message)
    frame: int
    end_frame: int
    end_ts_ns: int


class AuthStepKind(str, Enum):
    INITIAL = "initial"  # initial-response on the AUTH line (RFC 4954 4)
    CHALLENGE = "challenge"  # a 334 server challenge
    RESPONSE = "response"  # a client response line
    CANCEL = "cancel"  # the client's "*" (RFC 4954 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthStep:
    """One SASL step of an AUTH exchange; secrets are decoded, never interpreted here."""

    mechanism: str
    direction: Direction
    kind: AuthStepKind
    data: bytes  # base64-decoded; the raw text's bytes when it does not decode
    decoded: bool  # whether ``data`` is the base64 decoding
    raw: bytes  # the base64 text as sent (no verb, code or terminator)
    command_index: int  # the AUTH command
    ts_ns: int
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsStarted:
    implicit: bool  # True: implicit TLS (RFC 8314), False: after STARTTLS's 220 (RFC 3207)
    command_index: int | None  # the STARTTLS command
    ts_ns: int
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsClientHello:
    version: str  # highest of supported_versions (RFC 8446 4.2.1), else the legacy version
    legacy_version: str
    record_version: str
    supported_versions: tuple[str, ...]
    sni: str | None  # server_name host_name (RFC 6066 3)
    alpn: tuple[str, ...]
    cipher_suites: int  # how many were offered
    ts_ns: int
    frame: int
    end_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsServerHello:
    version: str  # supported_versions selected_version, else the legacy version
    legacy_version: str
    record_version: str
    cipher_suite: int
    ts_ns: int
    frame: int
    end_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaintextAfterStarttls:
    """Bytes where TLS was due that are no TLS record: STARTTLS injection (CVE-2011-0411)."""

    direction: Direction
    data: bytes  # one line (or what remained at close)
    ts_ns: int
    frame: int
    end_frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GapEvent:
    direction: Direction
    length: int
    ts_ns: int
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Resynced:
    direction: Direction
    skipped_bytes: int  # lost (gap) plus seen but unusable octets since the gap
    ts_ns: int  # the line decoding resumed on
    frame: int


SmtpEvent = (
    Command | Reply | Capabilities | MessageStart | MessageComplete | AuthStep | TlsStarted
    | TlsClientHello | TlsServerHello | PlaintextAfterStarttls | GapEvent | Resynced | Anomaly
)
