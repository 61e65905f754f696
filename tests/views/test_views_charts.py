"""Charts plot what the tables hold: bar heights, line points and scatter offsets read back from
the Axes equal counts computed here from the tables, independently of smtpsniff.analysis.metrics."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from views_common import AUTH, FEATURES, INJECTION, ROOT, SAMPLE, read
from smtpsniff.analysis import charts
from smtpsniff.analysis.charts import CHARTS

CAPTURES = [SAMPLE, FEATURES, AUTH, INJECTION]


def _bars(ax: Axes) -> dict[str, list[float]]:
    """Bar heights (vertical) or widths (horizontal) per labelled container."""
    out = {}
    for container in ax.containers:
        patches = container.patches
        horizontal = getattr(container, "orientation", None) == "horizontal"
        out[container.get_label()] = [p.get_width() if horizontal else p.get_height() for p in patches]
    return out


def _ticklabels(ax: Axes, axis: str = "y") -> list[str]:
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in labels]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_reply_codes_bars_equal_replies_per_bin_and_class(path):
    cap = read(path)
    ax = charts.reply_codes(cap, freq="10ms")
    bars = _bars(ax)
    replies = cap.replies
    classes = (replies["code"] // 100).astype(int).astype(str) + "xx"
    assert set(bars) == set(classes)
    bins = replies["ts"].dt.floor("10ms")
    span = pd.date_range(bins.min(), bins.max(), freq="10ms")
    for cls, heights in bars.items():
        expected = [int(((bins == b) & (classes == cls)).sum()) for b in span]
        assert heights == expected, cls
    assert sum(sum(h) for h in bars.values()) == len(replies)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_top_errors_widths_and_labels_equal_error_replies(path):
    cap = read(path)
    ax = charts.top_errors(cap, top=100)
    errors = cap.replies[cap.replies["code"] >= 400]
    if errors.empty:
        assert ax.get_gid() == "empty"
        return
    (widths,) = _bars(ax).values()
    labels = _ticklabels(ax)
    assert sum(widths) == len(errors)
    by_code: dict[int, float] = {}
    for text, width in zip(labels, widths):
        code = int(text.split()[0])
        by_code[code] = by_code.get(code, 0) + width
    assert by_code == errors["code"].astype(int).value_counts().to_dict()
    assert widths == sorted(widths)  # most frequent at the top (drawn last)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_activity_bars_are_session_starts_and_line_is_messages(path):
    cap = read(path)
    ax = charts.activity(cap, freq="100ms")
    sessions_bars = _bars(ax)["sessions"]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "messages"]
    starts = cap.sessions["start"].dt.floor("100ms")
    msg_ts = cap.messages["ts"].dt.floor("100ms")
    both = pd.concat([starts, msg_ts])
    span = pd.date_range(both.min(), both.max(), freq="100ms")
    assert sessions_bars == [int((starts == b).sum()) for b in span]
    assert list(line.get_ydata()) == [int((msg_ts == b).sum()) for b in span]
    assert sum(line.get_ydata()) == len(cap.messages) == int(cap.sessions["messages"].sum())


def test_top_senders_recipients_domains_count_the_envelope():
    cap = read(FEATURES)
    ax = charts.top_senders(cap, top=50)
    bars = _bars(ax)
    labels = _ticklabels(ax)
    tx = cap.transactions[cap.transactions["mail_from"].notna()]
    for i, sender in enumerate(labels):
        rows = tx[tx["mail_from"].astype(str).replace("", "<>") == sender]
        assert bars["accepted"][i] == int((rows["status"] == "accepted").sum())
        assert bars["not accepted"][i] == int((rows["status"] != "accepted").sum())
    assert sum(map(sum, bars.values())) == len(tx)

    ax = charts.top_recipients(cap, top=50)
    bars, labels = _bars(ax), _ticklabels(ax)
    rc = cap.recipients
    for i, address in enumerate(labels):
        codes = rc.loc[rc["address"] == address, "reply_code"].astype(int)
        assert bars["accepted"][i] == int(codes.between(200, 299).sum())
        assert bars["not accepted"][i] == int((~codes.between(200, 299)).sum())
    totals = [a + b for a, b in zip(bars["accepted"], bars["not accepted"])]
    assert totals == sorted(totals)

    ax = charts.top_domains(cap, top=50)
    bars, labels = _bars(ax), _ticklabels(ax)
    senders = tx["mail_from"].astype(str).str.rpartition("@")[2].str.lower()
    rcpts = rc["address"].astype(str).str.rpartition("@")[2].str.lower()
    for i, domain in enumerate(labels):
        assert bars["as sender"][i] == int((senders == domain).sum())
        assert bars["as recipient"][i] == int((rcpts == domain).sum())


@pytest.mark.parametrize("path", [SAMPLE, ROOT / "tests/data/smtp-starttls.pcap",
                                  ROOT / "tests/data/smtp-implicit-tls.pcap"], ids=lambda p: p.name)
def test_tls_use_counts_sessions(path):
    cap = read(path)
    ax = charts.tls_use(cap)
    (widths,) = _bars(ax).values()
    got = dict(zip([t.replace(",\n", ", ") for t in _ticklabels(ax)], widths))
    s = cap.sessions
    assert got["implicit TLS"] == int(s["implicit_tls"].sum())
    assert got["STARTTLS used"] == int((s["starttls_used"] & ~s["implicit_tls"]).sum())
    assert got["STARTTLS offered, not used"] == int((s["starttls_offered"] & ~s["starttls_used"]
                                                     & ~s["implicit_tls"]).sum())
    assert sum(widths) == len(s)


def test_credentials_chart_counts_auth_attempts_by_mechanism_and_tls():
    cap = read(AUTH)
    creds = cap.tables.get("credentials")
    if creds is None:
        pytest.skip("no credentials table in this build")
    ax = charts.credentials(cap)
    bars, labels = _bars(ax), _ticklabels(ax)
    for i, mech in enumerate(labels):
        rows = creds[creds["mechanism"] == mech]
        assert bars["clear text"][i] == int((~rows["tls"].astype(bool)).sum())
        assert bars["inside TLS"][i] == int(rows["tls"].astype(bool).sum())
    assert sum(map(sum, bars.values())) == len(creds)
    # the sidecar says how many AUTH exchanges the clients ran
    truth = json.loads((ROOT / "tests/data/smtp-auth.json").read_text())
    assert len(creds) == sum(len(s["auth"]) for s in truth["sessions"])


def test_findings_chart_counts_findings_by_kind_and_severity():
    cap = read(SAMPLE)
    findings = cap.tables.get("findings")
    if findings is None:
        pytest.skip("no findings table in this build")
    ax = charts.findings(cap)
    bars, labels = _bars(ax), _ticklabels(ax)
    for i, kind in enumerate(labels):
        for severity, widths in bars.items():
            assert widths[i] == int(((findings["kind"] == kind) & (findings["severity"] == severity)).sum())
    assert sum(map(sum, bars.values())) == len(findings)


@pytest.mark.parametrize("path", [SAMPLE, FEATURES], ids=lambda p: p.name)
def test_latency_points_are_the_stage_times(path):
    cap = read(path)
    ax = charts.latency(cap)
    got = {c.get_label(): sorted(c.get_offsets()[:, 1]) for c in ax.collections if isinstance(c, PathCollection)}
    c = cap.commands
    helo = c[c["verb"].isin(["EHLO", "HELO"])]["latency_s"].dropna().astype(float)
    assert got["EHLO/HELO"] == pytest.approx(sorted(helo))
    greet = cap.replies[cap.replies["verb"] == "<greeting>"].set_index("session_id")["ts"]
    start = cap.sessions.set_index("session_id")["start"]
    expected = sorted(((greet - start.loc[greet.index]) / pd.Timedelta("1s")).astype(float))
    assert got["greeting"] == pytest.approx(expected)
    mail = c[c["verb"] == "MAIL"].dropna(subset=["trans_index"])
    r = cap.replies[cap.replies["stage"] == "data_end"]
    pairs = []
    for row in mail.itertuples():
        end = r[(r["session_id"] == row.session_id) & (r["trans_index"] == row.trans_index)]["ts"]
        if len(end):
            pairs.append((end.iloc[0] - row.ts) / pd.Timedelta("1s"))
    assert got["MAIL to final DATA reply"] == pytest.approx(sorted(pairs))


def test_transfer_rate_points_are_size_over_time():
    cap = read(SAMPLE)
    ax = charts.transfer_rate(cap)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    xy = sorted(map(tuple, points.get_offsets()))
    expected = []
    for m in cap.transactions[cap.transactions["message_size"].notna()].itertuples():
        r = cap.replies[(cap.replies["session_id"] == m.session_id) & (cap.replies["trans_index"] == m.trans_index)]
        end, start = r[r["stage"] == "data_end"]["ts"].max(), r[r["stage"] == "data_start"]["ts"].min()
        secs = (end - start) / pd.Timedelta("1s")
        expected.append((float(m.message_size), m.message_size / secs))
    assert xy == pytest.approx(sorted(expected))
    # the message sizes are what the clients sent (sidecar)
    truth = json.loads((ROOT / "captures/smtp-sample.json").read_text())
    sent = sorted(float(msg["size"]) for s in truth["sessions"] for msg in s["messages"]
                  if msg.get("final_code") == 250 and s["tls"] == "none")
    assert sorted(x for x, _ in xy) == sent


def test_charts_draw_on_a_given_axes_and_return_it():
    cap = read(SAMPLE)
    fig = Figure()
    axs = fig.subplots(3, 4).ravel()
    for ax, chart in zip(axs, CHARTS.values()):
        assert chart(cap, ax) is ax
    assert cap.plot.ladder(0, axs[-1]) is axs[-1]


def test_plot_accessor_offers_every_chart():
    cap = read(SAMPLE)
    for name in CHARTS:
        ax = getattr(cap.plot, name)()
        assert isinstance(ax, Axes)
        assert ax.figure is not None
    assert set(CHARTS) <= set(dir(cap.plot))


def test_empty_tables_give_an_empty_chart_not_an_error():
    cap = read(SAMPLE)
    empty = {name: frame.iloc[0:0] for name, frame in cap.tables.items()}
    for name, chart in CHARTS.items():
        ax = chart(empty)
        assert ax.get_gid() == "empty", name


def test_charts_leave_global_matplotlib_state_alone(tmp_path):
    """No pyplot, no rcParams change, under the Agg backend, in a fresh interpreter."""
    code = f"""
