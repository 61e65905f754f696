"""The tables contract: ``smtpsniff.read()`` gives every table of the schema, with exactly its columns
and dtypes, on every capture of the corpus, on a capture without SMTP and on one without TCP payload.

Beyond the shape: the columns every row must fill are filled, every ``session_id`` and
``(session_id, trans_index)`` a row names exists in the sessions and transactions tables, and the
connection columns of each row are its session's.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import smtpsniff
from smtp_oracles import ROOT, all_capture_params, smtpsniff_read, write_tcp_pcap
from smtpsniff.analysis.schema import SCHEMAS

CONNECTION = ["client_ip", "client_port", "server_ip", "server_port"]
#: Columns no row may leave empty.
REQUIRED = {
    "sessions": ["session_id", "capture", *CONNECTION, "ip_version", "start", "end", "first_frame", "detected_by"],
    "transactions": ["session_id", "trans_index", "trans_depth", "ts", "frame", *CONNECTION, "status", "tls"],
    "recipients": ["session_id", "trans_index", "index", "ts", "frame", *CONNECTION, "address"],
    "commands": ["session_id", "index", "ts", "frame", *CONNECTION, "verb", "argument", "known", "pipelined"],
    "replies": ["session_id", "index", "ts", "frame", *CONNECTION, "code", "reply_class", "text", "lines"],
    "anomalies": ["layer", "kind", "message"],
}


def _no_smtp_pcap(tmp_path: Path) -> Path:
    """HTTP on port 80 and a lone SYN to port 25: TCP, but no SMTP."""
    return write_tcp_pcap(tmp_path / "http.pcap", [
        ("c", b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"), ("s", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ], server=("198.51.100.80", 80))


def _empty_pcap(tmp_path: Path) -> Path:
    """Only a UDP datagram (a DNS query): nothing for TCP at all."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    pkt = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.53")
           / UDP(sport=5353, dport=53) / DNS(rd=1, qd=DNSQR(qname="example.org")))
    pkt.time = 1_700_000_000
    path = tmp_path / "udp-only.pcap"
    wrpcap(str(path), [pkt])
    return path


def assert_contract(cap) -> None:
    assert set(cap.tables) == set(SCHEMAS), "tables and schema disagree"
    problems = []
    for name, schema in SCHEMAS.items():
        frame = cap.tables[name]
        assert getattr(cap, name) is frame
        want = [(c.name, c.dtype) for c in schema]
        got = [(str(c), str(frame[c].dtype)) for c in frame.columns]
        if got != want:
            problems.append(f"{name}: columns/dtypes\n  want {want}\n  got  {got}")
            continue
        for column in REQUIRED.get(name, []):
            if frame[column].isna().any():
                problems.append(f"{name}.{column}: {int(frame[column].isna().sum())} empty cells")
    assert not problems, "\n".join(problems)


def assert_references(cap) -> None:
    sessions = cap.sessions.set_index("session_id")
    transactions = set(zip(cap.transactions["session_id"], cap.transactions["trans_index"]))
    problems = []
    for name, frame in cap.tables.items():
        if name == "anomalies" or "session_id" not in frame.columns:
            continue
        ids = frame["session_id"].dropna()
        missing = set(ids) - set(sessions.index)
        if missing:
            problems.append(f"{name}: session_id {sorted(missing)[:5]} not in sessions")
        if "trans_index" in frame.columns and name != "transactions":
            rows = frame[frame["trans_index"].notna()]
            dangling = set(zip(rows["session_id"], rows["trans_index"])) - transactions
            if dangling:
                problems.append(f"{name}: (session_id, trans_index) {sorted(dangling)[:5]} not in transactions")
        if set(CONNECTION) <= set(frame.columns) and name != "sessions" and len(frame):
            joined = frame[["session_id", *CONNECTION]].merge(
                sessions[CONNECTION].add_suffix("_s"), left_on="session_id", right_index=True, how="left")
            for column in CONNECTION:
                if not joined[column].astype(object).equals(joined[column + "_s"].astype(object)):
                    problems.append(f"{name}.{column} is not its session's")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", all_capture_params())
def test_every_table_has_its_schema(path):
    cap = smtpsniff_read(path)
    assert_contract(cap)
    assert_references(cap)


def test_capture_without_smtp(tmp_path):
    cap = smtpsniff.read(_no_smtp_pcap(tmp_path))
    assert_contract(cap)
    assert all(frame.empty for frame in cap.tables.values()), {n: len(f) for n, f in cap.tables.items()}
    assert cap.stats.tcp_connections == 1 and cap.stats.smtp_sessions == 0


def test_capture_without_tcp(tmp_path):
    cap = smtpsniff.read(_empty_pcap(tmp_path))
    assert_contract(cap)
    assert all(frame.empty for frame in cap.tables.values())
    assert cap.stats.packets["frames"] == 1 and cap.stats.tcp_connections == 0


def test_real_non_smtp_capture():
    """A real loopback HTTP capture: 24 TCP frames, no SMTP session, every table empty and typed."""
    cap = smtpsniff.read(ROOT / "tests" / "data" / "capture" / "loopback.pcapng")
    assert_contract(cap)
    assert cap.sessions.empty and cap.commands.empty and cap.stats.packets["tcp"] > 0


def test_several_files_keep_session_ids_unique():
    """Two captures in one read: sessions numbered apart, each row's connection still its session's."""
    a, b = ROOT / "captures" / "smtp-sample.pcap", ROOT / "tests" / "data" / "smtp-basic.pcap"
    cap = smtpsniff.read(a, b)
    assert_contract(cap)
    assert_references(cap)
    assert cap.sessions["session_id"].is_unique
    assert dict(cap.sessions["capture"].value_counts()) == {
        a.name: len(smtpsniff_read(a).sessions), b.name: len(smtpsniff_read(b).sessions)}
    assert len(cap.commands) == len(smtpsniff_read(a).commands) + len(smtpsniff_read(b).commands)


def test_commands_and_replies_carry_their_wire_facts():
    """One known session end to end: what the commands and replies rows say (smtp-basic: one message)."""
    cap = smtpsniff_read(ROOT / "tests" / "data" / "smtp-basic.pcap")
    cmds = cap.commands
    assert list(cmds["verb"]) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert list(cmds["reply_code"]) == [250, 250, 250, 354, 221]
    assert (cmds["latency_s"] > 0).all() and (cmds["reply_frame"] > cmds["frame"]).all()
    reps = cap.replies
    assert list(zip(reps["code"], reps["verb"].astype(object))) == [
        (220, "<greeting>"), (250, "EHLO"), (250, "MAIL"), (250, "RCPT"), (354, "DATA"), (250, "DATA"), (221, "QUIT")]
    assert list(reps["stage"].astype(object).where(reps["stage"].notna(), None)) == [
        None, None, None, None, "data_start", "data_end", None]
    assert isinstance(cmds["ts"].dtype, pd.DatetimeTZDtype) and str(cmds["ts"].dt.tz) == "UTC"
