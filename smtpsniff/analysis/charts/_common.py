"""What every chart shares: getting the tables, a fresh Axes, safe labels, the empty case.

Charts never touch global matplotlib state: a chart given no ``ax`` draws on a new
:class:`matplotlib.figure.Figure` (no pyplot, no rcParams changes), which works with any backend.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...output.safe import terminal_safe

#: Reply class colours (Wireshark's palette is not about classes; these read as go/wait/retry/stop).
CLASS_COLORS = {"2xx": "#2e7d32", "3xx": "#1565c0", "4xx": "#ef6c00", "5xx": "#c62828"}
CLIENT_COLOR = "#b71c1c"  # Wireshark's Follow TCP Stream draws the client in red...
SERVER_COLOR = "#0d47a1"  # ...and the server in blue
NOTE_COLOR = "#6a1b9a"
#: Characters of capture text shown in a label.
LABEL_CHARS = 60


def tables_of(data) -> Mapping[str, pd.DataFrame]:
    """The tables of a Capture, or the mapping itself."""
    tables = getattr(data, "tables", data)
    if not isinstance(tables, Mapping):
        raise TypeError(f"expected a Capture or a mapping of tables, not {type(data).__name__}")
    return tables


def axes(ax: Axes | None, size: tuple[float, float] = (8.0, 4.0)) -> Axes:
    """``ax``, or the Axes of a new Figure (not registered with pyplot)."""
    if ax is not None:
        return ax
    fig = Figure(figsize=size, layout="constrained")
    return fig.add_subplot()


def label(text: object, width: int = LABEL_CHARS) -> str:
    """Capture text made safe for a matplotlib label: controls shown as ``\\xNN``, ``$`` escaped
    (no mathtext), cut to ``width`` characters."""
    s = terminal_safe("" if text is None or text is pd.NA else str(text)).replace("\n", " ").replace("\t", " ")
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if len(s) > width:
        s = s[: width - 1] + "…"
    return s.replace("$", r"\$")


def empty(ax: Axes, title: str, why: str) -> Axes:
    """An Axes that says there is nothing to plot, and why (its gid is ``"empty"``)."""
    ax.set_gid("empty")
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def naive_utc(index: pd.Index) -> list:
    """Timestamps as naive UTC datetimes, which every matplotlib date converter accepts."""
    return list(pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None).to_pydatetime())


def bin_days(freq: str) -> float:
    return pd.Timedelta(freq) / pd.Timedelta("1D")


def counts_axis(axis) -> None:
    """Whole-number ticks on an axis of counts."""
    axis.set_major_locator(MaxNLocator(integer=True))
