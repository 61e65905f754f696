"""A session as Wireshark's Follow TCP Stream shows it, for the terminal.

Client lines red, server lines blue (Wireshark's colours), each prefixed ``C:`` or ``S:`` so the
sides stay apart without colour.  Every line from the capture goes through
:func:`~smtpsniff.output.safe.terminal_safe` into ``rich.text.Text`` (never markup): escape
sequences and control characters show as ``\\xNN`` and cannot reach the terminal.  Message bodies
are folded to one line unless ``bodies``; the encrypted part of a TLS session is one summary line.
"""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from ..analysis.conversation import Conversation, Side, Turn, TurnKind
from ..limits import DEFAULT_LIMITS, Limits
from .safe import terminal_safe

CLIENT_STYLE = "red"
SERVER_STYLE = "blue"
NOTE_STYLE = "magenta"
MARK_STYLE = "bold reverse"


def _line(prefix: str, text: str, style: str, marked: bool = False) -> Text:
    out = Text()
    out.append(f"{'▶' if marked else ' '}{prefix} ", style=MARK_STYLE if marked else "dim")
    out.append(terminal_safe(text), style=style)
    return out


def header(conv: Conversation) -> Text:
    s = conv.session
    tls = ("implicit TLS" if s.implicit_tls else "STARTTLS" if s.starttls_used else "no TLS")
    text = Text(f"Session {s.session_id}: ", style="bold")
    text.append(terminal_safe(f"{s.client_ip}:{s.client_port} → {s.server_ip}:{s.server_port}"))
    text.append(terminal_safe(f"  ({s.commands} commands, {s.replies} replies, {s.messages} messages, {tls}, "
                              f"closed by {s.close_reason})"), style="dim")
    return text


def follow_lines(conv: Conversation, *, bodies: bool = False, marked: Callable[[Turn], bool] | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> list[Text]:
    """The session's lines, ready for ``Console.print``.  ``marked`` picks turns to flag with ``▶``
    (the rows a display filter matched)."""
    out = [header(conv)]
    for turn in conv.turns:
        flag = bool(marked and marked(turn))
        if turn.kind is TurnKind.MESSAGE:
            out.extend(_message(turn, bodies, flag, limits.follow_folded_header_lines))
        elif turn.side is Side.BOTH:
            prefix = "==" if turn.kind is TurnKind.TLS else "!!"
            for line in turn.lines:
                out.append(_line(prefix, f"[{line}]", NOTE_STYLE, flag))
        else:
            prefix, style = ("C:", CLIENT_STYLE) if turn.side is Side.CLIENT else ("S:", SERVER_STYLE)
            for line in turn.lines:
                out.append(_line(prefix, line, style, flag))
    return out


def _message(turn: Turn, bodies: bool, flag: bool, max_header_lines: int) -> list[Text]:
    if bodies:
        lines = [_line("C:", line, CLIENT_STYLE, flag) for line in turn.lines]
    else:
        shown = turn.header_lines[:max_header_lines]
        lines = [_line("C:", line, CLIENT_STYLE, flag) for line in shown]
        if len(turn.header_lines) > len(shown):
            rest = turn.header_lines[len(shown):]
            note = Text("    ")
            note.append(f"[{len(rest)} more header lines folded ({sum(len(x) + 2 for x in rest)} bytes); "
                        "--bodies shows them]", style=NOTE_STYLE)
            lines.append(note)
        body = turn.body_lines[1:] if turn.body_lines[:1] == ("",) else turn.body_lines
        if body:
            size = sum(len(x) + 2 for x in body)
            lines.append(_line("C:", "", CLIENT_STYLE))
            note = Text("    ")
            note.append(f"[body folded: {len(body)} lines, {size} bytes; --bodies shows it]", style=NOTE_STYLE)
            lines.append(note)
    if turn.verb == "DATA":
        lines.append(_line("C:", ".", CLIENT_STYLE))
    return lines


def print_lines(console, lines: list[Text]) -> None:
    """Write ``lines`` to ``console`` one per line, styled as ``Console.print`` would but without its
    wrapping machinery (a message of a million lines prints in seconds, not minutes)."""
    from rich.color import ColorSystem

    system = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT, "truecolor": ColorSystem.TRUECOLOR,
              "windows": ColorSystem.STANDARD}.get(console.color_system or "")
    write = console.file.write
    for text in lines:
        if system is None:
            write(text.plain + "\n")
            continue
        write("".join(seg.style.render(seg.text, color_system=system) if seg.style else seg.text
                      for seg in text.render(console)) + "\n")


__all__ = ["follow_lines", "header", "print_lines"]
