"""SMTP events of one connection -> the records of one session.

``SessionBuilder`` is fed the decoder's events in order and, when the connection closes, returns a
:class:`SessionRecords` bundle: the session, its transactions (Zeek smtp.log semantics), recipients,
commands, replies, messages and anomalies.  It knows nothing of packets, files or pandas.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from itertools import starmap

from .._native import fastpath as _fastpath
from ..anomaly import Anomaly
from ..reassembly.events import ConnectionClosed, ConnectionOpened
from ..smtp.events import (
    GREETING_VERB,
    AuthStep,
    Capabilities,
    Command,
    GapEvent,
    MessageComplete,
    PlaintextAfterStarttls,
    Reply,
    ReplyStage,
    TlsClientHello,
    TlsServerHello,
    TlsStarted,
)
from ..fastinit import slot_builder
from .model import (
    CommandRecord,
    RecipientRecord,
    ReplyRecord,
    SessionRecord,
    TransactionRecord,
    TransactionStatus,
)

_new_reply_record = slot_builder(ReplyRecord)
_new_command_record = slot_builder(CommandRecord)
_new_recipient_record = slot_builder(RecipientRecord)
_new_transaction_record = slot_builder(TransactionRecord)
_new_session_record = slot_builder(SessionRecord)
_new_capabilities = slot_builder(Capabilities)
_new_anomaly = slot_builder(Anomaly)
_CAPABILITIES_FIELDS = tuple(f.name for f in fields(Capabilities))

_HELO_VERBS = frozenset({"HELO", "EHLO", "LHLO"})
#: Verbs whose reply at the COMMAND stage changes no state of the session or its transaction (see
#: SessionBuilder._on_reply's cases): only the command's row and the reply's own record.
_QUIET_REPLY_VERBS = frozenset({"HELO", "EHLO", "LHLO", "QUIT", "RSET", "NOOP", "VRFY", "EXPN", "HELP"})

_GREETING, _COMMAND = ReplyStage.GREETING, ReplyStage.COMMAND
_ACCEPTED, _REJECTED, _ABORTED = TransactionStatus.ACCEPTED, TransactionStatus.REJECTED, TransactionStatus.ABORTED
_INCOMPLETE, _NO_MESSAGE, _STARTTLS = TransactionStatus.INCOMPLETE, TransactionStatus.NO_MESSAGE, \
    TransactionStatus.STARTTLS
_DATA_START, _DATA_END, _BDAT_CHUNK = ReplyStage.DATA_START, ReplyStage.DATA_END, ReplyStage.BDAT_CHUNK

# A command's row while its session is open: CommandRecord's fields in order (built by position at
# finish), the ones a later reply or message fills in at these positions.
_CMD_TRANS, _CMD_REPLY_CODE, _CMD_REPLY_FRAME, _CMD_REPLY_TS = 8, 9, 10, 11
# A recipient's row while its transaction is open: RecipientRecord's fields in order.
_RCPT_ADDRESS, _RCPT_REPLY_CODE, _RCPT_REPLY_TEXT = 5, 7, 8


def _params_text(params: dict[str, str | None]) -> str:
    """MAIL or RCPT parameters as sent: ``KEY`` or ``KEY=value``, space-separated."""
    return " ".join([k if v is None else f"{k}={v}" for k, v in params.items()]) if params else ""


def _auth_mechanism(argument: str) -> str | None:
    """The mechanism an AUTH command names (RFC 4954 4): its argument's first word, upper-cased."""
    return argument.split(" ", 1)[0].upper() or None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """The bytes of one transferred message, handed to the mail parser."""

    session_id: int
    trans_index: int
    command_index: int
    via: str
    content: bytes
    size: int
    complete: bool
    truncated_content: bool
    ts_ns: int
    frame: int
    end_ts_ns: int
    end_frame: int
    event: MessageComplete


