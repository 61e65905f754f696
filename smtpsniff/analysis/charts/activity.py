"""Sessions and messages over time."""
from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes

from .. import metrics
from ._common import CLIENT_COLOR, SERVER_COLOR, axes, bin_days, counts_axis, empty, naive_utc, tables_of


def message_times(tables) -> pd.Series:
    """When each transferred message ended: the messages table's time when there is one, else the
    end of each transaction that carried a message."""
    messages = tables.get("messages")
    if messages is not None and "ts" in messages.columns:
        return messages["ts"]
    tx = tables["transactions"]
    return tx.loc[tx["message_size"].notna(), "end"]


def activity(data, ax: Axes | None = None, *, freq: str | None = None) -> Axes:
    """Sessions started per time bin (bars, label ``sessions``) and messages transferred per bin
    (line, label ``messages``), on the same bins."""
    tables = tables_of(data)
    sessions = tables["sessions"]
    ax = axes(ax)
    title = "Sessions and messages over time"
    if sessions.empty:
        return empty(ax, title, "no SMTP sessions in this capture")
    msg_ts = message_times(tables)
    freq = freq or metrics.time_bin(sessions["start"], msg_ts)
    both = pd.concat([sessions["start"].dropna(), msg_ts.dropna()])
    index = pd.date_range(both.min().floor(freq), both.max().floor(freq), freq=freq)
    starts = metrics.counts_over_time(sessions["start"], freq).reindex(index, fill_value=0)["count"]
    msgs = metrics.counts_over_time(msg_ts, freq)
    msgs = msgs.reindex(index, fill_value=0)["count"] if len(msgs) else pd.Series(0, index=index)
    x = naive_utc(index)
    width = bin_days(freq)
    ax.bar(x, [int(v) for v in starts], width=width, align="edge", label="sessions", color=SERVER_COLOR,
           alpha=0.6)
    centers = [t + pd.Timedelta(days=width / 2) for t in x]
    ax.plot(centers, [int(v) for v in msgs], marker="o", color=CLIENT_COLOR, label="messages")
    ax.set_title(f"{title} (bins of {freq})")
    ax.set_ylabel("count")
    counts_axis(ax.yaxis)
    ax.set_xlabel("time (UTC)")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(loc="upper left", fontsize="small")
    return ax
