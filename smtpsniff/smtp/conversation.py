"""The SMTP decoder: both directions of one connection in, typed events out (sans-IO, like h11).

Feed it the client's and the server's bytes in capture order with :meth:`SmtpConversation.receive`,
lost stretches with :meth:`~SmtpConversation.gap`, and the end with :meth:`~SmtpConversation.close`;
each call returns the events its input completed.  Chunking never changes the events: a line, reply
or message split over chunks keeps the time and frame of its first byte (and ``end_frame``).

What it models (rules cited where applied):

* command lines (RFC 5321 4.1.1) and replies (4.2), matched in order -- RFC 2920 says replies come
  in the order of the commands, pipelined or not; the first reply is the greeting (4.3.1);
* DATA (4.1.1.4, 4.5.2): bytes after ``DATA`` are *held* until the server's reply decides whether
  they are content (354) or commands (anything else) -- what the server itself does;
* BDAT (RFC 3030 2): chunk-size octets, no dot-stuffing, message complete at LAST;
* AUTH (RFC 4954 4): after AUTH, client lines are SASL responses while the server answers 334;
* STARTTLS (RFC 3207 4.2) and implicit TLS (RFC 8314): after the 220 both directions are TLS;
  whatever is no TLS record there is reported (STARTTLS injection, CVE-2011-0411);
* gaps (Zeek's AFTER_GAP / GAP_RECOVERY): a direction that lost bytes skips to the next line it can
  trust -- a reply line for the server, a known verb for the client -- and says what it skipped;
  DATA content stays content until CRLF.CRLF, BDAT counts the lost octets off the chunk.

Every state lives in :mod:`smtpsniff.smtp.states` and moves only through its table.  Misbehaviour of
either peer is an :class:`~smtpsniff.anomaly.Anomaly` event; no input raises.

A well-formed command line, reply or run of message lines, and the usual EHLO reply's lines, are
read by C functions when the extension is built (:func:`smtpsniff.net.native.smtp_functions`,
``smtp_ehlo``); they decline anything unusual, which the Python code here reads -- as it reads
everything with ``SMTPSNIFF_NATIVE=0``, the tests' oracle.

This module does no I/O and knows no sockets, packets, TCP, files, clocks or DataFrames.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from smtpsniff._native import fastpath as _fastpath
from smtpsniff.anomaly import Anomaly, Layer
from smtpsniff.limits import DEFAULT_LIMITS, Limits
from smtpsniff.net import native
from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp import grammar as g
from smtpsniff.smtp.capabilities import parse_ehlo_lines
from smtpsniff.smtp.content import MessageAssembler
from smtpsniff.smtp.events import (
    GREETING_VERB,
    AuthStep,
    AuthStepKind,
    Capabilities,
    Command,
    GapEvent,
    MessageComplete,
    MessageStart,
    PlaintextAfterStarttls,
    Reply,
    ReplyStage,
    Resynced,
    SmtpEvent,
    TlsClientHello,
    TlsServerHello,
    TlsStarted,
)
from smtpsniff.fastinit import slot_builder
from smtpsniff.smtp.lines import Line, LineSplitter, new_line
from smtpsniff.smtp.states import (
    HOLD_MODES,
    ClientMode,
    ServerMode,
    SmtpState,
    Trigger,
    NO_MOVES,
    REPLY_MOVES_BY_STAGE,
    REPLY_MOVES_BY_VERB,
    TRANSITIONS,
    advance,
)
from smtpsniff.smtp.tls import (
    MAX_HELLO_BYTES,
    ClientHelloInfo,
    ServerHelloInfo,
    parse_hello,
    record_start,
    version_name,
)

# the C reader of the usual EHLO reply, used when native.smtp_functions() is on (None: not compiled)
_C_EHLO = getattr(_fastpath, "smtp_ehlo", None)

_new_reply = slot_builder(Reply)
_new_command = slot_builder(Command)
_new_capabilities = slot_builder(Capabilities)
_new_message_start = slot_builder(MessageStart)
_new_auth_step = slot_builder(AuthStep)
_ENHANCED_MATCH = g.ENHANCED_CODE.match
_COMMAND_MATCH = g.COMMAND_LINE.match
# Enum members read as a class attribute cost a descriptor call: the hot paths use these names.
_COMMAND_MODE = ClientMode.COMMAND
_DATA_WAIT_MODE = ClientMode.DATA_WAIT
_DATA_CONTENT_MODE = ClientMode.DATA_CONTENT
_CLIENT_TLS_MODES = frozenset({ClientMode.TLS_PROBE, ClientMode.TLS})
_SERVER_TLS_MODES = frozenset({ServerMode.TLS_PROBE, ServerMode.TLS})
_TLS_MODES = frozenset({ClientMode.TLS, ServerMode.TLS})  # either direction's TLS (after the probe)
_DATA_GO = Trigger.DATA_GO
_GREETING_OK = Trigger.GREETING_OK
_GREETING_REFUSED = Trigger.GREETING_REFUSED
_GREETING_STAGE = ReplyStage.GREETING
_AUTH_CHALLENGE_STAGE = ReplyStage.AUTH_CHALLENGE
_TLS_GO = Trigger.TLS_GO
_AUTH_DONE = Trigger.AUTH_DONE
_HELLO_OK = Trigger.HELLO_OK
_MESSAGE_END = Trigger.MESSAGE_END
_SENT_DATA = Trigger.SENT_DATA
_REPLY_MODE = ServerMode.REPLY
_COMMAND_STAGE = ReplyStage.COMMAND
_DATA_START = ReplyStage.DATA_START
_DATA_END = ReplyStage.DATA_END
_KNOWN_VERBS = g.KNOWN_VERBS
_SHARED_TEXT = g.SHARED_TEXT
_CONNECTED = SmtpState.CONNECTED
_AFTER_GAP = SmtpState.AFTER_GAP
#: ``SmtpConversation(c_readers=...)``'s default: ask :func:`smtpsniff.net.native.smtp_functions` now.
ASK_NATIVE = object()
#: Verbs whose Command moves more than the queue of commands awaiting a reply
#: (:meth:`SmtpConversation._command_sent`, :meth:`SmtpConversation._framing_command`).
_SENT_MOVES = frozenset({"MAIL", "RCPT", "RSET", "DATA", "STARTTLS", "BDAT", "AUTH"})
#: Known verbs whose Command only joins the queue of commands awaiting a reply.
_QUEUED_VERBS = _KNOWN_VERBS - _SENT_MOVES
_TRANSITION = TRANSITIONS.get  # advance(state, trigger) is _TRANSITION((state, trigger), state)
#: The moves of a reply to the DATA content (by its stage), else by its verb.
_START_MOVES = REPLY_MOVES_BY_STAGE["start"]
_END_MOVES = REPLY_MOVES_BY_STAGE["end"]
_VERB_MOVES = REPLY_MOVES_BY_VERB
_NO_MOVES = NO_MOVES
#: Triggers that move the session state but no client mode (no ClientMode row in the table).
_SESSION_ONLY = frozenset(set(Trigger) - {t for (s, t) in TRANSITIONS if isinstance(s, ClientMode)})
#: Triggers on which _answered does more than move states (capabilities, the DATA message, the
#: TLS start, the end of an AUTH exchange): a new case there must be named here too.
_ANSWERED_ACTS_ON = frozenset({Trigger.HELLO_OK, Trigger.DATA_GO, Trigger.TLS_GO, Trigger.AUTH_DONE})
#: Triggers that only move the session state: _server moves it itself, without _answered.
_STATE_ONLY = _SESSION_ONLY - _ANSWERED_ACTS_ON
_CRLF = b"\r\n"

C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT

#: RFC 5321 4.3.1 / 3.1: a greeting is 220, or 554 ("no service"); 421 when shutting down (4.2.4).
GREETING_CODES = frozenset({220, 421, 554})
#: Characters of a line quoted in an anomaly message.
_QUOTE = 80


def _quote(data: bytes) -> str:
    text = repr(data[:_QUOTE])
    return text + ("..." if len(data) > _QUOTE else "")


@dataclass(slots=True)
class _Pending:
    """A command (or a message end) that awaits its reply."""

    index: int
    verb: str
    stage: ReplyStage
    ts_ns: int
    frame: int


_new_pending = slot_builder(_Pending)


@dataclass(slots=True)
class _ReplyBuilder:
    code: int
    ts_ns: int
    frame: int
    end_frame: int
    lines: list[str] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    count: int = 0


@dataclass(slots=True)
class _TlsSide:
    """One direction's TLS view: probe byte, first-hello buffer, counts."""

    implicit_probe: bool  # implicit TLS: the first bytes decide TLS or plain SMTP
    probe: bytes = b""  # a first byte that may start a record, waiting for the second
    probe_at: tuple[int, int] = (0, 0)
    hello: bytearray = field(default_factory=bytearray)
    hello_at: tuple[int, int] | None = None
    hello_done: bool = False
    bytes: int = 0
    gap_bytes: int = 0


