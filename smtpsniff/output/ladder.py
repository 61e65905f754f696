"""Ladder (sequence) diagrams of one session: plain text, Mermaid ``sequenceDiagram``, PNG/SVG.

The text ladder draws client and server as two lifelines with one arrow per turn, like
Wireshark's Flow Graph; the Mermaid form pastes into Markdown (GitHub, GitLab, Obsidian render it);
the picture comes from :func:`smtpsniff.analysis.charts.ladder.ladder`.  Capture text is made safe
for each medium: controls escaped for the terminal, Mermaid's special characters written as its
``#code;`` entities, matplotlib's ``$`` escaped.
"""
from __future__ import annotations

from pathlib import Path

from ..analysis.conversation import Conversation, Side, TurnKind
from ..limits import DEFAULT_LIMITS, Limits
from .safe import terminal_safe

#: Characters between the two lifelines of the text ladder.
TEXT_WIDTH = 64


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _rest_note(conv: Conversation, limits: Limits) -> tuple[list, int]:
    turns = list(conv.turns[: limits.ladder_max_steps])
    return turns, len(conv.turns) - len(turns)


def text_ladder(conv: Conversation, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The ladder as lines of plain text (safe for a terminal)."""
    s = conv.session
    w = TEXT_WIDTH
    client = terminal_safe(f"client {s.client_ip}:{s.client_port}")
    server = terminal_safe(f"server {s.server_ip}:{s.server_port}")
    half = w // 2
    lines = [f"{'time (s)':>10} {'frame':>6}  {_cut(client, half):<{half + 1}}{_cut(server, half):>{w - half + 1}}"]
    turns, rest = _rest_note(conv, limits)
    for turn in turns:
        when = "" if turn.ts_ns is None else f"{(turn.ts_ns - s.start_ns) / 1e9:.6f}"
        frame = "" if turn.frame is None else str(turn.frame)
        text = _cut(terminal_safe(turn.label).replace("\n", " "), w - 8)
        if turn.side is Side.BOTH:
            fill = "=" if turn.kind is TurnKind.TLS else "!"
            body = f" {text} ".center(w, fill)
            row = f"|{body}|"
        elif turn.side is Side.CLIENT:
            row = "|" + f" {text} ".center(w - 1, "-") + ">|"
        else:
            row = "|<" + f" {text} ".center(w - 1, "-") + "|"
        lines.append(f"{when:>10} {frame:>6}  {row}")
    if rest:
        lines.append(f"{'':>10} {'':>6}  … {rest} more steps (ladder_max_steps={limits.ladder_max_steps})")
    return lines


# Mermaid reads ";" and "#" as syntax and renders "<", ">", "&" as HTML; quotes end strings.
_MERMAID = {ch: f"#{ord(ch)};" for ch in '#;<>&"\'`{}[]|\\%:'}


def mermaid_text(text: str, width: int = 120) -> str:
    """``text`` as a Mermaid message: one line, controls escaped, special characters as entities."""
    text = _cut(terminal_safe(text).replace("\n", " ").replace("\r", " "), width)
    return "".join(_MERMAID.get(ch, ch) for ch in text)


def mermaid(conv: Conversation, *, limits: Limits = DEFAULT_LIMITS) -> str:
    """A Mermaid ``sequenceDiagram`` of the session."""
    s = conv.session
    out = ["sequenceDiagram",
           f"    participant C as {mermaid_text(f'client {s.client_ip}:{s.client_port}')}",
           f"    participant S as {mermaid_text(f'server {s.server_ip}:{s.server_port}')}"]
    turns, rest = _rest_note(conv, limits)
    for turn in turns:
        text = mermaid_text(turn.label) or " "
        if turn.side is Side.BOTH:
            out.append(f"    Note over C,S: {text}")
        elif turn.side is Side.CLIENT:
            out.append(f"    C->>S: {text}")
        else:
            out.append(f"    S->>C: {text}")
    if rest:
        out.append(f"    Note over C,S: {rest} more steps not drawn")
    return "\n".join(out) + "\n"


def write_ladder_image(conv: Conversation, path: Path, *, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Draw the ladder and save it; the format follows the suffix (.png or .svg)."""
    from ..analysis.charts.ladder import ladder
    from .charts import quiet_glyphs

    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"ladder image must end in .png or .svg, not {path.name!r}")
    ax = ladder(conv, max_steps=limits.ladder_max_steps)
    with quiet_glyphs():
        ax.figure.savefig(path, format=suffix[1:], dpi=110, metadata=_METADATA[suffix])
    return path


_METADATA = {".png": {"Software": None}, ".svg": {"Date": None}}

__all__ = ["TEXT_WIDTH", "mermaid", "mermaid_text", "text_ladder", "write_ladder_image"]
