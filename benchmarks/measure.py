"""Shared benchmark machinery: run each peer in its own process, take its wall time and peak RSS,
repeat, take medians, check the answers against the capture's ground truth, and report.

A benchmark script (``bench_streams.py``, later ``bench_analyze.py``) only declares its
:class:`Peer` list and a ``check`` function, then calls :func:`run_benchmark`.

Measurement: the child is started with ``subprocess.Popen`` and reaped with ``os.wait4``, whose
``ru_maxrss`` is that child's own peak resident set (KiB on Linux) - no ``/usr/bin/time`` needed,
and no mixing with other children as ``RUSAGE_CHILDREN`` would.  Wall time is ``perf_counter``
around start to reap, so interpreter start-up and imports count: that is what a user waits for.
CPU time counts the processes the child starts and reaps; their peak memory is added when the
child reports it (see :func:`run_child`).  A Python peer prints one JSON line (its report) as the
last line of stdout; see ``peers.py``.

This module knows nothing of smtpsniff, tshark or scapy.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "work"
#: Each child is killed after this long (a hung peer must not hang the benchmark).
DEFAULT_TIMEOUT_S = 1800


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of one peer."""

    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kib: int
    returncode: int
    #: The child's JSON report (last stdout line), when the peer prints one.
    report: dict | None
    #: Last lines of stderr when the child failed (else empty).
    error: str = ""
    #: 1-minute load average when the run started: above the core count, other work competed.
    load_before: float = 0.0


@dataclass(frozen=True, slots=True)
class Peer:
    """One tool measured on the capture."""

    name: str
    #: What it does, for the README and the JSON.
    what: str
    #: Command line; ``{capture}`` is replaced by the capture's path.
    argv: tuple[str, ...]
    #: True: the child prints a JSON report as its last stdout line.  False: stdout goes to /dev/null.
    reports: bool = False

    def command(self, capture: Path) -> list[str]:
        return [a.replace("{capture}", str(capture)) for a in self.argv]


@dataclass(slots=True)
class PeerResult:
    name: str
    what: str
    command: str
    runs: list[Run] = field(default_factory=list)
    #: What ``check`` said about the median run: "ok" or what is wrong.
    check: str = "not checked"
    valid: bool = False

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.returncode == 0]

    @property
    def wall_s(self) -> float | None:
        ok = self.ok_runs()
        return statistics.median(r.wall_s for r in ok) if ok else None

    @property
    def max_rss_kib(self) -> int | None:
        ok = self.ok_runs()
        return int(statistics.median(r.max_rss_kib for r in ok)) if ok else None

    @property
    def cpu_s(self) -> float | None:
        ok = self.ok_runs()
        return statistics.median(r.user_s + r.sys_s for r in ok) if ok else None

    def median_run(self) -> Run | None:
        """The run whose wall time is the median (the lower middle one for an even count)."""
        ok = sorted(self.ok_runs(), key=lambda r: r.wall_s)
        return ok[(len(ok) - 1) // 2] if ok else None


def run_child(argv: Sequence[str], *, reports: bool, timeout_s: float = DEFAULT_TIMEOUT_S,
              cwd: Path = REPO) -> Run:
    """Run ``argv`` to completion; its wall time, CPU time and peak RSS from ``os.wait4``."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if reports else subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        timer = threading.Timer(timeout_s, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            out = proc.stdout.read() if reports else b""
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.stdout:
            proc.stdout.close()
        error = ""
        if proc.returncode != 0:
            err.seek(0)
            error = err.read().decode("utf-8", "replace")[-4000:]
    report = None
    if reports and out.strip():
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except ValueError:
            error = (error + "\nlast stdout line is not JSON: " + out.strip().splitlines()[-1][:500].decode("utf-8", "replace")).strip()
    # CPU times include the child's own children (Linux adds what a process reaps to its usage), but
    # the peak resident set is the largest one process had: a peer that reports its own and its
    # children's peaks (peers.py) is counted at their sum, which no moment of the run exceeds.
    max_rss = usage.ru_maxrss
    if report and "self_max_rss_kib" in report and report.get("children_max_rss_kib"):
        max_rss = max(max_rss, int(report["self_max_rss_kib"]) + int(report["children_max_rss_kib"]))
    return Run(wall_s=wall, user_s=usage.ru_utime, sys_s=usage.ru_stime, max_rss_kib=max_rss,
               returncode=proc.returncode, report=report, error=error, load_before=round(load, 2))


def byte_compile(folders: Sequence[Path]) -> None:
    """Byte-compile the Python files of ``folders`` (a package measured from its source tree), as
    installing a package does: a module whose cached bytecode is missing or older than its
    source is otherwise compiled again by every run, which then measures the compiler too (as
    where ``PYTHONDONTWRITEBYTECODE`` keeps Python from writing the cache itself)."""
    import compileall

    for folder in folders:
        compileall.compile_dir(str(folder), quiet=1)


def warm_page_cache(path: Path) -> None:
    """Read the file once so that every peer, the first one included, reads it from memory."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "os": platform.platform(),
            "python": platform.python_version(), "tools": tool_versions()}


