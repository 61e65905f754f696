"""Figures derived from the tables: time bins, error groups, per-stage latency, transfer rates, TLS use.

The charts plot these and the report lists them, so both show the same numbers.  Every function
takes the tables (a mapping of name to DataFrame) and returns a DataFrame; empty input gives an
empty DataFrame with its columns.  Nothing here draws, prints or writes.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

Tables = Mapping[str, pd.DataFrame]

#: Candidate bin widths for counts over time, smallest first; the first giving at most
#: :data:`MAX_TIME_BINS` bins is used.
TIME_BIN_CHOICES = ("1ms", "10ms", "100ms", "1s", "10s", "1min", "10min", "1h", "6h", "1D", "7D")
MAX_TIME_BINS = 60

#: Order of the TLS categories (sessions table).
TLS_CATEGORIES = ("implicit TLS", "STARTTLS used", "STARTTLS offered, not used", "STARTTLS not offered")

#: Latency stages, in the order they happen.
LATENCY_STAGES = ("greeting", "EHLO/HELO", "MAIL to final DATA reply")

_ANGLE = re.compile(r"<[^<>]*>")


def time_bin(*series: pd.Series) -> str:
    """The bin width that shows the span of ``series`` in at most MAX_TIME_BINS bins."""
    values = pd.concat([s.dropna() for s in series if len(s)]) if any(len(s) for s in series) else pd.Series([])
    if values.empty:
        return TIME_BIN_CHOICES[3]
    span = values.max() - values.min()
    for choice in TIME_BIN_CHOICES:
        if span / pd.Timedelta(choice) < MAX_TIME_BINS:
            return choice
    return TIME_BIN_CHOICES[-1]


def counts_over_time(ts: pd.Series, freq: str, by: pd.Series | None = None) -> pd.DataFrame:
    """Rows per time bin (index: bin start, UTC), one column per value of ``by`` (or ``count``)."""
    ts = ts.dropna()
    if ts.empty:
        return pd.DataFrame(dtype="int64")
    bins = ts.dt.floor(freq)
    if by is None:
        out = bins.value_counts().sort_index().to_frame("count")
    else:
        out = pd.crosstab(bins, by.loc[ts.index].astype("string").fillna("?"))
    full = pd.date_range(bins.min(), bins.max(), freq=freq)
    return out.reindex(full, fill_value=0).rename_axis("time")


def error_summary(replies: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """4xx/5xx replies grouped by code and first text line with addresses blanked, most frequent first.

    ``text`` is the first line with every ``<...>`` shown as ``<…>`` so that one rejection of many
    recipients counts as one kind; ``example`` keeps one real text, ``verbs`` what they answered.
    """
    cols = ["code", "text", "count", "verbs", "example", "sessions"]
    errors = replies[replies["code"] >= 400] if len(replies) else replies
    if errors.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    first = errors["text"].fillna("").astype(str).str.split("\n").str[0]
    pattern = first.map(lambda t: _ANGLE.sub("<…>", t))
    frame = pd.DataFrame({"code": errors["code"].astype(int), "text": pattern, "example": first,
                          "verb": errors["verb"].astype("string").fillna("?"), "session_id": errors["session_id"]})
    rows = []
    for (code, text), group in frame.groupby(["code", "text"], sort=False):
        rows.append({"code": code, "text": text, "count": len(group),
                     "verbs": ", ".join(sorted(group["verb"].unique())), "example": group["example"].iloc[0],
                     "sessions": group["session_id"].nunique()})
    out = pd.DataFrame(rows, columns=cols).sort_values(["count", "code", "text"], ascending=[False, True, True])
    out = out.reset_index(drop=True)
    return out.head(top) if top else out


def tls_use(sessions: pd.DataFrame) -> pd.Series:
    """Sessions per TLS category (:data:`TLS_CATEGORIES`), every category present."""
    if sessions.empty:
        return pd.Series(0, index=list(TLS_CATEGORIES), dtype="int64")
    implicit = sessions["implicit_tls"].fillna(False).astype(bool)
    used = sessions["starttls_used"].fillna(False).astype(bool) & ~implicit
    offered = sessions["starttls_offered"].fillna(False).astype(bool) & ~used & ~implicit
    none = ~(implicit | used | offered)
    return pd.Series([int(implicit.sum()), int(used.sum()), int(offered.sum()), int(none.sum())],
                     index=list(TLS_CATEGORIES), dtype="int64")


def stage_latencies(tables: Tables) -> pd.DataFrame:
    """Seconds per stage: one row per observation with ``session_id``, ``stage``, ``seconds``.

    greeting
        first packet of the connection to the server's greeting, for sessions whose handshake is in
        the capture (otherwise the start is not the connect).
    EHLO/HELO
        the command to its reply.
    MAIL to final DATA reply
        the MAIL command to the reply after the message (RFC 5321 4.1.1.4), per transaction that
        got one: the whole envelope plus transfer plus the server's acceptance.
    """
    sessions, commands, replies = tables["sessions"], tables["commands"], tables["replies"]
    parts = []
    if len(sessions) and len(replies):
        greet = replies[replies["verb"] == "<greeting>"].drop_duplicates("session_id")
        start = sessions[sessions["handshake_seen"].fillna(False).astype(bool)].set_index("session_id")["start"]
        greet = greet[greet["session_id"].isin(start.index)]
        began = start.loc[greet["session_id"]].set_axis(greet.index)
        secs = ((greet["ts"] - began) / pd.Timedelta("1s")).astype(float).to_numpy()
        parts.append(pd.DataFrame({"session_id": greet["session_id"].values, "stage": LATENCY_STAGES[0],
                                   "seconds": secs}))
    if len(commands):
        helo = commands[commands["verb"].isin(["EHLO", "HELO", "LHLO"]) & commands["latency_s"].notna()]
        parts.append(pd.DataFrame({"session_id": helo["session_id"].values, "stage": LATENCY_STAGES[1],
                                   "seconds": helo["latency_s"].astype(float).values}))
    if len(commands) and len(replies):
        mail = commands[commands["verb"] == "MAIL"].dropna(subset=["trans_index"])
        ends = replies[replies["stage"] == "data_end"].dropna(subset=["trans_index"])
        merged = mail.merge(ends, on=["session_id", "trans_index"], suffixes=("_mail", "_end"))
        secs = (merged["ts_end"] - merged["ts_mail"]) / pd.Timedelta("1s")
        parts.append(pd.DataFrame({"session_id": merged["session_id"].values, "stage": LATENCY_STAGES[2],
                                   "seconds": secs.astype(float).values}))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"session_id": pd.Series(dtype="Int64"), "stage": pd.Series(dtype="object"),
                             "seconds": pd.Series(dtype="float64")})
    out = pd.concat(parts, ignore_index=True)
    out["session_id"] = out["session_id"].astype("Int64")
    return out


def transfer_rates(tables: Tables) -> pd.DataFrame:
    """Per message: bytes, seconds and bytes per second of the transfer.

    The transfer runs from the server's 354 (DATA) or the first BDAT command to the reply after the
    message: what the client waited for, as the capture point sees it.
    """
    cols = {"session_id": "Int64", "trans_index": "Int64", "bytes": "Int64", "seconds": "float64",
            "bytes_per_s": "float64"}
    tx, replies, commands = tables["transactions"], tables["replies"], tables["commands"]
    key = ["session_id", "trans_index"]
    if tx.empty or replies.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    sent = tx.loc[tx["message_size"].notna(), key + ["message_size"]]
    starts = pd.concat([replies.loc[replies["stage"] == "data_start", key + ["ts"]],
                        commands.loc[commands["verb"] == "BDAT", key + ["ts"]]]).dropna(subset=key)
    start = starts.groupby(key, as_index=False)["ts"].min().rename(columns={"ts": "start"})
    end = (replies.loc[replies["stage"] == "data_end", key + ["ts"]].dropna(subset=key)
           .groupby(key, as_index=False)["ts"].max().rename(columns={"ts": "end"}))
    merged = sent.merge(start, on=key).merge(end, on=key)
    seconds = (merged["end"] - merged["start"]) / pd.Timedelta("1s")
    size = merged["message_size"].astype("float64")
    out = pd.DataFrame({"session_id": merged["session_id"], "trans_index": merged["trans_index"],
                        "bytes": merged["message_size"], "seconds": seconds.astype("float64"),
                        "bytes_per_s": (size / seconds.where(seconds > 0)).astype("float64")})
    return out.astype(cols).reset_index(drop=True)


def top_counts(values: pd.Series, top: int, split: pd.Series | None = None) -> pd.DataFrame:
    """The ``top`` most frequent values (ties by value), with a column per ``split`` value or ``count``."""
    values = values.dropna().astype(str)
    if values.empty:
        return pd.DataFrame(dtype="int64")
    if split is None:
        table = values.value_counts().to_frame("count")
    else:
        table = pd.crosstab(values, split.loc[values.index].astype(str))
    totals = table.sum(axis=1)
    order = sorted(table.index, key=lambda v: (-int(totals[v]), v))[:top]
    return table.loc[order]


def domain_of(address: str) -> str | None:
    """The domain of a mailbox, lower case (RFC 5321 4.1.2 Domain); None without one."""
    _, at, domain = address.rpartition("@")
    return domain.lower().rstrip(">") if at and domain else None


__all__ = ["LATENCY_STAGES", "TIME_BIN_CHOICES", "TLS_CATEGORIES", "counts_over_time", "domain_of",
           "error_summary", "stage_latencies", "time_bin", "tls_use", "top_counts", "transfer_rates"]
