"""``smtpsniff live`` as a user meets it: bad interfaces, no permission, signals, rings, counts, pyshark."""
from __future__ import annotations

import shutil
import signal
import smtplib
import subprocess
import sys
import time

import pytest
from live_common import (
    ROOT,
    analyze,
    comparable,
    needs_root,
    read_jsonl,
    read_tables,
    smtpsniff_live,
)

from smtpsniff.capture.files import open_capture

live_traffic = pytest.importorskip("live_traffic")  # needs aiosmtpd

pytestmark = [pytest.mark.network, needs_root]


@pytest.fixture
def server():
    controller, handler, port = live_traffic.start_server()
    yield handler, port
    controller.stop()


def count_sessions(path) -> int:
    return path.read_text().count('"type": "session"') if path.exists() else 0


def run_live(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smtpsniff", "live", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False)


def test_missing_interface_is_one_line_and_exit_2():
    done = run_live("-i", "nosuchif0", "--duration", "1")
    assert done.returncode == 2
    assert done.stderr == "smtpsniff: no such interface: nosuchif0\n"
    assert done.stdout == ""


def test_bad_filter_is_one_line_and_exit_2():
    done = run_live("-i", "lo", "--bpf", "tcp port", "--duration", "1")
    assert done.returncode == 2
    assert done.stderr.startswith("smtpsniff: cannot use the capture filter 'tcp port': ")
    assert done.stderr.count("\n") == 1


@pytest.mark.skipif(shutil.which("capsh") is None, reason="capsh (libcap2-bin) is not installed")
def test_missing_permission_is_one_line_and_exit_2():
    """Without CAP_NET_RAW (dropped from the bounding set, so even root lacks it) the packet socket is refused."""
    done = subprocess.run(["capsh", "--drop=cap_net_raw", "--", "-c",
                           f"exec {sys.executable} -m smtpsniff live -i lo --duration 1"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("smtpsniff: no permission to capture on lo: run as root or give")
    assert done.stderr.count("\n") == 1


def test_sigterm_stops_cleanly_with_summary(tmp_path, server):
    """SIGTERM in the middle of a session: the run ends with exit 0, the open session is closed as at
    the end of a capture, and the summary, the stream and the pcapng all have it."""
    _, port = server
    stream, written = tmp_path / "s.jsonl", tmp_path / "w.pcapng"
    live = smtpsniff_live("-i", "lo", "--ports", str(port), "--jsonl", str(stream), "--write", str(written))
    client = smtplib.SMTP(live_traffic.HOST, port, local_hostname="client.example.test")
    client.ehlo()
    code, _ = client.mail("alice@example.test")
    assert code == 250
    live.signal(signal.SIGTERM)
    code, out = live.wait()
    client.close()
    assert code == 0, live.stderr
    assert "stopped by SIGTERM" in out
    assert "1 SMTP sessions" in out.replace("\n", " ")
    assert "Traceback" not in live.stderr
    streamed = read_jsonl(stream)
    assert [s["close_reason"] for s in streamed["session"]] == ["end_of_capture"]
    assert [t["status"] for t in streamed["transaction"]] == ["incomplete"]
    offline = analyze(written, port, tmp_path / "offline")
    assert comparable(streamed["session"]) == comparable(offline["sessions"])


def test_ring_keeps_at_most_n_files(tmp_path, server):
    _, port = server
    base = tmp_path / "ring.pcapng"
    export = tmp_path / "export"
    live = smtpsniff_live("-i", "lo", "--ports", str(port), "--write", str(base), "--ring-size", "0.004",
                          "--ring-files", "3", "--keep-sessions", "5", "-o", str(export), "--format", "json")
    sessions = sum(live_traffic.exchange(port, failed_logins=0)["sessions"] for _ in range(4))
    live.signal()
    code, out = live.wait()
    assert code == 0, live.stderr
    # Past --keep-sessions, sessions are counted, and the export says how many it lacks.
    assert len(read_tables(export)["sessions"]) == 5
    notes = [a for a in read_tables(export)["anomalies"] if a["kind"] == "live_sessions_not_kept"]
    assert len(notes) == 1 and notes[0]["message"].startswith(f"{sessions - 5} of {sessions} sessions")
    files = sorted(tmp_path.glob("ring_*.pcapng"))
    assert 1 <= len(files) <= 3
    numbers = [int(f.stem.rpartition("_")[2]) for f in files]
    assert numbers == list(range(numbers[0], numbers[0] + len(files)))  # the newest ones, consecutive
    assert numbers[0] > 1, "the ring never rotated"
    assert not base.exists()
    total = 0
    for f in files:
        frames = list(open_capture(f))  # each file is a whole capture on its own
        assert frames
        assert f.stat().st_size <= 4 * 1024 * 1024 // 1000 + 2 * 262144  # one packet may pass the size
        total += len(frames)
        if shutil.which("capinfos"):
            info = subprocess.run(["capinfos", "-c", str(f)], capture_output=True, text=True, check=True).stdout
            assert f"{len(frames)}" in info
    assert "older ones deleted" in out


def test_count_stops_after_exactly_n_packets(tmp_path, server):
    _, port = server
    written = tmp_path / "n.pcapng"
    live = smtpsniff_live("-i", "lo", "--ports", str(port), "--write", str(written), "--count", "10")
    live_traffic.exchange(port, failed_logins=0)
    code, out = live.wait()
    assert code == 0, live.stderr
    assert "stopped by count" in out
    assert len(list(open_capture(written))) == 10


@pytest.mark.skipif(shutil.which("tshark") is None or shutil.which("dumpcap") is None, reason="needs tshark")
def test_pyshark_backend_equals_offline(tmp_path, server):
    """The pyshark backend (dumpcap -> tshark JSON with raw bytes) feeds the same pipeline."""
    _, port = server
    stream, written = tmp_path / "p.jsonl", tmp_path / "p.pcapng"
    live = smtpsniff_live("-i", "lo", "--backend", "pyshark", "--ports", str(port), "--jsonl", str(stream),
                          "--write", str(written))
    script = live_traffic.exchange(port, failed_logins=1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and count_sessions(stream) < script["sessions"] - 1:
        time.sleep(0.2)  # tshark prints a packet a while after dumpcap captured it (the last one at the stop)
    live.signal()
    code, _ = live.wait()
    assert code == 0, live.stderr
    assert "pyshark" in live.stderr
    streamed = read_jsonl(stream)
    assert len(streamed["session"]) == script["sessions"]
    offline = analyze(written, port, tmp_path / "offline")
    assert comparable(streamed["session"]) == comparable(offline["sessions"])
    assert comparable(streamed["transaction"]) == comparable(offline["transactions"])
