"""The readable summary ``smtpsniff analyze`` prints: counts, reply codes, errors, anomalies.

Every string from the capture goes through :func:`~smtpsniff.output.safe.terminal_safe` and into
``rich.text.Text`` (never markup), so a banner cannot colour, move or clear the terminal.
"""
from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..analysis.capture import Capture
from .safe import terminal_safe

#: Distinct error texts listed per code.
MAX_ERROR_TEXTS = 3
#: Width to which capture text is cut in the summary.
MAX_TEXT_WIDTH = 100


def _t(value: object) -> Text:
    text = terminal_safe("" if value is None else str(value))
    return Text(text if len(text) <= MAX_TEXT_WIDTH else text[: MAX_TEXT_WIDTH - 1] + "…")


def render_summary(cap: Capture, console: Console) -> None:
    console.print(Group(*summary_renderables(cap)))


def summary_renderables(cap: Capture) -> list:
    stats = cap.stats
    packets = stats.packets
    tx = cap.transactions
    headline = Text.assemble(
        (", ".join(terminal_safe(f) for f in stats.files), "bold"), ": ",
        f"{packets.get('frames', 0)} frames ({packets.get('tcp', 0)} TCP, "
        f"{stats.smtp_packets} in SMTP sessions), {stats.tcp_connections} TCP connections, "
        f"{len(cap.sessions)} SMTP sessions, {len(tx)} transactions "
        f"({int((tx['status'] == 'accepted').sum()) if len(tx) else 0} accepted), "
        f"{len(cap.commands)} commands, {len(cap.replies)} replies, {len(cap.anomalies)} anomalies")
    out: list = [headline]

    if len(cap.replies):
        codes = Table(title="Reply codes", title_justify="left")
        codes.add_column("code", justify="right")
        codes.add_column("count", justify="right")
        codes.add_column("answering")
        grouped = cap.replies.groupby("code", observed=True)
        for code, group in sorted(grouped, key=lambda kv: (-len(kv[1]), kv[0])):
            verbs = ", ".join(group["verb"].dropna().astype("string").value_counts().index[:4])
            codes.add_row(str(code), str(len(group)), _t(verbs))
        out.append(codes)

    errors = cap.errors()
    if len(errors):
        table = Table(title="Errors (4xx/5xx)", title_justify="left")
        table.add_column("code", justify="right")
        table.add_column("count", justify="right")
        table.add_column("answering")
        table.add_column("text")
        for code in errors["code"].drop_duplicates():
            group = errors[errors["code"] == code]
            texts = group["text"].value_counts().index[:MAX_ERROR_TEXTS]
            verbs = ", ".join(str(v) for v in group["verb"].dropna().unique()[:4])
            for i, text in enumerate(texts):
                table.add_row(str(code) if i == 0 else "", str(len(group)) if i == 0 else "",
                              _t(verbs) if i == 0 else "", _t(text.split("\n", 1)[0]))
        out.append(table)

    if len(cap.anomalies):
        table = Table(title="Anomalies", title_justify="left")
        table.add_column("layer")
        table.add_column("kind")
        table.add_column("count", justify="right")
        table.add_column("first message")
        grouped = cap.anomalies.groupby(["layer", "kind"], observed=True)
        for (layer, kind), group in sorted(grouped, key=lambda kv: -len(kv[1])):
            table.add_row(str(layer), _t(kind), str(len(group)), _t(group["message"].iloc[0]))
        out.append(table)
    return out