import sys, matplotlib
before = dict(matplotlib.rcParams)
import smtpsniff
from smtpsniff.analysis.charts import CHARTS
cap = smtpsniff.read({str(SAMPLE)!r})
for chart in CHARTS.values():
    chart(cap).figure.savefig({str(tmp_path)!r} + "/x.png")
cap.plot.ladder(4).figure.savefig({str(tmp_path)!r} + "/l.svg")
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
after = dict(matplotlib.rcParams)
assert before == after, {{k for k in before if before[k] != after[k]}}
print("ok", matplotlib.get_backend())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_capture_text_cannot_switch_on_mathtext():
    cap = read(INJECTION)
    ax = cap.plot.ladder(1)
    texts = [t.get_text() for t in ax.texts]
    assert r"VRFY \$\frac{a}{b}\$ costs \$5" in texts  # "$...$" arrives escaped, shown literally
    ax.figure.savefig(io.BytesIO(), format="png")  # and renders without a mathtext error


def test_analyze_charts_writes_png_and_svg(tmp_path, capsys):
    from smtpsniff.cli import main
    assert main(["analyze", str(SAMPLE), "--charts", str(tmp_path)]) == 0
    assert f"wrote {2 * len(CHARTS)} chart files" in capsys.readouterr().out
    for name in CHARTS:
        png = (tmp_path / f"{name}.png").read_bytes()
        svg = (tmp_path / f"{name}.svg").read_text()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    img = matplotlib.image.imread(tmp_path / "reply_codes.png")
    assert img.shape[0] > 100 and np.ptp(img) > 0  # a real picture, not a blank