class SmtpConversation:
    """One SMTP connection, both directions.  See the module docstring."""

    def __init__(
        self, *, limits: Limits = DEFAULT_LIMITS, implicit_tls: bool = False, midstream: bool = False,
        c_readers: tuple[Callable, Callable, Callable] | None | object = ASK_NATIVE,
    ) -> None:
        """``implicit_tls``: TLS from the first byte (port 465, RFC 8314 3.3).
        ``midstream``: the capture starts inside the connection (no handshake seen): both directions
        start as after a gap and resynchronise on the first trustworthy line; no greeting is expected.
        ``c_readers``: what :func:`smtpsniff.net.native.smtp_functions` returned, when the caller asked
        it once for many conversations (a pipeline, for all of its connections); by default
        (:data:`ASK_NATIVE`) it is asked now, so ``SMTPSNIFF_NATIVE`` as it is set at construction decides.
        """
        self._limits = limits
        self._implicit = implicit_tls
        self._state = _AFTER_GAP if midstream else _CONNECTED
        if implicit_tls:
            self._cmode, self._smode = ClientMode.TLS_PROBE, ServerMode.TLS_PROBE
        elif midstream:
            self._cmode, self._smode = ClientMode.GAP, ServerMode.GAP
        else:
            self._cmode, self._smode = _COMMAND_MODE, _REPLY_MODE
        buffered = limits.max_buffered_line
        self._csplit = LineSplitter(buffered)
        self._ssplit = LineSplitter(buffered)
        # The C readers of a well-formed command line / reply (None: SMTPSNIFF_NATIVE=0 or not built).
        if c_readers is ASK_NATIVE:
            c_readers = native.smtp_functions()
        self._c_command, self._c_reply, self._c_content = (
            c_readers if c_readers is not None else (None, None, None))  # type: ignore[misc]
        self._reply_longest = min(limits.max_reply_line, buffered) - 2  # a reply line, no CRLF
        self._reply_lines_most = limits.max_reply_lines
        self._command_longest = limits.max_command_line
        self._held: list[tuple[str, bytes | int, int, int]] = []
        self._held_bytes = 0
        self._pending: deque[_Pending] = deque()
        self._next_index = 0
        self._greeted = midstream  # the first reply has been seen (or is not expected)
        self._early_reported = False
        self._caps_pipelining: bool | None = None  # None: no HELO/EHLO reply seen
        self._reply: _ReplyBuilder | None = None
        self._msg: MessageAssembler | None = None
        self._bdat_remaining = 0
        self._bdat_last = False
        self._auth: tuple[str, int] | None = None  # (mechanism, AUTH command index)
        self._rcpts = 0
        self._gap_skipped = {C2S: 0, S2C: 0}
        self._after_gap = False
        self._tls: dict[Direction, _TlsSide] | None = None  # made at the first TLS byte (_tls_side)
        self._tls_announced = False
        self._closed = False

    # ------------------------------------------------------------------ public surface ----------
    @property
    def state(self) -> SmtpState:
        return self._state

    @property
    def client_mode(self) -> ClientMode:
        return self._cmode

    @property
    def server_mode(self) -> ServerMode:
        return self._smode

    @property
    def tls_bytes_c2s(self) -> int:
        return self._tls[C2S].bytes if self._tls is not None else 0

    @property
    def tls_bytes_s2c(self) -> int:
        return self._tls[S2C].bytes if self._tls is not None else 0

    @property
    def commands_sent(self) -> int:
        return self._next_index

    def receive(self, direction: Direction, data: bytes, ts_ns: int, frame: int) -> list[SmtpEvent]:
        out: list[SmtpEvent] = []
        if not data:
            return out
        if self._closed:
            self._anomaly(out, "data_after_close", f"{len(data)} {direction.value} octets after close",
                          ts_ns, frame)
            return out
        if type(data) is not bytes:
            data = bytes(data)
        if direction is C2S:
            self._client(data, 0, ts_ns, frame, out)
        else:
            self._server(data, 0, ts_ns, frame, out)
        return out

    def gap(self, direction: Direction, length: int, ts_ns: int, frame: int) -> list[SmtpEvent]:
        out: list[SmtpEvent] = []
        if length <= 0 or self._closed:
            return out
        out.append(GapEvent(direction=direction, length=length, ts_ns=ts_ns, frame=frame))
        self._after_gap = True
        if direction is C2S:
            self._client_gap(length, ts_ns, frame, out)
        else:
            self._server_gap(length, ts_ns, frame, out)
        return out

    def close(self, ts_ns: int) -> list[SmtpEvent]:
        out: list[SmtpEvent] = []
        if self._closed:
            return out
        # Held bytes never got their reply: read them the likely way (see states.HOLD_OVERFLOW).
        while self._cmode in HOLD_MODES and self._held:
            self._overflow_hold(ts_ns, None, out, at_close=True)
        if self._cmode in (ClientMode.COMMAND, ClientMode.AUTH_RESPONSE, ClientMode.GAP):
            part = self._csplit.flush()
            if part is not None and self._cmode is not ClientMode.GAP:
                shown = "(AUTH data not shown)" if self._cmode is ClientMode.AUTH_RESPONSE \
                    or part.raw[:5].upper() == b"AUTH " else _quote(part.raw)
                self._anomaly(out, "incomplete_line", f"client line without end at close: {shown}",
                              part.ts_ns, part.frame)
        elif self._cmode is ClientMode.TLS_PROBE:
            self._flush_probe(C2S, out)
        if self._msg is not None:
            msg = self._finish_message(complete=False, ts_ns=ts_ns, frame=None, out=out)
            self._anomaly(out, "message_incomplete",
                          f"{msg.via} message of {msg.size} octets not ended at close", msg.ts_ns, msg.frame)
        if self._smode is ServerMode.REPLY:
            part = self._ssplit.flush()
            if part is not None:
                self._reply_line(part, out, complete=False)
            if self._reply is not None:
                b, self._reply = self._reply, None
                self._anomaly(out, "incomplete_reply", f"reply {b.code} without its last line at close",
                              b.ts_ns, b.frame)
                self._dispatch_reply(b, out, complete=False)
        elif self._smode is ServerMode.TLS_PROBE:
            self._flush_probe(S2C, out)
        for p in self._pending:
            what = "end of message" if p.stage is ReplyStage.DATA_END and p.verb == "DATA" else p.verb
            self._anomaly(out, "unmatched_command", f"{what} (command #{p.index}) got no reply",
                          p.ts_ns, p.frame)
        self._pending.clear()
        close = Trigger.CLOSE  # advance(..., CLOSE) of the three machines, inline
        self._cmode = _TRANSITION((self._cmode, close), self._cmode)
        self._smode = _TRANSITION((self._smode, close), self._smode)
        self._state = _TRANSITION((self._state, close), self._state)
        self._closed = True
        return out

    # ------------------------------------------------------------------ helpers -----------------
    def _anomaly(self, out: list[SmtpEvent], kind: str, message: str, ts_ns: int | None,
                 frame: int | None) -> None:
        out.append(Anomaly(layer=Layer.SMTP, kind=kind, message=message, ts_ns=ts_ns, frame=frame))

    def _session(self, trigger: Trigger) -> None:
        self._state = advance(self._state, trigger)

    def _line_checks(self, out: list[SmtpEvent], line: Line, who: str, too_long: str, limit: int) -> None:
        """Per-line anomalies for command, reply and AUTH lines (RFC 5321 2.3.8, 4.5.3.1)."""
        raw = line.raw
        if len(raw) <= limit and line.ending == b"\r\n" and raw.count(b"\r") == 1 and b"\x00" not in raw \
                and not line.cut:
            return  # the usual line: CRLF-terminated, within its limit, no other CR, no NUL
        if line.cut:
            self._anomaly(out, "line_buffer_limit",
                          f"{who} line reached {self._limits.max_buffered_line} octets without LF; cut there",
                          line.ts_ns, line.frame)
        elif len(line.raw) > limit:
            self._anomaly(out, too_long, f"{who} line of {len(line.raw)} octets > {limit} (RFC 5321 4.5.3.1)",
                          line.ts_ns, line.frame)
        if line.ending == b"\n":
            self._anomaly(out, "bare_lf_line_ending", f"{who} line ends with bare LF (RFC 5321 2.3.8)",
                          line.ts_ns, line.frame)
        body = line.content
        # AUTH lines carry credentials (RFC 4954): anomalies describe them without quoting them.
        shown = "(AUTH data not shown)" if who == "AUTH response" or body[:5].upper() == b"AUTH " \
            else _quote(line.raw)
        if b"\r" in body:
            self._anomaly(out, "bare_cr", f"bare CR in {who} line: {shown}", line.ts_ns, line.frame)
        if b"\x00" in body:
            self._anomaly(out, "nul_byte", f"NUL in {who} line: {shown}", line.ts_ns, line.frame)

    def _push(self, index: int, verb: str, stage: ReplyStage, ts_ns: int, frame: int) -> None:
        self._pending.append(_new_pending(index, verb, stage, ts_ns, frame))

    # ------------------------------------------------------------------ client bytes ------------
    def _client(self, data: bytes, pos: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        end = len(data)
        splitter = self._csplit
        while pos < end:
            if splitter.skipping:  # the tail of a cut line is dropped whatever comes next
                pos = splitter.skip_tail(data, pos)
                continue
            mode = self._cmode
            if mode is _COMMAND_MODE:  # the usual mode first: the same as the last branch below
                c_command = self._c_command
                if c_command is not None and not splitter.buffer:
                    parsed = c_command(data, pos, splitter.limit, self._command_longest)
                    if parsed is not None:  # a well-formed line: see _native_command
                        pos, raw, verb, arg, address, address_raw, params, decoded = parsed
                        pending = self._pending
                        if verb in _QUEUED_VERBS and self._greeted \
                                and (not pending or self._caps_pipelining is not False):
                            # _native_command of a known verb that only awaits its reply, with nothing
                            # to report (_command_checks), inline: the usual command.
                            index = self._next_index
                            self._next_index = index + 1
                            out.append(_new_command(index, verb, arg, raw, True, params, decoded, address, address_raw,
                                                    bool(pending), _CRLF, ts_ns, frame, frame))
                            pending.append(_new_pending(index, verb, _COMMAND_STAGE, ts_ns, frame))
                        else:
                            self._native_command(parsed, ts_ns, frame, out)
                        continue
                line, pos = splitter.take(data, pos, ts_ns, frame)
                if line is None:
                    return
                self._command(line, out)
            elif mode is _DATA_CONTENT_MODE:  # before HOLD_MODES: the commoner, and a cheaper test
                msg = self._msg
                assert msg is not None
                pos, ended = msg.feed_data(data, pos, ts_ns, frame)
                if msg.findings:
                    self._take_findings(out)
                if ended:
                    self._end_of_data(out)
            elif mode in HOLD_MODES:
                self._hold(data[pos:], ts_ns, frame, out)
                return
            elif mode is ClientMode.BDAT_CHUNK:
                assert self._msg is not None
                n = min(self._bdat_remaining, end - pos)
                self._msg.feed_octets(data[pos : pos + n], ts_ns, frame)
                self._take_findings(out)
                pos += n
                self._bdat_remaining -= n
                if self._bdat_remaining == 0:
                    self._chunk_done(out, ts_ns, frame)
            elif mode in _CLIENT_TLS_MODES:
                pos = self._tls_bytes(C2S, data, pos, ts_ns, frame, out)
            elif mode is ClientMode.CLOSED:
                return
            else:  # COMMAND, AUTH_RESPONSE, GAP: lines
                line, pos = splitter.take(data, pos, ts_ns, frame)
                if line is None:
                    return
                self._client_line(line, out)

    def _hold(self, data: bytes, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        self._held.append(("data", data, ts_ns, frame))
        self._held_bytes += len(data)
        if self._held_bytes > self._limits.max_buffered_line:
            self._overflow_hold(ts_ns, frame, out, at_close=False)

    def _overflow_hold(self, ts_ns: int, frame: int | None, out: list[SmtpEvent], *, at_close: bool) -> None:
        mode = self._cmode
        why = "at close" if at_close else f"past {self._limits.max_buffered_line} octets"
        self._anomaly(out, "held_without_reply",
                      f"client bytes after {mode.value} held {why} without the deciding reply; "
                      "read as " + advance(mode, Trigger.HOLD_OVERFLOW).value, ts_ns, frame)
        if mode is ClientMode.DATA_WAIT:
            # The DATA that put the client in DATA_WAIT is the latest one sent: earlier DATA commands
            # may still await their 354 when no reply is captured at all (one-sided captures).
            data_cmd = next((p for p in reversed(self._pending) if p.stage is ReplyStage.DATA_START), None)
            _, _, held_ts, held_frame = self._held[0]  # the message starts with the first held byte
            self._start_data_message(data_cmd.index if data_cmd else -1, held_ts, held_frame, out)
        elif mode is ClientMode.STARTTLS_WAIT:
            self._session(Trigger.TLS_GO)
        self._cmode = advance(mode, Trigger.HOLD_OVERFLOW)
        self._release(out)

    def _release(self, out: list[SmtpEvent]) -> None:
        """Replay held client bytes (and gaps) in the mode a reply just decided."""
        items, self._held, self._held_bytes = self._held, [], 0
        for kind, payload, ts_ns, frame in items:
            if kind == "data":
                assert isinstance(payload, bytes)
                self._client(payload, 0, ts_ns, frame, out)
            else:
                assert isinstance(payload, int)
                self._client_gap(payload, ts_ns, frame, out)

    def _client_line(self, line: Line, out: list[SmtpEvent]) -> None:
        if self._cmode is ClientMode.GAP:
            m = g.COMMAND_LINE.match(g.wire_text(line.content))
            if line.cut or m is None or m.group("verb").upper() not in g.KNOWN_VERBS:
                self._gap_skipped[C2S] += len(line.raw)
                return
            self._resynced(C2S, line, out)
            self._cmode = advance(self._cmode, Trigger.RESYNC)
        if self._cmode is ClientMode.AUTH_RESPONSE:
            self._auth_response(line, out)
        else:
            self._command(line, out)

    def _resynced(self, d: Direction, line: Line, out: list[SmtpEvent]) -> None:
        out.append(Resynced(direction=d, skipped_bytes=self._gap_skipped[d], ts_ns=line.ts_ns, frame=line.frame))
        self._gap_skipped[d] = 0
        self._session(Trigger.RESYNC)

    def _command(self, line: Line, out: list[SmtpEvent]) -> None:
        raw, ending = line.raw, line.ending
        m = _COMMAND_MATCH(raw[: len(raw) - len(ending)].decode(g.WIRE_ENCODING, g.WIRE_ERRORS))
        if m is None:
            self._line_checks(out, line, "command", "command_line_too_long", self._limits.max_command_line)
            self._anomaly(out, "empty_command_line", f"client sent an empty line: {_quote(line.raw)}",
                          line.ts_ns, line.frame)
            return
        verb_text, arg = m.groups()
        verb = verb_text.upper()
        verb = _SHARED_TEXT.get(verb, verb)
        arg = arg or ""
        limit = self._limits.max_auth_line if verb == "AUTH" else self._limits.max_command_line
        if len(raw) > limit or ending != b"\r\n" or raw.count(b"\r") != 1 or b"\x00" in raw or line.cut:
            self._line_checks(out, line, "command", "command_line_too_long", limit)  # else nothing to say
        known, pipelined = self._command_checks(verb, line.ts_ns, line.frame, out)
        params: dict[str, str | None] = {}
        decoded: dict[str, str] = {}
        address = address_raw = None
        if verb in ("MAIL", "RCPT"):
            pattern = g.MAIL_ARGUMENT if verb == "MAIL" else g.RCPT_ARGUMENT
            am = pattern.match(arg)
            if am is None:
                self._anomaly(out, "invalid_path_argument", f"{verb} argument is no path: {arg[:_QUOTE]!r}",
                              line.ts_ns, line.frame)
            else:
                address_raw = am.group("path")
                address, bracketed = g.strip_path(address_raw)
                if not bracketed:
                    self._anomaly(out, "path_without_angle_brackets",
                                  f"{verb} path {address_raw!r} lacks <> (RFC 5321 4.1.2)", line.ts_ns, line.frame)
                params, problems = g.parse_params(am.group("params"))
                for p in problems:
                    self._anomaly(out, p.kind, f"{verb}: {p.message}", line.ts_ns, line.frame)
                decoded = g.xtext_values(params)
        elif verb in ("XCLIENT", "XFORWARD"):
            params, problems = g.parse_params(arg)
            for p in problems:
                self._anomaly(out, p.kind, f"{verb}: {p.message}", line.ts_ns, line.frame)
            decoded = g.xtext_values(params, all_xtext=True)
        index = self._next_index
        self._next_index += 1
        out.append(_new_command(
            index=index, verb=verb, argument=arg, raw=line.raw, known=known, params=params,
            params_decoded=decoded, address=address, address_raw=address_raw, pipelined=pipelined,
            line_ending=line.ending, ts_ns=line.ts_ns, frame=line.frame, end_frame=line.end_frame,
        ))
        if verb == "BDAT" or verb == "AUTH":
            self._framing_command(index, verb, arg, line, out)
        else:
            self._command_sent(index, verb, arg, line.ts_ns, line.frame, out)

    def _native_command(self, parsed: tuple, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        """:meth:`_command` for a line the C reader took at once (``native.smtp_functions``).

        The C reader returns a line only when :meth:`_command` would raise no anomaly of the line or
        of its argument: complete, CRLF-terminated, at most ``max_command_line`` octets (AUTH: also
        ``max_auth_line``, checked here), no other CR and no NUL, an ASCII verb other than XCLIENT and
        XFORWARD (their arguments go the Python way), and for MAIL and RCPT a bracketed path (no
        quotes, no source route) with valid, distinct ESMTP parameters whose xtext values hold no
        escape.  The line was wholly in the chunk, so its frame is the chunk's: the Line the splitter
        would build has ``end_frame == frame`` and ``ending == CRLF``.  What follows the parsing is
        :meth:`_command`'s own code.  :meth:`_client` itself handles the usual case (a verb of
        ``_QUEUED_VERBS`` that only joins the reply queue, with nothing to report) and calls this
        for every other line the C reader took.
        """
        _, raw, verb, arg, address, address_raw, params, decoded = parsed
        if verb == "AUTH" and len(raw) > self._limits.max_auth_line:  # _command reports it
            self._command(new_line(raw, _CRLF, ts_ns, frame, frame, False, False), out)
            return
        pending = self._pending
        if verb in _KNOWN_VERBS and self._greeted and (not pending or self._caps_pipelining is not False):
            known, pipelined = True, bool(pending)  # _command_checks, with nothing to report
        else:
            known, pipelined = self._command_checks(verb, ts_ns, frame, out)
        index = self._next_index
        self._next_index += 1
        out.append(_new_command(index, verb, arg, raw, known, params, decoded, address, address_raw, pipelined,
                                _CRLF, ts_ns, frame, frame))
        if verb not in _SENT_MOVES:  # _command_sent of a verb that only awaits its reply, inline
            pending.append(_new_pending(index, verb, _COMMAND_STAGE, ts_ns, frame))
        elif verb == "BDAT" or verb == "AUTH":
            self._framing_command(index, verb, arg, new_line(raw, _CRLF, ts_ns, frame, frame, False, False), out)
        else:
            self._command_sent(index, verb, arg, ts_ns, frame, out)

    def _command_checks(self, verb: str, ts_ns: int, frame: int, out: list[SmtpEvent]) -> tuple[bool, bool]:
        """Anomalies of a command's verb and timing; ``(known, pipelined)``."""
        known = verb in _KNOWN_VERBS
        if not known:
            self._anomaly(out, "unknown_command", f"unknown command verb {verb!r}", ts_ns, frame)
        if not self._greeted and not self._early_reported:
            self._early_reported = True
            self._anomaly(out, "data_before_greeting",
                          f"client sent {verb} before the server's greeting (early talker)", ts_ns, frame)
        pipelined = bool(self._pending)
        if pipelined and self._caps_pipelining is False:
            self._anomaly(out, "pipelining_not_offered",
                          f"{verb} sent before the reply to {self._pending[-1].verb} but PIPELINING "
                          "was not announced (RFC 2920 3)", ts_ns, frame)
        return known, pipelined

    def _framing_command(self, index: int, verb: str, arg: str, line: Line, out: list[SmtpEvent]) -> None:
        """What BDAT or AUTH changes once its Command event is out: how the next client bytes are read."""
        if verb == "BDAT":
            self._bdat(index, arg, line, out)
        else:
            self._push(index, verb, ReplyStage.COMMAND, line.ts_ns, line.frame)
            self._auth_command(index, arg, line, out)
            self._cmode = advance(self._cmode, Trigger.SENT_AUTH)

    def _command_sent(self, index: int, verb: str, arg: str, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        """What a command other than BDAT and AUTH changes once its Command event is out."""
        if verb == "MAIL":
            self._abandon_bdat(out, ts_ns, frame, "MAIL")
            self._rcpts = 0
        elif verb == "RCPT":
            self._rcpts += 1
            if self._rcpts == self._limits.max_recipients + 1:
                self._anomaly(out, "too_many_recipients",
                              f"more than {self._limits.max_recipients} RCPT in one transaction", ts_ns, frame)
        elif verb == "RSET":
            self._abandon_bdat(out, ts_ns, frame, "RSET")
        if verb == "DATA":
            if arg:
                self._anomaly(out, "data_with_argument", f"DATA {arg[:_QUOTE]!r}: DATA takes none (RFC 5321 4.1.1.4)",
                              ts_ns, frame)
            self._push(index, verb, _DATA_START, ts_ns, frame)
            self._cmode = _TRANSITION((self._cmode, _SENT_DATA), self._cmode)  # advance, inline
        elif verb == "STARTTLS":
            self._push(index, verb, ReplyStage.COMMAND, ts_ns, frame)
            self._cmode = advance(self._cmode, Trigger.SENT_STARTTLS)
        else:
            self._pending.append(_new_pending(index, verb, _COMMAND_STAGE, ts_ns, frame))  # _push, inline

    # ------------------------------------------------------------------ DATA / BDAT -------------
    def _start_data_message(self, index: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        if self._msg is not None and self._msg.via == "DATA":
            return
        self._abandon_bdat(out, ts_ns, frame, "DATA")
        self._msg = MessageAssembler(via="DATA", command_index=index, limits=self._limits, dot_stuffed=True,
                                     content_reader=self._c_content)
        out.append(_new_message_start("DATA", index, ts_ns, frame))

    def _take_findings(self, out: list[SmtpEvent]) -> None:
        if self._msg is not None and self._msg.findings:
            for f in self._msg.take_findings():
                self._anomaly(out, f.kind, f.message, f.ts_ns, f.frame)

    def _finish_message(self, *, complete: bool, ts_ns: int, frame: int | None,
                        out: list[SmtpEvent]) -> MessageComplete:
        assert self._msg is not None
        msg = self._msg.finish(complete=complete, ts_ns=ts_ns, frame=frame if frame is not None else 0)
        self._take_findings(out)
        self._msg = None
        out.append(msg)
        return msg

    def _end_of_data(self, out: list[SmtpEvent]) -> None:
        assert self._msg is not None and self._msg.last is not None
        ts_ns, frame = self._msg.last
        msg = self._finish_message(complete=True, ts_ns=ts_ns, frame=frame, out=out)
        self._pending.append(_new_pending(msg.command_index, "DATA", _DATA_END, msg.end_ts_ns, msg.end_frame))
        self._cmode = _TRANSITION((self._cmode, _MESSAGE_END), self._cmode)  # advance, inline
        self._state = _TRANSITION((self._state, _MESSAGE_END), self._state)

    def _bdat(self, index: int, arg: str, line: Line, out: list[SmtpEvent]) -> None:
        m = g.BDAT_ARGUMENT.match(arg)
        size = int(m.group("size")) if m else -1
        if m is None or size > self._limits.max_bdat_chunk:
            self._anomaly(out, "bdat_size_invalid",
                          f"BDAT {arg[:_QUOTE]!r}: no usable chunk-size (RFC 3030 2); resynchronising",
                          line.ts_ns, line.frame)
            self._push(index, "BDAT", ReplyStage.COMMAND, line.ts_ns, line.frame)
            self._cmode = advance(self._cmode, Trigger.BDAT_INVALID)
            self._session(Trigger.GAP)
            return
        last = m.group("last") is not None
        if self._msg is None:
            self._msg = MessageAssembler(via="BDAT", command_index=index, limits=self._limits, dot_stuffed=False,
                                         content_reader=self._c_content)
            out.append(_new_message_start("BDAT", index, line.ts_ns, line.frame))
        self._msg.chunks += 1
        self._push(index, "BDAT", ReplyStage.DATA_END if last else ReplyStage.BDAT_CHUNK, line.ts_ns, line.frame)
        self._session(Trigger.SENT_BDAT)
        self._bdat_last = last
        self._bdat_remaining = size
        self._cmode = advance(self._cmode, Trigger.SENT_BDAT)
        if size == 0:
            self._chunk_done(out, line.ts_ns, line.end_frame)

    def _chunk_done(self, out: list[SmtpEvent], ts_ns: int, frame: int, *, complete: bool = True) -> None:
        self._cmode = advance(self._cmode, Trigger.CHUNK_DONE)
        if self._bdat_last and self._msg is not None:
            self._finish_message(complete=complete, ts_ns=ts_ns, frame=frame, out=out)
            self._session(Trigger.MESSAGE_END)

    def _abandon_bdat(self, out: list[SmtpEvent], ts_ns: int, frame: int, why: str) -> None:
        if self._msg is not None and self._msg.via == "BDAT":
            self._anomaly(out, "bdat_without_last", f"{why} while a BDAT message had no LAST chunk", ts_ns, frame)
            self._finish_message(complete=False, ts_ns=ts_ns, frame=frame, out=out)

    # ------------------------------------------------------------------ AUTH --------------------
    def _auth_command(self, index: int, arg: str, line: Line, out: list[SmtpEvent]) -> None:
        m = g.AUTH_ARGUMENT.match(arg)
        if m is None:
            mechanism = arg.split()[0][:_QUOTE] if arg.split() else ""
            self._anomaly(out, "invalid_auth_argument",
                          f"AUTH {mechanism!r} with an argument that is not 'mechanism [initial-response]' "
                          "(RFC 4954 4; the data is not shown)", line.ts_ns, line.frame)
            mech = arg.split()[0].upper() if arg.split() else ""
            initial = None
        else:
            mech, initial = m.group("mech").upper(), m.group("initial")
        self._auth = (mech, index)
        if initial is not None:
            out.append(self._auth_step(C2S, AuthStepKind.INITIAL, initial, line))

    def _auth_step(self, d: Direction, kind: AuthStepKind, text: str, line: Line) -> AuthStep:
        mech, index = self._auth or ("", -1)
        raw = g.wire_bytes(text)
        data = g.decode_base64(text) if kind is not AuthStepKind.CANCEL else None
        return _new_auth_step(mechanism=mech, direction=d, kind=kind, data=raw if data is None else data,
                              decoded=data is not None, raw=raw, command_index=index, ts_ns=line.ts_ns,
                              frame=line.frame)

    def _auth_response(self, line: Line, out: list[SmtpEvent]) -> None:
        self._line_checks(out, line, "AUTH response", "command_line_too_long", self._limits.max_auth_line)
        text = g.wire_text(line.content).strip()
        kind = AuthStepKind.CANCEL if text == "*" else AuthStepKind.RESPONSE
        step = self._auth_step(C2S, kind, text, line)
        if kind is AuthStepKind.RESPONSE and not step.decoded:
            self._anomaly(out, "auth_response_not_base64", "AUTH response is not base64 (RFC 4954 4)",
                          line.ts_ns, line.frame)
        out.append(step)
        self._cmode = advance(self._cmode, Trigger.AUTH_RESPONSE_SENT)

    # ------------------------------------------------------------------ client gaps -------------
    def _client_gap(self, length: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        mode = self._cmode
        if mode in HOLD_MODES:
            self._held.append(("gap", length, ts_ns, frame))
            return
        if mode is ClientMode.DATA_CONTENT:
            assert self._msg is not None
            self._msg.gap(length)
            self._take_findings(out)
            return
        if mode is ClientMode.BDAT_CHUNK:
            assert self._msg is not None
            n = min(length, self._bdat_remaining)
            self._msg.gap(n)
            self._bdat_remaining -= n
            rest = length - n
            if self._bdat_remaining == 0:
                self._chunk_done(out, ts_ns, frame, complete=False)
            if rest:
                self._cmode = advance(self._cmode, Trigger.GAP)  # chunk done: COMMAND -> GAP
                self._gap_skipped[C2S] += rest
                self._session(Trigger.GAP)
            return
        if mode in (ClientMode.TLS_PROBE, ClientMode.TLS):
            self._tls_gap(C2S, length)
            self._cmode = advance(mode, Trigger.GAP)
            return
        if mode is ClientMode.CLOSED:
            return
        part = self._csplit.flush()
        self._gap_skipped[C2S] += length + (len(part.raw) if part else 0)
        self._cmode = advance(mode, Trigger.GAP)
        self._session(Trigger.GAP)

    # ------------------------------------------------------------------ server bytes ------------
    def _server(self, data: bytes, pos: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        end = len(data)
        splitter = self._ssplit
        while pos < end:
            if splitter.skipping:
                pos = splitter.skip_tail(data, pos)
                continue
            mode = self._smode
            if mode is _REPLY_MODE:
                if self._reply is None and not splitter.buffer:
                    c_reply = self._c_reply
                    if c_reply is None:
                        new = self._plain_reply(data, pos, ts_ns, frame, out)
                        if new > pos:
                            pos = new
                            continue
                    else:
                        parsed = c_reply(data, pos, self._reply_longest, self._reply_lines_most)
                        if parsed is not None:  # a whole well-formed reply: see _native_reply
                            pos, code, lines, text, raw, enhanced, class_mismatch = parsed
                            pending = self._pending
                            if pending and self._greeted and not class_mismatch:
                                # The usual reply (_native_reply's first case, inline): it answers
                                # the oldest command awaiting one, and is no AUTH challenge.
                                slot = pending[0]
                                if code != 334 or slot.verb != "AUTH" or slot.stage is not _COMMAND_STAGE:
                                    pending.popleft()
                                    after_gap, self._after_gap = self._after_gap, False
                                    verb, stage = slot.verb, slot.stage
                                    out.append(_new_reply(code, enhanced, lines, text, raw, slot.index, verb, stage,
                                                          len(lines) > 1, True, after_gap, ts_ns, frame, frame))
                                    # _answered's look-up of what the reply moves, inline: most move nothing
                                    # or the session state alone; the rest go to _answered.
                                    moves = _VERB_MOVES.get(verb, _NO_MOVES) if stage is _COMMAND_STAGE else \
                                        _END_MOVES if stage is _DATA_END else None
                                    if moves is not None:
                                        trigger = moves[0].get(code, moves[1])
                                        if trigger is None:
                                            continue
                                        if trigger in _STATE_ONLY:
                                            state = self._state
                                            self._state = _TRANSITION((state, trigger), state)
                                            continue
                                    self._answered(slot, code, lines, ts_ns, frame, out)
                                    continue
                            self._native_reply(parsed, ts_ns, frame, out)
                            continue
                line, pos = splitter.take(data, pos, ts_ns, frame)
                if line is None:
                    return
                self._reply_line(line, out)
            elif mode in _SERVER_TLS_MODES:
                pos = self._tls_bytes(S2C, data, pos, ts_ns, frame, out)
            elif mode is ServerMode.CLOSED:
                return
            else:
                line, pos = splitter.take(data, pos, ts_ns, frame)
                if line is None:
                    return
                self._server_line(line, out)

    def _plain_reply(self, data: bytes, pos: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> int:
        """A whole reply at ``data[pos:]`` that :meth:`_reply_line` would take line by line without
        an anomaly, taken at once: the position after it, or ``pos`` when there is none.

        That is: every line complete, CRLF-terminated, within ``max_reply_line`` and the line
        buffer, without other CR, LF or NUL, one code in 200-559 (RFC 5321 4.2) on every line, at
        most ``max_reply_lines`` lines.  Anything else goes the line-by-line way.
        """
        m = g.PLAIN_REPLY.match(data, pos)
        if m is None:
            return pos
        limits = self._limits
        longest = min(limits.max_reply_line, self._ssplit.limit) - 2
        raw = m.group()
        end = m.end()
        if raw[3] != 0x2D:  # no "-" after the code: one line (the usual reply)
            if len(raw) - 2 > longest or limits.max_reply_lines < 1:
                return pos
            lines = [raw[4:-2].decode(g.WIRE_ENCODING, g.WIRE_ERRORS)]
        else:
            rows = raw.split(b"\r\n")
            rows.pop()  # after the last CRLF
            if len(rows) > limits.max_reply_lines or max(map(len, rows)) > longest:
                return pos
            # CR and LF are ASCII: decoding the rows one by one or the block at once gives the same text.
            lines = [row[4:] for row in raw.decode(g.WIRE_ENCODING, g.WIRE_ERRORS).split("\r\n")]
            lines.pop()
        # raw is bytes, not a bytearray: the reply is dispatched at once and never appended to.
        self._dispatch_reply(_ReplyBuilder(int(raw[:3]), ts_ns, frame, frame, lines, raw, len(lines)),
                             out, complete=True)
        return end

    def _native_reply(self, parsed: tuple, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        """:meth:`_plain_reply` with the reply read in C (``native.smtp_functions``): the same
        replies are taken (``grammar.PLAIN_REPLY`` and the same limits) with the same lines, text
        and enhanced code.  The usual one -- it answers the oldest pending command, no AUTH
        challenge, its enhanced code of its own class -- is dispatched by :meth:`_server` itself;
        an AUTH challenge (334 to a pending AUTH) and the usual greeting (a 220, 421 or 554 first
        reply, no command sent before it), each with an enhanced code of its own class, are
        dispatched here as :meth:`_dispatch_reply` would; any other goes to :meth:`_dispatch_reply`.
        """
        _, code, lines, text, raw, enhanced, class_mismatch = parsed
        pending = self._pending
        slot = pending[0] if pending else None
        if slot is not None and code == 334 and slot.verb == "AUTH" and slot.stage is _COMMAND_STAGE \
                and self._greeted and not class_mismatch:
            # An AUTH challenge, as _dispatch_reply takes it: the AUTH command still awaits its outcome.
            after_gap, self._after_gap = self._after_gap, False
            out.append(_new_reply(code, enhanced, lines, text, raw, slot.index, "AUTH", _AUTH_CHALLENGE_STAGE,
                                  len(lines) > 1, True, after_gap, ts_ns, frame, frame))
            out.append(self._auth_step(S2C, AuthStepKind.CHALLENGE, "".join(lines).strip(),
                                       new_line(b"", b"", ts_ns, frame, frame, False, False)))
            self._move_client(Trigger.AUTH_CHALLENGE, out)
            self._session(Trigger.AUTH_CHALLENGE)
            return
        if not pending and not self._greeted and not class_mismatch and code in GREETING_CODES:
            # The usual greeting, as _dispatch_reply takes it: no command awaits a reply yet.
            self._greeted = True
            after_gap, self._after_gap = self._after_gap, False
            out.append(_new_reply(code, enhanced, lines, text, raw, None, GREETING_VERB, _GREETING_STAGE,
                                  len(lines) > 1, True, after_gap, ts_ns, frame, frame))
            state = self._state  # _session, inline
            self._state = _TRANSITION((state, _GREETING_OK if code == 220 else _GREETING_REFUSED), state)
            return
        self._dispatch_reply(_ReplyBuilder(code, ts_ns, frame, frame, list(lines), raw, len(lines)),
                             out, complete=True)

    def _server_line(self, line: Line, out: list[SmtpEvent]) -> None:
        if self._smode is ServerMode.GAP:
            if line.cut or g.REPLY_START.match(line.raw) is None:
                self._gap_skipped[S2C] += len(line.raw)
                return
            self._resynced(S2C, line, out)
            self._smode = advance(self._smode, Trigger.RESYNC)
        self._reply_line(line, out)

    def _reply_line(self, line: Line, out: list[SmtpEvent], *, complete: bool = True) -> None:
        raw = line.raw
        limits = self._limits
        if line.ending != b"\r\n" or len(raw) > limits.max_reply_line or raw.count(b"\r") != 1 \
                or b"\x00" in raw or line.cut:  # else _line_checks has nothing to say
            self._line_checks(out, line, "reply", "reply_line_too_long", limits.max_reply_line)
        m = g.split_reply_line(raw[: len(raw) - len(line.ending)])
        b = self._reply
        if m is None:
            self._anomaly(out, "invalid_reply_line", f"not a reply line (RFC 5321 4.2): {_quote(line.raw)}",
                          line.ts_ns, line.frame)
            if b is not None:
                b.raw += line.raw
                b.end_frame = line.end_frame
            return
        code_text, sep, text = m
        code = int(code_text)
        if not (2 <= code // 100 <= 5 and code // 10 % 10 <= 5):  # g.STRICT_REPLY_CODE, on the number
            self._anomaly(out, "invalid_reply_code", f"reply code {code} outside 200-559 (RFC 5321 4.2)",
                          line.ts_ns, line.frame)
        if b is None:
            b = self._reply = _ReplyBuilder(code, line.ts_ns, line.frame, line.end_frame)
        elif code != b.code:
            self._anomaly(out, "reply_code_mismatch_in_multiline",
                          f"line with code {code} inside a {b.code} reply (RFC 5321 4.2.1)", line.ts_ns, line.frame)
        b.count += 1
        if b.count <= limits.max_reply_lines:
            b.lines.append(text)
        elif b.count == limits.max_reply_lines + 1:
            self._anomaly(out, "reply_too_many_lines",
                          f"reply {b.code} has more than {limits.max_reply_lines} lines; the rest not kept",
                          line.ts_ns, line.frame)
        b.raw += raw
        b.end_frame = line.end_frame
        if sep == "-":
            return
        self._reply = None
        self._dispatch_reply(b, out, complete=complete)

    def _dispatch_reply(self, b: _ReplyBuilder, out: list[SmtpEvent], *, complete: bool) -> None:
        lines = tuple(b.lines)
        code = b.code
        em = _ENHANCED_MATCH(lines[0]) if lines else None
        enhanced = em.group("code") if em else None
        enhanced = _SHARED_TEXT.get(enhanced, enhanced)
        if enhanced is not None and enhanced[0] != str(code)[0]:
            self._anomaly(out, "enhanced_code_class_mismatch",
                          f"reply {code} carries enhanced code {enhanced} of another class (RFC 3463 2)",
                          b.ts_ns, b.frame)
        after_gap, self._after_gap = self._after_gap, False
        pending = self._pending
        if pending and self._greeted:  # the usual reply: it answers the oldest command awaiting one
            slot = pending[0]
            if not (code == 334 and slot.verb == "AUTH" and slot.stage is ReplyStage.COMMAND):
                pending.popleft()
                out.append(_new_reply(  # by position, as in _native_reply
                    code, enhanced, lines, "\n".join(lines), bytes(b.raw), slot.index, slot.verb, slot.stage,
                    b.count > 1, complete, after_gap, b.ts_ns, b.frame, b.end_frame))
                self._answered(slot, code, lines, b.ts_ns, b.frame, out)
                return

        def reply(stage: ReplyStage, verb: str | None, index: int | None) -> Reply:
            r = _new_reply(b.code, enhanced, lines, "\n".join(lines), bytes(b.raw), index, verb, stage,  # by position
                           b.count > 1, complete, after_gap, b.ts_ns, b.frame, b.end_frame)
            out.append(r)
            return r

        slot = self._pending[0] if self._pending else None
        if not self._greeted:
            self._greeted = True
            starttls_ok = slot is not None and slot.verb == "STARTTLS" and b.code == 220
            if b.code in GREETING_CODES and not starttls_ok:
                reply(ReplyStage.GREETING, GREETING_VERB, None)
                self._session(Trigger.GREETING_OK if b.code == 220 else Trigger.GREETING_REFUSED)
                return
            self._anomaly(out, "greeting_missing", f"first reply {b.code} is no greeting (RFC 5321 4.3.1)",
                          b.ts_ns, b.frame)
        if slot is None:
            msg = self._msg
            if self._cmode is ClientMode.DATA_CONTENT and msg is not None and msg.gap_bytes:
                # The end of the content was in the gap: the server is answering it.
                self._finish_message(complete=False, ts_ns=b.ts_ns, frame=b.frame, out=out)
                self._cmode = advance(self._cmode, Trigger.END_LOST)
                self._session(Trigger.END_LOST)
                slot = _Pending(msg.command_index, "DATA", ReplyStage.DATA_END, b.ts_ns, b.frame)
                self._pending.append(slot)
            else:
                reply(ReplyStage.UNEXPECTED, None, None)
                self._anomaly(out, "unexpected_reply", f"reply {b.code} while no command awaited one",
                              b.ts_ns, b.frame)
                return
        if slot.verb == "AUTH" and slot.stage is ReplyStage.COMMAND and b.code == 334:
            reply(ReplyStage.AUTH_CHALLENGE, "AUTH", slot.index)
            fake = Line(b"", b"", b.ts_ns, b.frame, b.end_frame)
            out.append(self._auth_step(S2C, AuthStepKind.CHALLENGE, "".join(lines).strip(), fake))
            self._move_client(Trigger.AUTH_CHALLENGE, out)
            self._session(Trigger.AUTH_CHALLENGE)
            return
        self._pending.popleft()
        reply(slot.stage, slot.verb, slot.index)
        self._answered(slot, b.code, lines, b.ts_ns, b.frame, out)

    def _answered(self, slot: _Pending, code: int, lines: tuple[str, ...], ts_ns: int, frame: int,
                  out: list[SmtpEvent]) -> None:
        """What reply ``code`` (``lines``, at ``ts_ns``/``frame``) to the command of ``slot``
        changes: capabilities, modes, session state."""
        # reply_trigger(verb, "start"/"end"/None, code), looked up (states.REPLY_MOVES_BY_*)
        stage = slot.stage  # compared by identity: ReplyStage hashes in Python
        if stage is _DATA_START:
            moves = _START_MOVES
        elif stage is _DATA_END:
            moves = _END_MOVES
        else:
            moves = _VERB_MOVES.get(slot.verb, _NO_MOVES)
        trigger = moves[0].get(code, moves[1])
        if trigger is None:  # a reply that moves nothing (a 250 to HELO/EHLO/LHLO is HELLO_OK)
            return
        if trigger is _HELLO_OK:  # a 250 to HELO, EHLO or LHLO
            if slot.verb == "HELO":
                self._caps_pipelining = False
            else:
                self._capabilities(slot, lines, ts_ns, frame, out)
        elif trigger is _DATA_GO:
            if self._held_bytes:
                self._anomaly(out, "content_before_354",
                              f"client sent {self._held_bytes} octets after DATA before the 354 "
                              "(RFC 2920 3.1: DATA ends a pipelined group)", ts_ns, frame)
            if self._cmode is _DATA_WAIT_MODE:
                self._start_data_message(slot.index, ts_ns, frame, out)
        elif trigger is _TLS_GO:
            out.append(TlsStarted(implicit=False, command_index=slot.index, ts_ns=ts_ns, frame=frame))
            self._tls_announced = True
            self._smode = advance(self._smode, Trigger.TLS_GO)
        elif trigger is _AUTH_DONE:
            self._auth = None
        state = self._state  # _session and _move_client, inline
        self._state = _TRANSITION((state, trigger), state)
        if trigger in _SESSION_ONLY:  # no client mode moves on it: _move_client would change nothing
            return
        before = self._cmode
        self._cmode = after = _TRANSITION((before, trigger), before)
        if after is not before and before in HOLD_MODES:
            self._release(out)

    def _move_client(self, trigger: Trigger, out: list[SmtpEvent]) -> None:
        before = self._cmode
        self._cmode = advance(before, trigger)
        if before in HOLD_MODES and self._cmode is not before:
            self._release(out)

    def _capabilities(self, slot: _Pending, lines: tuple[str, ...], ts_ns: int, frame: int,
                      out: list[SmtpEvent]) -> None:
        if self._c_command is not None and _C_EHLO is not None:
            fields = _C_EHLO(lines)  # the usual EHLO reply, read in C (see smtp_ehlo's docstring)
            if fields is not None:
                self._caps_pipelining = fields[3]
                out.append(_new_capabilities(slot.index, *fields, ts_ns, frame))
                return
        caps = parse_ehlo_lines(lines)
        for bad in caps.invalid_lines:
            self._anomaly(out, "invalid_ehlo_line", f"not an ehlo-line (RFC 5321 4.1.1.1): {bad[:_QUOTE]!r}",
                          ts_ns, frame)
        has = {k for k, _ in caps.items}  # caps.has(keyword) for each keyword below, in one pass
        self._caps_pipelining = "PIPELINING" in has
        out.append(_new_capabilities(  # by position, in field order: the builder's quick way
            slot.index, caps.domain, caps.greeting, caps.items,  # command_index, domain, greeting, items
            "PIPELINING" in has, caps.size, "SIZE" in has,  # pipelining, size, size_announced
            "STARTTLS" in has, caps.auth_mechanisms, "CHUNKING" in has,  # starttls, auth_mechanisms, chunking
            "BINARYMIME" in has, "8BITMIME" in has, "SMTPUTF8" in has,  # binarymime, eightbitmime, smtputf8
            "DSN" in has, "ENHANCEDSTATUSCODES" in has, "REQUIRETLS" in has,  # dsn, enhancedstatuscodes, requiretls
            ts_ns, frame,
        ))

    def _server_gap(self, length: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> None:
        mode = self._smode
        if mode in (ServerMode.TLS_PROBE, ServerMode.TLS):
            self._tls_gap(S2C, length)
            self._smode = advance(mode, Trigger.GAP)
            return
        if mode is ServerMode.CLOSED:
            return
        part = self._ssplit.flush()
        dropped = 0
        if mode is ServerMode.REPLY and part is not None and g.REPLY_LINE.match(g.wire_text(part.raw)):
            self._reply_line(part, out, complete=False)  # a cut last line still ends its reply
        elif part is not None:
            dropped = len(part.raw)
        if self._reply is not None:
            b, self._reply = self._reply, None
            self._dispatch_reply(b, out, complete=False)
            self._after_gap = True
        self._gap_skipped[S2C] += length + dropped
        self._smode = advance(self._smode, Trigger.GAP)
        self._session(Trigger.GAP)

    # ------------------------------------------------------------------ TLS ---------------------
    def _tls_side(self, d: Direction) -> _TlsSide:
        """One direction's TLS view; both are made when either is first needed (most sessions
        never are), as the constructor would have made them."""
        tls = self._tls
        if tls is None:
            tls = self._tls = {C2S: _TlsSide(self._implicit), S2C: _TlsSide(self._implicit)}
        return tls[d]

    def _tls_bytes(self, d: Direction, data: bytes, pos: int, ts_ns: int, frame: int, out: list[SmtpEvent]) -> int:
        tls = self._tls
        side = tls[d] if tls is not None else self._tls_side(d)
        client = d is C2S
        mode = self._cmode if client else self._smode
        if mode in _TLS_MODES:
            chunk = data[pos:]
            side.bytes += len(chunk)
            if not side.hello_done:  # else _hello_bytes has nothing to do: the usual TLS record
                self._hello_bytes(d, side, chunk, ts_ns, frame, out)
            return len(data)
        splitter = self._csplit if client else self._ssplit
        if splitter.pending:  # inside a plaintext line
            line, pos = splitter.take(data, pos, ts_ns, frame)
            if line is not None:
                self._plaintext(d, line, out)
            return pos
        verdict = record_start(side.probe + data[pos : pos + 2 - len(side.probe)])
        if verdict is None:  # one octet that may start a record: wait for the next
            side.probe, side.probe_at = data[pos : pos + 1], (ts_ns, frame)
            return pos + 1
        prefix, side.probe = side.probe, b""
        pts, pframe = side.probe_at if prefix else (ts_ns, frame)
        if verdict:
            if client:
                self._cmode = advance(self._cmode, Trigger.TLS_RECORD)
            else:
                self._smode = advance(self._smode, Trigger.TLS_RECORD)
            side.implicit_probe = False
            self._session(Trigger.TLS_RECORD)
            if not self._tls_announced:
                self._tls_announced = True
                out.append(TlsStarted(implicit=True, command_index=None, ts_ns=pts, frame=pframe))
            if prefix:
                side.bytes += len(prefix)
                self._hello_bytes(d, side, prefix, pts, pframe, out)
            return pos
        if side.implicit_probe:
            side.implicit_probe = False
            self._anomaly(out, "plaintext_on_implicit_tls",
                          f"{'client' if client else 'server'} bytes start with no TLS record where implicit "
                          "TLS was expected (RFC 8314 3.3); decoding them as SMTP", pts, pframe)
            if client:
                self._cmode = advance(self._cmode, Trigger.PLAINTEXT_ON_IMPLICIT)
                if prefix:
                    self._client(prefix, 0, pts, pframe, out)
            else:
                self._smode = advance(self._smode, Trigger.PLAINTEXT_ON_IMPLICIT)
                if prefix:
                    self._server(prefix, 0, pts, pframe, out)
            return pos
        if prefix:
            splitter.take(prefix, 0, pts, pframe)  # no LF in it: buffered
        line, pos = splitter.take(data, pos, ts_ns, frame)
        if line is not None:
            self._plaintext(d, line, out)
        return pos

    def _plaintext(self, d: Direction, line: Line, out: list[SmtpEvent]) -> None:
        out.append(PlaintextAfterStarttls(direction=d, data=line.raw, ts_ns=line.ts_ns, frame=line.frame,
                                          end_frame=line.end_frame))
        who = "client" if d is C2S else "server"
        self._anomaly(out, "plaintext_after_starttls",
                      f"{who} plaintext where TLS was due (CVE-2011-0411 shape): {_quote(line.raw)}",
                      line.ts_ns, line.frame)

    def _flush_probe(self, d: Direction, out: list[SmtpEvent]) -> None:
        side = self._tls_side(d)
        splitter = self._csplit if d is C2S else self._ssplit
        if side.probe:
            splitter.take(side.probe, 0, *side.probe_at)
            side.probe = b""
        part = splitter.flush()
        if part is not None:
            self._plaintext(d, part, out)

    def _hello_bytes(self, d: Direction, side: _TlsSide, chunk: bytes, ts_ns: int, frame: int,
                     out: list[SmtpEvent]) -> None:
        if side.hello_done or not chunk:
            return
        if side.hello_at is None:
            side.hello_at = (ts_ns, frame)
        side.hello += chunk[: MAX_HELLO_BYTES - len(side.hello)]
        res = parse_hello(bytes(side.hello))
        if res is None and len(side.hello) < MAX_HELLO_BYTES:
            return
        side.hello_done = True
        side.hello = bytearray()
        hts, hframe = side.hello_at
        if isinstance(res, ClientHelloInfo) and d is C2S:
            out.append(TlsClientHello(
                version=version_name(res.version), legacy_version=version_name(res.legacy_version),
                record_version=version_name(res.record_version),
                supported_versions=tuple(version_name(v) for v in res.supported_versions), sni=res.sni,
                alpn=res.alpn, cipher_suites=res.cipher_suites, ts_ns=hts, frame=hframe, end_frame=frame,
            ))
        elif isinstance(res, ServerHelloInfo) and d is S2C:
            out.append(TlsServerHello(
                version=version_name(res.version), legacy_version=version_name(res.legacy_version),
                record_version=version_name(res.record_version), cipher_suite=res.cipher_suite,
                ts_ns=hts, frame=hframe, end_frame=frame,
            ))
        else:
            self._anomaly(out, "tls_hello_unparsed",
                          f"{'client' if d is C2S else 'server'} TLS bytes start with no parsable "
                          f"{'ClientHello' if d is C2S else 'ServerHello'}", hts, hframe)

    def _tls_gap(self, d: Direction, length: int) -> None:
        side = self._tls_side(d)
        side.gap_bytes += length
        side.probe = b""
        side.hello_done = True
        side.hello = bytearray()

    # ------------------------------------------------------------------ a caller's own event list -
    #: :meth:`receive` of one direction for a caller that gathers the events in a list of its own
    #: (the pipeline, once per data event, without a new list and a call more each time):
    #: ``feed_client(data, 0, ts_ns, frame, out)`` appends to ``out`` exactly the events
    #: ``receive(C2S, data, ts_ns, frame)`` returns, in their order; ``feed_server`` likewise for
    #: S2C.  ``data`` must be ``bytes`` and the conversation not closed (``receive`` reports bytes
    #: after :meth:`close`; a closed conversation's modes drop them).
    feed_client = _client
    feed_server = _server


#: ``chunks(conversation, directions, parts, times, out, most, hand_over)`` in C
#: (``fastpath.ConversationFeed``), made once; None without the extension: see :func:`chunk_feeder`.
_C_FEED = None if _fastpath is None or not hasattr(_fastpath, "ConversationFeed") else _fastpath.ConversationFeed(
    conversation_type=SmtpConversation, queued_verbs=_QUEUED_VERBS, command_mode=_COMMAND_MODE,
    reply_mode=_REPLY_MODE, command_stage=_COMMAND_STAGE, data_end_stage=_DATA_END, verb_moves=_VERB_MOVES,
    no_moves=_NO_MOVES, end_moves=_END_MOVES, state_only=_STATE_ONLY, transitions=TRANSITIONS,
    new_command=_new_command, new_pending=_new_pending, new_reply=_new_reply, data_start_stage=_DATA_START,
    sent_data=_SENT_DATA, sent_starttls=Trigger.SENT_STARTTLS, tls_modes=(ClientMode.TLS, ServerMode.TLS),
    directions=(C2S, S2C),
)


def chunk_feeder(native: bool) -> Callable[..., None] | None:
    """With ``native`` (the caller uses the C fast path, see :func:`smtpsniff.net.native.enabled`)
    and the extension built: ``chunks(conversation, directions, parts, times, out, most,
    hand_over)``, which feeds a conversation each delivery of a
    :class:`~smtpsniff.reassembly.events.StreamChunks` (its fields) as :attr:`feed_client` and
    :attr:`feed_server` would, one after the other, into ``out``, and calls ``hand_over()`` after
    a delivery that leaves ``most`` events or more there.  The usual lines are decoded in C: in
    command mode a well-formed command with nothing to report, of a verb that only awaits its
    reply or of MAIL, RCPT, RSET, DATA or STARTTLS (as :meth:`_native_command` and
    :meth:`_command_sent` decode them); in reply mode a well-formed reply that answers the oldest
    command awaiting one (as :meth:`_server` does inline); and in TLS mode, once a side's hello
    is read, its bytes are counted (as :meth:`_tls_bytes`).  Everything else goes to the same
    Python methods, and the rest of a delivery the C code does not take to :meth:`_client` or
    :meth:`_server` themselves.  Else None: the caller feeds each delivery itself.

    The C code reads what :meth:`__init__` alone sets (the line splitters, the C readers, the
    limits, the queue of commands awaiting a reply) once per call, everything else as it goes."""
    return _C_FEED.chunks if native and _C_FEED is not None else None
