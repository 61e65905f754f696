"""The HTML report: one self-contained file with summary, charts and the tables that matter.

Self-contained: charts are SVG images in ``data:`` URLs, the style sheet is inline, there is no
script and nothing is fetched; a Content-Security-Policy meta tag forbids everything else
(``default-src 'none'``, images from ``data:`` only, the one style block by its hash).  Every value
from the capture reaches the page through Jinja2 with autoescaping on, after undecodable bytes
are shown as ``\\xNN``; SVG in an ``<img>`` runs no script even if it held one.  Secrets stay
masked unless the capture was read with ``show_secrets``.

This module turns a Capture into HTML and writes one file; it decides no analysis.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
from jinja2 import Environment, StrictUndefined

from .. import __version__
from ..analysis import metrics
from ..analysis.charts import CHARTS
from ..analysis.charts.security import SEVERITIES
from ..limits import DEFAULT_LIMITS, Limits
from .charts import quiet_glyphs
from .safe import terminal_safe

#: Chart captions, by chart name.
CAPTIONS = {
    "reply_codes": "Replies per time bin by class: 2xx done, 3xx go on, 4xx try later, 5xx refused.",
    "top_errors": "The most frequent 4xx/5xx replies; addresses in <…> are blanked to group them.",
    "activity": "Sessions started and messages transferred per time bin.",
    "tls_use": "Sessions by TLS: implicit (port 465), STARTTLS used, offered but not used, not offered.",
    "credentials": "AUTH attempts by mechanism, in clear text or inside TLS.",
    "findings": "Security findings by kind and severity.",
    "latency": "Seconds per stage: connect to greeting, EHLO to reply, MAIL to the reply after the message.",
    "transfer_rate": "Message size against transfer rate (354 or first BDAT to the final reply).",
    "top_senders": "Envelope senders by transactions, accepted or not.",
    "top_recipients": "Envelope recipients by RCPT commands, accepted (2xx) or not.",
    "top_domains": "Domains of envelope senders and recipients.",
}


@dataclass
class Section:
    id: str
    title: str
    columns: list[str]
    rows: list[list[tuple[str, str]]] = field(default_factory=list)  # (text, css class) per cell
    more: int = 0
    note: str = ""
    empty: str = "none"


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    caption: str
    data_url: str


def text(value: object) -> str:
    """A cell's text: '' for missing, lists joined, undecodable bytes and controls as ``\\xNN``."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    s = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return terminal_safe(s)  # controls as \xNN: readable, and nothing a browser might act on


def _cell(value: object, css: str = "") -> tuple[str, str]:
    return text(value), css


def _section(id: str, title: str, frame: pd.DataFrame, cols: dict[str, str], limits: Limits,
             css: dict[str, str] | None = None, note: str = "", empty: str = "none") -> Section:
    """``cols`` maps a column of ``frame`` to its heading."""
    css = css or {}
    shown = frame.head(limits.report_max_rows)
    rows = [[_cell(row[c], css.get(c, "")) for c in cols] for _, row in shown.iterrows()]
    return Section(id, title, list(cols.values()), rows, len(frame) - len(shown), note, empty)


def _chart_url(ax) -> str:
    buf = io.BytesIO()
    with quiet_glyphs():
        ax.figure.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _charts(cap) -> tuple[list[Chart], list[str]]:
    drawn, skipped = [], []
    for name, chart in CHARTS.items():
        ax = chart(cap)
        if ax.get_gid() == "empty":
            skipped.append(name.replace("_", " "))
            continue
        drawn.append(Chart(name, ax.get_title(), CAPTIONS.get(name, ""), _chart_url(ax)))
    return drawn, skipped