@dataclass(frozen=True, slots=True)
class SessionRecords:
    session: SessionRecord
    transactions: tuple[TransactionRecord, ...]
    recipients: tuple[RecipientRecord, ...]
    commands: tuple[CommandRecord, ...]
    replies: tuple[ReplyRecord, ...]
    messages: tuple[MessageData, ...]
    anomalies: tuple[Anomaly, ...]
    #: Every SASL step of every AUTH exchange, for the credentials table.
    auth_steps: tuple[AuthStep, ...] = ()
    #: Plain text where TLS was due after STARTTLS (command/response injection evidence).
    plaintext_after_starttls: tuple[PlaintextAfterStarttls, ...] = ()
    #: Every EHLO reply's capabilities, in order.
    capabilities: tuple[Capabilities, ...] = ()


_new_message_data = slot_builder(MessageData)
_new_session_records = slot_builder(SessionRecords)


@dataclass(slots=True)
class _Transaction:
    """The mutable row of main.zeek's ``c$smtp``, frozen into a TransactionRecord when written."""

    trans_index: int
    trans_depth: int
    helo: str | None
    ts_ns: int | None = None
    frame: int | None = None
    active: bool = False  # main.zeek's has_client_activity
    mail_from: str | None = None
    mail_params: str = ""
    mail_reply_code: int | None = None
    rcpt: list[list] = field(default_factory=list)  # RecipientRecord fields in order (see _RCPT_*)
    rcpt_by_command: dict[int, list] = field(default_factory=dict)
    data_via: str | None = None
    data_reply_code: int | None = None
    final_reply_code: int | None = None
    last_reply: Reply | None = None  # its text and time go into the row when it is written
    message_size: int | None = None
    message_complete: bool | None = None
    tls: bool = False
    aborted: bool = False
    gap: bool = False


_new_transaction_row = slot_builder(_Transaction)


