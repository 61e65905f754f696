"""How fast a message rate ``smtpsniff live`` follows on loopback with nothing lost, against tcpdump,
and whether its memory stays flat over a long run.

Traffic is real SMTP over 127.0.0.1: Postfix's ``smtp-sink`` (a C SMTP server built for load tests)
answers, Postfix's ``smtp-source`` (its C load generator) sends one 1 KB message per session from S
sessions in parallel, each waiting about a second between messages (``-R 2``), so the offered rate is
about S messages/s.  For each S, in a fresh process each time:

* ``smtpsniff live -i lo --ports P --jsonl FILE --no-dashboard`` (optionally ``--no-findings``)
* ``tcpdump -i lo -w FILE tcp port P`` with its defaults (2 MiB buffer), capturing the same traffic

A step passes when the kernel dropped nothing for smtpsniff, smtpsniff reported one session per
message sent, and it had reported the last one within ``--max-lag`` seconds of the sender finishing
(so it kept pace instead of filling its 64 MiB socket buffer).  The highest passing rate is the
answer.  Then ``--memory-seconds`` of traffic at ``--memory-parallel`` sessions with the default
options, sampling smtpsniff's RSS every few seconds.

    python benchmarks/bench_live.py                       # ~10 minutes; needs root, postfix, tcpdump
    python benchmarks/bench_live.py --parallel 50,100 --step-seconds 10 --memory-seconds 30   # quick

Results: a table on stdout and ``benchmarks/work/results-live.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "work"
HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


class Child:
    """A process whose stderr is collected by a thread (to wait for its "listening on" line)."""

    def __init__(self, argv: list[str], ready: str | None = None, stdout=subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.err: list[str] = []
        self._ready = threading.Event()
        self._mark = ready
        threading.Thread(target=self._read, daemon=True).start()
        if ready and not self._ready.wait(30):
            self.proc.kill()
            raise RuntimeError(f"{argv[0]} did not start: {''.join(self.err)}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)
            if self._mark and self._mark in line:
                self._ready.set()
        self._ready.set()

    def stop(self, timeout: float = 120) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out = self.proc.stdout.read() if self.proc.stdout else ""
        self.proc.wait(timeout)
        return out

    @property
    def cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / _TICKS
        except (OSError, IndexError):
            return 0.0

    @property
    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def live(port: int, jsonl: Path | str, *extra: str) -> Child:
    return Child([sys.executable, "-m", "smtpsniff", "live", "-i", "lo", "--ports", str(port), "--jsonl", str(jsonl),
                  "--no-dashboard", *extra], ready="listening on")


def count_sessions(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.startswith(b'{"type": "session"'))
    except FileNotFoundError:
        return 0


def source(port: int, parallel: int, messages: int) -> float:
    """smtp-source: ``messages`` one-message sessions from ``parallel`` threads; returns its wall time."""
    start = time.perf_counter()
    subprocess.run(["smtp-source", "-s", str(parallel), "-m", str(messages), "-R", "2", "-l", "1000",
                    "-f", "sender@example.test", "-t", "rcpt@example.test", "-M", "client.example.test",
                    f"{HOST}:{port}"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def step(port: int, parallel: int, seconds: float, max_lag: float, extra: list[str], label: str) -> dict:
    messages = int(parallel * seconds)
    jsonl = WORK / f"live-{label}-{parallel}.jsonl"
    jsonl.unlink(missing_ok=True)
    sniffer = live(port, jsonl, *extra)
    dump = Child(["tcpdump", "-i", "lo", "-w", str(WORK / "live-tcpdump.pcap"), f"tcp port {port}"],
                 ready="listening on")
    cpu0 = sniffer.cpu_s
    sent_s = source(port, parallel, messages)
    cpu = sniffer.cpu_s - cpu0
    done = time.perf_counter()
    seen = 0
    while time.perf_counter() - done < 120:
        seen = count_sessions(jsonl)
        if seen >= messages:
            break
        time.sleep(0.05)
    lag = time.perf_counter() - done
    time.sleep(2.0)  # tcpdump hands its ring to user space in 1 s blocks
    dump.stop()
    tcpdump_err = "".join(dump.err)
    summary = sniffer.stop()
    head = summary.splitlines()[0] if summary else ""
    drops = re.search(r"dropped ([\d,]+|n/a)\)", head)
    packets = re.search(r"live capture lo: ([\d,]+) packets", head)
    sessions = re.search(r"([\d,]+) SMTP sessions finished", head)
    row = {
        "mode": label, "parallel": parallel, "messages_sent": messages, "send_s": round(sent_s, 2),
        "rate_msgs_per_s": round(messages / sent_s, 1),
        "packets": int(packets.group(1).replace(",", "")) if packets else None,
        "sessions_reported": int(sessions.group(1).replace(",", "")) if sessions else count_sessions(jsonl),
        "kernel_dropped": int(drops.group(1).replace(",", "")) if drops and drops.group(1) != "n/a" else None,
        "lag_s": round(lag, 2), "cpu_percent": round(100 * cpu / sent_s, 1),
        "tcpdump_captured": _int(r"(\d+) packets captured", tcpdump_err),
        "tcpdump_dropped": _int(r"(\d+) packets dropped by kernel", tcpdump_err),
    }
    row["load_avg_1m"] = round(os.getloadavg()[0], 1)
    row["kept_up"] = (row["kernel_dropped"] == 0 and row["sessions_reported"] == messages and lag <= max_lag)
    jsonl.unlink(missing_ok=True)
    return row


def _int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else None


def memory_run(port: int, parallel: int, seconds: float, every: float) -> dict:
    sniffer = live(port, "/dev/null")
    samples = [(0.0, sniffer.rss_kib)]
    messages = int(parallel * seconds)
    sender = threading.Thread(target=source, args=(port, parallel, messages))
    start = time.perf_counter()
    sender.start()
    while sender.is_alive():
        time.sleep(every)
        samples.append((round(time.perf_counter() - start, 1), sniffer.rss_kib))
    sender.join()
    time.sleep(3)
    samples.append((round(time.perf_counter() - start, 1), sniffer.rss_kib))
    head = sniffer.stop().splitlines()
    return {"parallel": parallel, "seconds": seconds, "messages_sent": messages, "summary": head[0] if head else "",
            "rss_samples_kib": samples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=2626)
    ap.add_argument("--parallel", default="100,200,400,600,800,1000,1200",
                    help="smtp-source parallel sessions per step (about that many messages/s)")
    ap.add_argument("--step-seconds", type=float, default=20.0)
    ap.add_argument("--max-lag", type=float, default=2.0, help="seconds after the sender's end to report all")
    ap.add_argument("--modes", default="findings,no-findings")
    ap.add_argument("--memory-seconds", type=float, default=240.0)
    ap.add_argument("--memory-parallel", type=int, default=300)
    ap.add_argument("--memory-every", type=float, default=10.0)
    args = ap.parse_args()
    for tool in ("smtp-sink", "smtp-source", "tcpdump"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install postfix tcpdump)")
    if os.geteuid() != 0:
        sys.exit("capturing on lo needs root")
    WORK.mkdir(parents=True, exist_ok=True)
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"{HOST}:{args.port}", "4096"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    results: dict = {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                     "date": time.strftime("%Y-%m-%d %H:%M"), "steps": [], "memory": None}
    try:
        for mode in args.modes.split(","):
            extra = ["--no-findings"] if mode == "no-findings" else []
            for parallel in (int(p) for p in args.parallel.split(",")):
                row = step(args.port, parallel, args.step_seconds, args.max_lag, extra, mode)
                results["steps"].append(row)
                print(json.dumps(row), flush=True)
                if not row["kept_up"]:
                    break
        if args.memory_seconds > 0:
            results["memory"] = memory_run(args.port, args.memory_parallel, args.memory_seconds, args.memory_every)
            print(json.dumps(results["memory"]), flush=True)
    finally:
        sink.terminate()
        sink.wait()
    (WORK / "results-live.json").write_text(json.dumps(results, indent=2))
    print()
    print("| mode | offered (parallel) | achieved msgs/s | packets | sessions reported / sent | kernel drops "
          "| lag s | smtpsniff CPU % | tcpdump drops | load | kept up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["steps"]:
        print(f"| {r['mode']} | {r['parallel']} | {r['rate_msgs_per_s']} | {r['packets']} | "
              f"{r['sessions_reported']} / {r['messages_sent']} | {r['kernel_dropped']} | {r['lag_s']} | "
              f"{r['cpu_percent']} | {r['tcpdump_dropped']} | {r['load_avg_1m']} | {'yes' if r['kept_up'] else 'no'} |")
    for mode in args.modes.split(","):
        ok = [r["rate_msgs_per_s"] for r in results["steps"] if r["mode"] == mode and r["kept_up"]]
        print(f"highest sustained rate ({mode}): {max(ok) if ok else 'none'} msgs/s")
    if results["memory"]:
        m = results["memory"]
        print(f"memory: {m['summary']}")
        print("RSS MiB over time: " + ", ".join(f"{t:.0f}s {kib / 1024:.0f}" for t, kib in m["rss_samples_kib"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
