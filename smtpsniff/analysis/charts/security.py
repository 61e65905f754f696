"""Credential exposure and findings, drawn from the credentials and findings tables when present."""
from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes

from ._common import CLASS_COLORS, axes, counts_axis, empty, label, tables_of

#: Severity order and colours, lowest first.
SEVERITIES = ("info", "low", "medium", "high", "critical")
_SEVERITY_COLORS = {"info": "#90a4ae", "low": "#fbc02d", "medium": CLASS_COLORS["4xx"], "high": CLASS_COLORS["5xx"],
                    "critical": "#4a148c"}
EXPOSURE = ("clear text", "inside TLS")
_EXPOSURE_COLORS = {"clear text": CLASS_COLORS["5xx"], "inside TLS": CLASS_COLORS["2xx"]}


def credential_exposure(creds: pd.DataFrame) -> pd.DataFrame:
    """AUTH attempts per mechanism (rows, most first) and clear text / inside TLS (columns)."""
    if creds.empty:
        return pd.DataFrame(columns=list(EXPOSURE), dtype="int64")
    where = creds["tls"].fillna(False).astype(bool).map({False: EXPOSURE[0], True: EXPOSURE[1]})
    table = pd.crosstab(creds["mechanism"].astype(str), where)
    for col in EXPOSURE:
        if col not in table.columns:
            table[col] = 0
    table = table[list(EXPOSURE)]
    order = sorted(table.index, key=lambda m: (-int(table.loc[m].sum()), m))
    return table.loc[order]


def credentials(data, ax: Axes | None = None) -> Axes:
    """AUTH attempts by mechanism, stacked clear text / inside TLS (RFC 4954 14: AUTH PLAIN and
    LOGIN need TLS).  Empty when the capture has no credentials table or no AUTH."""
    creds = tables_of(data).get("credentials")
    ax = axes(ax, (7.0, 3.5))
    title = "Credential exposure by mechanism"
    if creds is None:
        return empty(ax, title, "no credentials table")
    if creds.empty:
        return empty(ax, title, "no AUTH in this capture")
    table = credential_exposure(creds).iloc[::-1]
    left = [0] * len(table)
    for col in EXPOSURE:
        widths = [int(v) for v in table[col]]
        ax.barh(range(len(table)), widths, left=left, label=col, color=_EXPOSURE_COLORS[col])
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(table)), [label(m, 30) for m in table.index])
    ax.set_xlabel("AUTH attempts")
    counts_axis(ax.xaxis)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def findings_by_kind(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings per kind (rows, most first) and severity (columns, lowest first)."""
    if findings.empty:
        return pd.DataFrame(columns=list(SEVERITIES), dtype="int64")
    table = pd.crosstab(findings["kind"].astype(str), findings["severity"].astype(str))
    cols = [s for s in SEVERITIES if s in table.columns] + [c for c in table.columns if c not in SEVERITIES]
    table = table[cols]
    order = sorted(table.index, key=lambda k: (-int(table.loc[k].sum()), k))
    return table.loc[order]


def findings(data, ax: Axes | None = None) -> Axes:
    """Findings per kind stacked by severity.  Empty without a findings table or findings."""
    rows = tables_of(data).get("findings")
    title = "Findings by kind and severity"
    if rows is None or rows.empty:
        return empty(axes(ax, (7.0, 3.0)), title, "no findings table" if rows is None else "no findings")
    table = findings_by_kind(rows).iloc[::-1]
    ax = axes(ax, (8.0, 0.4 * len(table) + 1.4))
    left = [0] * len(table)
    for col in table.columns:
        widths = [int(v) for v in table[col]]
        ax.barh(range(len(table)), widths, left=left, label=col, color=_SEVERITY_COLORS.get(col, "0.5"))
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(table)), [label(k, 40) for k in table.index], fontsize="small")
    ax.set_xlabel("findings")
    counts_axis(ax.xaxis)
    ax.set_title(title)
    ax.legend(title="severity", loc="lower right", fontsize="small")
    return ax
