"""Top senders, recipients and domains, as horizontal stacked bars."""
from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes

from .. import metrics
from ._common import CLASS_COLORS, CLIENT_COLOR, SERVER_COLOR, axes, counts_axis, empty, label, tables_of

_SPLIT_COLORS = {"accepted": CLASS_COLORS["2xx"], "not accepted": CLASS_COLORS["5xx"],
                 "as sender": CLIENT_COLOR, "as recipient": SERVER_COLOR}


def _stacked(ax: Axes, table: pd.DataFrame, title: str, xlabel: str, order: tuple[str, ...]) -> Axes:
    rows = table.iloc[::-1]
    left = [0] * len(rows)
    for col in order:
        if col not in rows.columns:
            continue
        widths = [int(v) for v in rows[col]]
        ax.barh(range(len(rows)), widths, left=left, label=col, color=_SPLIT_COLORS[col])
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(rows)), [label(v, 50) for v in rows.index], fontsize="small")
    ax.set_xlabel(xlabel)
    counts_axis(ax.xaxis)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def top_senders(data, ax: Axes | None = None, *, top: int = 10) -> Axes:
    """Envelope senders (MAIL FROM) by transactions, split accepted / not accepted; ``<>`` is the
    null sender of bounces (RFC 5321 4.5.5)."""
    tx = tables_of(data)["transactions"]
    tx = tx[tx["mail_from"].notna()]
    ax = axes(ax, (8.0, 0.4 * min(max(len(tx), 3), top) + 1.4))
    if tx.empty:
        return empty(ax, "Top senders", "no MAIL FROM in this capture")
    senders = tx["mail_from"].astype(str).replace("", "<>")
    split = (tx["status"] == "accepted").map({True: "accepted", False: "not accepted"})
    return _stacked(ax, metrics.top_counts(senders, top, split), "Top senders (MAIL FROM)", "transactions",
                    ("accepted", "not accepted"))


def top_recipients(data, ax: Axes | None = None, *, top: int = 10) -> Axes:
    """Envelope recipients (RCPT TO) by commands, split by the reply: 2xx accepted, else not."""
    rc = tables_of(data)["recipients"]
    ax = axes(ax, (8.0, 0.4 * min(max(len(rc), 3), top) + 1.4))
    if rc.empty:
        return empty(ax, "Top recipients", "no RCPT TO in this capture")
    ok = rc["reply_code"].astype("Float64").between(200, 299).fillna(False).astype(bool)
    split = ok.map({True: "accepted", False: "not accepted"})
    return _stacked(ax, metrics.top_counts(rc["address"], top, split), "Top recipients (RCPT TO)", "RCPT commands",
                    ("accepted", "not accepted"))


def top_domains(data, ax: Axes | None = None, *, top: int = 10) -> Axes:
    """Domains of envelope senders (per transaction) and recipients (per RCPT), stacked."""
    tables = tables_of(data)
    senders = tables["transactions"]["mail_from"].dropna().astype(str).map(metrics.domain_of).dropna()
    rcpts = tables["recipients"]["address"].dropna().astype(str).map(metrics.domain_of).dropna()
    values = pd.concat([senders, rcpts], ignore_index=True)
    split = pd.Series(["as sender"] * len(senders) + ["as recipient"] * len(rcpts), dtype=object)
    ax = axes(ax, (8.0, 0.4 * min(max(values.nunique(), 3), top) + 1.4))
    if values.empty:
        return empty(ax, "Top domains", "no envelope addresses in this capture")
    return _stacked(ax, metrics.top_counts(values, top, split), "Top domains (envelope)", "addresses",
                    ("as sender", "as recipient"))
