"""Reply charts: reply codes by class over time, and the most frequent error replies."""
from __future__ import annotations

import matplotlib.dates as mdates
from matplotlib.axes import Axes

from .. import metrics
from ._common import CLASS_COLORS, axes, bin_days, counts_axis, empty, label, naive_utc, tables_of

CLASSES = ("2xx", "3xx", "4xx", "5xx")


def reply_codes(data, ax: Axes | None = None, *, freq: str | None = None) -> Axes:
    """Replies per time bin, stacked by class (RFC 5321 4.2.1: 2 done, 3 go on, 4 retry, 5 refused).

    One bar container per class that occurs, labelled with the class; ``freq`` is a pandas bin
    width (default: the smallest of metrics.TIME_BIN_CHOICES giving at most 60 bins).
    """
    replies = tables_of(data)["replies"]
    ax = axes(ax)
    title = "Reply codes by class over time"
    if replies.empty:
        return empty(ax, title, "no replies in this capture")
    freq = freq or metrics.time_bin(replies["ts"])
    counts = metrics.counts_over_time(replies["ts"], freq, replies["reply_class"])
    x = naive_utc(counts.index)
    bottom = [0] * len(counts)
    for cls in CLASSES:
        if cls not in counts.columns or counts[cls].sum() == 0:
            continue
        heights = [int(v) for v in counts[cls]]
        ax.bar(x, heights, width=bin_days(freq), bottom=bottom, align="edge", label=cls,
               color=CLASS_COLORS[cls])
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_title(f"{title} (bins of {freq})")
    ax.set_ylabel("replies")
    counts_axis(ax.yaxis)
    ax.set_xlabel("time (UTC)")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(title="class", loc="upper left", fontsize="small")
    return ax


def top_errors(data, ax: Axes | None = None, *, top: int = 10) -> Axes:
    """The most frequent 4xx/5xx replies as horizontal bars, code and text as the label.

    Addresses in ``<...>`` are blanked so that one rejection of many recipients is one bar
    (metrics.error_summary); bar widths are counts, most frequent at the top.
    """
    summary = metrics.error_summary(tables_of(data)["replies"], top)
    ax = axes(ax, (9.0, 0.45 * max(len(summary), 3) + 1.2))
    title = "Most frequent error replies"
    if summary.empty:
        return empty(ax, title, "no 4xx or 5xx replies")
    rows = summary.iloc[::-1]
    colors = [CLASS_COLORS["5xx"] if c >= 500 else CLASS_COLORS["4xx"] for c in rows["code"]]
    labels = [label(f"{c} {t}", 70) for c, t in zip(rows["code"], rows["text"])]
    bars = ax.barh(range(len(rows)), [int(n) for n in rows["count"]], color=colors)
    ax.set_yticks(range(len(rows)), labels, fontsize="small")
    ax.bar_label(bars, padding=2, fontsize="small")
    ax.set_xlabel("replies")
    counts_axis(ax.xaxis)
    ax.set_title(title)
    ax.margins(x=0.1)
    return ax
