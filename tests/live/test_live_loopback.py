"""``smtpsniff live -i lo`` against a real aiosmtpd server and real smtplib clients, with tcpdump alongside.

What the live run reports (its ``--jsonl`` stream and its ``-o`` export) must equal what offline
analysis reports for the packets it wrote (``--write``), to the nanosecond, and for what tcpdump
captured at the same time (apart from capture times: two sockets stamp a packet up to
microseconds apart).  The traffic script itself is the third oracle: sessions, codes, users.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest
from live_common import (
    analyze,
    comparable,
    needs_root,
    needs_tcpdump,
    read_jsonl,
    read_tables,
    smtpsniff_live,
    tcpdump,
)

live_traffic = pytest.importorskip("live_traffic")  # needs aiosmtpd

pytestmark = [pytest.mark.network, needs_root]


@pytest.fixture
def server():
    controller, handler, port = live_traffic.start_server()
    yield handler, port
    controller.stop()


#: Runs tried before giving up on a complete capture: on a loaded machine the kernel may drop packets
#: (for smtpsniff's socket or tcpdump's), and the comparisons below need every packet.
ATTEMPTS = 3


def _capture_once(tmp_path, port):
    written, stream, export = tmp_path / "live.pcapng", tmp_path / "live.jsonl", tmp_path / "export"
    live = smtpsniff_live("-i", "lo", "--ports", str(port), "--write", str(written), "--jsonl", str(stream),
                          "--duration", "6", "-o", str(export), "--format", "json")
    dump = tcpdump("lo", tmp_path / "tcpdump.pcap", f"tcp port {port}")
    script = live_traffic.exchange(port, failed_logins=5)
    code, out = live.wait()
    dump.signal()
    dump.wait()
    assert code == 0, live.stderr
    complete = "dropped 0" in out and "0 packets dropped by kernel" in dump.stderr
    return complete, script, written, stream, export


@needs_tcpdump
def test_live_equals_offline_and_tcpdump(tmp_path, server):
    handler, port = server
    for attempt in range(1, ATTEMPTS + 1):
        messages_before = len(handler.messages)
        run_dir = tmp_path / f"attempt{attempt}"
        run_dir.mkdir()
        complete, script, written, stream, export = _capture_once(run_dir, port)
        if complete:  # the figures below assume a complete capture
            break
    else:
        pytest.fail(f"the kernel dropped packets in each of {ATTEMPTS} runs")
    tmp_path = run_dir

    streamed = read_jsonl(stream)
    exported = read_tables(export)
    offline = analyze(written, port, tmp_path / "offline")
    by_tcpdump = analyze(tmp_path / "tcpdump.pcap", port, tmp_path / "offline-tcpdump")

    # The traffic script: every session it opened, each error and AUTH outcome the server gave.
    sessions = streamed["session"]
    assert len(sessions) == script["sessions"] == len(offline["sessions"])
    codes = [r["code"] for r in offline["replies"]]
    assert codes.count(550) == 2 and codes.count(235) == 1 and codes.count(535) == 5
    assert len(handler.messages) - messages_before == sum(
        t["status"] == "accepted" for t in streamed["transaction"]) == 2
    kinds = {f["kind"] for f in streamed["finding"]}
    assert {"cleartext_auth", "auth_bruteforce"} <= kinds

    # Live stream == offline analysis of the written packets, every column, to the nanosecond.
    assert comparable(sessions) == comparable(offline["sessions"])
    assert comparable(streamed["transaction"]) == comparable(offline["transactions"])
    assert comparable(streamed["finding"]) == comparable(offline["findings"])
    # The -o export of the live run == the offline export, table by table.
    assert set(exported) == set(offline)
    for table in offline:
        assert comparable(exported[table]) == comparable(offline[table]), table
    # tcpdump's capture of the same traffic gives the same analysis, capture times aside.
    for table in ("sessions", "transactions", "findings", "replies", "commands", "credentials"):
        assert comparable(by_tcpdump[table], times=False) == comparable(offline[table], times=False), table


@pytest.mark.skipif(shutil.which("tshark") is None or shutil.which("capinfos") is None,
                    reason="tshark is not installed")
def test_any_interface_pcapng_reads_in_tshark(tmp_path, server):
    """On ``any`` (LINUX_SLL2 headers built from the socket address) tshark reads the pcapng the live run
    wrote: every frame, nanosecond times, lengths, the interface index, the filter and the ISB."""
    from smtpsniff.capture.files import open_capture

    _, port = server
    written = tmp_path / "live.pcapng"
    live = smtpsniff_live("-i", "any", "--ports", str(port), "--write", str(written))
    live_traffic.exchange(port, failed_logins=0)
    live.signal()
    code, _ = live.wait()
    assert code == 0, live.stderr
    frames = list(open_capture(written))
    fields = subprocess.run(
        ["tshark", "-r", str(written), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len",
         "-e", "sll.ifindex", "-e", "tcp.srcport", "-e", "tcp.dstport"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(fields) == len(frames) > 0
    for frame, line in zip(frames, fields):
        epoch, length, ifindex, sport, dport = line.split("\t")
        seconds, _, fraction = epoch.partition(".")
        assert int(seconds) * 10**9 + int(fraction.ljust(9, "0")) == frame.ts_ns
        assert int(length) == frame.wire_len
        assert int(ifindex) == 1  # lo, from the LINUX_SLL2 header
        assert port in (int(sport), int(dport))
    info = subprocess.run(["capinfos", str(written)], capture_output=True, text=True, check=True).stdout
    assert "Time precision = nanoseconds (9)" in info
    assert f"Filter string = tcp port {port}" in info
    assert "Number of stat entries = 1" in info  # the ISB written at the end
    assert "Encapsulation = Linux cooked-mode capture v2" in info
