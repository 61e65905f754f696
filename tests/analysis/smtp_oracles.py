"""Independent oracles for the SMTP layer: tshark's SMTP dissector, Zeek's smtp.log, recorder sidecars.

Each helper parses what another tool (or the recorder, from the real client's transcript) says about
a capture into plain Python values, so tests can compare smtpsniff's tables with it.  Results are
cached per process, and tshark's output per test run (one tshark run per capture and decode-as set).
:func:`write_tcp_pcap` writes small captures of shapes no recorder produces.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import smtpsniff

# tests/corpus.py (the capture list every cross-check shares) lives one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import ROOT, SHARED, all_capture_params, needs_tshark, own_captures, shared_captures  # noqa: E402

__all__ = ["ROOT", "SHARED", "all_capture_params", "needs_tshark", "own_captures", "shared_captures",
           "shared_cache_dir", "smtpsniff_read", "tshark_smtp", "zeek_log"]

TSHARK = shutil.which("tshark")


# ---------------------------------------------------------------------------------------------- smtpsniff
@functools.lru_cache(maxsize=None)
def smtpsniff_read(path: Path) -> smtpsniff.analysis.capture.Capture:
    """``smtpsniff.read`` once per capture and process (tests must not mutate the result)."""
    return smtpsniff.read(path)


# ---------------------------------------------------------------------------------------------- tshark
@dataclass
class TsharkLine:
    """One SMTP line as tshark's dissector shows it."""

    text: str  # smtp.command_line or smtp.response, terminator included
    command: str | None = None  # smtp.req.command
    parameter: str | None = None  # smtp.req.parameter
    code: int | None = None  # smtp.response.code
    #: smtp.rsp.parameter of each line: tshark 4.0 shows the lines of a multi-line reply that
    #: arrive in one segment as one response item with one parameter per line.
    rsp_parameters: list[str] = field(default_factory=list)
    tree: dict = field(default_factory=dict)  # every field under the line


@dataclass
class TsharkFrame:
    number: int
    ts_ns: int  # frame.time_epoch in integer nanoseconds
    stream: int  # tcp.stream
    src: tuple[str, int]
    dst: tuple[str, int]
    requests: list[TsharkLine]
    responses: list[TsharkLine]
    data_fragment: bool  # the frame carries DATA/BDAT content (smtp.data.fragment, or no line at all)
    smtp: dict  # the whole smtp layer, for anything else a test wants


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _epoch_ns(text: str) -> int:
    return int(Decimal(text) * 1_000_000_000)


def _last(value):
    return value[-1] if isinstance(value, list) else value


@dataclass
class TsharkCapture:
    frames: tuple[TsharkFrame, ...]  # frames with an SMTP layer directly over TCP, in order
    times: dict[int, int]  # frame.number -> frame.time_epoch (ns), for every frame of the capture
    tcp_streams: int  # distinct tcp.stream values (TCP connections), ICMP-quoted headers aside


