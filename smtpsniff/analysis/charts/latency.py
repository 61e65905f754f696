"""Per-stage latency and message transfer rate."""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from .. import metrics
from ._common import CLASS_COLORS, CLIENT_COLOR, NOTE_COLOR, SERVER_COLOR, axes, empty, tables_of

_STAGE_COLORS = (SERVER_COLOR, NOTE_COLOR, CLIENT_COLOR)


def latency(data, ax: Axes | None = None) -> Axes:
    """Seconds per stage (metrics.stage_latencies) as points, one collection per stage labelled
    with its name, a bar at each median, log scale.  Points spread sideways (deterministically)
    so that equal values stay visible.  Zero durations (packets with one timestamp) cannot sit on a
    log scale: they are left out and counted in the title."""
    lat = metrics.stage_latencies(tables_of(data))
    ax = axes(ax, (7.0, 4.0))
    title = "Latency per stage"
    zero = int((lat["seconds"] <= 0).sum())
    lat = lat[lat["seconds"] > 0]
    if zero:
        title += f" ({zero} at 0 s not shown)"
    if lat.empty:
        return empty(ax, title, "no timed stages in this capture")
    for i, stage in enumerate(metrics.LATENCY_STAGES):
        values = lat.loc[lat["stage"] == stage, "seconds"].to_numpy(dtype=float)
        if not len(values):
            continue
        spread = (np.arange(len(values)) % 7 - 3) * 0.05
        ax.scatter(i + spread, values, s=14, alpha=0.7, color=_STAGE_COLORS[i], label=stage)
        ax.hlines(np.median(values), i - 0.3, i + 0.3, color="0.2", linewidth=1.5)
    ax.set_xticks(range(len(metrics.LATENCY_STAGES)), metrics.LATENCY_STAGES, fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log)")
    ax.set_title(title)
    return ax


def transfer_rate(data, ax: Axes | None = None) -> Axes:
    """Message size against transfer rate (metrics.transfer_rates), log-log, one point per message."""
    rates = metrics.transfer_rates(tables_of(data)).dropna(subset=["bytes_per_s"])
    rates = rates[(rates["bytes"] > 0) & (rates["bytes_per_s"] > 0)]  # log-log: empty messages left out
    ax = axes(ax, (7.0, 4.0))
    title = "Message transfer rate"
    if rates.empty:
        return empty(ax, title, "no timed message transfers in this capture")
    ax.scatter(rates["bytes"].astype(float), rates["bytes_per_s"].astype(float), s=18,
               color=CLASS_COLORS["3xx"], label="messages")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("message bytes")
    ax.set_ylabel("bytes per second (354 or first BDAT to final reply)")
    ax.set_title(title)
    return ax
