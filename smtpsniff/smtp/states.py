"""Every state the SMTP decoder can be in, and the one table of moves between them.

Three machines share this module and its single table, keyed by ``(state, Trigger)``:

* :class:`SmtpState` -- the session as the server has answered it so far (Zeek's SMTP analyser
  states: greeting, HELO/EHLO, MAIL, RCPT, DATA, AUTH, TLS, QUIT, plus AFTER_GAP/GAP_RECOVERY);
* :class:`ClientMode` -- how the next client byte must be framed (command line, held until a reply
  decides, DATA content, BDAT chunk octets, AUTH response, TLS, lost after a gap);
* :class:`ServerMode` -- how the next server byte must be framed (reply line, gap, TLS).

Everything that moves any of them is a row of :data:`TRANSITIONS`; the decoder
(:mod:`smtpsniff.smtp.conversation`) only names triggers.  A trigger without a row leaves the state
as it is: remote misbehaviour is the decoder's anomaly to report, never an exception here.

The framing modes and triggers are plain Enums (no ``str`` mix-in) on purpose: ``ClientMode.GAP``
and ``ServerMode.GAP`` must never be equal, or their rows in the one table would collide.  As plain
Enums they compare by identity, so they hash by identity too (``object.__hash__``, in C) rather than
by ``Enum.__hash__`` (a Python call on every table look-up, several per SMTP line).
:class:`SmtpState` keeps its ``str`` values for records and tables.

This module knows no bytes, no grammar and no events.
"""
from __future__ import annotations

from enum import Enum
from typing import Iterable, TypeVar


class SmtpState(str, Enum):
    """Session state, changed by the server's replies (the server decides what happened)."""

    __hash__ = str.__hash__  # equal to its value as a str, so hashed as one (and in C)

    CONNECTED = "connected"  # no greeting seen yet
    GREETED = "greeted"  # 220 greeting seen (RFC 5321 4.3.1), no accepted HELO/EHLO yet
    REFUSED = "refused"  # 554 (or 421) greeting: "no SMTP service here" (RFC 5321 3.1)
    READY = "ready"  # HELO/EHLO accepted, no transaction open
    MAIL_OK = "mail_ok"  # MAIL FROM accepted (RFC 5321 3.3)
    RCPT_OK = "rcpt_ok"  # at least one RCPT TO accepted
    IN_DATA = "in_data"  # 354 seen: message content flows (RFC 5321 4.1.1.4)
    IN_BDAT = "in_bdat"  # BDAT chunks flow (RFC 3030 2)
    AFTER_DATA = "after_data"  # content ended, the final reply is awaited
    IN_AUTH = "in_auth"  # 334 seen: SASL exchange (RFC 4954 4)
    IN_TLS = "in_tls"  # TLS from here on (RFC 3207 4.2; or implicit TLS, RFC 8314)
    QUIT = "quit"  # 221 to QUIT seen
    AFTER_GAP = "after_gap"  # bytes were lost; decoding waits to resynchronise
    GAP_RECOVERY = "gap_recovery"  # resynchronised; the envelope state before the gap is unknown
    CLOSED = "closed"  # close() called


class ClientMode(Enum):
    __hash__ = object.__hash__  # identity, as equality (see the module docstring)

    COMMAND = "command"  # command lines (RFC 5321 4.1.1)
    DATA_WAIT = "data_wait"  # DATA sent; later bytes held until the reply says content or commands
    DATA_CONTENT = "data_content"  # after 354: content up to CRLF.CRLF (RFC 5321 4.5.2)
    BDAT_CHUNK = "bdat_chunk"  # exactly chunk-size octets (RFC 3030 2)
    AUTH_WAIT = "auth_wait"  # AUTH (or a response) sent; held until 334 or the outcome
    AUTH_RESPONSE = "auth_response"  # 334 seen: the next line is a SASL response (RFC 4954 4)
    STARTTLS_WAIT = "starttls_wait"  # STARTTLS sent; held until the reply (RFC 3207 4)
    TLS_PROBE = "tls_probe"  # TLS expected: next bytes are a TLS record or plaintext injection
    TLS = "tls"  # TLS records; counted, hellos parsed
    GAP = "gap"  # lost bytes; skipping to the next line with a known verb
    CLOSED = "closed"


class ServerMode(Enum):
    __hash__ = object.__hash__  # identity, as equality (see the module docstring)

    REPLY = "reply"  # reply lines (RFC 5321 4.2)
    TLS_PROBE = "tls_probe"
    TLS = "tls"
    GAP = "gap"  # lost bytes; skipping to the next line that starts like a reply
    CLOSED = "closed"