def tool_versions() -> dict:
    versions = {}
    if shutil.which("tshark"):
        try:
            versions["tshark"] = subprocess.run(["tshark", "--version"], check=False, capture_output=True, text=True,
                                                timeout=60).stdout.splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    for mod in ("scapy", "smtpsniff"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as exc:  # noqa: BLE001 - a missing or broken peer is reported, not fatal here
            versions[mod] = f"not importable: {type(exc).__name__}"
    try:
        versions["smtpsniff_git"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], check=False,
                                                   capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return versions


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:,.0f}"


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def throughput(result: PeerResult, packets: int, file_bytes: int) -> tuple[float | None, float | None]:
    """Packets/s and MB/s (10**6 bytes of capture file) over the median wall time."""
    wall = result.wall_s
    if not wall:
        return None, None
    return packets / wall, file_bytes / wall / 1e6


def ratios(subject: PeerResult, other: PeerResult) -> dict:
    """``subject`` against ``other``: throughput ratios (>1: subject faster) by wall time and by CPU
    time (the one to trust when the machine was busy), and the peak-RSS ratio (<1: subject smaller)."""
    def q(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None
    return {"throughput": q(other.wall_s, subject.wall_s), "throughput_cpu": q(other.cpu_s, subject.cpu_s),
            "peak_rss": q(subject.max_rss_kib, other.max_rss_kib)}


def markdown(results: Sequence[PeerResult], subject: str, packets: int, file_bytes: int, repeat: int) -> str:
    lines = [(f"| peer | wall s (median of {repeat}) | CPU s | main loop s | packets/s | MB/s | packets/CPU-s "
             "| peak RSS MiB | load before | check |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        pps, mbps = throughput(r, packets, file_bytes)
        run = r.median_run()
        loop = run.report.get("loop_s") if run and run.report else None
        lines.append(f"| {r.name} | {_num(r.wall_s, '.2f')} | {_num(r.cpu_s, '.2f')} | {_num(loop, '.2f')} | "
                     f"{_num(pps, ',.0f')} | "
                     f"{_num(mbps, '.1f')} | {_num(packets / r.cpu_s if r.cpu_s else None, ',.0f')} | "
                     f"{_mib(r.max_rss_kib)} | {_num(run.load_before if run else None, '.2f')} | {r.check} |")
    base = next((r for r in results if r.name == subject), None)
    others = [r for r in results if r.name != subject]
    if base and others:
        lines += ["", (f"| {subject} vs | throughput ratio, wall ({subject}/peer, >1 = {subject} faster) "
                      f"| throughput ratio, CPU time | peak RSS ratio ({subject}/peer, <1 = {subject} smaller) |"),
                  "|---|---:|---:|---:|"]
        for o in others:
            q = ratios(base, o)
            lines.append(f"| {o.name} | {_num(q['throughput'], '.2f')} | {_num(q['throughput_cpu'], '.2f')} "
                         f"| {_num(q['peak_rss'], '.2f')} |")
    return "\n".join(lines)


def load_truth(capture: Path) -> dict:
    truth_path = capture.with_suffix(".truth.json")
    if not truth_path.exists():
        raise SystemExit(f"{truth_path} is missing: build the capture with benchmarks/make_capture.py")
    return json.loads(truth_path.read_text())


def replayed(truth: dict) -> str:
    """What the capture replays, as its ground truth says (``, 87 SMTP transcripts fd921dfc7cf0``):
    ``make_capture.py`` replays every recorded capture the repository holds by default, so the
    capture it makes changes when one is added, and a table of figures must say which it ran on."""
    smtp = truth.get("smtp") or {}
    count, digest = smtp.get("transcripts"), smtp.get("transcripts_sha256")
    if not count or not digest:
        return ""
    return f", {count:,} SMTP transcripts {digest[:12]}"


def run_benchmark(name: str, capture: Path, peers: Sequence[Peer], *, subject: str, repeat: int,
                  check: Callable[[str, Run, dict], str], out_json: Path, timeout_s: float = DEFAULT_TIMEOUT_S,
                  log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                  sources: Sequence[Path] = ()) -> tuple[list[PeerResult], bool]:
    """Measure every peer ``repeat`` times (interleaved), check each median run, print and save.

    ``check(peer_name, run, truth)`` returns "ok" or a description of what is wrong.  Returns the
    results and whether the subject's answer was right (a fast wrong answer must not pass).
    ``sources``: folders of Python source the peers run, byte-compiled first (:func:`byte_compile`).
    """
    truth = load_truth(capture)
    packets, file_bytes = truth["packets"], capture.stat().st_size
    results = [PeerResult(p.name, p.what, " ".join(p.command(capture))) for p in peers]
    byte_compile(sources)
    warm_page_cache(capture)
    for i in range(repeat):
        for peer, result in zip(peers, results):
            log(f"[{name}] run {i + 1}/{repeat}: {peer.name} ...")
            run = run_child(peer.command(capture), reports=peer.reports, timeout_s=timeout_s)
            result.runs.append(run)
            state = f"exit {run.returncode}" if run.returncode else "ok"
            log(f"[{name}]   {run.wall_s:.2f} s wall, {run.max_rss_kib / 1024:.0f} MiB peak RSS, {state}")
            if run.returncode:
                log(run.error)
    for result in results:
        run = result.median_run()
        if run is None:
            result.check, result.valid = f"FAILED (exit {result.runs[-1].returncode})", False
            continue
        result.check = check(result.name, run, truth)
        result.valid = result.check == "ok"
    subject_ok = any(r.name == subject and r.valid for r in results)

    table = markdown(results, subject, packets, file_bytes, repeat)
    by_name = {r.name: r for r in results}
    payload = {
        "benchmark": name,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "capture": {"path": str(capture), "bytes": file_bytes, "packets": packets, "truth": truth},
        "repeat": repeat,
        "subject": subject,
        "subject_valid": subject_ok,
        "peers": {
            r.name: {
                "what": r.what, "command": r.command, "check": r.check, "valid": r.valid,
                "median": {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "max_rss_kib": r.max_rss_kib,
                           "packets_per_cpu_s": packets / r.cpu_s if r.cpu_s else None,
                           "packets_per_s": throughput(r, packets, file_bytes)[0],
                           "mb_per_s": throughput(r, packets, file_bytes)[1]},
                "runs": [asdict(x) for x in r.runs],
            } for r in results
        },
        "ratios": {f"{subject}/{o}": ratios(by_name[subject], by_name[o]) for o in by_name if o != subject}
        if subject in by_name else {},
        "markdown": table,
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"## {name}: {capture.name}, {packets:,} packets, {file_bytes / 1e6:,.1f} MB{replayed(truth)}, "
          f"{payload['date']}, {payload['machine']['cores']} cores ({payload['machine']['cpu']})\n")
    print(table)
    print(f"\n{subject} answer: {'checked against the ground truth: ok' if subject_ok else 'WRONG or missing - see check column'}")
    print(f"-> {out_json}")
    return results, subject_ok


def profile_peer(peer: Callable[[str], dict], capture: Path, out: Path, *, sort: str, top: int) -> None:
    """Run ``peer(capture)`` under cProfile; print its report and the ``top`` functions by ``sort``,
    and save the raw profile to ``out`` (for ``python -m pstats`` or snakeviz)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    report = peer(str(capture))
    prof.disable()
    out.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(out)
    text = io.StringIO()
    pstats.Stats(prof, stream=text).strip_dirs().sort_stats(sort).print_stats(top)
    print(json.dumps(report))
    print(text.getvalue())
    print(f"-> {out}")


def parse_bench_args(description: str, peers: dict[str, Peer], default_out: Path,
                     argv: Sequence[str] | None = None):
    """The options every ``bench_*.py`` takes, checked: ``(args, names of the peers to run)``.

    tshark is dropped with a note when it is not installed.
    """
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("capture", nargs="?", type=Path, default=WORK / "mixed.pcap",
                   help="capture built by make_capture.py (default benchmarks/work/mixed.pcap)")
    p.add_argument("--repeat", type=int, default=1, help="runs per peer; the median is reported (default 1)")
    p.add_argument("--peers", default=",".join(peers), help=f"comma-separated subset of {','.join(peers)}")
    p.add_argument("--out", type=Path, default=default_out, help="JSON results file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a peer is killed (default 1800)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in peers]
    if unknown or args.repeat < 1:
        p.error(f"unknown peer(s) {unknown}" if unknown else "--repeat must be at least 1")
    if not args.capture.exists():
        p.error(f"{args.capture} does not exist: run python benchmarks/make_capture.py first")
    if "tshark" in names and not shutil.which("tshark"):
        print("tshark not found: skipping it", file=sys.stderr)
        names.remove("tshark")
    return args, names

