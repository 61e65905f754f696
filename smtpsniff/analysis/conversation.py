"""One session as an ordered list of turns: what each side said, in capture order.

The follow view, the ladder (text, Mermaid, picture) and the notebooks all draw from
:func:`conversation`.  A turn is a command, a reply, a SASL response, a message, the switch to
TLS, a line of plain text where TLS was due, or an anomaly, ordered by capture time and frame
(Wireshark's Follow TCP Stream and Flow Graph order).  Lines are rebuilt from the records: commands
from their raw bytes, replies from code and text lines (RFC 5321 4.2.1 ``code-text`` / ``code
text``).  Client SASL data (RFC 4954 4) is masked unless ``show_secrets``.

This module builds data only; it knows nothing of terminals, HTML or matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..records.builder import MessageData, SessionRecords
from ..records.model import SessionRecord

#: What a masked secret shows instead of its bytes, whatever their length (as in the credentials table).
MASK = "********"


class Side(str, Enum):
    CLIENT = "client"
    SERVER = "server"
    BOTH = "both"  # a note about the connection (TLS, anomaly)


class TurnKind(str, Enum):
    COMMAND = "command"
    REPLY = "reply"
    SASL = "sasl"  # a client response inside AUTH (RFC 4954 4)
    MESSAGE = "message"  # the content of DATA or BDAT
    TLS = "tls"  # from here on the connection is encrypted
    PLAINTEXT_AFTER_STARTTLS = "plaintext_after_starttls"
    ANOMALY = "anomaly"


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    kind: TurnKind
    side: Side
    ts_ns: int | None
    frame: int | None
    #: The text as it crossed the wire, one item per line, without line terminators.  Messages keep
    #: only their lines here when asked (``bodies``); see ``header_lines`` / ``body_lines``.
    lines: tuple[str, ...]
    #: One line for a diagram arrow.
    label: str
    verb: str | None = None
    code: int | None = None
    #: Command index (commands) or reply index (replies) in the session's tables.
    index: int | None = None
    #: Message turns: the header block and how much body follows it.
    header_lines: tuple[str, ...] = ()
    body_lines: tuple[str, ...] = ()
    size: int | None = None
    #: The text includes client secrets that were masked.
    masked: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    session: SessionRecord
    turns: tuple[Turn, ...]


def conversation(records: SessionRecords, *, show_secrets: bool = False) -> Conversation:
    """The turns of one session in capture order."""
    s = records.session
    items: list[tuple[tuple, Turn]] = []
    # Order within one frame: commands before the SASL data and message they carry, replies after.
    for c in records.commands:
        line = _decode(c.raw).rstrip("\r\n")
        masked = False
        if c.verb == "AUTH" and not show_secrets:
            mechanism, _, initial = c.argument.partition(" ")
            if initial.strip() and initial.strip() != "=":  # "=" is an empty initial response
                line = f"{line.split(' ', 1)[0]} {mechanism} {MASK}"
                masked = True
        items.append(((c.ts_ns, c.frame, 0, c.index), Turn(
            kind=TurnKind.COMMAND, side=Side.CLIENT, ts_ns=c.ts_ns, frame=c.frame, lines=(line,),
            label=line, verb=c.verb, index=c.index, masked=masked)))
    for step in records.auth_steps:
        if step.direction.value != "c2s" or step.kind.value == "initial":
            continue  # challenges are replies; the initial response is on the AUTH line
        text = _decode(step.raw)
        masked = not show_secrets and step.kind.value != "cancel" and text != "="
        line = MASK if masked else text
        items.append(((step.ts_ns, step.frame, 1, 0), Turn(
            kind=TurnKind.SASL, side=Side.CLIENT, ts_ns=step.ts_ns, frame=step.frame, lines=(line,),
            label=f"AUTH {step.mechanism} response {line}", verb="AUTH", masked=masked)))
    for m in records.messages:
        items.append(((m.ts_ns, m.frame, 2, m.command_index), _message_turn(m)))
    starttls_reply = _starttls_reply(records)
    for r in records.replies:
        lines = reply_lines(r.code, _clean(r.text), r.lines)
        first = lines[0] + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")
        items.append(((r.ts_ns, r.frame, 3, r.index), Turn(
            kind=TurnKind.REPLY, side=Side.SERVER, ts_ns=r.ts_ns, frame=r.frame, lines=lines, label=first,
            verb=r.verb, code=r.code, index=r.index)))
        if starttls_reply is not None and r.index == starttls_reply:
            items.append(((r.ts_ns, r.frame, 4, 0), _tls_turn(s, r.ts_ns, r.frame)))
    if s.implicit_tls:
        items.append(((s.start_ns, s.first_frame, -1, 0), _tls_turn(s, s.start_ns, s.first_frame)))
    for p in records.plaintext_after_starttls:
        side = Side.CLIENT if p.direction.value == "c2s" else Side.SERVER
        text = _decode(p.data).rstrip("\r\n")
        items.append(((p.ts_ns, p.frame, 5, 0), Turn(
            kind=TurnKind.PLAINTEXT_AFTER_STARTTLS, side=side, ts_ns=p.ts_ns, frame=p.frame, lines=(text,),
            label=f"plain text where TLS was due: {text}")))
    for a in records.anomalies:
        ts = a.ts_ns if a.ts_ns is not None else s.end_ns
        items.append(((ts, a.frame if a.frame is not None else 1 << 62, 6, 0), Turn(
            kind=TurnKind.ANOMALY, side=Side.BOTH, ts_ns=a.ts_ns, frame=a.frame,
            lines=(f"{a.kind}: {_clean(a.message)}",), label=f"{a.kind}: {_clean(a.message)}")))
    items.sort(key=lambda kv: kv[0])
    return Conversation(s, tuple(turn for _, turn in items))


def reply_lines(code: int, text: str | None, count: int | None = None) -> tuple[str, ...]:
    """A reply's lines as sent: ``250-first``, ..., ``250 last`` (RFC 5321 4.2.1)."""
    parts = (text or "").split("\n") if text else [""]
    out = [f"{code}-{p}" for p in parts[:-1]]
    out.append(f"{code} {parts[-1]}".rstrip() if parts[-1] else f"{code}")
    return tuple(out)