class Trigger(Enum):
    __hash__ = object.__hash__  # identity, as equality (see the module docstring)

    # --- replies (server decides) ---
    GREETING_OK = "greeting_ok"  # 220 greeting
    GREETING_REFUSED = "greeting_refused"  # 554/421 greeting
    HELLO_OK = "hello_ok"  # 250 to HELO/EHLO/LHLO
    MAIL_OK = "mail_ok"  # 250 to MAIL
    RCPT_OK = "rcpt_ok"  # 250/251 to RCPT
    DATA_GO = "data_go"  # 354 to DATA
    DATA_REFUSED = "data_refused"  # anything else to DATA
    DATA_END_REPLY = "data_end_reply"  # reply to end of content / BDAT LAST (transaction over)
    RSET_OK = "rset_ok"  # 250 to RSET
    AUTH_CHALLENGE = "auth_challenge"  # 334
    AUTH_DONE = "auth_done"  # any non-334 reply to AUTH
    TLS_GO = "tls_go"  # 220 to STARTTLS
    TLS_REFUSED = "tls_refused"  # anything else to STARTTLS
    QUIT_OK = "quit_ok"  # 221 to QUIT
    # --- client framing ---
    SENT_DATA = "sent_data"
    SENT_BDAT = "sent_bdat"
    SENT_AUTH = "sent_auth"
    SENT_STARTTLS = "sent_starttls"
    AUTH_RESPONSE_SENT = "auth_response_sent"
    CHUNK_DONE = "chunk_done"
    MESSAGE_END = "message_end"  # CRLF.CRLF seen, or the LAST chunk read
    BDAT_INVALID = "bdat_invalid"  # unusable chunk size: framing lost, resynchronise
    END_LOST = "end_lost"  # a reply came while content was open after a gap: its end was lost
    HOLD_OVERFLOW = "hold_overflow"  # held bytes reached their limit before the reply came
    # --- TLS ---
    TLS_RECORD = "tls_record"  # the probe saw a TLS record header
    PLAINTEXT_ON_IMPLICIT = "plaintext_on_implicit"  # implicit TLS, but the first bytes are SMTP
    # --- stream ---
    GAP = "gap"
    RESYNC = "resync"
    CLOSE = "close"


S = TypeVar("S", SmtpState, ClientMode, ServerMode)


def _rows(states: Iterable[Enum], trigger: Trigger, to: Enum) -> dict[tuple[Enum, Trigger], Enum]:
    return {(s, trigger): to for s in states}


def _all_but(enum: type[Enum], *excluded: Enum) -> list[Enum]:
    return [s for s in enum if s not in excluded]


_SESSION_LIVE = _all_but(SmtpState, SmtpState.IN_TLS, SmtpState.CLOSED)
_LINE_STATES = _all_but(
    SmtpState, SmtpState.IN_TLS, SmtpState.CLOSED, SmtpState.IN_DATA, SmtpState.IN_BDAT
)
_HOLD_MODES = (ClientMode.DATA_WAIT, ClientMode.AUTH_WAIT, ClientMode.STARTTLS_WAIT)

