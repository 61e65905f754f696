"""Throughput of the capture readers against scapy's, on a generated classic pcap (not a test).

Run from the repository root:  PYTHONPATH=. python tests/capture/bench_read.py [packets] [--pcapng]
It writes the file to a temporary directory and deletes it afterwards.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from smtpsniff.capture.files import open_capture
import capture_build as build

#: Ethernet II header, 127.0.0.1 traffic as Linux loopback records it (zero MACs, IPv4).
ETHERNET = bytes(12) + b"\x08\x00"


def write_pcap(path: Path, packets: int) -> None:
    with path.open("wb") as out:
        out.write(build.pcap_header("<", linktype=build.LINKTYPE_ETHERNET))
        record = ETHERNET + build.ipv4_udp(1, 60)
        for n in range(packets):
            out.write(build.pcap_record("<", 1_700_000_000 + n // 1000, n % 1000 * 1000, record))


def write_pcapng(path: Path, packets: int) -> None:
    with path.open("wb") as out:
        out.write(build.shb("<") + build.idb("<", build.LINKTYPE_ETHERNET, tsresol=9))
        record = ETHERNET + build.ipv4_udp(1, 60)
        for n in range(packets):
            out.write(build.epb("<", 0, 1_700_000_000_000_000_000 + n * 1000, record))


def rate(label: str, count: int, seconds: float) -> str:
    return f"{label}: {count} frames in {seconds:.2f} s = {count / seconds:,.0f} frames/s"


def main(argv: list[str]) -> None:
    packets = int(argv[0]) if argv and argv[0].isdigit() else 1_000_000
    pcapng = "--pcapng" in argv
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("bench.pcapng" if pcapng else "bench.pcap")
        (write_pcapng if pcapng else write_pcap)(path, packets)
        started = time.perf_counter()
        with open_capture(path) as reader:
            count = sum(1 for _ in reader)
        print(rate("smtpsniff open_capture", count, time.perf_counter() - started))
        if "--no-scapy" in argv:
            return
        from scapy.utils import PcapReader, PcapNgReader  # slow import, only when compared

        started = time.perf_counter()
        with (PcapNgReader if pcapng else PcapReader)(str(path)) as reader:
            count = sum(1 for _ in reader)
        print(rate("scapy PcapReader", count, time.perf_counter() - started))
        from scapy.utils import RawPcapReader, RawPcapNgReader

        started = time.perf_counter()
        with (RawPcapNgReader if pcapng else RawPcapReader)(str(path)) as reader:
            count = sum(1 for _ in reader)
        print(rate("scapy RawPcapReader (no dissection)", count, time.perf_counter() - started))


if __name__ == "__main__":
    main(sys.argv[1:])
