"""What Jupyter shows for a Capture: files, counts, TLS use, errors, findings, and the tables.

One HTML fragment, every value escaped (``html.escape``): capture text is hostile by assumption.
It reads the tables only; it does not draw, print or write.
"""
from __future__ import annotations

import html
import os

import pandas as pd

from . import metrics

#: Error kinds and findings listed in the summary.
TOP = 5

_STYLE = ("font-family:system-ui,sans-serif;font-size:13px;line-height:1.35;max-width:60em")


def _e(value: object) -> str:
    if value is None or value is pd.NA:
        return ""
    text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return html.escape(text, quote=True)


def _span(tables) -> str:
    sessions = tables["sessions"]
    if sessions.empty:
        return "no SMTP sessions"
    start, end = sessions["start"].min(), sessions["end"].max()
    return f"{_e(start.strftime('%Y-%m-%d %H:%M:%S'))} to {_e(end.strftime('%Y-%m-%d %H:%M:%S'))} UTC"


def capture_html(cap) -> str:
    """The ``_repr_html_`` of a :class:`~smtpsniff.analysis.capture.Capture`."""
    t = cap.tables
    stats = cap.stats
    files = ", ".join(_e(os.path.basename(f)) for f in stats.files)
    tx = t["transactions"]
    accepted = int((tx["status"] == "accepted").sum()) if len(tx) else 0
    head = (f"<b>smtpsniff capture</b> {files}<br>"
            f"{_e(stats.packets.get('frames', 0))} frames, {_e(stats.smtp_packets)} in SMTP sessions, "
            f"{_e(stats.tcp_connections)} TCP connections; {_span(t)}<br>"
            f"<b>{len(t['sessions'])}</b> SMTP sessions, <b>{len(tx)}</b> transactions ({accepted} accepted), "
            f"<b>{len(t['messages']) if 'messages' in t else int(t['sessions']['messages'].sum())}</b> messages, "
            f"<b>{len(t['anomalies'])}</b> anomalies")
    parts = [head]

    tls = metrics.tls_use(t["sessions"])
    parts.append("<b>TLS</b>: " + ", ".join(f"{_e(k)} {int(v)}" for k, v in tls.items()))

    errors = metrics.error_summary(t["replies"], TOP)
    if len(errors):
        items = "".join(f"<li>{_e(r.count)} × <code>{_e(r.code)} {_e(r.text)}</code> ({_e(r.verbs)})</li>"
                        for r in errors.itertuples())
        parts.append(f"<b>Most frequent errors</b><ul style=\"margin:0\">{items}</ul>")

    findings = t.get("findings")
    if findings is not None and len(findings):
        counts = findings.groupby(["severity", "kind"], observed=True).size().sort_values(ascending=False)
        items = "".join(f"<li>{_e(n)} × {_e(kind)} ({_e(sev)})</li>" for (sev, kind), n in counts.head(TOP).items())
        parts.append(f"<b>Findings</b> ({len(findings)})<ul style=\"margin:0\">{items}</ul>")
    creds = t.get("credentials")
    if creds is not None and len(creds):
        clear = int((~creds["tls"].fillna(False).astype(bool)).sum())
        parts.append(f"<b>Credentials</b>: {len(creds)} AUTH attempts, {clear} in clear text "
                     "(secrets masked; <code>read(..., show_secrets=True)</code> reveals them)")

    rows = "".join(f"<tr><td><code>cap.{_e(name)}</code></td><td style=\"text-align:right\">{len(frame)}</td>"
                   f"<td>{len(frame.columns)}</td></tr>" for name, frame in t.items())
    parts.append("<table><thead><tr><th>table</th><th>rows</th><th>columns</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
    parts.append("<small>Charts: <code>cap.plot.reply_codes()</code>, <code>cap.plot.ladder(session_id)</code>, … "
                 "Filters: <code>cap.filter('smtp.response.code == 550')</code></small>")
    body = "".join(f"<div style=\"margin:4px 0\">{p}</div>" for p in parts)
    return f"<div style=\"{_STYLE}\">{body}</div>"


__all__ = ["capture_html"]
