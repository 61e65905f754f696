"""A session as a ladder (sequence) diagram, like Wireshark's Flow Graph: client left, server right."""
from __future__ import annotations

from matplotlib.axes import Axes

from ...limits import DEFAULT_LIMITS
from ..conversation import Conversation, Side, TurnKind
from ._common import CLIENT_COLOR, NOTE_COLOR, SERVER_COLOR, axes, label

#: Inches of figure height per step when the chart makes its own figure.
STEP_INCHES = 0.34


def ladder_height(steps: int) -> float:
    return 1.6 + STEP_INCHES * steps


def ladder(conv: Conversation, ax: Axes | None = None, *, max_steps: int = DEFAULT_LIMITS.ladder_max_steps) -> Axes:
    """Draw ``conv`` (from :func:`~smtpsniff.analysis.conversation.conversation`) on ``ax``.

    One arrow per turn, from the side that sent it, its label above it (capture text with controls
    escaped); the switch to TLS and anomalies are boxes across both lifelines.  Times on the left
    are seconds since the session's first packet, frame numbers on the right.  Past ``max_steps``
    turns the diagram ends with a note counting the rest.
    """
    s = conv.session
    turns = conv.turns[:max_steps]
    rest = len(conv.turns) - len(turns)
    n = len(turns) + (1 if rest else 0)
    ax = axes(ax, (9.0, ladder_height(n)))
    ax.set_xlim(-0.32, 1.18)
    ax.set_ylim(-n - 0.2, 0.9)
    ax.axis("off")
    ax.vlines([0, 1], -n - 0.2, 0.35, colors="0.55", linewidth=1)
    ax.text(0, 0.45, label(f"client {s.client_ip}:{s.client_port}", 40), ha="center",
            va="bottom", fontsize="small", weight="bold", color=CLIENT_COLOR)
    ax.text(1, 0.45, label(f"server {s.server_ip}:{s.server_port}", 40), ha="center", va="bottom",
            fontsize="small", weight="bold", color=SERVER_COLOR)
    for i, turn in enumerate(turns):
        y = -(i + 0.6)
        when = "" if turn.ts_ns is None else f"+{(turn.ts_ns - s.start_ns) / 1e9:.6f}s"
        ax.text(-0.05, y, when, ha="right", va="center", fontsize="x-small", color="0.35", family="monospace")
        if turn.frame is not None:
            ax.text(1.05, y, f"#{turn.frame}", ha="left", va="center", fontsize="x-small", color="0.35",
                    family="monospace")
        text = label(turn.label, 70)
        if turn.side is Side.BOTH:
            color = NOTE_COLOR if turn.kind is TurnKind.TLS else SERVER_COLOR
            ax.text(0.5, y, text, ha="center", va="center", fontsize="x-small", color="white", gid=f"turn-{i}",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": color, "edgecolor": "none"})
            continue
        start, end, color = (0, 1, CLIENT_COLOR) if turn.side is Side.CLIENT else (1, 0, SERVER_COLOR)
        ax.annotate("", xy=(end, y), xytext=(start, y),
                    arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.1, "shrinkA": 0, "shrinkB": 0})
        ax.text(0.5, y + 0.08, text, ha="center", va="bottom", fontsize="x-small", color=color,
                family="monospace", gid=f"turn-{i}")
    if rest:
        ax.text(0.5, -(len(turns) + 0.6), f"… {rest} more steps not drawn (ladder_max_steps={max_steps})",
                ha="center", va="center", fontsize="small", color="0.3", gid="rest")
    title = f"Session {s.session_id}: {s.client_ip}:{s.client_port} → {s.server_ip}:{s.server_port}"
    ax.set_title(label(title, 100), fontsize="medium")
    return ax
