"""Helpers for the live tests: run ``smtpsniff live`` and tcpdump as real processes, read their outputs.

``smtpsniff live`` prints ``listening on ...`` on stderr once its socket is open and filtered, and
tcpdump prints ``listening on ...`` likewise; traffic starts only after both said so.  Offline
analysis (the oracle) is ``smtpsniff analyze FILE --ports P -o DIR --format json``, whose JSON
lines have the same columns and rendering as the live ``--jsonl`` stream.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import ROOT  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root (CAP_NET_RAW)")
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")

#: Columns that are capture times: two sockets timestamp the same packet up to microseconds apart.
TIME_COLUMNS = ("ts", "start", "end", "duration_s", "latency_s")
_SECONDS = re.compile(r"\d+(?:\.\d+)? s\b")


class Proc:
    """A child process whose stderr is read by a thread, so that we can wait for a line."""

    def __init__(self, argv: list[str], *, ready: str, stdout=subprocess.PIPE, timeout: float = 20) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self._seen = threading.Event()
        self._ready = ready
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._seen.wait(timeout):
            self.proc.kill()
            raise AssertionError(f"{argv[0]} did not say {ready!r}: {''.join(self.lines)}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if self._ready in line:
                self._seen.set()
        self._seen.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        out = self.proc.stdout.read() if self.proc.stdout else ""
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code, out

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)


def smtpsniff_live(*args: str) -> Proc:
    return Proc([sys.executable, "-m", "smtpsniff", "live", *args], ready="listening on")


def tcpdump(iface: str, path: Path, bpf: str) -> Proc:
    """tcpdump writing ``path``: immediate mode and a 64 MiB buffer, so that it drops nothing here."""
    return Proc(["tcpdump", "-i", iface, "-w", str(path), "--immediate-mode", "-B", "65536",
                 "--time-stamp-precision=nano", "-s", "262144", bpf], ready="listening on")


def wait_file_stable(path: Path, seconds: float = 0.3) -> None:
    last = -1
    while path.exists() and path.stat().st_size != last:
        last = path.stat().st_size
        time.sleep(seconds)


def analyze(capture: Path, port: int, out: Path) -> dict[str, list[dict]]:
    """Offline analysis of ``capture`` (``smtpsniff analyze``, in this process) as JSON lines, table -> rows."""
    from smtpsniff.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["analyze", str(capture), "--ports", str(port), "-o", str(out), "--format", "json"]) == 0
    return read_tables(out)


def read_tables(folder: Path) -> dict[str, list[dict]]:
    return {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in folder.glob("*.jsonl")}


def read_jsonl(path: Path) -> dict[str, list[dict]]:
    """The live stream by type; for findings reported again at the end (``final``), the last state."""
    by_type: dict[str, list[dict]] = {"session": [], "transaction": [], "finding": []}
    findings: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        kind = row.pop("type")
        row.pop("final", None)
        if kind == "finding":
            findings[(row["kind"], row["session_id"], row["ts"])] = row
        else:
            by_type[kind].append(row)
    by_type["finding"] = list(findings.values())
    return by_type


def comparable(rows: list[dict], *, times: bool = True) -> list[str]:
    """Rows as sorted canonical JSON, without the capture name (and without times unless ``times``)."""
    out = []
    for row in rows:
        row = {k: v for k, v in row.items() if k != "capture" and (times or k not in TIME_COLUMNS)}
        if not times and isinstance(row.get("explanation"), str):
            row["explanation"] = _SECONDS.sub("N s", row["explanation"])
        out.append(json.dumps(row, sort_keys=True))
    return sorted(out)