def _summary(cap) -> list[tuple[str, str, str]]:
    t = cap.tables
    tx = t["transactions"]
    status = tx["status"].value_counts() if len(tx) else pd.Series(dtype="int64")
    errors = int((t["replies"]["code"] >= 400).sum()) if len(t["replies"]) else 0
    items = [
        ("frames", text(cap.stats.packets.get("frames", 0)), ""),
        ("TCP connections", text(cap.stats.tcp_connections), ""),
        ("SMTP sessions", text(len(t["sessions"])), ""),
        ("transactions", text(len(tx)), f"{int(status.get('accepted', 0))} accepted, "
                                        f"{int(status.get('rejected', 0))} rejected"),
        ("messages", text(len(t["messages"]) if "messages" in t else int(t["sessions"]["messages"].sum())), ""),
        ("error replies", text(errors), "4xx and 5xx"),
    ]
    if "attachments" in t:
        items.append(("attachments", text(len(t["attachments"])), ""))
    if "credentials" in t:
        creds = t["credentials"]
        clear = int((~creds["tls"].fillna(False).astype(bool)).sum()) if len(creds) else 0
        items.append(("AUTH attempts", text(len(creds)), f"{clear} in clear text"))
    if "findings" in t:
        f = t["findings"]
        by = f["severity"].astype(str).value_counts() if len(f) else pd.Series(dtype="int64")
        detail = ", ".join(f"{int(by[s])} {s}" for s in reversed(SEVERITIES) if s in by)
        items.append(("findings", text(len(f)), detail))
    items.append(("anomalies", text(len(t["anomalies"])), ""))
    return items


def _sections(cap, limits: Limits) -> list[Section]:
    t = cap.tables
    out = []
    findings = t.get("findings")
    if findings is not None:
        rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
        ordered = findings.assign(_r=findings["severity"].astype(str).map(rank).fillna(99)) \
            .sort_values(["_r", "ts"], kind="stable") if len(findings) else findings
        out.append(_section("findings", "Findings", ordered, {
            "severity": "severity", "kind": "kind", "session_id": "session", "ts": "time (UTC)", "frames": "frames",
            "explanation": "explanation", "evidence": "evidence"}, limits,
            css={"severity": "sev", "evidence": "pre"}))
    else:
        out.append(Section("findings", "Findings", [], empty="no findings table in this analysis"))

    s = t["sessions"].copy()
    if len(s):
        s["client"] = s["client_ip"].astype(str) + ":" + s["client_port"].astype(str)
        s["server"] = s["server_ip"].astype(str) + ":" + s["server_port"].astype(str)
        s["tls_use"] = [("implicit TLS" if i else "STARTTLS" if u else "offered, not used" if o else "none")
                        for i, u, o in zip(s["implicit_tls"].fillna(False), s["starttls_used"].fillna(False),
                                           s["starttls_offered"].fillna(False))]
        s["auth"] = [("" if pd.isna(m) else f"{m} {'ok' if ok is True else 'failed' if ok is False else '?'}")
                     for m, ok in zip(s["auth_mechanism"], s["auth_success"].astype(object))]
    else:
        s = s.assign(client=[], server=[], tls_use=[], auth=[])
    out.append(_section("sessions", "Sessions", s, {
        "session_id": "session", "start": "start (UTC)", "client": "client", "server": "server",
        "helo": "HELO/EHLO", "banner": "banner", "tls_use": "TLS", "auth": "AUTH", "commands": "commands",
        "messages": "messages", "close_reason": "closed by", "anomalies": "anomalies"}, limits,
        css={"helo": "mono", "banner": "mono"}, note="smtpsniff show FILE --session N follows one session."))

    errors = metrics.error_summary(t["replies"])
    out.append(_section("errors", "Errors", errors, {
        "code": "code", "count": "replies", "sessions": "sessions", "verbs": "answering", "text": "text",
        "example": "one of them"}, limits, css={"text": "mono", "example": "mono"}, empty="no 4xx or 5xx replies"))
    replies = t["replies"]
    failed = replies[replies["code"] >= 400] if len(replies) else replies
    out.append(_section("error-replies", "Error replies, one by one", failed, {
        "session_id": "session", "ts": "time (UTC)", "frame": "frame", "verb": "answering", "code": "code",
        "text": "text"}, limits, css={"text": "pre"}, empty="no 4xx or 5xx replies"))

    creds = t.get("credentials")
    if creds is not None:
        creds = creds.assign(where=creds["tls"].fillna(False).astype(bool).map({True: "inside TLS",
                                                                                 False: "clear text"}))
        out.append(_section("credentials", "Credentials", creds, {
            "session_id": "session", "ts": "time (UTC)", "frame": "frame", "mechanism": "mechanism",
            "username": "username", "secret": "secret", "hash": "crackable hash", "outcome_code": "reply",
            "success": "success", "where": "sent"}, limits, css={"username": "mono", "secret": "mono", "hash": "pre"},
            note="Secrets are masked unless the report was written with --show-secrets."))
    else:
        out.append(Section("credentials", "Credentials", [], empty="no credentials table in this analysis"))

    messages = t.get("messages")
    if messages is not None:
        out.append(_section("messages", "Messages", messages, {
            "session_id": "session", "ts": "time (UTC)", "mail_from": "MAIL FROM", "rcpt_to": "RCPT TO",
            "from": "From", "to": "To", "subject": "Subject", "size": "bytes", "attachment_count": "attachments",
            "message_id": "Message-ID", "sha256": "SHA-256"}, limits,
            css={"mail_from": "mono", "rcpt_to": "mono", "message_id": "mono", "sha256": "hash"}))
    else:
        out.append(Section("messages", "Messages", [], empty="no messages table in this analysis"))
    attachments = t.get("attachments")
    if attachments is not None:
        out.append(_section("attachments", "Attachments", attachments, {
            "session_id": "session", "message_index": "message", "part": "part", "filename": "file name",
            "content_type": "type", "decoded_size": "bytes", "md5": "MD5", "sha256": "SHA-256"}, limits,
            css={"filename": "mono", "md5": "hash", "sha256": "hash"},
            note="File names are shown as sent; smtpsniff extract writes them with safe names."))
    else:
        out.append(Section("attachments", "Attachments", [], empty="no attachments table in this analysis"))

    out.append(_section("anomalies", "Anomalies", t["anomalies"], {
        "layer": "layer", "kind": "kind", "session_id": "session", "ts": "time (UTC)", "frame": "frame",
        "message": "message"}, limits, css={"message": "pre"}))
    return out