def _run_once(args: list[str], cache_dir: Path | None) -> bytes:
    """``args``' stdout, computed once per test session even across pytest-xdist workers.

    With ``cache_dir`` (a folder every worker of the session shares), the first worker to need the
    output runs the command under an exclusive lock and stores it; the others wait and read it.
    """
    if cache_dir is None:
        return subprocess.run(args, capture_output=True, check=False).stdout
    key = hashlib.sha256("\0".join(args).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    out_path = cache_dir / f"{key}.out"
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out_path.exists():
            data = subprocess.run(args, capture_output=True, check=False).stdout
            tmp = out_path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.rename(out_path)
        return out_path.read_bytes()


def shared_cache_dir(tmp_path_factory) -> Path:
    """A folder all pytest-xdist workers of this run share (the workers' common base temp)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "smtp-oracles"
    folder.mkdir(exist_ok=True)
    return folder


@functools.lru_cache(maxsize=None)
def tshark_smtp(path: Path, decode_ports: tuple[int, ...] = (), cache_dir: Path | None = None) -> TsharkCapture:
    """What tshark's SMTP dissector shows in ``path``: each request and response line in order.

    ``decode_ports`` are further server ports dissected as SMTP (``-d tcp.port==N,smtp``).  One
    tshark run; ``-T json --no-duplicate-keys -J`` keeps several lines of one frame as arrays in
    wire order, each with its own subtree (command and parameter; code and parameters).  SMTP
    quoted inside ICMP errors is left out: it is no part of the TCP stream.  ``cache_dir``: see
    :func:`_run_once`.
    """
    args = [TSHARK, "-n", "-r", str(path), "-T", "json", "--no-duplicate-keys", "-J", "frame ip ipv6 tcp smtp"]
    for port in decode_ports:
        args += ["-d", f"tcp.port=={port},smtp"]
    out = _run_once(args, cache_dir)
    frames, times, streams = [], {}, set()
    for packet in json.loads(out.decode("utf-8", "replace") or "[]"):
        layers = packet["_source"]["layers"]
        frame = layers["frame"]
        number = int(frame["frame.number"])
        times[number] = _epoch_ns(frame["frame.time_epoch"])
        if "tcp" not in layers or "icmp" in layers or "icmpv6" in layers:
            continue
        tcp = _last(layers["tcp"])
        streams.add(int(tcp["tcp.stream"]))
        if "smtp" not in layers:
            continue
        ip = _last(layers.get("ipv6") or layers.get("ip"))
        src_ip = ip.get("ipv6.src") or ip.get("ip.src")
        dst_ip = ip.get("ipv6.dst") or ip.get("ip.dst")
        smtp = _last(layers["smtp"])
        requests = []
        for text, tree in zip(_as_list(smtp.get("smtp.command_line")), _as_list(smtp.get("smtp.command_line_tree"))):
            requests.append(TsharkLine(text=text, command=tree.get("smtp.req.command"),
                                       parameter=tree.get("smtp.req.parameter"), tree=tree))
        responses = []
        for text, tree in zip(_as_list(smtp.get("smtp.response")), _as_list(smtp.get("smtp.response_tree"))):
            code = tree.get("smtp.response.code")
            responses.append(TsharkLine(text=text, code=int(code) if code is not None else None,
                                        rsp_parameters=_as_list(tree.get("smtp.rsp.parameter")), tree=tree))
        frames.append(TsharkFrame(
            number=number, ts_ns=times[number], stream=int(tcp["tcp.stream"]), src=(src_ip, int(tcp["tcp.srcport"])),
            dst=(dst_ip, int(tcp["tcp.dstport"])), requests=requests, responses=responses,
            data_fragment="smtp.data.fragment" in smtp or "smtp.data.fragments" in smtp
            or not (requests or responses), smtp=smtp))
    return TsharkCapture(tuple(frames), times, len(streams))


# ---------------------------------------------------------------------------------------------- Zeek
def zeek_log(path: Path) -> list[dict]:
    """Rows of a Zeek ASCII log: ``#fields`` names, ``-`` unset (None), ``(empty)`` an empty set or
    string, sets/vectors split on ``#set_separator`` (``set[...]`` columns become frozensets)."""
    fields: list[str] = []
    types: list[str] = []
    unset, empty, set_sep, sep = "-", "(empty)", ",", "\t"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(sep if not line.startswith("#separator") else " ")
            if key == "separator":
                sep = value.encode().decode("unicode_escape")
            elif key == "set_separator":
                set_sep = value
            elif key == "empty_field":
                empty = value
            elif key == "unset_field":
                unset = value
            elif key == "fields":
                fields = value.split(sep)
            elif key == "types":
                types = value.split(sep)
            continue
        row = {}
        for name, kind, cell in zip(fields, types, line.split(sep)):
            container = kind.startswith(("set[", "vector["))
            if cell == unset:
                row[name] = None
            elif container:
                items = [] if cell == empty else cell.split(set_sep)
                row[name] = frozenset(items) if kind.startswith("set[") else items
            elif cell == empty:
                row[name] = ""
            elif kind == "count":
                row[name] = int(cell)
            elif kind == "bool":
                row[name] = cell == "T"
            else:
                row[name] = cell
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- captures
def write_tcp_pcap(path: Path, exchanges: list[tuple[str, bytes]], *, client=("192.0.2.10", 40000),
                   server=("198.51.100.25", 25), start: float = 1_700_000_000.0) -> Path:
    """A pcap of one TCP connection written with scapy: handshake, then each ``("c"|"s", bytes)`` as
    one segment of that side with correct sequence and acknowledgement numbers, then FIN/ACKs.

    For shapes no recorder produces (proxy handshakes, non-SMTP traffic); the bytes are the test's.
    """
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    seq = {"c": 1000, "s": 5000}
    packets, t = [], start

    def seg(side: str, flags: str, payload: bytes = b"") -> None:
        nonlocal t
        src, dst = (client, server) if side == "c" else (server, client)
        other = "s" if side == "c" else "c"
        pkt = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src[0], dst=dst[0]) /
               TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq[side], ack=seq[other] if "A" in flags else 0)
               / payload)
        pkt.time = t
        t += 0.001
        packets.append(pkt)
        seq[side] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)

    seg("c", "S")
    seg("s", "SA")
    seg("c", "A")
    for side, payload in exchanges:
        seg(side, "PA", payload)
    seg("c", "FA")
    seg("s", "FA")
    seg("c", "A")
    wrpcap(str(path), packets)
    return path