#: The one transition table: ``(current state, trigger) -> next state``.
TRANSITIONS: dict[tuple[Enum, Trigger], Enum] = {
    # ---------------- session (SmtpState) ----------------
    (SmtpState.CONNECTED, Trigger.GREETING_OK): SmtpState.GREETED,
    (SmtpState.CONNECTED, Trigger.GREETING_REFUSED): SmtpState.REFUSED,
    # RFC 5321 4.1.4: EHLO/HELO may come at any time and resets any transaction.
    **_rows(_SESSION_LIVE, Trigger.HELLO_OK, SmtpState.READY),
    # The server's acceptance decides; a capture that starts mid-session still follows it.
    **_rows(_LINE_STATES, Trigger.MAIL_OK, SmtpState.MAIL_OK),
    **_rows((SmtpState.MAIL_OK, SmtpState.RCPT_OK, SmtpState.GAP_RECOVERY, SmtpState.AFTER_GAP,
             SmtpState.CONNECTED, SmtpState.GREETED), Trigger.RCPT_OK, SmtpState.RCPT_OK),
    **_rows(_SESSION_LIVE, Trigger.DATA_GO, SmtpState.IN_DATA),
    **_rows(_LINE_STATES, Trigger.SENT_BDAT, SmtpState.IN_BDAT),
    (SmtpState.IN_DATA, Trigger.MESSAGE_END): SmtpState.AFTER_DATA,
    (SmtpState.IN_BDAT, Trigger.MESSAGE_END): SmtpState.AFTER_DATA,
    (SmtpState.IN_DATA, Trigger.END_LOST): SmtpState.GAP_RECOVERY,
    # RFC 5321 4.1.1.4 / RFC 3030 2: the reply to the end of the message ends the transaction,
    # whether it accepts or refuses it.
    **_rows((SmtpState.AFTER_DATA, SmtpState.IN_BDAT, SmtpState.IN_DATA, SmtpState.GAP_RECOVERY,
             SmtpState.AFTER_GAP), Trigger.DATA_END_REPLY, SmtpState.READY),
    **_rows(_SESSION_LIVE, Trigger.RSET_OK, SmtpState.READY),
    **_rows(_SESSION_LIVE, Trigger.AUTH_CHALLENGE, SmtpState.IN_AUTH),
    (SmtpState.IN_AUTH, Trigger.AUTH_DONE): SmtpState.READY,
    **_rows(_SESSION_LIVE, Trigger.TLS_GO, SmtpState.IN_TLS),
    **_rows(_SESSION_LIVE, Trigger.TLS_RECORD, SmtpState.IN_TLS),  # implicit TLS (RFC 8314 3.3)
    **_rows(_SESSION_LIVE, Trigger.QUIT_OK, SmtpState.QUIT),
    **_rows(_LINE_STATES, Trigger.GAP, SmtpState.AFTER_GAP),
    (SmtpState.AFTER_GAP, Trigger.RESYNC): SmtpState.GAP_RECOVERY,
    **_rows(SmtpState, Trigger.CLOSE, SmtpState.CLOSED),
    # ---------------- client framing (ClientMode) ----------------
    (ClientMode.COMMAND, Trigger.SENT_DATA): ClientMode.DATA_WAIT,
    (ClientMode.COMMAND, Trigger.SENT_BDAT): ClientMode.BDAT_CHUNK,
    (ClientMode.COMMAND, Trigger.SENT_AUTH): ClientMode.AUTH_WAIT,
    (ClientMode.COMMAND, Trigger.SENT_STARTTLS): ClientMode.STARTTLS_WAIT,
    (ClientMode.COMMAND, Trigger.BDAT_INVALID): ClientMode.GAP,
    (ClientMode.DATA_WAIT, Trigger.DATA_GO): ClientMode.DATA_CONTENT,
    (ClientMode.DATA_WAIT, Trigger.DATA_REFUSED): ClientMode.COMMAND,
    # A client that keeps sending after DATA without an answer is most likely sending content.
    (ClientMode.DATA_WAIT, Trigger.HOLD_OVERFLOW): ClientMode.DATA_CONTENT,
    (ClientMode.DATA_CONTENT, Trigger.MESSAGE_END): ClientMode.COMMAND,
    (ClientMode.DATA_CONTENT, Trigger.END_LOST): ClientMode.GAP,
    (ClientMode.DATA_CONTENT, Trigger.GAP): ClientMode.DATA_CONTENT,  # stays until CRLF.CRLF
    (ClientMode.BDAT_CHUNK, Trigger.CHUNK_DONE): ClientMode.COMMAND,
    (ClientMode.BDAT_CHUNK, Trigger.GAP): ClientMode.BDAT_CHUNK,  # the gap is counted off the chunk
    (ClientMode.AUTH_WAIT, Trigger.AUTH_CHALLENGE): ClientMode.AUTH_RESPONSE,
    (ClientMode.AUTH_WAIT, Trigger.AUTH_DONE): ClientMode.COMMAND,
    (ClientMode.AUTH_WAIT, Trigger.HOLD_OVERFLOW): ClientMode.COMMAND,
    (ClientMode.AUTH_RESPONSE, Trigger.AUTH_RESPONSE_SENT): ClientMode.AUTH_WAIT,
    (ClientMode.AUTH_RESPONSE, Trigger.AUTH_DONE): ClientMode.COMMAND,
    (ClientMode.STARTTLS_WAIT, Trigger.TLS_GO): ClientMode.TLS_PROBE,
    (ClientMode.STARTTLS_WAIT, Trigger.TLS_REFUSED): ClientMode.COMMAND,
    (ClientMode.STARTTLS_WAIT, Trigger.HOLD_OVERFLOW): ClientMode.TLS_PROBE,
    (ClientMode.TLS_PROBE, Trigger.TLS_RECORD): ClientMode.TLS,
    (ClientMode.TLS_PROBE, Trigger.PLAINTEXT_ON_IMPLICIT): ClientMode.COMMAND,
    (ClientMode.TLS_PROBE, Trigger.GAP): ClientMode.TLS,
    (ClientMode.TLS, Trigger.GAP): ClientMode.TLS,
    # Held bytes keep the gap in their place; the reply decides how it is read.
    **{(m, Trigger.GAP): m for m in _HOLD_MODES},
    (ClientMode.COMMAND, Trigger.GAP): ClientMode.GAP,
    (ClientMode.AUTH_RESPONSE, Trigger.GAP): ClientMode.GAP,
    (ClientMode.GAP, Trigger.GAP): ClientMode.GAP,
    (ClientMode.GAP, Trigger.RESYNC): ClientMode.COMMAND,
    **_rows(ClientMode, Trigger.CLOSE, ClientMode.CLOSED),
    # ---------------- server framing (ServerMode) ----------------
    (ServerMode.REPLY, Trigger.TLS_GO): ServerMode.TLS_PROBE,
    (ServerMode.TLS_PROBE, Trigger.TLS_RECORD): ServerMode.TLS,
    (ServerMode.TLS_PROBE, Trigger.PLAINTEXT_ON_IMPLICIT): ServerMode.REPLY,
    (ServerMode.TLS_PROBE, Trigger.GAP): ServerMode.TLS,
    (ServerMode.TLS, Trigger.GAP): ServerMode.TLS,
    (ServerMode.REPLY, Trigger.GAP): ServerMode.GAP,
    (ServerMode.GAP, Trigger.GAP): ServerMode.GAP,
    (ServerMode.GAP, Trigger.RESYNC): ServerMode.REPLY,
    **_rows(ServerMode, Trigger.CLOSE, ServerMode.CLOSED),
}