def _environment() -> Environment:
    return Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _template_text(name: str) -> str:
    return (resources.files("smtpsniff.output") / "templates" / name).read_text(encoding="utf-8")


def render_report(cap, *, title: str | None = None, filter_expression: str | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> str:
    """The report as one HTML string."""
    css = _template_text("report.css")
    style_hash = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; img-src data:; style-src 'sha256-{style_hash}'; base-uri 'none'; "
           "form-action 'none'")
    files = [os.path.basename(f) for f in cap.stats.files]
    charts, skipped = _charts(cap)
    sessions = cap.tables["sessions"]
    span = ("" if sessions.empty else
            f"{text(sessions['start'].min())} to {text(sessions['end'].max())} UTC")
    template = _environment().from_string(_template_text("report.html.j2"))
    return template.render(
        csp=csp, css=css, title=text(title) if title else "SMTP report: " + ", ".join(text(f) for f in files),
        files=[text(f) for f in files], span=span, version=__version__,
        filter_expression=text(filter_expression) if filter_expression else "", summary=_summary(cap),
        tls=[(k, int(v)) for k, v in metrics.tls_use(sessions).items()], charts=charts, skipped=skipped,
        sections=_sections(cap, limits))


def write_report(cap, path: Path, **options) -> Path:
    """Render the report and write it to ``path`` (UTF-8)."""
    html = render_report(cap, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


__all__ = ["CAPTIONS", "render_report", "text", "write_report"]
