"""TLS use per session: implicit TLS, STARTTLS used, offered but not used, not offered."""
from __future__ import annotations

from matplotlib.axes import Axes

from .. import metrics
from ._common import CLASS_COLORS, axes, counts_axis, empty, tables_of

_COLORS = (CLASS_COLORS["2xx"], "#66bb6a", CLASS_COLORS["4xx"], CLASS_COLORS["5xx"])


def tls_use(data, ax: Axes | None = None) -> Axes:
    """Sessions per TLS category (metrics.TLS_CATEGORIES), one bar each, counts on the bars."""
    sessions = tables_of(data)["sessions"]
    ax = axes(ax, (7.0, 3.2))
    if sessions.empty:
        return empty(ax, "TLS use", "no SMTP sessions in this capture")
    counts = metrics.tls_use(sessions)
    labels = [c.replace(", ", ",\n") for c in counts.index]
    bars = ax.barh(range(len(counts))[::-1], [int(v) for v in counts], color=_COLORS)
    ax.set_yticks(range(len(counts))[::-1], labels, fontsize="small")
    ax.bar_label(bars, padding=2, fontsize="small")
    ax.set_xlabel("sessions")
    counts_axis(ax.xaxis)
    ax.set_title("TLS use (RFC 3207 STARTTLS, RFC 8314 implicit TLS)")
    ax.margins(x=0.12)
    return ax