def _message_turn(m: MessageData) -> Turn:
    text = _decode(m.content)
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the CRLF before the terminating dot
    try:
        blank = lines.index("")
    except ValueError:
        blank = len(lines)
    state = "" if m.complete else ", incomplete"
    return Turn(kind=TurnKind.MESSAGE, side=Side.CLIENT, ts_ns=m.ts_ns, frame=m.frame, lines=tuple(lines),
                label=f"{m.via} content, {m.size} bytes{state}", verb=m.via, size=m.size,
                header_lines=tuple(lines[:blank]), body_lines=tuple(lines[blank:]))


def _tls_turn(s: SessionRecord, ts_ns: int, frame: int) -> Turn:
    what = "implicit TLS (RFC 8314)" if s.implicit_tls else "TLS after STARTTLS (RFC 3207)"
    details = ", ".join(x for x in (s.tls_version, f"SNI {s.sni}" if s.sni else None) if x)
    text = (f"{what}{': ' + details if details else ''}; encrypted: {s.tls_bytes_c2s} bytes client to server, "
            f"{s.tls_bytes_s2c} bytes server to client")
    return Turn(kind=TurnKind.TLS, side=Side.BOTH, ts_ns=ts_ns, frame=frame, lines=(text,), label=text)


def _starttls_reply(records: SessionRecords) -> int | None:
    """Index of the 220 reply after which the session switched to TLS."""
    if not records.session.starttls_used:
        return None
    for r in reversed(records.replies):
        if r.verb == "STARTTLS" and r.code == 220:
            return r.index
    return None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def _clean(text: str | None) -> str | None:
    """Decoded text whose undecodable bytes (lone surrogates) are shown as ``\\xNN``."""
    if text is None:
        return None
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


__all__ = ["Conversation", "MASK", "Side", "Turn", "TurnKind", "conversation", "reply_lines"]