#: Client modes in which bytes are held, not read, until a server reply decides.
HOLD_MODES: frozenset[ClientMode] = frozenset(_HOLD_MODES)


def advance(state: S, trigger: Trigger) -> S:
    """The state after ``trigger``; the same state when the table has no row for the pair."""
    return TRANSITIONS.get((state, trigger), state)  # type: ignore[return-value]



def reply_trigger(verb: str | None, data_stage: str | None, code: int) -> Trigger | None:
    """What a reply to ``verb`` means to the machines (``data_stage``: "start", "end" or None).

    RFC 5321 4.3.2 lists the codes each command may get; only the ones that move a state are here.
    """
    if data_stage == "start":
        return Trigger.DATA_GO if code == 354 else Trigger.DATA_REFUSED
    if data_stage == "end":
        return Trigger.DATA_END_REPLY
    if verb in ("EHLO", "HELO", "LHLO"):
        return Trigger.HELLO_OK if code == 250 else None
    if verb == "MAIL":
        return Trigger.MAIL_OK if code == 250 else None
    if verb == "RCPT":
        return Trigger.RCPT_OK if code in (250, 251) else None
    if verb == "RSET":
        return Trigger.RSET_OK if code == 250 else None
    if verb == "AUTH":
        return Trigger.AUTH_CHALLENGE if code == 334 else Trigger.AUTH_DONE
    if verb == "STARTTLS":
        return Trigger.TLS_GO if code == 220 else Trigger.TLS_REFUSED
    if verb == "QUIT":
        return Trigger.QUIT_OK if code == 221 else None
    return None


#: The reply codes :func:`reply_trigger` tells apart; any other code means what code 0 does.
_DECIDING_CODES = (220, 221, 250, 251, 334, 354)
#: A reply's moves: ``(trigger by deciding code, trigger of any other code)``.
ReplyMoves = tuple[dict[int, "Trigger | None"], "Trigger | None"]


def _moves(verb: str | None, data_stage: str | None) -> ReplyMoves:
    return {c: reply_trigger(verb, data_stage, c) for c in _DECIDING_CODES}, reply_trigger(verb, data_stage, 0)


#: :func:`reply_trigger` as look-ups, for the decoder's per-reply path: the moves of a reply to
#: the DATA content ("start"/"end", whatever the verb) ...
REPLY_MOVES_BY_STAGE: dict[str, ReplyMoves] = {stage: _moves(None, stage) for stage in ("start", "end")}
#: ... else of a reply to the command ``verb``; a verb not here moves nothing (:data:`NO_MOVES`).
#: ``moves[0].get(code, moves[1])`` is ``reply_trigger(verb, data_stage, code)`` (tests/smtp prove it).
REPLY_MOVES_BY_VERB: dict[str, ReplyMoves] = {
    verb: _moves(verb, None) for verb in ("EHLO", "HELO", "LHLO", "MAIL", "RCPT", "RSET", "AUTH", "STARTTLS", "QUIT")
}
NO_MOVES: ReplyMoves = ({}, None)