class SharedValues:
    """Values the builders of one capture hold once: reply texts and the capabilities an EHLO
    reply announces, which recur from session to session (a server's replies and extensions).

    Each look-up returns the first value met equal to the one given, which a record then holds
    instead of its own copy: records are immutable, and equal values stand for each other.  The
    tables hold a reference to each distinct value beside what the records hold: give them only
    to builders whose records are kept as long as the tables.
    """

    __slots__ = ("_lines", "_values")

    def __init__(self) -> None:
        # str and tuples of them, each its own key (values of different types never equal)
        self._values: dict[object, object] = {}
        self._lines: dict[tuple, tuple[str, ...]] = {}  # Capabilities.items -> capability_lines

    def text(self, text: str) -> str:
        if type(text) is not str:
            return text
        return self._values.setdefault(text, text)  # type: ignore[return-value]

    def capabilities(self, c: Capabilities) -> Capabilities:
        """``c`` holding shared strings and tuples (a new event only when one differs)."""
        values = self._values
        items, domain = values.setdefault(c.items, c.items), values.setdefault(c.domain, c.domain)
        greeting = values.setdefault(c.greeting, c.greeting)
        mechanisms = values.setdefault(c.auth_mechanisms, c.auth_mechanisms)
        if (items is c.items and domain is c.domain and greeting is c.greeting
                and mechanisms is c.auth_mechanisms):
            return c
        shared = {"items": items, "domain": domain, "greeting": greeting, "auth_mechanisms": mechanisms}
        return _new_capabilities(*[shared[name] if name in shared else getattr(c, name)  # as replace(c, ...)
                                   for name in _CAPABILITIES_FIELDS])

    def capability_lines(self, items: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
        """:func:`capability_lines` of ``items``, the same tuple for equal items."""
        lines = self._lines.get(items)
        if lines is None:
            lines = self._lines[items] = capability_lines(items)
        return lines


def capability_lines(items: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """``" ".join((keyword, *params))`` of each announced extension, in order."""
    # without building that tuple for the many bare keywords
    return tuple([kw + " " + " ".join(params) if params else kw for kw, params in items])


class SessionBuilder:
    """``shared``, when given, is the :class:`SharedValues` of the builders of one capture.

    Its state is in slots, which :func:`add_events`' C function reads and writes as the handlers
    here do."""

    __slots__ = (
        "opened", "_shared", "session_id", "detected_by", "implicit_tls", "_commands", "_command_rows", "_replies",
        "_recipients", "_transactions", "_messages", "_anomalies", "_auth_steps", "_plaintext", "_all_capabilities",
        "_messages_transferred", "_helo", "_helo_verb", "_banner", "_greeting_code", "_capabilities",
        "_starttls_used", "_tls", "_tls_version", "_sni", "_auth_mechanism", "_auth_reply_code", "_message_trans",
        "_last_ts_ns", "_current",
    )

    def __init__(self, opened: ConnectionOpened, *, detected_by: str, implicit_tls: bool,
                 shared: SharedValues | None = None) -> None:
        self.opened = opened
        self._shared = shared
        self.session_id = opened.conn_id
        self.detected_by = detected_by
        self.implicit_tls = implicit_tls
        self._commands: list[list] = []  # CommandRecord fields in order (see _CMD_*)
        self._command_rows: dict[int, list] = {}  # Command.index -> its row in _commands (indices are unique)
        self._replies: list[ReplyRecord] = []
        self._recipients: list[RecipientRecord] = []
        self._transactions: list[TransactionRecord] = []
        self._messages: list[MessageData] = []
        self._anomalies: list[Anomaly] = []
        self._auth_steps: list[AuthStep] = []
        self._plaintext: list[PlaintextAfterStarttls] = []
        self._all_capabilities: list[Capabilities] = []
        self._messages_transferred = 0
        self._helo: str | None = None
        self._helo_verb: str | None = None
        self._banner: str | None = None
        self._greeting_code: int | None = None
        self._capabilities: Capabilities | None = None
        self._starttls_used = False
        self._tls = implicit_tls
        self._tls_version: str | None = None
        self._sni: str | None = None
        self._auth_mechanism: str | None = None
        self._auth_reply_code: int | None = None
        # Command.index -> transaction of a message whose command has no row (its trans_index else)
        self._message_trans: dict[int, int] = {}
        self._last_ts_ns = opened.ts_ns
        self._current = self._new_transaction()

    # -- transactions, as main.zeek writes smtp.log rows ------------------------------------------
    def _new_transaction(self) -> _Transaction:
        # _Transaction(trans_index=..., trans_depth=..., helo=..., tls=...), its other fields at their defaults
        return _new_transaction_row(len(self._transactions), self._messages_transferred + 1, self._helo, None, None,
                                    False, None, "", None, [], {}, None, None, None, None, None, None, self._tls,
                                    False, False)

    def _activate(self, ts_ns: int, frame: int) -> _Transaction:
        t = self._current
        if not t.active:
            t.active = True
            t.ts_ns, t.frame = ts_ns, frame
            t.helo = self._helo
        return t

    def _write_current(self, *, closing: bool = False) -> None:
        t = self._current
        if t.active:
            self._transactions.append(self._freeze(t, closing))
            if t.rcpt:
                self._recipients.extend(starmap(_new_recipient_record, t.rcpt))
        if not closing:  # the closing row is the session's last: no event comes after it
            self._current = self._new_transaction()

    def _freeze(self, t: _Transaction, closing: bool) -> TransactionRecord:
        rcpt = t.rcpt
        if rcpt:
            codes = tuple([r[_RCPT_REPLY_CODE] for r in rcpt])
            accepted = len([c for c in codes if c is not None and 200 <= c < 300])
            rcpt_to = tuple([r[_RCPT_ADDRESS] for r in rcpt])
        else:
            codes = rcpt_to = ()
            accepted = 0
        last = t.last_reply
        if last is None:
            last_reply = end_ts_ns = None
        else:
            lines = last.lines
            last_reply, end_ts_ns = f"{last.code} {lines[-1] if lines else ''}".rstrip(), last.ts_ns
        return _new_transaction_record(
            self.session_id, t.trans_index, t.trans_depth, t.ts_ns, t.frame, t.helo, t.mail_from, t.mail_params,
            t.mail_reply_code, rcpt_to, codes, accepted, t.data_via, t.data_reply_code, t.final_reply_code,
            last_reply, t.message_size, t.message_complete, t.tls, self._status(t, closing, accepted)._value_,
            end_ts_ns,
        )

    @staticmethod
    def _status(t: _Transaction, closing: bool, accepted: int) -> TransactionStatus:
        final, mail_code, data_code = t.final_reply_code, t.mail_reply_code, t.data_reply_code
        if final is not None:
            return _ACCEPTED if 200 <= final < 300 else _REJECTED
        if (mail_code is not None and mail_code >= 400) \
                or (t.rcpt and accepted == 0 and all(r[_RCPT_REPLY_CODE] for r in t.rcpt)) \
                or (data_code is not None and data_code >= 400):
            return _REJECTED
        if t.gap or (closing and t.data_via is not None and not t.aborted):
            return _INCOMPLETE
        if t.mail_from is None and not t.rcpt and t.tls:
            return _STARTTLS
        if t.aborted:
            return _ABORTED
        if t.data_via is None:
            return _NO_MESSAGE if not closing or t.rcpt else _INCOMPLETE
        return _INCOMPLETE

    # -- events ---------------------------------------------------------------------------------
    def add(self, event: object) -> None:
        handler = self._HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def add_all(self, events: list[object]) -> None:
        """:meth:`add` each event, in order (replies and commands, most events, found without a look-up)."""
        handlers, on_reply, on_command = self._HANDLERS, self._on_reply, self._on_command
        for event in events:
            kind = type(event)
            if kind is Reply:
                on_reply(event)
            elif kind is Command:
                on_command(event)
            else:
                handler = handlers.get(kind)
                if handler is not None:
                    handler(self, event)

    def _on_command(self, c: Command) -> None:
        self._last_ts_ns = ts_ns = c.ts_ns
        verb, argument, frame, index = c.verb, c.argument, c.frame, c.index
        trans_index: int | None = None
        # The verbs' cases exclude each other; the most frequent come first.
        if verb == "RCPT":
            t = self._current
            if not t.active:  # _activate, inline for the most frequent command
                t.active = True
                t.ts_ns, t.frame = ts_ns, frame
                t.helo = self._helo
            trans_index = t.trans_index
            params = c.params
            rcpt = [self.session_id, trans_index, len(t.rcpt), ts_ns, frame,
                    c.address if c.address is not None else argument, _params_text(params) if params else "",
                    None, None]
            t.rcpt.append(rcpt)
            t.rcpt_by_command[index] = rcpt
        elif verb == "MAIL":
            self._write_current()  # flush a transaction whose end we did not see (main.zeek)
            t = self._activate(ts_ns, frame)
            t.mail_from = c.address if c.address is not None else argument
            params = c.params
            t.mail_params = _params_text(params) if params else ""
            trans_index = t.trans_index
        elif verb in _HELO_VERBS:
            self._helo, self._helo_verb = argument, verb
            self._current.helo = argument if not self._current.active else self._current.helo
        elif verb == "DATA" or verb == "BDAT":
            t = self._current
            if t.data_via is None:
                t.data_via = verb
            trans_index = t.trans_index if t.active else None
        elif verb == "RSET" or verb == "QUIT":
            if self._current.active:
                self._current.aborted = True
        elif verb == "AUTH":
            self._auth_mechanism = _auth_mechanism(argument)
            self._auth_reply_code = None
        row = [self.session_id, index, ts_ns, frame, verb, argument, c.known, c.pipelined, trans_index,
               None, None, None, c.raw]
        self._commands.append(row)
        self._command_rows[index] = row

    def _on_reply(self, r: Reply) -> None:
        self._last_ts_ns = ts_ns = r.ts_ns
        code, frame, index = r.code, r.frame, r.command_index
        t = self._current
        t.last_reply = r
        text = r.text if self._shared is None else self._shared.text(r.text)
        if index is None:
            trans_index = None
        elif (cmd := self._command_rows.get(index)) is not None:
            trans_index = cmd[_CMD_TRANS]
            # The first reply answers the command: DATA's 354 (or refusal), AUTH's first 334;
            # the reply to the message itself is the transaction's final_reply_code.
            if cmd[_CMD_REPLY_CODE] is None:
                cmd[_CMD_REPLY_CODE], cmd[_CMD_REPLY_FRAME], cmd[_CMD_REPLY_TS] = code, frame, ts_ns
        else:
            trans_index = self._message_trans.get(index)
        verb, stage, enhanced_code = r.verb, r.stage, r.enhanced_code
        message_end = False
        if stage is _COMMAND and verb in _QUIET_REPLY_VERBS:
            pass  # the reply changes nothing but its command's row (EHLO, QUIT, RSET, NOOP, ...)
        elif stage is _GREETING or verb == GREETING_VERB:
            if self._banner is None:
                self._banner, self._greeting_code = text, code
        elif verb == "MAIL" and trans_index == t.trans_index:
            t.mail_reply_code = code
        elif verb == "RCPT":
            rcpt = t.rcpt_by_command.get(index)
            if rcpt is not None:
                rcpt[_RCPT_REPLY_CODE], rcpt[_RCPT_REPLY_TEXT] = code, text
        elif stage is _DATA_START or (stage is _BDAT_CHUNK and t.data_reply_code is None):
            t.data_reply_code = code
        elif stage is _DATA_END:
            if t.data_reply_code is None and verb == "BDAT":
                t.data_reply_code = code
            t.final_reply_code = code
            trans_index = t.trans_index if t.active else trans_index
            message_end = True
        elif verb == "AUTH" and stage is _COMMAND:
            self._auth_reply_code = code
        elif verb == "STARTTLS" and code == 220:
            self._starttls_used = True
        replies = self._replies
        replies.append(_new_reply_record(
            self.session_id, len(replies), ts_ns, frame, code, enhanced_code,
            text, len(r.lines), verb,
            None if stage is _COMMAND or stage is _GREETING else stage._value_, index, trans_index))
        if message_end:
            self._messages_transferred += 1
            self._write_current()

    def _on_capabilities(self, c: Capabilities) -> None:
        if self._shared is not None:
            c = self._shared.capabilities(c)
        if self._capabilities is None:
            self._capabilities = c
        self._all_capabilities.append(c)

    def _on_auth_step(self, e: AuthStep) -> None:
        self._auth_steps.append(e)

    def _on_plaintext(self, e: PlaintextAfterStarttls) -> None:
        self._plaintext.append(e)

    def _on_message(self, m: MessageComplete) -> None:
        # A message always has its transaction row, even without MAIL (BDAT octets are sent without
        # a go-ahead, RFC 3030 2): the row says what the server made of it.
        t = self._activate(m.ts_ns, m.frame)
        cmd = self._command_rows.get(m.command_index)
        if cmd is not None:
            if cmd[_CMD_TRANS] is None:
                cmd[_CMD_TRANS] = t.trans_index
        elif self._message_trans.get(m.command_index) is None:
            self._message_trans[m.command_index] = t.trans_index
        t.message_size = m.size
        t.message_complete = m.complete
        if not m.complete:
            t.gap = True
        self._messages.append(_new_message_data(
            session_id=self.session_id, trans_index=t.trans_index, command_index=m.command_index, via=m.via,
            content=m.content, size=m.size, complete=m.complete, truncated_content=m.truncated_content,
            ts_ns=m.ts_ns, frame=m.frame, end_ts_ns=m.end_ts_ns, end_frame=m.end_frame, event=m))

    def _on_tls_started(self, e: TlsStarted) -> None:
        self._tls = True
        t = self._activate(e.ts_ns, e.frame) if not e.implicit else self._current
        t.tls = True

    def _on_client_hello(self, e: TlsClientHello) -> None:
        self._sni = e.sni
        self._tls_version = self._tls_version or e.version

    def _on_server_hello(self, e: TlsServerHello) -> None:
        self._tls_version = e.version  # the version the server chose wins over the client's offer

    def _on_gap(self, e: GapEvent) -> None:
        if self._current.active:
            self._current.gap = True

    def _on_anomaly(self, a: Anomaly) -> None:
        # (as replace(a, conn_id=...): Anomaly's fields in their order)
        self._anomalies.append(a if a.conn_id is not None else _new_anomaly(
            a.layer, a.kind, a.message, a.ts_ns, a.frame, self.session_id))

    _HANDLERS = {
        Command: _on_command, Reply: _on_reply, Capabilities: _on_capabilities, MessageComplete: _on_message,
        TlsStarted: _on_tls_started, TlsClientHello: _on_client_hello, TlsServerHello: _on_server_hello,
        GapEvent: _on_gap, Anomaly: _on_anomaly, AuthStep: _on_auth_step, PlaintextAfterStarttls: _on_plaintext,
    }

    # -- end ------------------------------------------------------------------------------------
    def finish(self, closed: ConnectionClosed, *, tls_bytes_c2s: int = 0, tls_bytes_s2c: int = 0,
               extra_anomalies: list[Anomaly] | tuple = ()) -> SessionRecords:
        self._write_current(closing=True)
        for a in extra_anomalies:
            self._on_anomaly(a)
        o, caps, auth_reply_code = self.opened, self._capabilities, self._auth_reply_code
        commands = tuple(starmap(_new_command_record, self._commands))
        replies, transactions, messages, anomalies = self._replies, self._transactions, self._messages, \
            self._anomalies
        if caps is not None:
            capabilities = (capability_lines(caps.items) if self._shared is None
                            else self._shared.capability_lines(caps.items))
            pipelining, starttls, mechanisms = bool(caps.pipelining), bool(caps.starttls), caps.auth_mechanisms
        else:
            capabilities = mechanisms = ()
            pipelining = starttls = False
        client, server = o.client, o.server
        session = _new_session_record(  # SessionRecord's fields in order
            self.session_id, client.ip, client.port, server.ip, server.port, o.ip_version, o.ts_ns,
            max(closed.ts_ns, self._last_ts_ns), o.frame, self.detected_by, o.role_basis._value_,
            o.handshake_seen, self._banner, self._greeting_code, self._helo_verb, self._helo, capabilities,
            pipelining, starttls, self._starttls_used, self.implicit_tls, self._tls_version, self._sni,
            mechanisms, self._auth_mechanism, auth_reply_code,
            None if auth_reply_code is None else 200 <= auth_reply_code < 300,
            len(commands), len(replies), len(transactions), len(messages), closed.bytes_c2s, closed.bytes_s2c,
            tls_bytes_c2s, tls_bytes_s2c, closed.gap_bytes_c2s + closed.gap_bytes_s2c, closed.reason._value_,
            len(anomalies),
        )
        return _new_session_records(session, tuple(transactions), tuple(self._recipients), commands,
                                    tuple(replies), tuple(messages), tuple(anomalies),
                                    tuple(self._auth_steps), tuple(self._plaintext), tuple(self._all_capabilities))


#: SessionBuilder.add_all in C (``fastpath.BuilderEvents``), made once; None without the extension.
_C_EVENTS = None if _fastpath is None or not hasattr(_fastpath, "BuilderEvents") else _fastpath.BuilderEvents(
    builder_type=SessionBuilder, transaction_type=_Transaction, shared_type=SharedValues, command_type=Command,
    reply_type=Reply, record_type=ReplyRecord, stages=(_COMMAND, _GREETING, _DATA_START, _DATA_END, _BDAT_CHUNK),
    greeting_verb=GREETING_VERB, quiet_verbs=_QUIET_REPLY_VERBS, helo_verbs=_HELO_VERBS,
    params_text=_params_text, auth_mechanism=_auth_mechanism,
)


def add_events(native: bool) -> Callable[[SessionBuilder, list], None]:
    """``add(builder, events)``, which does ``builder.add_all(events)``: with ``native`` (the caller
    uses the C fast path, see :func:`smtpsniff.net.native.enabled`) and the extension built, a C
    function that runs the command and reply handlers of a :class:`SessionBuilder`, the events most
    sessions are made of, in C and calls the Python handlers for the rest (and a subclass's own
    ``add_all``); else a call of that method.  Both leave a builder in the same state: its records
    are the same."""
    if native and _C_EVENTS is not None:
        return _C_EVENTS
    return _add_all


def _add_all(builder: SessionBuilder, events: list) -> None:
    builder.add_all(events)
